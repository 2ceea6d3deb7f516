"""The sum-op strategy shared by every sum layer.

A sum op owns three decisions for a sum layer: how accumulators become
normalized weights, how children are combined in the forward pass, and what
flows backward (true gradients, EM counts, or a one-child choice). Layers call
:meth:`SumOpBase.weighted_sum` or :meth:`SumOpBase.weighted_children` and
nothing else, so a new training mode is one new file in this package.

Accumulators have shape ``[*lead, children, sums]`` (children on axis -2);
children values have shape ``[batch, *lead, children]``.
"""

import math

import numpy as np
import tensorflow as tf
from tensorflow import keras

from libspn_keras.arguments import as_scalar, is_real
from libspn_keras.math.gradients import custom_gradient
from libspn_keras.math.log_matmul import log_matmul
from libspn_keras.math.node_major import (
    batch_first,
    batch_inside,
    checked_log_matmul_node_major,
    renormalized_node_major,
)
from libspn_keras.math.products import groups_of, log_outer_product
from libspn_keras.math.routing import route_signal
from libspn_keras.math.seeding import backward_source, drawing_from
from libspn_keras.math.stable import renormalized
from libspn_keras.sum_ops.checked import is_checked

_REGISTRY = {}


def register_sum_op(name):
    """Class decorator: makes a sum op available by ``name`` and serializable by Keras."""

    def decorator(cls):
        cls.name = name
        _REGISTRY[name] = cls
        return keras.utils.register_keras_serializable(package="libspn_keras")(cls)

    return decorator


def registered_sum_ops():
    """Mapping from registered names to sum-op classes."""
    return dict(_REGISTRY)


def normalized_weights(accumulators, logspace_accumulators):
    """Linear weights, normalized over the children axis, differentiable in the accumulators."""
    if logspace_accumulators:
        return tf.nn.softmax(accumulators, axis=-2)
    # Divided by the largest first, so accumulators up to the float32 maximum do not overflow the total, nor tiny
    # ones its gradient. divide_no_nan (a select around the division) keeps XLA from folding that division back into
    # the total, as it does for a plain one (a sum of [3e38, 1e38, 3e38] gave weights of 0 under XLA).
    scaled = tf.math.divide_no_nan(accumulators, tf.reduce_max(accumulators, axis=-2, keepdims=True))
    return scaled / tf.reduce_sum(scaled, axis=-2, keepdims=True)


def normalized_log_weights(accumulators, logspace_accumulators):
    """Log of :func:`normalized_weights`, differentiable in the accumulators."""
    log_accumulators = accumulators if logspace_accumulators else tf.math.log(accumulators)
    return tf.nn.log_softmax(log_accumulators, axis=-2)


def kept_normalized(accumulators):
    """Whether ``accumulators`` (a sum layer's variable) have a constraint that renormalizes them after each update.

    True for :class:`~libspn_keras.constraints.GreaterEqualEpsilonNormalized`
    and :class:`~libspn_keras.constraints.LogNormalized` (0.6.0's defaults)
    and any constraint with ``keeps_normalized = True``, when it normalizes
    over the children axis (``axis`` -2, as by default).
    """
    return keeps_normalized(getattr(accumulators, "constraint", None), len(accumulators.shape))


def keeps_normalized(constraint, rank):
    """Whether ``constraint`` renormalizes accumulators of ``rank`` over their children axis (see
    ``kept_normalized``)."""
    if not getattr(constraint, "keeps_normalized", False):
        return False
    return getattr(constraint, "axis", -2) in (-2, rank - 2)


def _zero_with_gradient_of(raw, valid=None):
    """0, with the gradient of ``raw`` where ``valid`` (default: where finite) and none elsewhere.

    ``raw - raw`` is exactly 0, so the values it is added to stay as they are;
    entries outside ``valid`` (a weight of 0) must not reach the subtraction,
    where ``-inf - -inf`` would be NaN.
    """
    valid = tf.math.is_finite(raw) if valid is None else valid
    safe = tf.where(valid, raw, tf.zeros_like(raw))
    return safe - tf.stop_gradient(safe)


def gradient_weights(accumulators, logspace_accumulators):
    """Normalized linear weights as gradient training differentiates them.

    Accumulators get the gradient through the normalization (of a softmax of
    log-space ones), except those whose constraint renormalizes them after
    each update (``kept_normalized``). These get the gradient of the
    weights they stand for (``w = acc``, or ``w = exp(acc)`` in log space),
    as in 0.6.0, which skipped the forward normalization under such
    constraints: the optimizer steps on that gradient and the constraint
    projects back. The values are normalized either way. On a likelihood that
    gradient is positive for every child, so its steps favour the children
    already used most: plain SGD ends with all weight on one child per sum
    rather than at the maximum likelihood.
    """
    kept = kept_normalized(accumulators)  # read from the variable: its constraint decides
    accumulators = tf.convert_to_tensor(accumulators)
    if logspace_accumulators:
        log_weights = normalized_log_weights(accumulators, logspace_accumulators)
        if kept:
            log_weights = tf.stop_gradient(log_weights) + _zero_with_gradient_of(accumulators)
        return _weights_of_log_weights(log_weights)
    weights = normalized_weights(accumulators, logspace_accumulators)
    return tf.stop_gradient(weights) + _zero_with_gradient_of(accumulators) if kept else weights


@custom_gradient
def _weights_of_log_weights(log_weights):
    """``exp(log_weights)``, raised to twice the smallest normal float where it would underflow.

    The log-matmul kernels differentiate the linear weights, and the chain
    rule multiplies by the weight itself; a log-space weight below about
    ``e^-87`` (float32) would be 0, and its accumulator would get no gradient
    even from samples that reach the sum only through its child. Raised to
    the floor, ``floor * (flow / floor)`` hands on the flow (``d out / d log
    w``, recomputed from the log-weights where the sum needs the exact path).
    The forward value does not change where the fast kernel is used alone: a
    sum that the floored weight could move by more than float32 rounding is
    below the kernel's range and recomputed from the log-weights.
    """
    floor = 2.0 * float(np.finfo(log_weights.dtype.as_numpy_dtype).tiny)  # twice: exp rounding may go subnormal
    weights = tf.exp(tf.maximum(log_weights, math.log(floor)))
    return weights, lambda upstream: upstream * weights


def gradient_log_weights(accumulators, logspace_accumulators):
    """Log of :func:`gradient_weights`, with the gradient that function describes."""
    log_weights = normalized_log_weights(accumulators, logspace_accumulators)
    if not kept_normalized(accumulators):
        return log_weights
    accumulators = tf.convert_to_tensor(accumulators)
    if logspace_accumulators:
        return tf.stop_gradient(log_weights) + _zero_with_gradient_of(accumulators)
    # d log(a) / da is infinite at a weight of 0: take the log of a safe value there, and no gradient.
    positive = accumulators > 0
    raw = tf.math.log(tf.where(positive, accumulators, tf.ones_like(accumulators)))
    return tf.stop_gradient(log_weights) + _zero_with_gradient_of(raw, positive)


def _counted(normalize, accumulators, logspace_accumulators, to_counts):
    """``normalize(accumulators)`` whose backward pass hands ``to_counts(upstream, value)`` to the accumulators."""

    @custom_gradient
    def counted(accumulators):
        value = normalize(accumulators, logspace_accumulators)
        return value, lambda upstream: to_counts(upstream, value)

    # Read a variable here, outside the custom gradient: eager ``tf.custom_gradient`` rejects
    # functions that read variables unless their gradient function takes ``variables``.
    return counted(tf.convert_to_tensor(accumulators))


def count_log_weights(accumulators, logspace_accumulators=False):
    """Normalized log-weights whose backward pass hands ``d/d log w`` (an edge count) to the accumulators.

    Training with counts needs linear accumulators; log-space ones are
    accepted so that queries (MPE, sampling) can run on gradient-trained models.
    """
    return _counted(normalized_log_weights, accumulators, logspace_accumulators, lambda d_log_w, _: d_log_w)


def count_weights(accumulators, logspace_accumulators=False):
    """Normalized linear weights whose backward pass hands ``w * d/dw = d/d log w`` to the accumulators."""
    return _counted(normalized_weights, accumulators, logspace_accumulators, lambda d_w, w: d_w * w)


def weight_forms(accumulators, logspace_accumulators, linear_weights=normalized_weights):
    """``(weights, log_weights_fn)`` for :func:`~libspn_keras.math.log_matmul`: linear weights for its fast
    kernel (``linear_weights`` decides their gradient), and a function giving the normalized log-weights
    should its exact path be needed (it then computes them, without gradient)."""
    weights = linear_weights(accumulators, logspace_accumulators)  # the variable: its constraint may matter
    accumulators = tf.convert_to_tensor(accumulators)
    return weights, lambda: tf.stop_gradient(normalized_log_weights(accumulators, logspace_accumulators))


def routed_sum(x, log_weights, forward=None, weighted=True, sample_prob=0.0, checked_weights=False):
    """A sum whose backward pass sends each sum's signal to one child (see :func:`~libspn_keras.math.route_signal`).

    Args:
        x: Children ``[batch, *lead, children]``.
        log_weights: Normalized log-weights ``[*lead, children, sums]`` or ``[children, sums]``.
        forward: ``forward(x, log_weights)`` computing the sums; the exact
            log-sum (:func:`~libspn_keras.math.log_matmul`) by default.
        weighted: Whether the choice weighs children by ``log w``.
        sample_prob: Probability of drawing the child instead of taking the best one.
        checked_weights: Passed to the default forward (see :func:`~libspn_keras.math.log_matmul`).

    The backward pass draws from the source of draws active here, in the forward pass (a seed drawn now
    from the sum layer's seed generator, or a query's source; see
    :func:`~libspn_keras.math.seeding.backward_source`): the gradient is traced after the layer's call
    has returned.
    """
    source = backward_source()

    @custom_gradient
    def route(x, log_weights):
        # The routing needs nothing of the forward's inner steps: keep a recording tape from holding them.
        x_value, log_weights_value = tf.stop_gradient(x), tf.stop_gradient(log_weights)
        if forward is None:
            out = renormalized(
                lambda x: log_matmul(x, log_weights=log_weights_value, checked_weights=checked_weights), x_value
            )
        else:
            out = forward(x_value, log_weights_value)

        def grad(dy):
            with drawing_from(source()):
                return route_signal(x, log_weights, dy, weighted=weighted, sample_prob=sample_prob)

        return out, grad

    return route(x, log_weights)


def add_log_weights(x, log_weights):
    """``x + log w`` for a single sum (``log_weights`` ``[*lead, children, 1]``), ``[batch, *lead, children]``."""
    return x + tf.squeeze(log_weights, axis=-1)


class SumOpBase:
    """Base class of the sum ops; see the module docstring.

    Subclasses override :meth:`default_logspace_accumulators` (a method, as
    in libspn-keras 0.6.0; a plain bool class attribute works too), set
    ``supports_logspace_accumulators`` and implement :meth:`weighted_sum` and
    :meth:`weighted_children`.
    """

    name = None
    supports_logspace_accumulators = True

    def default_logspace_accumulators(self):
        """Whether sum layers using this op store log-space accumulators unless told otherwise."""
        return False

    def _default_space(self):
        default = self.default_logspace_accumulators
        return bool(default() if callable(default) else default)

    def resolve_logspace_accumulators(self, logspace_accumulators, layer_name):
        """The ``logspace_accumulators`` setting to use, validated against this op."""
        if logspace_accumulators is None:
            return self._default_space()
        self.check_accumulator_space(bool(logspace_accumulators), layer_name)
        return bool(logspace_accumulators)

    def check_accumulator_space(self, logspace_accumulators, layer_name):
        """Raises ``ValueError`` if this op cannot read accumulators of that space (called when a layer takes it)."""
        if logspace_accumulators and not self.supports_logspace_accumulators:
            raise ValueError(
                f"{layer_name}: sum op '{self.name}' needs linear-space accumulators (the EM optimizer mixes its "
                f"edge counts into linear weights). Pass logspace_accumulators=False, or use sum_op='grad'."
            )

    def weighted_sum(self, x, accumulators, logspace_accumulators):
        """Log-values of the sums: ``[batch, *lead, children]`` -> ``[batch, *lead, sums]``."""
        raise NotImplementedError

    def weighted_children(self, x, accumulators, logspace_accumulators):
        """Weighted children ``log w_c + x_c`` of one sum per position: ``[batch, *lead, children]``."""
        raise NotImplementedError

    node_major_weights = None  # linear weights of the node-major fast kernel (a function of the accumulators)

    def weighted_sum_node_major(self, x, accumulators, logspace_accumulators):
        """:meth:`weighted_sum` with the batch inside: ``[*lead, batch, children]`` -> ``[*lead, batch, sums]``.

        Accumulators ``[*lead, children, sums]`` as for :meth:`weighted_sum`.
        Ops that set ``node_major_weights`` (e.g. ``count_weights``) run
        checked accumulators (:mod:`~libspn_keras.sum_ops.checked`) as one
        batched matmul (:func:`~libspn_keras.math.node_major.checked_log_matmul_node_major`);
        otherwise the children go batch-first through :meth:`weighted_sum`.
        """
        if self.node_major_weights is None or not is_checked(accumulators):
            return batch_inside(self.weighted_sum(batch_first(x), accumulators, logspace_accumulators))
        weights = self.node_major_weights(accumulators, logspace_accumulators)
        return renormalized_node_major(lambda x: checked_log_matmul_node_major(x, weights), x)

    fuses_products = False

    def weighted_sum_of_products(self, left, right, accumulators, logspace_accumulators):
        """Sums over the products of every node of ``left`` with every node of ``right`` (``[batch, *lead, k]``).

        Equals :meth:`weighted_sum` of their outer sum (node ``i * k + j``);
        ops with ``fuses_products = True`` compute it without forming that
        outer sum in log space.
        """
        return self.weighted_sum(log_outer_product(left, right), accumulators, logspace_accumulators)

    fuses_reductions = False

    def weighted_sum_then_product(self, x, accumulators, logspace_accumulators, num_factors):
        """The sums, then the products of each ``num_factors`` adjacent scopes (axis 1) of them.

        The ``DenseSum`` -> ``ReduceProduct`` pair: ``[batch, scopes, *lead, children]`` ->
        ``[batch, scopes / num_factors, *lead, sums]``. Ops with
        ``fuses_reductions = True`` compute it in one kernel; models only pair
        the two layers for those.
        """
        return tf.reduce_sum(groups_of(self.weighted_sum(x, accumulators, logspace_accumulators), num_factors), axis=2)

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self):
        return hash((type(self), tuple(sorted(self.get_config().items()))))

    def __repr__(self):
        arguments = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({arguments})"


class CountingSumOpBase(SumOpBase):
    """Shared base of the EM-style ops: linear accumulators receive edge counts, not gradients."""

    supports_logspace_accumulators = False

    def weighted_children(self, x, accumulators, logspace_accumulators):
        return add_log_weights(x, count_log_weights(accumulators, logspace_accumulators))


def check_sample_prob(owner, sample_prob):
    """``sample_prob`` as a float in ``[0, 1]`` (``None`` stays ``None``); raises ``ValueError`` otherwise."""
    if sample_prob is None:
        return None
    sample_prob = as_scalar(sample_prob)  # 0.6.0 typed it float or tf.Tensor: a scalar tensor is its value
    if not is_real(sample_prob) or not 0.0 <= sample_prob <= 1.0:
        raise ValueError(
            f"{owner}: sample_prob must be None or a number in [0, 1] (the probability of drawing the winning "
            f"child in proportion to its weighted value instead of taking the best one), got {sample_prob!r}."
        )
    return float(sample_prob)


__all__ = [
    "CountingSumOpBase",
    "SumOpBase",
    "add_log_weights",
    "check_sample_prob",
    "count_log_weights",
    "count_weights",
    "gradient_log_weights",
    "gradient_weights",
    "kept_normalized",
    "normalized_log_weights",
    "normalized_weights",
    "register_sum_op",
    "registered_sum_ops",
    "routed_sum",
    "weight_forms",
]
