"""Sampling from a generative DGC-SPN trained with online EM on scikit-learn's 8x8 digits.

An SPN is a generative model one can sample from exactly: ``model.sample(n)``
starts at the root, picks one child of every sum on the way down in
proportion to its weight (a product keeps all its children) and finally
draws every pixel from the leaf component the path reaches. Given evidence,
``model.complete(x, method="sample")`` does the same with every sum weight
multiplied by the child's value on the evidence, i.e. it draws the hidden
pixels from ``p(hidden | observed)``, and ``method="mpe"`` follows the most
probable path instead of a random one.

The model is a DGC-SPN with a single root over raw pixels (a
``NormalizeStandardScore`` layer in front, so samples come back in pixel
units), trained generatively with EM: EM sum ops on linear accumulators,
Normal leaves with EM statistics whose locations *and* scales are learned
(scales floored at 0.25 standard deviations of each pixel, so that the
constant border pixels keep a proper density), and
``OnlineExpectationMaximization``.

The data loading, the network and the plots live in
``examples/spn_tutorials/``, shared with the tutorial notebook
``docs/tutorials/sampling.ipynb``. Saved PNGs (pixels clipped to the 0..16
range of the data for display):

- ``samples.png``: unconditional samples;
- ``conditional_samples.png``: per test image, the original, the image with
  its bottom half hidden (red), the MPE completion and conditional samples;
- ``sampling_training.png``: the training curve (log-likelihood per epoch).

Usage::

    python3 examples/sampling.py             # 20 epochs, about half a minute on 2 CPU cores
    python3 examples/sampling.py --quick     # smoke run: 1 epoch on a few hundred images
    python3 examples/sampling.py --num-samples 100
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from spn_tutorials.completion import conditional_samples  # noqa: E402
from spn_tutorials.data import DIGITS_PIXEL_MAX, half_masks, load_digit_images  # noqa: E402
from spn_tutorials.networks import build_generative_dgc_spn  # noqa: E402
from spn_tutorials.plots import completion_grid, training_curve  # noqa: E402
from tensorflow import keras  # noqa: E402

from libspn_keras import optimizers  # noqa: E402
from libspn_keras.visualize import image_grid  # noqa: E402

DEFAULT_OUTPUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "output")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 epoch on a few hundred images (a smoke test)")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default 20, 1 with --quick)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=0.1, help="step size of online EM")
    parser.add_argument("--num-samples", type=int, default=64, help="unconditional samples to draw")
    parser.add_argument("--num-conditional", type=int, default=3, help="conditional samples per test image")
    parser.add_argument("--num-show", type=int, default=6, help="test images completed")
    parser.add_argument("--output-dir", default=DEFAULT_OUTPUT_DIR)
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args(argv)
    epochs = args.epochs if args.epochs is not None else (1 if args.quick else 20)

    keras.utils.set_random_seed(args.seed)
    (x_train, _), (x_test, _) = load_digit_images(args.seed)
    if args.quick:
        x_train, x_test = x_train[:320], x_test[:60]
    print(f"digits: {len(x_train)} training and {len(x_test)} test images of shape {x_train.shape[1:]}")

    model = build_generative_dgc_spn(x_train, DIGITS_PIXEL_MAX, learn_scales=True)
    model.compile(optimizer=optimizers.OnlineExpectationMaximization(learning_rate=args.learning_rate))
    start = time.perf_counter()
    verbose = 2 if args.quick else 1  # one line per epoch, or Keras's progress bar
    history = model.fit(x_train, batch_size=args.batch_size, epochs=epochs, shuffle=True, verbose=verbose)
    print(f"training time: {time.perf_counter() - start:.1f} s for {epochs} epoch(s)")
    print(f"mean test log-likelihood: {model.log_likelihood(x_test).mean():.2f} nats per image (standardized pixels)")

    start = time.perf_counter()
    samples = model.sample(args.num_samples, seed=args.seed)
    print(f"drew {len(samples)} samples of shape {samples.shape[1:]} in {time.perf_counter() - start:.2f} s")
    # A crude check that samples look like the data: per-pixel means and the share of ink pixels.
    mean_gap = np.abs(samples.mean(axis=0) - x_train.mean(axis=0)).mean()
    print(f"per-pixel mean of the samples vs the training images: mean absolute difference {mean_gap:.2f} (of 0..16)")
    print(
        f"pixels above 8: {100 * np.mean(samples > 8):.1f}% of sampled pixels, "
        f"{100 * np.mean(x_train > 8):.1f}% of training pixels"
    )
    os.makedirs(args.output_dir, exist_ok=True)
    path = os.path.join(args.output_dir, "samples.png")
    image_grid(np.clip(samples, 0.0, DIGITS_PIXEL_MAX), path)
    print(f"saved {path}")
    path = training_curve(history, ["loss"], negate=True, path=os.path.join(args.output_dir, "sampling_training.png"))
    print(f"saved {path}")

    # Bottom halves hidden: MPE completion and conditional samples from p(bottom | top).
    originals = x_test[: args.num_show]
    masked, columns = conditional_samples(model, originals, half_masks(8)["bottom"], args.num_conditional, args.seed)
    path = os.path.join(args.output_dir, "conditional_samples.png")
    completion_grid(originals, masked, columns, DIGITS_PIXEL_MAX, path=path)
    print(f"saved {path}")


if __name__ == "__main__":
    main()
