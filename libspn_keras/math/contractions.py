"""The linear-space contractions inside the log-space sum kernels, and the kernels' shared skeleton.

Shapes follow :mod:`libspn_keras.math.log_matmul`: children
``[batch, *lead, children]``, weights ``[*lead, children, sums]`` (one set
per position) or ``[children, sums]`` (shared by every position).

A kernel exponentiates its children shifted by their maximum, contracts them
with linear weights, and hands the linear sums and the shift to a
``finish(linear, shift, weights) -> (out, floored)`` function that takes the log
(:func:`~libspn_keras.math.log_matmul.log_matmul` with its range check,
:func:`~libspn_keras.math.counted_log_matmul.counted_log_matmul` dividing
by each sum's total). The backward pass reuses the forward's exponentials:
``d out_s / d x_c = exp_x_c * w_cs / floored_s``, with ``floored`` the
linear sums floored away from 0 by ``finish``; the weights' gradient goes
through ``weights_grad(d_weights, weights)``.
"""

import functools
import string

import tensorflow as tf

from libspn_keras.math.gradients import custom_gradient
from libspn_keras.math.stable import finite_max


def _lead_letters(x, weights):
    num_lead = weights.shape.rank - 2
    if x.shape.rank != num_lead + 2:
        raise ValueError(
            f"Cannot contract children of rank {x.shape.rank} with weights of rank "
            f"{weights.shape.rank}: expected children of rank {num_lead + 2}."
        )
    return string.ascii_lowercase[:num_lead]


def _flat_matmul(a, b, out_last, transpose_b=False):
    """``a [..., k] @ b`` on the flattened leading axes of ``a``, reshaped back with last axis ``out_last``."""
    flat = tf.reshape(a, [-1, tf.shape(a)[-1]])
    out = tf.matmul(flat, b, transpose_b=transpose_b)
    return tf.reshape(out, tf.concat([tf.shape(a)[:-1], [out_last]], axis=0))


#: Most children a per-position contraction adds up as broadcast products, when the kernel asks for it
#: (``unroll_small``), instead of contracting them by a batched matmul. For a sum over two or three children (the input
#: sums over an indicator leaf) the matmul spends its time moving the batch inside and back, while the products are one
#: loop that XLA fuses with the ``exp`` before and the products of sums after: the soft-EM steps of the RAT-SPNs in
#: ``benchmarks/bench_vs_original.py`` are 16-20% (small) and about 5% (large) faster on CPUs. The kernels that take
#: one ``log`` per sum do not ask for it: in the fused loop that ``log`` runs unvectorized (posterior queries 1.2-1.4x
#: slower). From four children on, the fused loop recomputes too many exponentials and the matmul is faster.
MAX_UNROLLED_CHILDREN = 3


def _unrolled(num_children, unroll_small):
    return unroll_small and num_children is not None and num_children <= MAX_UNROLLED_CHILDREN


def contract(x, weights, unroll_small=False):
    """``out[b, ..., s] = sum_c x[b, ..., c] * weights[..., c, s]`` (see :data:`MAX_UNROLLED_CHILDREN`)."""
    if weights.shape.rank == 2:
        return _flat_matmul(x, weights, tf.shape(weights)[-1])
    lead = _lead_letters(x, weights)
    if _unrolled(weights.shape[-2], unroll_small):
        return tf.add_n([x[..., c, None] * weights[..., c, :] for c in range(weights.shape[-2])])
    return tf.einsum(f"z{lead}x,{lead}xy->z{lead}y", x, weights)


def contract_transposed(dz, weights):
    """Backward of :func:`contract` to its first argument: ``sum_s dz[b, ..., s] * weights[..., c, s]``."""
    if weights.shape.rank == 2:
        return _flat_matmul(dz, weights, tf.shape(weights)[0], transpose_b=True)
    lead = _lead_letters(dz, weights)
    return tf.einsum(f"z{lead}y,{lead}xy->z{lead}x", dz, weights)


def contract_weights_grad(x, dz, weights):
    """Backward of :func:`contract` to ``weights``: ``sum over batch (and shared axes) of x_c * dz_s``."""
    if weights.shape.rank == 2:
        flat_x = tf.reshape(x, [-1, tf.shape(x)[-1]])
        flat_dz = tf.reshape(dz, [-1, tf.shape(dz)[-1]])
        return tf.matmul(flat_x, flat_dz, transpose_a=True)
    lead = _lead_letters(x, weights)
    return tf.einsum(f"z{lead}x,z{lead}y->{lead}xy", x, dz)


def shifted_exp(x, unroll_small=False):
    """``(exp(x - shift), shift)`` over the last axis; the shift is the maximum, 0 where it is not finite."""
    if _unrolled(x.shape[-1], unroll_small):  # a loop XLA fuses into the exponential, not a reduction of its own
        shift = finite_max(functools.reduce(tf.maximum, tf.unstack(x, axis=-1))[..., None], axis=-1)
    else:
        shift = finite_max(x, axis=-1)
    return tf.exp(x - shift), shift


def batch_inside(tensor, inside):
    """``[batch, *lead, k]`` <-> ``[*lead, batch, k]`` (``inside`` picks the direction)."""
    rank = tensor.shape.rank
    perm = list(range(1, rank - 1)) + [0, rank - 1] if inside else [rank - 2] + list(range(rank - 2)) + [rank - 1]
    return tf.transpose(tensor, perm)


def without_variables(grads, variables):
    """The gradient of a kernel whose exact path may read variables (through ``log_weights``): none to them."""
    return grads if variables is None else (grads, [None] * len(variables))


def sum_kernel(x, weights, finish, weights_grad, spread=None, unroll_small=False):
    """The skeleton of :func:`~libspn_keras.math.log_matmul.log_matmul` (see the module docstring).

    ``spread`` maps the output's gradient back to the shape of the sums
    where ``finish`` reduces them (e.g. into products of groups of sums);
    ``unroll_small`` is for kernels whose ``finish`` takes no ``log`` per
    sum (see :data:`MAX_UNROLLED_CHILDREN`).
    """

    @custom_gradient
    def kernel(x, weights):
        exp_x, shift = shifted_exp(x, unroll_small)
        out, floored, *exact_gradients = finish(contract(exp_x, weights, unroll_small), shift, weights)

        def grad(dy, variables=None):
            def fast(dy):
                scaled = (dy if spread is None else spread(dy)) / floored
                return exp_x * contract_transposed(scaled, weights), contract_weights_grad(exp_x, scaled, weights)

            d_x, d_weights = exact_gradients[0](out, dy, fast) if exact_gradients else fast(dy)
            return without_variables((d_x, weights_grad(d_weights, weights)), variables)

        return out, grad

    return kernel(x, weights)


def outer_sum_kernel(left, right, weights, finish, weights_grad):
    """The skeleton of :func:`~libspn_keras.math.log_matmul.log_outer_matmul` (see the module docstring).

    With per-position weights the small factors are moved batch-inside
    (``[*lead, batch, k]``) before the outer product, so the wide tensor is
    born in the layout of the batched matmul and is never transposed;
    ``finish`` gets the linear sums and shift batch-first.
    """

    @custom_gradient
    def kernel(left, right, weights):
        shared = weights.shape.rank == 2
        inside = (lambda t: t) if shared else (lambda t: batch_inside(t, True))
        outside = (lambda t: t) if shared else (lambda t: batch_inside(t, False))
        exp_left, left_shift = shifted_exp(inside(left))
        exp_right, right_shift = shifted_exp(inside(right))
        # The product axis by its static size (never -1): with an unknown batch (a step traced again for a smaller
        # last batch) -1 would leave the weights' gradient without a static children axis.
        num_products = left.shape[-1] * right.shape[-1]
        outer_shape = tf.concat([tf.shape(exp_left)[:-1], [num_products]], axis=0)
        outer = tf.reshape(tf.expand_dims(exp_left, -1) * tf.expand_dims(exp_right, -2), outer_shape)
        linear = contract(outer, weights) if shared else tf.matmul(outer, weights)
        out, floored, *exact_gradients = finish(outside(linear), outside(left_shift + right_shift), weights)

        def grad(dy, variables=None):
            if exact_gradients:
                d_left, d_right, d_weights = exact_gradients[0](out, dy, fast, from_products)
            else:
                d_left, d_right, d_weights = fast(dy)
            return without_variables((d_left, d_right, weights_grad(d_weights, weights)), variables)

        def from_products(d_products, d_weights):
            d_products = tf.reshape(d_products, tf.concat([tf.shape(left), [right.shape[-1]]], axis=0))
            return tf.reduce_sum(d_products, -1), tf.reduce_sum(d_products, -2), d_weights

        def fast(dy):
            scaled = inside(dy / floored)
            if shared:
                d_outer = contract_transposed(scaled, weights)
                d_weights = contract_weights_grad(outer, scaled, weights)
            else:
                d_outer = tf.matmul(scaled, weights, transpose_b=True)
                # The outer product again, batch-minor ([*lead, k * k, batch]): a plain matmul with ``scaled`` then
                # gives the weights' gradient, faster on CPUs than contracting the batch axis of ``outer`` (which
                # then need not be kept for the backward pass).
                exp_left_t, exp_right_t = (tf.linalg.matrix_transpose(t) for t in (exp_left, exp_right))
                outer_t = tf.expand_dims(exp_left_t, -2) * tf.expand_dims(exp_right_t, -3)
                outer_t = tf.reshape(
                    outer_t, tf.concat([tf.shape(outer_t)[:-3], [num_products, tf.shape(outer_t)[-1]]], 0)
                )
                d_weights = tf.matmul(outer_t, scaled)
            d_outer = tf.reshape(d_outer, tf.concat([tf.shape(exp_left), [right.shape[-1]]], axis=0))
            # d_left as batched matrix-vector products: a reduction over the minor axis runs serially on CPUs.
            d_left = exp_left * tf.squeeze(tf.matmul(d_outer, tf.expand_dims(exp_right, -1)), -1)
            d_right = exp_right * tf.reduce_sum(d_outer * tf.expand_dims(exp_left, -1), axis=-2)
            return outside(d_left), outside(d_right), d_weights

        return out, grad

    return kernel(left, right, weights)
