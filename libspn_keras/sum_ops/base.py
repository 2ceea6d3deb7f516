"""The sum-op strategy shared by every sum layer.

A sum op owns three decisions for a sum layer: how accumulators become
normalized weights, how children are combined in the forward pass, and what
flows backward (true gradients, EM counts, or a one-child choice). Layers call
:meth:`SumOpBase.weighted_sum` or :meth:`SumOpBase.weighted_children` and
nothing else, so a new training mode is one new file in this package.

Accumulators have shape ``[*lead, children, sums]`` (children on axis -2);
children values have shape ``[batch, *lead, children]``.
"""

import tensorflow as tf
from tensorflow import keras

from libspn_keras.math.log_matmul import log_matmul, logspace_max_product
from libspn_keras.math.routing import route_to_children, route_to_weights

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
    return accumulators / tf.reduce_sum(accumulators, axis=-2, keepdims=True)


def normalized_log_weights(accumulators, logspace_accumulators):
    """Log of :func:`normalized_weights`, differentiable in the accumulators."""
    if logspace_accumulators:
        return tf.nn.log_softmax(accumulators, axis=-2)
    return tf.math.log(accumulators) - tf.math.log(tf.reduce_sum(accumulators, axis=-2, keepdims=True))


def count_log_weights(accumulators, logspace_accumulators=False):
    """Normalized log-weights whose backward pass hands ``d/d log w`` (an edge count) to the accumulators.

    Training with counts needs linear accumulators; log-space ones are
    accepted so that queries (MPE, sampling) can run on gradient-trained models.
    """
    # Read a variable here, outside the custom gradient: eager ``tf.custom_gradient`` rejects
    # functions that read variables unless their gradient function takes ``variables``.
    accumulators = tf.convert_to_tensor(accumulators)
    if logspace_accumulators:
        return _count_log_weights_logspace(accumulators)
    return _count_log_weights(accumulators)


@tf.custom_gradient
def _count_log_weights_logspace(accumulators):
    log_weights = normalized_log_weights(accumulators, logspace_accumulators=True)

    def grad(d_log_weights):
        return d_log_weights

    return log_weights, grad


@tf.custom_gradient
def _count_log_weights(accumulators):
    log_weights = normalized_log_weights(accumulators, logspace_accumulators=False)

    def grad(d_log_weights):
        return d_log_weights

    return log_weights, grad


def count_weights(accumulators, logspace_accumulators=False):
    """Normalized linear weights whose backward pass hands ``w * d/dw = d/d log w`` to the accumulators."""
    if logspace_accumulators:
        return tf.exp(count_log_weights(accumulators, logspace_accumulators=True))
    return _count_weights(tf.convert_to_tensor(accumulators))


@tf.custom_gradient
def _count_weights(accumulators):
    weights = normalized_weights(accumulators, logspace_accumulators=False)

    def grad(d_weights):
        return d_weights * weights

    return weights, grad


def _routed_grad(choose, x, weighted, dy, weights_rank):
    one_hot = choose(x, weighted)
    return route_to_children(one_hot, dy), route_to_weights(one_hot, dy, weights_rank)


def routed_max_product(x, log_weights, choose):
    """Max-product of weighted children; backward sends each sum's signal to the child ``choose`` picks.

    ``choose(x, weighted)`` receives children ``[batch, *lead, children]`` and
    weighted children ``[batch, *lead, children, sums]`` and returns a one-hot
    choice of the latter's shape.
    """

    @tf.custom_gradient
    def forward(x, log_weights):
        weighted = logspace_max_product(x, log_weights)
        out = tf.reduce_max(weighted, axis=-2)

        def grad(dy):
            return _routed_grad(choose, x, weighted, dy, log_weights.shape.rank)

        return out, grad

    return forward(x, log_weights)


def routed_sum(x, log_weights, choose):
    """Log-sum of weighted children; backward sends each sum's signal to the child ``choose`` picks."""

    @tf.custom_gradient
    def forward(x, log_weights):
        out = log_matmul(x, tf.exp(log_weights))

        def grad(dy):
            return _routed_grad(choose, x, logspace_max_product(x, log_weights), dy, log_weights.shape.rank)

        return out, grad

    return forward(x, log_weights)


def add_log_weights(x, log_weights):
    """``x + log w`` for a single sum (``log_weights`` ``[*lead, children, 1]``), ``[batch, *lead, children]``."""
    return x + tf.squeeze(log_weights, axis=-1)


class SumOpBase:
    """Base class of the sum ops; see the module docstring.

    Subclasses set ``default_logspace_accumulators`` and
    ``supports_logspace_accumulators`` and implement :meth:`weighted_sum` and
    :meth:`weighted_children`.
    """

    name = None
    default_logspace_accumulators = False
    supports_logspace_accumulators = True

    def resolve_logspace_accumulators(self, logspace_accumulators, layer_name):
        """The ``logspace_accumulators`` setting to use, validated against this op."""
        if logspace_accumulators is None:
            return self.default_logspace_accumulators
        if logspace_accumulators and not self.supports_logspace_accumulators:
            raise ValueError(
                f"{layer_name}: sum op '{self.name}' needs linear-space accumulators (its updates are "
                f"normalized edge counts). Pass logspace_accumulators=False, or use sum_op='grad'."
            )
        return bool(logspace_accumulators)

    def weighted_sum(self, x, accumulators, logspace_accumulators):
        """Log-values of the sums: ``[batch, *lead, children]`` -> ``[batch, *lead, sums]``."""
        raise NotImplementedError

    def weighted_children(self, x, accumulators, logspace_accumulators):
        """Weighted children ``log w_c + x_c`` of one sum per position: ``[batch, *lead, children]``."""
        raise NotImplementedError

    fuses_products = False

    def weighted_sum_of_products(self, left, right, accumulators, logspace_accumulators):
        """Sums over the products of every node of ``left`` with every node of ``right`` (``[batch, *lead, k]``).

        Equals :meth:`weighted_sum` of their outer sum (node ``i * k + j``);
        ops with ``fuses_products = True`` compute it without forming that
        outer sum in log space.
        """
        outer = tf.expand_dims(left, -1) + tf.expand_dims(right, -2)
        outer = tf.reshape(outer, tf.concat([tf.shape(left)[:-1], [left.shape[-1] * right.shape[-1]]], axis=0))
        return self.weighted_sum(outer, accumulators, logspace_accumulators)

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
        return f"{type(self).__name__}()"


class CountingSumOpBase(SumOpBase):
    """Shared base of the EM-style ops: linear accumulators receive edge counts, not gradients."""

    default_logspace_accumulators = False
    supports_logspace_accumulators = False

    def weighted_children(self, x, accumulators, logspace_accumulators):
        return add_log_weights(x, count_log_weights(accumulators, logspace_accumulators))


__all__ = [
    "CountingSumOpBase",
    "SumOpBase",
    "add_log_weights",
    "count_log_weights",
    "count_weights",
    "normalized_log_weights",
    "normalized_weights",
    "register_sum_op",
    "registered_sum_ops",
    "routed_max_product",
    "routed_sum",
]
