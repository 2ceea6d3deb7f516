"""Choosing one child per sum and routing a backward signal along the choice.

Hard EM, unweighted hard EM, MPE and sampling all send what arrives at a
sum to exactly one of its children. Children have shape
``[batch, *lead, children]``, log-weights ``[*lead, children, sums]`` (one
set per position) or ``[children, sums]`` (shared by all positions), and the
signal arriving at the sums ``[batch, *lead, sums]``.

In a valid SPN a signal started at the root for one sample reaches at most
one sum per position (two nodes of one scope never lie on one induced tree),
so :func:`route_signal` gathers, per position, the weights of the one sum
that holds a signal instead of forming ``[batch, *lead, children, sums]``:
memory is one value per node. Signals that reach several sums of a position
(class roots trained on the log-likelihood) take one more such pass per sum.

Random choices come from :func:`libspn_keras.math.seeding.uniform`, so a
query's seed fixes them without touching the global generators.
"""

import math

import numpy as np
import tensorflow as tf

from libspn_keras.math.seeding import uniform

#: Scores within this many rounding steps of the maximum (steps of the larger of 1 and its magnitude) tie with it.
#: The same value computed along two paths can differ by rounding: in training steps the sums skip the zero
#: sample's correction, so children that differ only in a marginalized variable, exactly equal otherwise, differ by
#: a step or two there, and the child that rounded up would win every time instead of half the time.
TIE_STEPS = 8


def _argmax_ties_at_random(scores):
    """Index of the maximum over the last axis; among maxima equal up to rounding (``TIE_STEPS``) each is equally
    likely."""
    largest = tf.reduce_max(scores, axis=-1, keepdims=True)
    step = tf.constant(np.finfo(scores.dtype.as_numpy_dtype).eps, scores.dtype)
    slack = TIE_STEPS * step * tf.maximum(tf.abs(largest), 1.0)
    slack = tf.where(tf.math.is_finite(largest), slack, tf.zeros_like(slack))  # -inf ties only with -inf
    is_max = scores >= largest - slack
    noise = uniform(tf.shape(scores), dtype=scores.dtype)
    return tf.argmax(tf.where(is_max, noise, -tf.ones_like(noise)), axis=-1, output_type=tf.int32)


def _gumbel_draw(scores):
    """Index drawn over the last axis with probabilities ``softmax(scores)`` (Gumbel-max)."""
    noise = uniform(tf.shape(scores), dtype=scores.dtype, minval=1e-20, maxval=1.0)
    return _argmax_ties_at_random(scores - tf.math.log(-tf.math.log(noise)))


def choose_child(scores, sample_prob=0.0):
    """One index per row of ``scores`` ``[..., children]`` (log-scores, ``-inf`` allowed).

    Args:
        scores: Log-scores of the children, e.g. ``log w_c + log S_c``.
        sample_prob: Probability, per row, of drawing the index with
            probabilities ``softmax(scores)``; otherwise the index of the
            maximum is taken (ties, up to :data:`TIE_STEPS` rounding steps,
            at random). ``0`` always takes the maximum, ``1`` always draws.

    Returns:
        int32 indices of shape ``scores.shape[:-1]``.
    """
    if sample_prob <= 0.0:
        return _argmax_ties_at_random(scores)
    if sample_prob >= 1.0:
        return _gumbel_draw(scores)
    draw = uniform(tf.shape(scores)[:-1], dtype=scores.dtype) < sample_prob
    return tf.where(draw, _gumbel_draw(scores), _argmax_ties_at_random(scores))


def argmax_one_hot(values, axis=-2):
    """One-hot of the maximum over ``axis``, ties (up to :data:`TIE_STEPS` rounding steps) broken uniformly at
    random."""
    moved = tf.experimental.numpy.moveaxis(values, axis, -1)
    one_hot = tf.one_hot(_argmax_ties_at_random(moved), tf.shape(values)[axis], dtype=values.dtype)
    return tf.experimental.numpy.moveaxis(one_hot, -1, axis)


def sample_one_hot(logits, axis=-2):
    """One-hot of an index drawn over ``axis`` with probabilities ``softmax(logits)``."""
    moved = tf.experimental.numpy.moveaxis(logits, axis, -1)
    one_hot = tf.one_hot(_gumbel_draw(moved), tf.shape(logits)[axis], dtype=logits.dtype)
    return tf.experimental.numpy.moveaxis(one_hot, -1, axis)


def _positions(x, log_weights):
    """Number of weight sets and the index of each ``[batch, *lead]`` entry's set (0 for shared weights)."""
    if log_weights.shape.rank == 2:
        return 1, tf.zeros(tf.shape(x)[:-1], dtype=tf.int32)
    lead = log_weights.shape[:-2]
    num_positions = math.prod(lead)
    position = tf.reshape(tf.range(num_positions, dtype=tf.int32), lead)
    return num_positions, tf.broadcast_to(position, tf.shape(x)[:-1])


def _nothing_where_impossible(signal, scores, keepdims=True):
    """``signal`` with 0 where every score is ``-inf``: no child of that sum is possible (a sample of probability 0).

    Such a sum is only reached from a root of value ``-inf``; handing its
    signal to an arbitrary child would add counts for a sample that has none
    (a custom loop that differentiates ``-sum(model(x))``; the library's
    losses pass no gradient for such a sample in the first place).
    """
    possible = tf.reduce_max(scores, axis=-1, keepdims=keepdims) > float("-inf")
    return tf.where(possible, signal, tf.zeros_like(signal))


def _unweighted_route(x, dy, log_weights, sample_prob):
    """Every sum of a position hands its signal to the same child: the one of largest value."""
    dy = _nothing_where_impossible(dy, x)
    winner = choose_child(x, sample_prob)
    one_hot = tf.one_hot(winner, x.shape[-1], dtype=dy.dtype)
    d_x = one_hot * tf.reduce_sum(dy, axis=-1, keepdims=True)
    num_children, num_sums = log_weights.shape[-2:]
    if log_weights.shape.rank == 2:
        counts = tf.matmul(tf.reshape(one_hot, [-1, num_children]), tf.reshape(dy, [-1, num_sums]), transpose_a=True)
    else:
        num_positions = math.prod(log_weights.shape[:-2])
        counts = tf.einsum(
            "bpc,bps->pcs",
            tf.reshape(one_hot, [-1, num_positions, num_children]),
            tf.reshape(dy, [-1, num_positions, num_sums]),
        )
    return d_x, tf.reshape(counts, tf.shape(log_weights))


def _weighted_route(x, dy, log_weights, sample_prob):
    """Each sum hands its signal to its own winner; one pass per sum that holds a signal at a position."""
    num_children, num_sums = log_weights.shape[-2:]
    num_positions, position = _positions(x, log_weights)
    flat = tf.reshape(log_weights, [num_positions, num_children, num_sums])
    columns = tf.reshape(tf.transpose(flat, [0, 2, 1]), [num_positions * num_sums, num_children])
    size = num_positions * num_children * num_sums

    def one_pass(remaining, d_x, counts):
        active = tf.argmax(tf.cast(tf.not_equal(remaining, 0), tf.int32), axis=-1, output_type=tf.int32)
        chosen = tf.equal(tf.expand_dims(active, -1), tf.range(num_sums, dtype=tf.int32))
        signal = tf.reduce_sum(tf.where(chosen, remaining, tf.zeros_like(remaining)), axis=-1)
        scores = x + tf.gather(columns, position * num_sums + active)
        signal = _nothing_where_impossible(signal, scores, keepdims=False)
        winner = choose_child(scores, sample_prob)
        d_x += tf.one_hot(winner, num_children, dtype=dy.dtype) * tf.expand_dims(signal, -1)
        edges = (position * num_children + winner) * num_sums + active
        counts += tf.math.unsorted_segment_sum(tf.reshape(signal, [-1]), tf.reshape(edges, [-1]), size)
        return tf.where(chosen, tf.zeros_like(remaining), remaining), d_x, counts

    _, d_x, counts = tf.while_loop(
        lambda remaining, *_: tf.reduce_any(tf.not_equal(remaining, 0)),
        one_pass,
        (dy, tf.zeros_like(x), tf.zeros([size], dtype=dy.dtype)),
    )
    return d_x, tf.reshape(counts, tf.shape(log_weights))


def route_signal(x, log_weights, dy, weighted=True, sample_prob=0.0):
    """Backward pass of sums that each pass their whole incoming signal to one child.

    Args:
        x: Log-values of the children ``[batch, *lead, children]``.
        log_weights: Log-weights ``[*lead, children, sums]`` or ``[children, sums]``.
        dy: Signal arriving at the sums, ``[batch, *lead, sums]``.
        weighted: If ``True`` sum ``s`` picks among ``log w_cs + x_c``;
            if ``False`` among ``x_c`` alone (one pick per position, shared by
            its sums).
        sample_prob: See :func:`choose_child`.

    A sum whose children are all ``-inf`` (reached only for a sample of
    probability 0) passes nothing on.

    Returns:
        ``(d_x, d_log_weights)``: the signal reaching each child, and per
        edge the signal routed through it, summed over the batch (and over
        the positions that share weights), shaped like ``log_weights``.
    """
    if weighted:
        return _weighted_route(x, dy, log_weights, sample_prob)
    return _unweighted_route(x, dy, log_weights, sample_prob)
