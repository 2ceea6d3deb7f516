"""Run by tests/test_same_numbers_060_training.py under this library and under libspn-keras 0.6.0.

``python training_values.py {ours,original} [SECTION ...]`` runs the sections below in the library
it runs under, with the same deterministic values in every variable, and prints one JSON object
``{section: {key: value}}`` (a step that raises is ``{"error": message}``):

- ``gradient_training``: one-step gradients and the weights after ``model.fit`` with SGD and Adam
  (on 0.6.0 the legacy tf_keras optimizers of its era) of a small DGC-SPN classifier and a small
  region SPN (grad sum op, log-space and linear accumulators), and of the region SPN with trainable leaf scales;
- ``backward``: the gradient every sum op hands to the accumulators and to the leaf output;
- ``online_em``: online EM with normal leaves keeping EM statistics (location, and scale), hard
  EM, ``accumulate_batches`` and the optimizer's learning-rate arguments and schedules;
- ``losses_metrics``: losses and metrics on fixed logits, with and without labels;
- ``initializers``: initializers, constraints on fixed inputs;
- ``dynamic``: 0.6.0's dynamic SPN form on sequences of several lengths;
- ``signatures``: the constructor signature of every public 0.6.0 class and function.
"""

import inspect
import json
import os
import sys

import numpy as np

if sys.argv[1] == "original":
    os.environ["TF_USE_LEGACY_KERAS"] = "1"  # 0.6.0 needs Keras 2 (../shared/ANCHORS.md), before TensorFlow loads
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tensorflow as tf  # noqa: E402
from forward_values import ORIGINAL, attempt, fill_variables, short_name  # noqa: E402  (legacy optimizer class too)

import libspn_keras as spnk  # noqa: E402
from libspn_keras import layers  # noqa: E402

keras = tf.keras
SUM_OPS = {
    "grad": spnk.SumOpGradBackprop,
    "em": spnk.SumOpEMBackprop,
    "hard_em": spnk.SumOpHardEMBackprop,
    "unweighted_hard_em": spnk.SumOpUnweightedHardEMBackprop,
    "sample": spnk.SumOpSampleBackprop,
}
NUM_VARS = 4
NUM_CLASSES = 3


def optimizer(name, **kwargs):
    """SGD / Adam with their defaults apart from ``kwargs``; 0.6.0's era used what tf_keras calls ``legacy``."""
    family = keras.optimizers.legacy if ORIGINAL else keras.optimizers
    return getattr(family, name)(**kwargs)


def normalized(layer, variable):
    value = np.asarray(variable, dtype=np.float64)
    if layer.logspace_accumulators:
        value = np.exp(value - value.max(axis=-2, keepdims=True))
    return value / value.sum(axis=-2, keepdims=True)


def state(model):
    """Every sum's normalized weights and every leaf's location and scale, by layer index."""
    result = {}
    for i, layer in enumerate(model.layers):
        for variable in layer.weights:
            name = short_name(variable)
            if name in ("sum_weights", "accumulators"):
                result[f"{i}_weights"] = normalized(layer, variable).ravel().tolist()
        if (
            isinstance(layer, layers.BaseLeaf)
            and hasattr(layer, "num_components")
            and not isinstance(layer, layers.IndicatorLeaf)
        ):
            if ORIGINAL:
                distribution = layer._get_distribution()
                location, scale = distribution.loc, distribution.scale
            else:
                location, scale = layer.location_tensor(), layer.scale_tensor()
            result[f"{i}_location"] = np.asarray(location, dtype=np.float64).ravel().tolist()
            result[f"{i}_scale"] = np.asarray(scale, dtype=np.float64).ravel().tolist()
    return result


# --- 1. gradient training ----------------------------------------------------------------------------------------


def original_constraints():
    """0.6.0's default constraints, given explicitly: under them both libraries take 0.6.0's gradient steps
    (this library's defaults differentiate through the normalization; test_gradient_parametrization.py)."""
    return dict(
        linear_accumulator_constraint=spnk.constraints.GreaterEqualEpsilonNormalized(),
        logspace_accumulator_constraint=spnk.constraints.LogNormalized(),
    )


def dgc_classifier(logspace):
    kwargs = dict(logspace_accumulators=logspace, **original_constraints())
    return [
        layers.NormalLeaf(num_components=2, input_shape=(4, 4, 1)),
        layers.Conv2DProduct(depthwise=True, strides=[2, 2], dilations=[1, 1], kernel_size=[2, 2], padding="valid"),
        layers.Local2DSum(num_sums=2, **kwargs),
        layers.Conv2DProduct(depthwise=True, strides=[1, 1], dilations=[1, 1], kernel_size=[2, 2], padding="final"),
        layers.SpatialToRegions(),
        layers.DenseSum(num_sums=NUM_CLASSES, **kwargs),
        layers.RootSum(return_weighted_child_logits=True, **kwargs),
    ]


def region_spn(logspace, leaf_kwargs=None, root_logits=False):
    kwargs = dict(logspace_accumulators=logspace, **original_constraints())
    return [
        layers.FlatToRegions(num_decomps=2, input_shape=[NUM_VARS]),
        layers.NormalLeaf(num_components=2, **(leaf_kwargs or {})),
        layers.DenseSum(num_sums=2, **kwargs),
        layers.DenseProduct(num_factors=2),
        layers.DenseSum(num_sums=2, **kwargs),
        layers.DenseProduct(num_factors=2),
        layers.DenseSum(num_sums=1, **kwargs),
        layers.RootSum(return_weighted_child_logits=root_logits, **kwargs),
    ]


def image_data():
    rng = np.random.default_rng(11)
    y = rng.integers(0, NUM_CLASSES, size=12)
    x = rng.normal(size=(12, 4, 4, 1)) + y[:, None, None, None] * 0.7
    return x.astype(np.float32), y.astype(np.int32)


def flat_data():
    rng = np.random.default_rng(12)
    x = rng.normal(size=(12, NUM_VARS))
    x[:, 1] += x[:, 0]
    return x.astype(np.float32), np.zeros(12, np.int32)


TRAINING_CASES = {
    # name: (layers, data, loss, unsupervised)
    "dgc_log": (lambda: dgc_classifier(True), image_data, "sparse_ce", False),
    "dgc_linear": (lambda: dgc_classifier(False), image_data, "sparse_ce", False),
    "region_log": (lambda: region_spn(True), flat_data, "nll", True),
    "region_linear": (lambda: region_spn(False), flat_data, "nll", True),
    # A trainable scale: both libraries store softplus^-1(scale), kept >= -2, and fill that variable alike.
    "region_log_scale_trainable": (lambda: region_spn(True, dict(scale_trainable=True)), flat_data, "nll", True),
}


def make_loss(name):
    if name == "sparse_ce":
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    return spnk.losses.NegativeLogLikelihood()


def build(make_stack, x, unsupervised=True, sum_op="grad", sums_only=False):
    spnk.set_default_sum_op(SUM_OPS[sum_op]())  # read by the sum layers' constructors, in both libraries
    model = spnk.models.SequentialSumProductNetwork(make_stack(), unsupervised=unsupervised)
    model(x[:1])
    if sums_only:  # leaves keeping EM statistics start from their initializers (0.6.0 names one of them "scale")
        leaves = [layer for layer in model.layers if isinstance(layer, layers.BaseLeaf)]
        kept = {id(v): np.asarray(v) for layer in leaves for v in layer.weights}
        fill_variables(model)
        for layer in model.layers:
            for v in layer.weights:
                if id(v) in kept:
                    v.assign(kept[id(v)])
    else:
        fill_variables(model)
    return model


def gradients(model, loss, x, y):
    with tf.GradientTape() as tape:
        value = loss(y, model(x, training=True))
    grads = tape.gradient(value, model.trainable_variables)
    return [
        {
            "name": short_name(v),
            "children_sums": [int(v.shape[-2]), int(v.shape[-1])],
            "gradient": np.asarray(g, dtype=np.float64).ravel().tolist(),
            "value": np.asarray(v, dtype=np.float64).ravel().tolist(),
        }
        for v, g in zip(model.trainable_variables, grads)
    ]


def gradient_training():
    result = {}
    for name, (make_layers, make_data, loss_name, unsupervised) in TRAINING_CASES.items():
        x, y = make_data()
        attempt_dict(
            result,
            f"{name}/gradients",
            lambda: gradients(build(make_layers, x, unsupervised), make_loss(loss_name), x[:6], y[:6]),  # noqa: B023
        )
        for opt_name, kwargs in (("SGD", dict(learning_rate=0.05)), ("Adam", dict(learning_rate=0.01))):

            def fit(opt_name=opt_name, kwargs=kwargs):
                model = build(make_layers, x, unsupervised)  # noqa: B023
                model.compile(optimizer=optimizer(opt_name, **kwargs), loss=make_loss(loss_name))  # noqa: B023
                # Unsupervised models get no labels: 0.6.0 would read them as sample weights (migration.md).
                labels = None if unsupervised else y  # noqa: B023
                model.fit(x, labels, epochs=1, batch_size=4, shuffle=False, verbose=0)  # noqa: B023
                out = state(model)
                out["logits"] = np.asarray(model.predict(x, verbose=0), np.float64).ravel().tolist()  # noqa: B023
                return out

            attempt_dict(result, f"{name}/{opt_name}", fit)
    return result


def attempt_dict(result, key, function):
    try:
        result[key] = function()
    except Exception as error:  # noqa: BLE001 -- a step that fails under one library is itself a finding
        result[key] = {"error": f"{type(error).__name__}: {str(error)[-400:]}"}


# --- 2. backward signals of every sum op ---------------------------------------------------------------------------


def region_sums(logspace, sum_op):
    kwargs = dict(logspace_accumulators=logspace, sum_op=SUM_OPS[sum_op](), **original_constraints())
    return [
        layers.DenseSum(num_sums=2, **kwargs),
        layers.DenseProduct(num_factors=2),
        layers.DenseSum(num_sums=3, **kwargs),
        layers.DenseProduct(num_factors=2),
        layers.Undecompose(),
        layers.RootSum(return_weighted_child_logits=sum_op != "sample", **kwargs),  # 0.6.0: no weighted sampling
    ]


def spatial_sums(logspace, sum_op):
    kwargs = dict(logspace_accumulators=logspace, sum_op=SUM_OPS[sum_op](), **original_constraints())
    return [
        layers.Conv2DProduct(depthwise=True, strides=[2, 2], dilations=[1, 1], kernel_size=[2, 2], padding="valid"),
        layers.Local2DSum(num_sums=2, **kwargs),
        layers.Conv2DProduct(depthwise=False, strides=[1, 1], dilations=[1, 1], kernel_size=[2, 2], padding="final"),
        layers.Conv2DSum(num_sums=3, **kwargs),
        layers.Conv2DProduct(depthwise=True, strides=[1, 1], dilations=[1, 1], kernel_size=[1, 1], padding="valid"),
        layers.SpatialToRegions(),
        layers.RootSum(return_weighted_child_logits=True, **kwargs),
    ]


def backward_inputs(shape):
    """Leaf log-probabilities."""
    return (np.random.default_rng(13).normal(size=shape) - 1.0).astype(np.float32)


def backward_case(stack_factory, shape, logspace, sum_op, dominant):
    """``dominant``: every sum gives one child (drawn at random) all but 1e-30 of its weight, so that even a
    sampling op picks that child (up to a chance of about 1e-20)."""
    x = tf.constant(backward_inputs(shape))
    labels = tf.constant(np.arange(shape[0]) % NUM_CLASSES, tf.int32)
    stack = stack_factory(logspace, sum_op)
    holder = keras.Sequential(stack)
    holder.build((None, *shape[1:]))
    weights = []
    for i, layer in enumerate(stack):
        for j, variable in enumerate(layer.trainable_weights):
            if short_name(variable) in ("sum_weights", "accumulators"):
                v_shape = tuple(int(d) for d in variable.shape)
                rng = np.random.default_rng([i, j, 5])
                w = rng.uniform(0.2, 1.0, size=v_shape)
                if dominant:
                    flat = w.reshape(-1, v_shape[-2], v_shape[-1])
                    winner = rng.integers(0, v_shape[-2], size=(flat.shape[0], 1, v_shape[-1]))
                    w = np.where(np.arange(v_shape[-2])[None, :, None] == winner, 1.0, 1e-30).reshape(v_shape)
                w /= w.sum(axis=-2, keepdims=True)
                variable.assign((np.log(w) if logspace else w).astype(np.float32))
                weights.append(variable)
    with tf.GradientTape() as tape:
        tape.watch(x)
        h = x
        for layer in stack:
            h = layer(h)
        if h.shape[-1] == 1:
            loss = -tf.reduce_sum(h)  # NegativeLogLikelihood, summed
        else:
            loss = -tf.reduce_sum(tf.gather(h, labels, axis=1, batch_dims=1))  # NegativeLogJoint, summed
    grads = tape.gradient(loss, [x, *weights])
    out = {"root": np.asarray(h, np.float64).ravel().tolist()}
    out["leaf"] = np.asarray(grads[0], np.float64).ravel().tolist()
    for k, (variable, g) in enumerate(zip(weights, grads[1:])):
        out[f"accumulators_{k}"] = np.asarray(g, np.float64).ravel().tolist()
        out[f"children_sums_{k}"] = [int(variable.shape[-2]), int(variable.shape[-1])]
    return out


def backward():
    result = {}
    for sum_op in SUM_OPS:
        for logspace in (True, False) if sum_op == "grad" else (False,):  # 0.6.0: EM ops on linear accumulators only
            for dominant in (False, True):
                if sum_op == "sample" and not dominant:
                    continue  # a random draw: only the case with one dominant child per sum is deterministic
                for stack_name, factory, shape in (
                    ("region", region_sums, (5, 4, 2, 2)),
                    ("spatial", spatial_sums, (5, 4, 4, 2)),
                ):
                    if stack_name == "spatial" and sum_op == "sample":
                        continue  # 0.6.0's sample op has no convolution
                    space = "log" if logspace else "linear"
                    key = f"{stack_name}/{sum_op}/{space}/{'dominant' if dominant else 'dense'}"
                    attempt_dict(
                        result,
                        key,
                        lambda f=factory, s=shape, lg=logspace, op=sum_op, d=dominant: backward_case(f, s, lg, op, d),
                    )
    return result


# --- 3. online EM with normal leaves (0.6.0's EM ops need linear accumulators) --------------------------------------


def em_leaf_kwargs(scale_trainable):
    """``scale_trainable=None``: fixed leaves (no location or scale updates), only the sums learn."""
    rng = np.random.default_rng(14)
    size = NUM_VARS * 2 * 2  # [vars, decomps, components, 1]
    return dict(
        use_accumulators=True,
        location_trainable=scale_trainable is not None,
        scale_trainable=bool(scale_trainable),
        location_initializer=keras.initializers.Constant(rng.normal(size=size).tolist()),
        scale_initializer=keras.initializers.Constant(rng.uniform(0.5, 1.5, size=size).tolist()),
        accumulator_initializer=keras.initializers.Constant(rng.uniform(0.5, 2.0, size=size).tolist()),
    )


EM_CASES = {
    # name: (sum op, scale_trainable, optimizer kwargs, epochs)
    "em_sums_only": ("em", None, dict(learning_rate=0.2), 1),
    "hard_em_sums_only": ("hard_em", None, dict(learning_rate=0.2), 1),
    "em_location": ("em", False, dict(learning_rate=0.2), 1),
    "em_location_scale": ("em", True, dict(learning_rate=0.2), 1),
    "hard_em_location_scale": ("hard_em", True, dict(learning_rate=0.2), 1),
    # the optimizer's arguments, on the sums only (leaf updates differ, see the test)
    "em_accumulate_2": ("em", None, dict(learning_rate=0.3, accumulate_batches=2), 1),
    "em_accumulate_3_two_epochs": ("em", None, dict(learning_rate=0.3, accumulate_batches=3), 2),
    "hard_em_accumulate_2": ("hard_em", None, dict(learning_rate=0.3, accumulate_batches=2), 1),
    "em_lr_keyword": ("em", None, dict(lr=0.15), 1),
    "em_default_lr": ("em", None, dict(), 1),
    "em_schedule": ("em", None, "schedule", 1),
    "em_accumulate_2_location_scale": ("em", True, dict(learning_rate=0.3, accumulate_batches=2), 1),
}


def online_em():
    result = {}
    x, _ = flat_data()
    for name, (sum_op, scale_trainable, opt_kwargs, epochs) in EM_CASES.items():

        def run(sum_op=sum_op, scale_trainable=scale_trainable, opt_kwargs=opt_kwargs, epochs=epochs, name=name):
            model = build(lambda: region_spn(False, em_leaf_kwargs(scale_trainable)), x, sum_op=sum_op, sums_only=True)  # noqa: B023
            if opt_kwargs == "schedule":
                schedule = keras.optimizers.schedules.ExponentialDecay(0.4, decay_steps=1, decay_rate=0.5)
                opt = spnk.optimizers.OnlineExpectationMaximization(learning_rate=schedule)
            else:
                opt_kwargs = dict(opt_kwargs)
                if ORIGINAL and "accumulate_batches" in opt_kwargs:
                    opt_kwargs["accumulate_batches"] = np.int64(opt_kwargs["accumulate_batches"])  # ANCHORS.md
                opt = spnk.optimizers.OnlineExpectationMaximization(**opt_kwargs)
            model.compile(optimizer=opt, loss=spnk.losses.NegativeLogLikelihood())
            out = {"initial": state(model)}
            model.fit(x, epochs=epochs, batch_size=4, shuffle=False, verbose=0)
            out["trained"] = state(model)
            out["log_likelihood"] = np.asarray(model.predict(x, verbose=0), np.float64).ravel().tolist()
            return out

        attempt_dict(result, name, run)
    attempt_dict(result, "mixture", em_mixture)
    return result


def em_mixture():
    """A mixture of two normals (one variable), two online-EM steps; the test checks both against numpy."""
    x = np.array([[-2.1], [-1.7], [-0.4], [0.3], [1.2], [2.5], [-1.1], [0.8], [1.9], [-2.6], [0.1], [1.4]], np.float32)
    leaf = dict(
        use_accumulators=True,
        scale_trainable=True,
        location_initializer=keras.initializers.Constant([-1.0, 1.0]),
        scale_initializer=keras.initializers.Constant([0.8, 1.3]),
        accumulator_initializer=keras.initializers.Constant([1.0, 2.0]),
    )
    spnk.set_default_sum_op(spnk.SumOpEMBackprop())
    model = spnk.models.SequentialSumProductNetwork(
        [
            layers.FlatToRegions(num_decomps=1, input_shape=[1]),
            layers.NormalLeaf(num_components=2, **leaf),
            layers.RootSum(return_weighted_child_logits=False, logspace_accumulators=False),
        ]
    )
    model(x[:1])
    model.layers[2].weights[0].assign(np.reshape([0.3, 0.7], tuple(model.layers[2].weights[0].shape)))
    model.compile(
        optimizer=spnk.optimizers.OnlineExpectationMaximization(learning_rate=0.4),
        loss=spnk.losses.NegativeLogLikelihood(),
    )
    out = {"x": x.ravel().tolist(), "initial": state(model)}
    model.fit(x, epochs=1, batch_size=6, shuffle=False, verbose=0)
    out["trained"] = state(model)
    return out


# --- 4. losses and metrics -----------------------------------------------------------------------------------------


def losses_metrics():
    rng = np.random.default_rng(15)
    logits = rng.normal(size=(6, NUM_CLASSES)).astype(np.float32) - 2.0
    single = rng.normal(size=(6, 1)).astype(np.float32) - 2.0
    labels = np.array([0, 2, 1, 1, 0, 2], np.int32)
    sample_weight = np.array([1.0, 0.5, 0.0, 2.0, 1.0, 1.0], np.float32)
    result = {
        "losses_module": sorted(n for n in dir(spnk.losses) if n[0].isupper()),
        "metrics_module": sorted(n for n in dir(spnk.metrics) if n[0].isupper()),
    }
    for key, fn in (
        ("nll_classes", lambda: spnk.losses.NegativeLogLikelihood()(labels, logits)),
        ("nll_single", lambda: spnk.losses.NegativeLogLikelihood()(labels, single)),
        ("nll_no_labels", lambda: spnk.losses.NegativeLogLikelihood()(np.zeros(6, np.float32), single)),
        ("nll_weighted", lambda: spnk.losses.NegativeLogLikelihood()(labels, logits, sample_weight=sample_weight)),
        ("nlj", lambda: spnk.losses.NegativeLogJoint()(labels, logits)),
        ("nlj_column_labels", lambda: spnk.losses.NegativeLogJoint()(labels[:, None], logits)),
        ("nlj_weighted", lambda: spnk.losses.NegativeLogJoint()(labels, logits, sample_weight=sample_weight)),
        ("nll_sum", lambda: spnk.losses.NegativeLogLikelihood(reduction="sum")(labels, logits)),
        ("nll_none", lambda: spnk.losses.NegativeLogLikelihood(reduction="none")(labels, logits)),
    ):
        attempt(result, key, fn)

    def metric(cls, y, pred, weights=None, batches=2, **kwargs):
        m = cls(**kwargs)
        for part in np.array_split(np.arange(len(pred)), batches):
            m.update_state(y[part], pred[part], sample_weight=None if weights is None else weights[part])
        return [float(m.result()), m.name]

    for key, fn in (
        ("llh_classes", lambda: metric(spnk.metrics.LogLikelihood, labels, logits)),
        ("llh_single", lambda: metric(spnk.metrics.LogLikelihood, labels, single)),
        ("llh_weighted", lambda: metric(spnk.metrics.LogLikelihood, labels, logits, sample_weight)),
        ("log_joint", lambda: metric(spnk.metrics.LogJoint, labels, logits)),
        ("log_joint_weighted", lambda: metric(spnk.metrics.LogJoint, labels, logits, sample_weight)),
        ("llh_named", lambda: metric(spnk.metrics.LogLikelihood, labels, logits, name="my_llh")),
    ):
        try:
            result[key] = fn()
        except Exception as error:  # noqa: BLE001
            result[key] = {"error": f"{type(error).__name__}: {str(error)[-300:]}"}
    return result


# --- 5. initializers and constraints -------------------------------------------------------------------------------


def initializers():
    result = {}
    init = spnk.initializers
    rng = np.random.default_rng(16)
    images = rng.normal(size=(24, 2, 2, 1)).astype(np.float32)
    separated = np.concatenate([rng.normal(c, 0.05, size=(8, 2, 2, 1)) for c in (-3.0, 0.0, 3.0)]).astype(np.float32)
    batched = tf.data.Dataset.from_tensor_slices(images).batch(8)  # 0.6.0's Poon-Domingos reads batches

    def leaf(num_components, **kwargs):
        """A normal leaf on 2 x 2 images taking the initializers; its location and scale."""
        model = keras.Sequential([layers.NormalLeaf(num_components=num_components, input_shape=(2, 2, 1), **kwargs)])
        model(images[:1])
        out = state(model)
        return [out["0_location"], out["0_scale"]]

    cases = {
        "epsilon_inverse_fan_in": lambda: init.EpsilonInverseFanIn(axis=-2)((2, 3, 4, 5), dtype=tf.float32),
        "epsilon_inverse_fan_in_eps": lambda: init.EpsilonInverseFanIn(axis=-1, epsilon=1e-2)((3, 4), dtype=tf.float32),
        "equidistant_direct": lambda: init.Equidistant(minval=-1.0, maxval=2.0)((2, 5), dtype=tf.float32),
        "equidistant_leaf": lambda: leaf(4, location_initializer=init.Equidistant(minval=-1.0, maxval=2.0)),
        "poon_domingos_4": lambda: leaf(
            4,
            location_initializer=init.PoonDomingosMeanOfQuantileSplit(batched),
            scale_initializer=init.PoonDomingosStddevOfQuantileSplit(batched),
        ),
        "poon_domingos_3": lambda: leaf(
            3,
            location_initializer=init.PoonDomingosMeanOfQuantileSplit(batched),
            scale_initializer=init.PoonDomingosStddevOfQuantileSplit(batched),
        ),
        "kmeans_separated": lambda: np.sort(
            np.reshape(
                leaf(
                    3,
                    location_initializer=init.KMeans(
                        separated,
                        samplewise_normalization=False,
                        data_fraction=1.0,
                        **({} if ORIGINAL else {"seed": 0}),
                    ),
                )[0],
                (2, 2, 3),
            ),
            axis=-1,
        ),
        "dirichlet_sums_to_one": lambda: np.sum(np.asarray(init.Dirichlet()((4, 3, 5), dtype=tf.float32)), axis=-2),
    }
    for key, fn in cases.items():
        attempt(result, key, fn)
    constraints = spnk.constraints
    w = tf.constant(rng.normal(size=(2, 3, 4)).astype(np.float32))
    positive = tf.abs(w) + tf.constant(np.where(rng.uniform(size=(2, 3, 4)) < 0.3, -10.0, 0.0).astype(np.float32))
    for key, fn in {
        "clip": lambda: constraints.Clip(-0.5, 0.5)(w),
        "clip_min_only": lambda: constraints.Clip(0.1)(w),
        "greater_equal_epsilon": lambda: constraints.GreaterEqualEpsilon(1e-3)(w),
        "greater_equal_epsilon_default": lambda: constraints.GreaterEqualEpsilon()(w),
        "greater_equal_epsilon_normalized": lambda: constraints.GreaterEqualEpsilonNormalized()(positive),
        "greater_equal_epsilon_normalized_axis": lambda: constraints.GreaterEqualEpsilonNormalized(
            epsilon=1e-2, axis=-1
        )(positive),
        "log_normalized": lambda: constraints.LogNormalized()(w),
        "log_normalized_axis": lambda: constraints.LogNormalized(axis=-1)(w),
        "logspace_wrapper": lambda: spnk.logspace_wrapper_initializer(keras.initializers.Constant(0.25))(
            (4, 1), dtype=tf.float32
        ),
    }.items():
        attempt(result, key, fn)
    return result


# --- 6. dynamic SPN ------------------------------------------------------------------------------------------------


def dynamic():
    num_vars, max_len = 2, 4
    spnk.set_default_sum_op(spnk.SumOpGradBackprop())
    template = keras.Sequential(
        [
            layers.FlatToRegions(num_decomps=1, input_shape=[num_vars], dtype=tf.int32),
            layers.IndicatorLeaf(num_components=2),
            layers.DenseSum(num_sums=3),
            layers.ReduceProduct(num_factors=num_vars),
        ]
    )
    t0 = keras.Sequential([layers.DenseSum(num_sums=2, input_shape=[1, 1, 3])])
    t_minus_1 = keras.Sequential([layers.DenseSum(num_sums=2, input_shape=[1, 1, 4])])
    top = keras.Sequential([layers.RootSum(return_weighted_child_logits=False, input_shape=[1, 1, 4])])
    result = {}
    for return_last_step in (True, False):
        model = spnk.models.DynamicSumProductNetwork(template, t0, t_minus_1, top, return_last_step=return_last_step)
        x = np.random.default_rng(17).integers(0, 2, size=(6, max_len, num_vars)).astype(np.int32)
        lens = np.array([1, 2, 3, 4, 4, 2])
        x[np.arange(max_len)[None, :] < (max_len - lens)[:, None]] = 0  # pre-padded, as 0.6.0 expects
        model([x[:1], lens[:1]])
        for k, network in enumerate((template, t0, t_minus_1, top)):
            for variable in network.trainable_weights:
                w = np.random.default_rng([k, 9]).uniform(0.2, 1.0, size=tuple(int(d) for d in variable.shape))
                w /= w.sum(axis=-2, keepdims=True)
                variable.assign(np.log(w).astype(np.float32))
        # The order of model.weights decides whether get_weights() of a 0.6.0 model fits set_weights() here.
        result["weight_sizes"] = [int(np.prod(v.shape)) for v in model.weights]
        attempt(result, f"return_last_step_{return_last_step}", lambda: model([x, lens]))  # noqa: B023
    return result


# --- 7. signatures -----------------------------------------------------------------------------------------------

SIGNATURE_MODULES = ("", "layers", "initializers", "constraints", "losses", "metrics", "models", "optimizers")


def describe(obj):
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        parameters = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):
        return None
    empty = inspect.Parameter.empty
    return [[p.name, p.kind.name, None if p.default is empty else repr(p.default)] for p in parameters]


def signatures():
    """Public classes and functions -> constructor or function signature; 0.6.0's from its ``__all__``s."""
    result = {}
    for module_name in SIGNATURE_MODULES:
        module = getattr(spnk, module_name) if module_name else spnk
        names = getattr(module, "__all__", []) if ORIGINAL else [n for n in dir(module) if not n.startswith("_")]
        for name in names:
            obj = getattr(module, name, None)
            if obj is None or inspect.ismodule(obj) or not callable(obj):
                continue
            result[f"{module_name}.{name}" if module_name else name] = describe(obj)
    return result


SECTIONS = {
    "gradient_training": gradient_training,
    "backward": backward,
    "online_em": online_em,
    "losses_metrics": losses_metrics,
    "initializers": initializers,
    "dynamic": dynamic,
    "signatures": signatures,
}


def main():
    names = sys.argv[2:] or list(SECTIONS)
    results = {}
    for name in names:
        try:
            results[name] = SECTIONS[name]()
        except Exception as error:  # noqa: BLE001
            results[name] = {"error": f"{type(error).__name__}: {str(error)[-400:]}"}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
