"""Train the README's DGC-SPN on Fashion-MNIST: discriminatively (default) or generatively with EM.

Discriminative recipe (after the DGC-SPN paper): Cauchy leaves with a fixed
scale, input dropout (pixels marginalized at random), dropout of the class
sums' children (``LogDropout``), training images mirrored left-right at
random, AMSGrad with a learning rate decaying along a cosine from 4e-2 to
4e-4, and cross-entropy on the class roots ``log p(x, y)`` with the labels
smoothed by 0.1 (``--label-smoothing``). After the plain accuracy it also
reports the accuracy of classifying each image by it and its mirror image
(``--test-flips``). Two such networks are trained, from seeds 1 and 2, and
classify together by their class log-posteriors added (``--networks``,
default 2; ``--networks 1`` trains the README's network alone): a
network's errors are partly its seed's, and the sum averages them out.

Generative recipe (``--generative``): ten DGC-SPNs of the same architecture,
wider at the bottom (32 leaf components per pixel, 64 sums per cell in the first
two ``Local2DSum`` layers), one per class, each with a single root ``p(x | y)``
and trained by EM on the images of its class only. Normal leaves whose locations (started at per-pixel
k-means centres of the class's images) and scales (floored at 0.05) are
learned by EM (``use_accumulators=True``), every sum with the EM sum op on
linear accumulators, ``OnlineExpectationMaximization`` with large batches
(4,000 images: 400 of every class) and a step decaying along a cosine from
0.5 to 0.02. Prediction picks the class with the largest
``log p(x | y) + log p(y)``. ``--per-class 0`` trains the single network of
the discriminative recipe instead, whose ten class roots share every layer
below them, with the ``NegativeLogJoint`` loss (1,024 images a batch).

Hyper-parameters were compared with ``--validation 10000`` (the last 10,000
training images held out; the test set stays untouched); see
``docs/tutorials/dgc_spn_fashion_mnist.md`` for the runs and figures.

Usage::

    python3 examples/dgc_spn_fashion_mnist.py                  # 15 epochs, discriminative
    python3 examples/dgc_spn_fashion_mnist.py --generative     # EM, one network per class
    python3 examples/dgc_spn_fashion_mnist.py --quick          # smoke run on a few hundred images
    python3 examples/dgc_spn_fashion_mnist.py --validation 10000 --epochs 5 --sum-dropout 0.1
    python3 examples/dgc_spn_fashion_mnist.py --idx-dir DIR    # other IDX files of that layout, e.g. MNIST
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow import keras  # noqa: E402

from libspn_keras import constraints, datasets, initializers, layers, losses, models, optimizers  # noqa: E402

# (stride, dilation, padding) of the product layers: 28 -> 14 -> 7 -> 8 -> 10 -> 14 -> 8 cells, the last ones
# each covering the whole image. A sum layer follows every product but the last.
PRODUCTS = [(2, 1, "valid"), (2, 1, "valid"), (1, 1, "full"), (1, 2, "full"), (1, 4, "full"), (1, 8, "final")]


EM_SUMS = dict(sum_op="em", logspace_accumulators=False)


def products_and_sums(sums, sum_kwargs):
    """The six products of ``PRODUCTS``, each but the last followed by a ``Local2DSum`` of ``sums[i]`` per cell."""
    stack = []
    for (stride, dilation, padding), num_sums in zip(PRODUCTS, list(sums) + [None]):
        stack.append(
            layers.Conv2DProduct(
                depthwise=True, strides=[stride] * 2, dilations=[dilation] * 2, kernel_size=[2, 2], padding=padding
            )
        )
        if num_sums is not None:
            stack.append(layers.Local2DSum(num_sums=num_sums, **sum_kwargs))
    return stack


def leaf_locations(kmeans_data):
    """Leaf location initializer: per-pixel k-means centres of ``kmeans_data``, or ``None``: random."""
    if kmeans_data is not None:
        return initializers.KMeans(kmeans_data, num_iters=10)
    return keras.initializers.TruncatedNormal(stddev=1.0, mean=0.0)


def em_leaf(num_components, location_initializer, min_scale):
    """Normal leaves with EM statistics: locations, and with ``min_scale`` scales floored at it, learned by EM."""
    return layers.NormalLeaf(
        num_components=num_components,
        use_accumulators=True,
        location_initializer=location_initializer,
        **learned_scale_arguments(min_scale),
    )


def learned_scale_arguments(min_scale):
    """Leaf arguments that learn the scales too (by EM with generative, else by gradient descent), floored."""
    if not min_scale:
        return {}
    return dict(scale_trainable=True, scale_constraint=constraints.GreaterEqualEpsilon(min_scale))


def build_model(
    generative=False,
    leaf="cauchy",
    num_components=16,
    sums=(16, 32, 32, 64, 64),
    input_dropout=0.0,
    sum_dropout=0.0,
    kmeans_data=None,
    min_scale=None,
):
    """The DGC-SPN of the README with ``log p(x, y)`` for 10 classes as output; optional dropout for training.

    ``leaf`` is ``"cauchy"`` or ``"normal"`` (fixed unit scale on standardized
    pixels; with ``generative`` always Normal, locations learned by EM).
    ``input_dropout`` marginalizes each pixel with that probability during
    training; ``sum_dropout`` drops each child of the class sums (``LogDropout``).
    """
    location_initializer = leaf_locations(kmeans_data)
    if generative:
        sum_kwargs = root_kwargs = EM_SUMS
        leaf_layer = em_leaf(num_components, location_initializer, min_scale)
    else:
        # Initial sum weights ~ TruncatedNormal(1, 0.5) (linear; the layer stores their logs); uniform class roots.
        sum_kwargs = dict(
            logspace_accumulators=True,
            accumulator_initializer=keras.initializers.TruncatedNormal(stddev=0.5, mean=1.0),
        )
        root_kwargs = dict(logspace_accumulators=True, accumulator_initializer=keras.initializers.Constant(1.0))
        leaf_class = {"cauchy": layers.CauchyLeaf, "normal": layers.NormalLeaf}[leaf]
        leaf_layer = leaf_class(
            num_components=num_components,
            location_initializer=location_initializer,
            **learned_scale_arguments(min_scale),
        )
    # Dropout below the class sums only: below every Local2DSum it costs 50% more time per step.
    dropout = [layers.LogDropout(sum_dropout)] if sum_dropout else []
    stack = [keras.Input((28, 28, 1))]
    stack += [layers.InputDropout(input_dropout)] if input_dropout else []
    stack += [leaf_layer, *products_and_sums(sums, sum_kwargs)]
    stack += [layers.SpatialToRegions(), *dropout, layers.DenseSum(num_sums=10, **sum_kwargs)]
    stack.append(layers.RootSum(return_weighted_child_logits=True, **root_kwargs))
    return models.SequentialSumProductNetwork(stack)


def class_network(num_components, sums, kmeans_data, min_scale):
    """The layers of one class's DGC-SPN: the architecture of ``build_model`` with one EM root, ``log p(x | y)``.

    Leaf locations start at per-pixel k-means centres of ``kmeans_data`` (the class's images), or at random.
    """
    leaf = em_leaf(num_components, leaf_locations(kmeans_data), min_scale)
    root = layers.RootSum(return_weighted_child_logits=False, **EM_SUMS)
    return [leaf, *products_and_sums(sums, EM_SUMS), layers.SpatialToRegions(), root]


def build_class_networks(x, y, num_components, sums, min_scale, seed, kmeans=True, num_classes=10):
    """Ten DGC-SPNs, one per class, as a training model and a classifier that share their layers.

    The trainer takes one image of every class per sample, ``[batch, classes, 28, 28, 1]``, and returns
    ``log p(x_k | y=k)`` of image ``k`` under network ``k``, ``[batch, classes]``: minimizing minus their sum, EM
    trains every network on the images of its class only, all ten in one step. The classifier gives every
    image to every network and returns ``log p(x | y=k) + log p(y=k) = log p(x, y=k)`` ``[batch, classes]``
    (the prior from the class frequencies of ``y``), as the class roots of ``build_model`` do.
    """
    rng = np.random.default_rng(seed)
    networks = []
    for label in range(num_classes):
        images = x[y == label]
        kmeans_data = images[rng.permutation(len(images))[:5000]] if kmeans else None
        networks.append(class_network(num_components, sums, kmeans_data, min_scale))

    def log_likelihoods(per_class_images):
        outputs = []
        for network, images in zip(networks, per_class_images):
            for layer in network:
                images = layer(images)
            outputs.append(images)
        return keras.layers.Concatenate()(outputs)

    tuples = keras.Input((num_classes, 28, 28, 1))
    trainer = models.SumProductNetwork(
        tuples, log_likelihoods([tuples[:, label] for label in range(num_classes)]), unsupervised=False
    )
    images = keras.Input((28, 28, 1))
    log_prior = np.log(np.bincount(y, minlength=num_classes) / len(y)).astype("float32")
    classifier = models.SumProductNetwork(
        images, log_likelihoods([images] * num_classes) + log_prior, unsupervised=False
    )
    return trainer, classifier


def class_batches(x, y, args, num_classes=10):
    """Endless batches of ``[batch / classes, classes, 28, 28, 1]``: image ``k`` of each sample is of class ``k``.

    Every class's images are shuffled and repeated on their own; labels are dummies. With ``--flip`` each
    image is mirrored left-right with probability 1/2.
    """
    streams = [
        tf.data.Dataset.from_tensor_slices(x[y == label]).shuffle(np.sum(y == label), seed=args.seed + label)
        for label in range(num_classes)
    ]
    data = tf.data.Dataset.zip(tuple(stream.repeat() for stream in streams)).map(lambda *images: tf.stack(images))
    data = data.batch(args.batch_size // num_classes, drop_remainder=True)
    if args.flip:
        data = data.map(
            lambda images: tf.reshape(
                tf.image.random_flip_left_right(tf.reshape(images, [-1, 28, 28, 1]), seed=args.seed),
                tf.shape(images),
            )
        )
    return data.map(lambda images: (images, tf.zeros(tf.shape(images)[:1], tf.int32))).prefetch(tf.data.AUTOTUNE)


def load_data(idx_dir, validation, quick, seed, train_samples=None, samplewise=False):
    """Standardized images ``[n, 28, 28, 1]`` as ``(train, evaluation, name)``.

    Pixels are standardized with the training set's mean and std, or with
    ``samplewise`` every image with its own. With ``validation`` the last that many training images are the evaluation
    split; otherwise the test set is.
    """
    (x_train, y_train), (x_test, y_test) = datasets.load_fashion_mnist(idx_dir)
    if validation:
        x_test, y_test = x_train[-validation:], y_train[-validation:]
        x_train, y_train = x_train[:-validation], y_train[:-validation]
    if train_samples:
        x_train, y_train = x_train[:train_samples], y_train[:train_samples]
    if quick:
        rng = np.random.default_rng(seed)
        train, test = rng.permutation(len(x_train))[:640], rng.permutation(len(x_test))[:320]
        (x_train, y_train), (x_test, y_test) = (x_train[train], y_train[train]), (x_test[test], y_test[test])
    x_train, x_test = (x.astype("float32")[..., None] for x in (x_train, x_test))
    if samplewise:
        x_train, x_test = ((x - x.mean(axis=(1, 2, 3), keepdims=True)) for x in (x_train, x_test))
        x_train, x_test = (x / (x.std(axis=(1, 2, 3), keepdims=True) + 1e-3) for x in (x_train, x_test))
    else:
        mean, std = x_train.mean(), x_train.std()
        x_train, x_test = ((x - mean) / std for x in (x_train, x_test))
    name = "validation" if validation else "test"
    return (x_train, y_train.astype("int32")), (x_test, y_test.astype("int32")), name


def shift_images(images, rows, cols, max_shift):
    """Images ``[n, h, w, c]`` moved: ``out[i, a, b] = images[i, a + rows[i] - max_shift, b + cols[i] - max_shift]``.

    ``rows`` and ``cols`` are ints in ``[0, 2 * max_shift]``; the pixels moved in from outside take each image's
    smallest value (the background).
    """
    height, width = images.shape[1], images.shape[2]
    low = tf.reduce_min(images, axis=[1, 2, 3], keepdims=True)
    pad = [[0, 0], [max_shift, max_shift], [max_shift, max_shift], [0, 0]]
    padded = tf.where(tf.pad(tf.ones_like(images, tf.bool), pad), tf.pad(images, pad), low)
    padded = tf.gather(padded, rows[:, None] + tf.range(height), axis=1, batch_dims=1)
    return tf.gather(padded, cols[:, None] + tf.range(width), axis=2, batch_dims=1)


def random_shift(images, max_shift, seed=None):
    """``images`` each moved by up to ``max_shift`` pixels along each axis, uniformly at random."""
    offsets = tf.random.uniform([2, tf.shape(images)[0]], 0, 2 * max_shift + 1, dtype=tf.int32, seed=seed)
    return shift_images(images, offsets[0], offsets[1], max_shift)


def training_data(x, y, args):
    """Shuffled batches; with ``--flip`` each image is mirrored left-right with probability 1/2, with ``--shift``
    moved by up to that many pixels along each axis."""
    data = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=args.seed).batch(args.batch_size)
    if args.flip:
        data = data.map(lambda images, labels: (tf.image.random_flip_left_right(images, seed=args.seed), labels))
    if args.shift:
        data = data.map(lambda images, labels: (random_shift(images, args.shift, seed=args.seed), labels))
    return data.prefetch(tf.data.AUTOTUNE)


def smoothed_cross_entropy(smoothing):
    """Cross-entropy of integer labels and logits with the labels smoothed: ``(1 - smoothing)`` on the label's
    class and ``smoothing`` spread evenly over all classes (Keras's categorical cross-entropy with
    ``label_smoothing``, on one-hot labels, since the sparse loss lacks that argument)."""

    def loss(labels, logits):
        one_hot = keras.ops.one_hot(keras.ops.reshape(labels, [-1]), keras.ops.shape(logits)[-1])
        return keras.losses.categorical_crossentropy(one_hot, logits, from_logits=True, label_smoothing=smoothing)

    return loss


def class_log_posteriors(model, images, batch_size):
    """Class log-posteriors ``[n, classes]`` of ``images``, from the model's log joints ``log p(x, y)``."""
    log_joints = model.predict(images, batch_size=batch_size, verbose=0)
    return keras.ops.convert_to_numpy(keras.ops.log_softmax(log_joints, axis=-1))


def mirrored_log_posteriors(model, images, batch_size, log_posteriors=None):
    """Class log-posteriors ``[n, classes]`` of every image plus those of its left-right mirror image.

    The model's outputs are log joints ``log p(x, y)``; each view is normalized over the classes first, so that
    the view the network finds more likely does not outvote the other. With training images mirrored at random
    the network has learnt both views of a garment, and classifying by both is test-time augmentation.
    ``log_posteriors``: those of ``images`` themselves, where already computed.
    """
    if log_posteriors is None:
        log_posteriors = class_log_posteriors(model, images, batch_size)
    return log_posteriors + class_log_posteriors(model, images[:, :, ::-1], batch_size)


def em_step(args, steps):
    """The EM step: ``--learning-rate`` (default 0.5), constant or decaying along a cosine to 0.02 over ``steps``."""
    start = args.learning_rate or 0.5
    if args.em_schedule == "constant":
        return start
    return keras.optimizers.schedules.CosineDecay(start, decay_steps=steps, alpha=min(1.0, 0.02 / start))


def minus_summed_log_likelihoods(_, log_likelihoods):
    """The class networks' training loss: ``-sum_k log p(x_k | y=k)`` per sample (labels unused)."""
    return -keras.ops.sum(log_likelihoods, axis=-1)


def em_optimizer(args, steps):
    # The leaf locations move by each batch's EM step whatever their running counts: the rule this recipe's
    # figures (benchmarks/RESULTS.md section 3) were measured with, rather than 0.6.0's running statistics.
    return optimizers.OnlineExpectationMaximization(learning_rate=em_step(args, steps), leaf_update="towards_estimate")


def compile_class_networks(trainer, classifier, args, steps):
    # XLA takes about 15 s per program of ten networks: not worth it for the few steps of --quick.
    trainer.compile(
        optimizer=em_optimizer(args, steps),
        loss=minus_summed_log_likelihoods,
        jit_compile=not args.quick,
    )
    classifier.compile(loss=losses.NegativeLogJoint(), metrics=["accuracy"], jit_compile=not args.quick)


def compile_model(model, args, steps):
    if args.generative:
        # Class-conditional EM: the loss -log p(x, y) routes each image to its own class root.
        model.compile(
            optimizer=em_optimizer(args, steps),
            loss=losses.NegativeLogJoint(),
            metrics=["accuracy"],
            jit_compile=True,
        )
    else:
        schedule = keras.optimizers.schedules.CosineDecay(args.learning_rate or 4e-2, decay_steps=steps, alpha=0.01)
        model.compile(
            # With use_ema, fit ends by writing the averaged weights into the model.
            optimizer=keras.optimizers.Adam(
                schedule, amsgrad=True, use_ema=args.ema > 0, ema_momentum=args.ema or 0.99
            ),
            loss=smoothed_cross_entropy(args.label_smoothing)
            if args.label_smoothing
            else keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
            jit_compile=True,
        )


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 epochs on 640 training images (a smoke test)")
    parser.add_argument("--generative", action="store_true", help="class-conditional EM instead of cross-entropy")
    parser.add_argument(
        "--per-class",
        type=int,
        default=1,
        help="with --generative: 1 (default) one network per class; 0 one network whose class roots share the rest",
    )
    parser.add_argument(
        "--em-schedule",
        choices=["cosine", "constant"],
        default="cosine",
        help="EM step: decaying along a cosine to 0.02 (default) or constant",
    )
    parser.add_argument("--epochs", type=int, default=None, help="default 15 (2 with --quick)")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="default 64 (--generative: 4,000, i.e. 400 per class network; 1,024 with --per-class 0; 64 with --quick)",
    )
    parser.add_argument("--learning-rate", type=float, default=None, help="default 4e-2 (AMSGrad), 0.5 (EM)")
    parser.add_argument("--leaf", choices=["cauchy", "normal"], default="cauchy", help="discriminative leaf")
    parser.add_argument(
        "--sums",
        default=None,
        help="sums per cell of the five Local2DSum layers (default 16,32,32,64,64, as in the README; 64,64,32,64,64 "
        "with --generative)",
    )
    parser.add_argument(
        "--num-components",
        type=int,
        default=None,
        help="leaf components per pixel (default 16, as in the README; 32 with --generative)",
    )
    parser.add_argument("--input-dropout", type=float, default=None, help="default 0.2 (0 with --generative)")
    parser.add_argument("--sum-dropout", type=float, default=None, help="default 0.2 (0 with --generative)")
    parser.add_argument(
        "--flip",
        type=int,
        default=None,
        help="1: mirror training images left-right at random (default 1, 0 with --generative)",
    )
    parser.add_argument(
        "--kmeans",
        type=int,
        default=None,
        help="1: leaf locations from per-pixel k-means (default 1 with --generative, else 0)",
    )
    parser.add_argument(
        "--min-scale",
        type=float,
        default=None,
        help="learn the leaf scales (by EM with --generative, else by gradient), floored at this value "
        "(default 0.05 with --generative, else 0: scales fixed at 1)",
    )
    parser.add_argument(
        "--validation",
        type=int,
        default=0,
        help="hold out the last N training images and "
        "evaluate on them instead of the test set (for choosing hyper-parameters)",
    )
    parser.add_argument(
        "--shift", type=int, default=0, help="move training images by up to N pixels along each axis at random"
    )
    parser.add_argument(
        "--ema",
        type=float,
        default=0.0,
        help="end with an exponential moving average of the weights with this momentum, e.g. 0.999 (0: none)",
    )
    parser.add_argument(
        "--label-smoothing",
        type=float,
        default=None,
        help="label smoothing of the cross-entropy (default 0.1; not used with --generative)",
    )
    parser.add_argument(
        "--test-flips",
        type=int,
        default=None,
        help="1: also report the accuracy of classifying every evaluation image by it and its mirror image "
        "(default: as --flip)",
    )
    parser.add_argument(
        "--networks",
        type=int,
        default=None,
        help="train this many models from seeds seed, seed + 1, ... and classify by their class log-posteriors "
        "added (default 2, 1 with --generative)",
    )
    parser.add_argument("--samplewise", type=int, default=0, help="1: standardize every image with its own mean/std")
    parser.add_argument("--train-samples", type=int, default=None, help="train on the first N images only")
    parser.add_argument("--idx-dir", default=None, help="folder of IDX files (default: the Debian package's)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    default_dropout = 0.0 if args.generative else 0.2
    args.input_dropout = default_dropout if args.input_dropout is None else args.input_dropout
    args.sum_dropout = default_dropout if args.sum_dropout is None else args.sum_dropout
    args.flip = (0 if args.generative else 1) if args.flip is None else args.flip
    args.test_flips = args.flip if args.test_flips is None else args.test_flips
    args.kmeans = (1 if args.generative else 0) if args.kmeans is None else args.kmeans
    args.min_scale = (0.05 if args.generative else 0.0) if args.min_scale is None else args.min_scale
    if args.label_smoothing is None:
        args.label_smoothing = 0.0 if args.generative else 0.1
    if args.networks is None:
        args.networks = 1 if args.generative else 2
    if args.networks < 1:
        parser.error(f"--networks must be at least 1, got {args.networks}")
    args.epochs = args.epochs if args.epochs is not None else (2 if args.quick else 15)
    # The class networks gain from more leaf components and wider lower sums (validation 85.1% against 84.1%).
    wider = args.generative and args.per_class
    if args.sums is None:
        args.sums = "64,64,32,64,64" if wider else "16,32,32,64,64"
    if args.num_components is None:
        args.num_components = 32 if wider else 16
    if args.batch_size is None:
        # Generative: each EM step re-estimates the class sums' weights over 4,096 children from the images of
        # that class in the batch, so small batches make noisy steps (64 images and step 0.05: 75% on validation).
        # One network per class sees only its share of each batch: 400 images of 4,000 (validation 86.6% against
        # 85.3% with 2,000; 8,000 gave 86.5%).
        args.batch_size = (4000 if args.per_class else 1024) if args.generative and not args.quick else 64
    return args


def train_network(args, x_train, y_train):
    """Builds, compiles and trains one model of the recipe; returns it with the training images to classify
    afterwards and the evaluation batch size."""
    keras.utils.set_random_seed(args.seed)
    sums = tuple(int(size) for size in args.sums.split(","))
    train_split, eval_batch = (x_train, y_train), 256
    if args.generative and args.per_class:
        trainer, model = build_class_networks(
            x_train, y_train, args.num_components, sums, args.min_scale, args.seed, args.kmeans
        )
        # An epoch: the smallest class's images once (the other classes' streams carry on into the next epoch).
        steps_per_epoch = np.bincount(y_train).min() // (args.batch_size // 10)
        compile_class_networks(trainer, model, args, args.epochs * steps_per_epoch)
        data = class_batches(x_train, y_train, args)
        # Classifying runs all ten networks on every image: the training accuracy is measured on 10,000 images.
        # Batches dividing both splits' sizes, so that the classifier is compiled for one shape only.
        train_split, eval_batch = (x_train[:10000], y_train[:10000]), 64 if args.quick else 250
        print(f"train accuracy below on the first {len(train_split[0])} training images")
        print(f"model: ten networks, {model.count_params():,} parameters, jit_compile={trainer.jit_compile}")
    else:
        kmeans_data = (
            x_train[np.random.default_rng(args.seed).permutation(len(x_train))[:5000]] if args.kmeans else None
        )
        model = trainer = build_model(
            args.generative,
            args.leaf,
            args.num_components,
            sums,
            args.input_dropout,
            args.sum_dropout,
            kmeans_data,
            args.min_scale,
        )
        steps_per_epoch = None
        compile_model(model, args, args.epochs * -(-len(x_train) // args.batch_size))
        data = training_data(x_train, y_train, args)
        print(f"model: {model.count_params():,} parameters, jit_compile={model.jit_compile}")

    start, cpu_start = time.perf_counter(), time.process_time()
    trainer.fit(data, epochs=args.epochs, steps_per_epoch=steps_per_epoch, verbose=2, shuffle=False)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    print(f"training time: {seconds:.0f} s wall, {cpu_seconds:.0f} s CPU for {args.epochs} epoch(s)")
    return model, train_split, eval_batch


def accuracy_of(log_posteriors, labels):
    return float(np.mean(np.argmax(log_posteriors, axis=-1) == labels))


def main(argv=None):
    args = parse_args(argv)
    (x_train, y_train), (x_eval, y_eval), eval_name = load_data(
        args.idx_dir, args.validation, args.quick, args.seed, args.train_samples, args.samplewise
    )
    print(f"data: {len(x_train)} training and {len(x_eval)} {eval_name} images of shape {x_train.shape[1:]}")
    # Per printed line: the class log-posteriors added over the networks, and the labels.
    summed, labels = {}, {}
    for index in range(args.networks):
        if args.networks > 1:
            print(f"network {index + 1} of {args.networks} (seed {args.seed + index}):")
        # Network k starts from seed + k: its initial weights, dropout masks and order of the images differ.
        model, (x_seen, y_seen), eval_batch = train_network(
            argparse.Namespace(**{**vars(args), "seed": args.seed + index}), x_train, y_train
        )
        plain = class_log_posteriors(model, x_eval, eval_batch)
        views = {"train accuracy": (class_log_posteriors(model, x_seen, eval_batch), y_seen)}
        views[f"{eval_name} accuracy"] = (plain, y_eval)
        if args.test_flips:  # without dropout or flips above, by both views here
            views[f"{eval_name} accuracy with mirror images"] = (
                mirrored_log_posteriors(model, x_eval, eval_batch, plain),
                y_eval,
            )
        for line, (log_posteriors, line_labels) in views.items():
            if args.networks > 1:
                print(f"  network {index + 1}: {line}: {accuracy_of(log_posteriors, line_labels):.4f}")
            summed[line] = summed.get(line, 0) + log_posteriors
            labels[line] = line_labels
    if args.networks > 1:
        print(f"the {args.networks} networks together (their class log-posteriors added):")
    for line in summed:
        print(f"{line}: {accuracy_of(summed[line], labels[line]):.4f}")
    # The evaluation accuracy, with mirror images where they were added.
    return accuracy_of(summed[line], labels[line])


if __name__ == "__main__":
    main()
