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
| MPE`` per mask is saved as a PNG (hidden pixels in red).

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

import numpy as np  # noqa: E402
from tensorflow import keras  # noqa: E402

from libspn_keras import initializers, layers, models, optimizers  # noqa: E402
from libspn_keras.datasets import load_fashion_mnist  # noqa: E402
from libspn_keras.visualize import image_grid  # noqa: E402

DEFAULT_OUTPUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "output")

# Product layers (strides, dilations, padding) from the image size down to cells covering the whole image.
# 8x8: 8 -> 4 -> 5 -> 7 -> 4; 28x28 (the README's DGC-SPN): 28 -> 14 -> 7 -> 8 -> 10 -> 14 -> 8.
PRODUCTS = {
    8: [(2, 1, "valid"), (1, 1, "full"), (1, 2, "full"), (1, 4, "final")],
    28: [(2, 1, "valid"), (2, 1, "valid"), (1, 1, "full"), (1, 2, "full"), (1, 4, "full"), (1, 8, "final")],
}


def load_digit_images(seed, test_size=360):
    """scikit-learn digits as float32 images ``(N, 8, 8, 1)`` with values 0..16, split into train and test."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x_train, x_test = train_test_split(
        digits.images.astype("float32"), test_size=test_size, random_state=seed, stratify=digits.target
    )
    return x_train[..., None], x_test[..., None], 16.0


def load_fashion_images(idx_dir, train_size, test_size, seed):
    """A random subset of Fashion-MNIST as float32 images ``(N, 28, 28, 1)`` with values 0..255."""
    (x_train, _), (x_test, _) = load_fashion_mnist(idx_dir)
    rng = np.random.default_rng(seed)
    x_train = x_train[rng.permutation(len(x_train))[:train_size]]
    x_test = x_test[rng.permutation(len(x_test))[:test_size]]
    return x_train.astype("float32")[..., None], x_test.astype("float32")[..., None], 255.0


def build_generative_dgc_spn(x_train, pixel_max, num_components=16, num_sums=16, leaf_scale=0.5):
    """A DGC-SPN ``p(x)`` over raw images: standardization, Normal leaves, products and sums, one root.

    Every sum layer and the leaf are set up for EM: the sums use the EM sum op
    on linear-space accumulators and the leaf keeps sufficient statistics. The
    leaf locations start at per-pixel k-means centres of (standardized)
    training images; the leaf scale is fixed at ``leaf_scale`` standard
    deviations of each pixel.
    """
    size = x_train.shape[1]
    normalize = layers.NormalizeStandardScore(axes="variable_wise")
    normalize.adapt(x_train)
    # A floor of 1/16 of the pixel range keeps the always-blank border pixels from dividing by ~0.
    normalize.std.assign(np.maximum(normalize.std.numpy(), pixel_max / 16.0))
    standardized = normalize(x_train[:2000]).numpy()

    sum_kwargs = dict(
        sum_op="em", logspace_accumulators=False, accumulator_initializer=initializers.Dirichlet(alpha=1.0)
    )
    stack = [
        keras.Input(shape=x_train.shape[1:]),
        normalize,
        layers.NormalLeaf(
            num_components=num_components,
            use_accumulators=True,
            location_initializer=initializers.KMeans(standardized, num_iters=5),
            scale_initializer=keras.initializers.Constant(leaf_scale),
        ),
    ]
    products = PRODUCTS[size]
    for index, (stride, dilation, padding) in enumerate(products):
        stack.append(
            layers.Conv2DProduct(
                depthwise=True,
                strides=[stride, stride],
                dilations=[dilation, dilation],
                kernel_size=[2, 2],
                padding=padding,
            )
        )
        if index < len(products) - 1:
            stack.append(layers.Local2DSum(num_sums=num_sums, **sum_kwargs))
    stack += [layers.SpatialToRegions(), layers.RootSum(return_weighted_child_logits=False, **sum_kwargs)]
    return models.SequentialSumProductNetwork(stack)


def half_masks(size):
    """Boolean masks ``(size, size, 1)``, True where a pixel is hidden: the left half and the bottom half."""
    left = np.zeros((size, size, 1), bool)
    left[:, : size // 2] = True
    bottom = np.zeros((size, size, 1), bool)
    bottom[size // 2 :] = True
    return {"left": left, "bottom": bottom}


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
        x_train, x_test, pixel_max = load_fashion_images(args.idx_dir, train_size, test_size, args.seed)
        dataset = "fashion-mnist"
    else:
        x_train, x_test, pixel_max = load_digit_images(args.seed)
        if args.quick:
            x_train, x_test = x_train[:320], x_test[:60]
        dataset = "digits"
    print(f"{dataset}: {len(x_train)} training and {len(x_test)} test images of shape {x_train.shape[1:]}")

    model = build_generative_dgc_spn(x_train, pixel_max, args.num_components, args.num_sums)
    model.compile(optimizer=optimizers.OnlineExpectationMaximization(learning_rate=args.learning_rate))
    model.summary()

    start = time.perf_counter()
    model.fit(x_train, batch_size=args.batch_size, epochs=epochs, shuffle=True, verbose=2)
    print(f"training time: {time.perf_counter() - start:.1f} s for {epochs} epoch(s)")
    print(f"mean test log-likelihood: {model.log_likelihood(x_test).mean():.2f} nats per image (standardized pixels)")

    os.makedirs(args.output_dir, exist_ok=True)
    baseline = x_train.mean(axis=0)
    show = x_test[: args.num_show]
    for mask_name, mask in half_masks(x_train.shape[1]).items():
        masked = np.where(mask, np.nan, x_test).astype("float32")
        baseline_mse = float(np.mean((baseline - x_test)[:, mask] ** 2))
        completions = {}
        for method in ("posterior_marginal", "mpe"):
            start = time.perf_counter()
            completions[method] = model.complete(masked, method=method)
            seconds = time.perf_counter() - start
            mse = float(np.mean((completions[method] - x_test)[:, mask] ** 2))
            print(
                f"{mask_name} half missing, {method}: MSE {mse:.3f}, per-pixel-mean baseline MSE {baseline_mse:.3f} "
                f"(ratio {mse / baseline_mse:.2f}), {seconds:.2f} s for {len(x_test)} images"
            )
        columns = [
            show,
            masked[: args.num_show],
            completions["posterior_marginal"][: args.num_show],
            completions["mpe"][: args.num_show],
        ]
        grid = np.stack(columns, axis=1).reshape(-1, *show.shape[1:])
        titles = ["original", "masked", "posterior marginal", "MPE"] + [""] * (len(grid) - 4)
        path = os.path.join(args.output_dir, f"completion_{mask_name}.png")
        # One grey scale for all images: clip completions to the pixel range (NaNs stay, shown in red).
        image_grid(np.clip(grid, 0.0, pixel_max), path, rows=len(show), titles=titles)
        print(f"saved {path}")


if __name__ == "__main__":
    main()
