"""Image completion (inpainting) with a generative DGC-SPN trained by online EM.

A DGC-SPN with a single root models the joint density ``p(x)`` of all pixels.
It is trained generatively with expectation maximization: every sum layer uses
the EM sum op (``sum_op="em"``, linear-space accumulators), the Normal leaves
keep EM sufficient statistics (``use_accumulators=True``, locations learned,
scales fixed) and ``OnlineExpectationMaximization`` applies the M-steps inside
``model.fit``. We chose EM over gradients after trying both on the digits:
Adam on the negative log-likelihood (same structure, log-space weights,
learning rate 0.01-0.03) reached a somewhat higher test likelihood but
2-10% higher completion MSE than EM, which also needs no tuning beyond its
step size.

The raw pixels enter through a ``NormalizeStandardScore`` layer (one mean and
std per pixel, adapted on the training images; stds floored so that the
nearly constant border pixels do not blow up), so the SPN models standardized
pixels while ``model.complete`` returns pixel units.

Then the left half and the bottom half of every test image are hidden (set to
NaN) and filled in by ``model.complete``: ``method="posterior_marginal"``
returns the conditional mean ``E[missing | observed]``, ``method="mpe"`` the
leaf modes along the most probable (max-product) path. The mean squared error
on the hidden pixels is compared with a trivial baseline that fills every
pixel with its training mean; a grid ``original | masked | posterior marginal
| MPE`` per mask is saved as a PNG (hidden pixels in red), and so is the
training curve (mean log-likelihood per epoch).

Data loading, the network and the plots live in ``examples/spn_tutorials/``,
shared with the tutorial notebook ``docs/tutorials/image_completion.ipynb``.

Data: scikit-learn's 8x8 digits (offline, the default) or, with
``--fashion-mnist``, Fashion-MNIST from ``--idx-dir``, else from the IDX files
of the Debian package ``dataset-fashion-mnist`` when installed, else through
``keras.datasets.fashion_mnist`` (which downloads).

Usage::

    python3 examples/image_completion.py             # digits, 20 epochs, about half a minute on 2 CPU cores
    python3 examples/image_completion.py --quick     # smoke run: 1 epoch on a few hundred images
    python3 examples/image_completion.py --fashion-mnist --epochs 3 --train-size 10000
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from spn_tutorials.completion import complete_and_score  # noqa: E402
from spn_tutorials.data import DIGITS_PIXEL_MAX, half_masks, load_digit_images, load_fashion_images  # noqa: E402
from spn_tutorials.networks import build_generative_dgc_spn  # noqa: E402
from spn_tutorials.plots import completion_grid, training_curve  # noqa: E402
from tensorflow import keras  # noqa: E402

from libspn_keras import optimizers  # noqa: E402

DEFAULT_OUTPUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "output")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 epoch on a few hundred images (a smoke test)")
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="training epochs (default 20 for digits, 3 for Fashion-MNIST, 1 with --quick)",
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=0.1, help="step size of online EM")
    parser.add_argument("--num-components", type=int, default=16, help="Normal components per pixel")
    parser.add_argument("--num-sums", type=int, default=16, help="sums per cell in every Local2DSum")
    parser.add_argument("--fashion-mnist", action="store_true", help="Fashion-MNIST (28x28) instead of digits")
    parser.add_argument("--idx-dir", default=None, help="folder with the Fashion-MNIST IDX files")
    parser.add_argument("--train-size", type=int, default=10000, help="Fashion-MNIST training images used")
    parser.add_argument("--num-show", type=int, default=8, help="test images drawn per grid")
    parser.add_argument("--output-dir", default=DEFAULT_OUTPUT_DIR)
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args(argv)
    epochs = args.epochs if args.epochs is not None else (1 if args.quick else (3 if args.fashion_mnist else 20))

    keras.utils.set_random_seed(args.seed)
    if args.fashion_mnist:
        train_size, test_size = (300, 60) if args.quick else (args.train_size, 1000)
        x_train, x_test = load_fashion_images(args.idx_dir, train_size, test_size, args.seed)
        dataset, pixel_max = "fashion-mnist", 255.0
    else:
        (x_train, _), (x_test, _) = load_digit_images(args.seed)
        if args.quick:
            x_train, x_test = x_train[:320], x_test[:60]
        dataset, pixel_max = "digits", DIGITS_PIXEL_MAX
    print(f"{dataset}: {len(x_train)} training and {len(x_test)} test images of shape {x_train.shape[1:]}")

    model = build_generative_dgc_spn(x_train, pixel_max, args.num_components, args.num_sums)
    model.compile(optimizer=optimizers.OnlineExpectationMaximization(learning_rate=args.learning_rate))
    model.summary()

    start = time.perf_counter()
    verbose = 2 if args.quick else 1  # one line per epoch, or Keras's progress bar
    history = model.fit(x_train, batch_size=args.batch_size, epochs=epochs, shuffle=True, verbose=verbose)
    print(f"training time: {time.perf_counter() - start:.1f} s for {epochs} epoch(s)")
    print(f"mean test log-likelihood: {model.log_likelihood(x_test).mean():.2f} nats per image (standardized pixels)")

    os.makedirs(args.output_dir, exist_ok=True)
    path = training_curve(history, ["loss"], negate=True, path=os.path.join(args.output_dir, "completion_training.png"))
    print(f"saved {path}")
    show = slice(0, args.num_show)
    for mask_name, mask in half_masks(x_train.shape[1]).items():
        result = complete_and_score(model, x_test, mask, x_train.mean(axis=0))
        for method, mse in result.mse.items():
            print(
                f"{mask_name} half missing, {method}: MSE {mse:.3f}, per-pixel-mean baseline MSE "
                f"{result.baseline_mse:.3f} (ratio {mse / result.baseline_mse:.2f}), "
                f"{result.seconds[method]:.2f} s for {len(x_test)} images"
            )
        columns = {"posterior marginal": result.images["posterior_marginal"][show], "MPE": result.images["mpe"][show]}
        path = os.path.join(args.output_dir, f"completion_{mask_name}.png")
        completion_grid(x_test[show], result.masked[show], columns, pixel_max, path=path)
        print(f"saved {path}")


if __name__ == "__main__":
    main()
