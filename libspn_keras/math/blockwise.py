"""Exact contractions over the children axis, a block of children at a time.

``max_c (x_c + log w_cs)`` (max-product) and ``log sum_c exp(x_c + log w_cs)``
cannot be written as one matmul without rounding the smallest terms away.
These kernels form ``x_c + log w_cs`` for a block of children at a time, so
memory stays at about ``2**16`` values per sample whatever the layer's size.
Shapes follow :mod:`libspn_keras.math.log_matmul`: children
``[batch, *lead, children]``, log-weights ``[*lead, children, sums]`` or
``[children, sums]``.

:func:`log_sum_where_needed` is the form :func:`~libspn_keras.math.log_matmul`
uses as its exact fallback: its loops run no iteration unless asked to, and
the log-weights are computed inside them, so the fallback costs nothing
when it is not needed (a ``tf.cond`` would copy its operands on every call).
"""

import math

import tensorflow as tf

from libspn_keras.math.gradients import custom_gradient

_BLOCK_VALUES_PER_SAMPLE = 2**16


class _Blocks:
    """Children and log-weights cut into blocks of ``size`` children (reshapes, no copies).

    Both come from functions called inside the loops only, so a loop that
    runs no iteration never computes them. ``like`` is any tensor with the
    children's leading axes ``[batch, *lead]``.
    """

    def __init__(self, children_fn, log_weights_fn, weight_shape, like):
        num_children, self.num_sums = weight_shape[-2:]
        limit = max(1, _BLOCK_VALUES_PER_SAMPLE // max(math.prod(like.shape[1:-1]) * self.num_sums, 1))
        self.size = max(size for size in range(1, min(num_children, limit) + 1) if num_children % size == 0)
        self.count = num_children // self.size
        self.children_fn, self.log_weights_fn = children_fn, log_weights_fn
        self.weight_shape, self.like_shape = list(weight_shape), list(like.shape)
        self.lead_shape = tf.shape(like)[:-1]
        self.out_shape = tf.concat([self.lead_shape, [self.num_sums]], axis=0)
        self.dtype = like.dtype

    def terms(self, index):
        """``x_c + log w_cs`` of block ``index``: ``[batch, *lead, k, sums]``."""
        x = tf.reshape(self.children_fn(), tf.concat([self.lead_shape, [self.count, self.size]], axis=0))
        log_weights = self.log_weights_fn()
        log_weights = tf.reshape(log_weights, [*log_weights.shape[:-2], self.count, self.size, self.num_sums])
        return tf.expand_dims(tf.gather(x, index, axis=-2), -1) + tf.gather(log_weights, index, axis=-3)

    def loop(self, step, init, active=None):
        """Runs ``step(index, *state)`` over the blocks (none when ``active`` is ``False``); the final state."""
        trips = self.count if active is None else tf.where(active, self.count, 0)

        def body(index, *state):
            return (index + 1, *step(index, *state))

        return tf.while_loop(lambda index, *_: index < trips, body, (0, *init))[1:]


def _blocks_of(x, log_weights):
    return _Blocks(lambda: x, lambda: log_weights, log_weights.shape, x)


def _finite_or_zero(values):
    return tf.where(tf.math.is_finite(values), values, tf.zeros_like(values))


def _max_plus(blocks, active=None):
    init = tf.fill(blocks.out_shape, tf.constant(-float("inf"), blocks.dtype))

    def step(index, best):
        return (tf.maximum(best, tf.reduce_max(blocks.terms(index), axis=-2)),)

    return blocks.loop(step, (init,), active)[0]


def _log_sum(blocks, active=None, otherwise=None, scratch=None):
    """Online log-sum-exp over the blocks; the result is ``otherwise`` untouched when no block runs.

    The state (running maximum, running total, result) starts as
    ``(otherwise, scratch, otherwise)`` (zeros by default), tensors of the
    output's shape the caller has anyway, and is reset by the first block.
    """
    if otherwise is None:
        otherwise = scratch = tf.zeros(blocks.out_shape, blocks.dtype)

    def add_block(index, best, total, out):
        first = tf.equal(index, 0)
        best = tf.where(first, tf.constant(-float("inf"), best.dtype), best)
        total = tf.where(first, tf.zeros_like(total), total)
        terms = blocks.terms(index)
        new_best = tf.maximum(best, tf.reduce_max(terms, axis=-2))
        shift = _finite_or_zero(new_best)
        total = total * tf.exp(best - shift) + tf.reduce_sum(tf.exp(terms - tf.expand_dims(shift, -2)), axis=-2)
        return new_best, total, tf.math.log(total) + shift

    return blocks.loop(add_block, (otherwise, scratch, otherwise), active)[2]


def max_plus_matmul(x, log_weights):
    """``max_c (x_c + log w_cs)``, ``[batch, *lead, sums]``: the sums of a max-product network."""
    return _max_plus(_blocks_of(x, log_weights))


def log_sum_where_needed(children_fn, log_weights_fn, weight_shape, like, active, otherwise, scratch):
    """``log sum_c exp(x_c + log w_cs)`` if the scalar bool ``active`` holds, else ``otherwise`` at no cost.

    Args:
        children_fn: Function returning the children ``[batch, *lead, children]``.
        log_weights_fn: Function returning the log-weights.
        weight_shape: Static shape of the log-weights.
        like: A tensor with the children's leading axes ``[batch, *lead]``.
        active: Scalar bool tensor. The functions are called inside the
            loop only, so never when ``active`` is ``False``.
        otherwise: The result when ``active`` is ``False``, shaped like the output.
        scratch: Any tensor shaped like the output (loop state).
    """
    return _log_sum(_Blocks(children_fn, log_weights_fn, weight_shape, like), active, otherwise, scratch)


def _log_sum_gradients(blocks, out, dy, linear_weights=None):
    """The gradients of ``out = log sum_c exp(x_c + log w_cs)`` given ``dy``, recomputed block by block.

    ``d out_s / d x_c = d out_s / d log w_cs = exp(x_c + log w_cs - out_s)``,
    each at most 1; 0 through sums of value 0. Given ``linear_weights`` (the
    weights ``w`` themselves), the weights' gradient is to them instead,
    ``d out_s / d w_cs = exp(x_c + log w_cs - out_s) / w_cs``: exact wherever
    it is a finite float, clipped to the largest one where it is not (a tiny
    weight on a child that dominates its sum), and 0 for weights of 0, so
    that the chain rule through ``w`` never makes ``nan``.

    Returns:
        ``(d children [batch, *lead, children], d weights)`` (the weights' shape).
    """
    dy = tf.expand_dims(tf.where(tf.math.is_finite(out), dy, tf.zeros_like(dy)), -2)
    out_shift = tf.expand_dims(_finite_or_zero(out), -2)
    rank, weight_shape = len(blocks.like_shape), blocks.weight_shape
    batch_axes = list(range(rank - 1)) if len(weight_shape) == 2 else [0]

    def grad_block(index, d_x, d_w):
        flow = tf.exp(blocks.terms(index) - out_shift) * dy
        return d_x.write(index, tf.reduce_sum(flow, axis=-1)), d_w.write(index, tf.reduce_sum(flow, axis=batch_axes))

    arrays = (tf.TensorArray(blocks.dtype, size=blocks.count), tf.TensorArray(blocks.dtype, size=blocks.count))
    d_x, d_w = blocks.loop(grad_block, arrays)
    lead = weight_shape[:-2]
    # [blocks, batch, *lead, k] -> [batch, *lead, children]; [blocks, *lead, k, sums] -> [*lead, children, sums]
    d_x = tf.transpose(d_x.stack(), list(range(1, rank)) + [0, rank])
    d_x = tf.reshape(d_x, tf.concat([blocks.lead_shape, [blocks.count * blocks.size]], axis=0))
    d_w = tf.transpose(d_w.stack(), list(range(1, len(lead) + 1)) + [0, len(lead) + 1, len(lead) + 2])
    d_w = tf.reshape(d_w, weight_shape)
    if linear_weights is not None:
        positive = linear_weights > 0
        largest = blocks.dtype.max
        divisor = tf.where(positive, linear_weights, tf.ones_like(linear_weights))
        d_w = tf.where(positive, tf.clip_by_value(d_w / divisor, -largest, largest), tf.zeros_like(d_w))
    return d_x, d_w


def log_sum_gradients_where_needed(
    children_fn, log_weights_fn, weights, like, active, out, dy, fast, out_of_range, from_children=None
):
    """Gradients of :func:`log_sum_where_needed`: through the sums ``out_of_range`` exact ones, if ``active`` holds.

    The fast kernels' gradient divides ``dy`` by each linear sum, which
    cannot be done where a sum is out of the float range (``dy / sum``
    overflows), while each ``exp(x_c + log w_cs - out_s)`` is at most 1. So
    where ``active`` holds, the gradient through those sums is
    :func:`_log_sum_gradients` (to the children and to the linear
    ``weights``) and through the others still the fast one, which is more
    precise for children of large magnitude; otherwise ``fast(dy)`` alone.

    Args:
        children_fn, log_weights_fn, like: As for :func:`log_sum_where_needed`.
        weights: The linear weights the sums were computed with (their static
            shape is the log-weights').
        active: Scalar bool tensor.
        out: The exact sums (``[batch, *lead, sums]``).
        dy: Their gradient.
        fast: Function of a gradient like ``dy`` giving the fast kernel's
            gradients (a tuple).
        out_of_range: Function giving a bool tensor shaped like ``out``: the
            sums the fast kernel could not represent.
        from_children: Function of ``(d children, d weights)`` giving a tuple
            like ``fast``'s (for sums over products: their factors'
            gradients); the pair itself by default.
    """
    blocks = _Blocks(children_fn, log_weights_fn, weights.shape, like)

    def exact():
        dy_exact = tf.where(out_of_range(), dy, tf.zeros_like(dy))
        grads = _log_sum_gradients(blocks, out, dy_exact, linear_weights=weights)
        grads = from_children(*grads) if from_children else grads
        return tuple(a + b for a, b in zip(fast(dy - dy_exact), grads))

    return tf.cond(active, exact, lambda: tuple(fast(dy)))


@custom_gradient
def blockwise_log_matmul(x, log_weights):
    """``log sum_c exp(x_c + log w_cs)`` exactly for any finite inputs, ``[batch, *lead, sums]``.

    Each term is shifted by the maximum term of its own sum before it is
    exponentiated, so no term that matters underflows. Slower than
    :func:`~libspn_keras.math.log_matmul` (elementwise over
    ``children x sums``), which falls back to it where its faster shifts
    lose precision. The gradient
    (``d out_s / d x_c = d out_s / d log w_cs = exp(x_c + log w_cs - out_s)``,
    0 through sums of value 0) is recomputed block by block.
    """
    blocks = _blocks_of(x, log_weights)
    out = _log_sum(blocks)

    def grad(dy):
        d_x, d_log_weights = _log_sum_gradients(blocks, out, dy)
        return tf.reshape(d_x, tf.shape(x)), d_log_weights

    return out, grad
