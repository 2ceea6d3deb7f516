"""Numerically stable building blocks for log-space computations."""

import tensorflow as tf

from libspn_keras.trace_switch import TraceSwitch

_plain_sums = TraceSwitch()


def finite_max(x, axis, keepdims=True):
    """Max of ``x`` over ``axis`` with non-finite maxima replaced by 0 and no gradient.

    Used as the shift of the max trick: subtracting a shift does not change
    the result of a log-sum-exp, so it carries no gradient, and replacing an
    all ``-inf`` maximum by 0 keeps ``x - shift`` free of ``nan``.
    """
    x_max = tf.reduce_max(x, axis=axis, keepdims=keepdims)
    x_max = tf.where(tf.math.is_finite(x_max), x_max, tf.zeros_like(x_max))
    return tf.stop_gradient(x_max)


def log_sum_exp(x, axis=-1):
    """``log(sum(exp(x)))`` over ``axis``, with no gradient (0, not ``nan``) where every entry is ``-inf``.

    ``tf.reduce_logsumexp`` of all ``-inf`` values is ``-inf`` too, but its
    gradient is ``0 / 0``. One sample of probability 0 in a batch (a value
    far out in a leaf's tail, a child dropped by ``LogDropout``) would then
    turn every gradient and EM count of the batch into ``nan``; here it adds
    nothing, and the other samples train as they would without it.
    """
    shift = finite_max(x, axis, keepdims=True)
    total = tf.reduce_sum(tf.exp(x - shift), axis=axis)
    reached = total > 0
    log_total = tf.math.log(tf.where(reached, total, tf.ones_like(total))) + tf.squeeze(shift, axis)
    return tf.where(reached, log_total, tf.fill(tf.shape(total), tf.constant(-float("inf"), x.dtype)))


def without_gradient_where_impossible(log_prob):
    """``log_prob`` unchanged, passing no gradient where it is ``-inf`` (a sample of probability 0).

    What :func:`log_sum_exp` does for a sum, for a value picked out as it
    is (e.g. the logit of a sample's own class): the EM sum ops read the
    gradient as counts, so a gradient of 1 there would count a sample that
    the model cannot produce, routed to arbitrary children.
    """
    impossible = tf.math.is_inf(log_prob) & (log_prob < 0)
    return tf.where(impossible, tf.stop_gradient(log_prob), log_prob)


#: The zero sample is appended with copies up to a multiple of this many rows. CPU kernels contract rows in
#: groups (of 4 or 8 float32s on AVX2) and the last, partial group in another code path, which rounds
#: differently; with no partial group every row, the zero sample's included, is summed alike. Measured on an
#: AVX2 CPU: with one zero row a fully marginalized HCLT gave 1.2e-7 instead of 0 for 4-6, 8-14 and 16-19
#: samples; with this padding 0 for every batch size from 1 to 33, 100 and 128.
ZERO_ROW_GROUP = 8


def with_zero_rows(tensor, axis):
    """``(padded, rows)``: ``tensor`` with at least one all-zero row appended on ``axis`` (see :data:`ZERO_ROW_GROUP`).

    ``rows`` is the number of rows of ``tensor`` on ``axis``; the first zero
    row of ``padded`` is at index ``rows``.
    """
    tensor = tf.convert_to_tensor(tensor)
    axis = axis % tensor.shape.rank
    static = tensor.shape.as_list()
    rows = static[axis] if static[axis] is not None else tf.shape(tensor)[axis]
    extra = (-(rows + 1)) % ZERO_ROW_GROUP + 1
    if None in static:  # shape arithmetic XLA can fold into constants
        shape = tf.concat([tf.shape(tensor)[:axis], tf.reshape(extra, [1]), tf.shape(tensor)[axis + 1 :]], axis=0)
    else:  # static shapes stay static
        shape = static[:axis] + [extra] + static[axis + 1 :]
    return tf.concat([tensor, tf.zeros(shape, tensor.dtype)], axis=axis), rows


def without_zero_sample(active=True):
    """Within it (when ``active``), :func:`renormalized` and its node-major form trace the plain sums.

    For the SPN models' training steps: the zero sample moves each sum's
    value by float32 rounding (about ``5e-9``) and the gradients by no more,
    but it costs rows in every contraction (4 more at batch 100, 8 at batch
    64) and a copy of each sum's input. Queries, ``evaluate`` and ``predict``
    keep it, so the probabilities they report stay exactly normalized.
    """
    return _plain_sums.on(active)


def zero_sample_active():
    """Whether :func:`renormalized` subtracts the zero sample here (outside :func:`without_zero_sample`)."""
    return not _plain_sums.is_on()


def renormalized(log_sum, *children):
    """``log_sum(*children)`` less the same sums of children of log-value 0, as a constant.

    ``log_sum`` computes sums whose weights are normalized to 1, so the
    subtracted term, ``log(sum of the weights)`` as the kernel accumulates
    them, is 0 up to float32 rounding. Rounding a float32 accumulation that
    ends near 1 is biased (about ``-5e-9`` per sum, mostly where the partial
    sums cross 1), and products add the errors of every sum below them: 1e-5
    of probability mass at depth 10. Subtracting the kernel's own value for an
    all-zero sample, appended to the batch so that it is summed in the same
    order and rounds the same way (:func:`with_zero_rows`), cancels that bias
    (every sum of a fully marginalized network gives exactly 0, with and
    without XLA); it changes no gradient and adds one to eight rows to the
    batch.

    Args:
        log_sum: ``log_sum(*children) -> [batch, *lead, sums]`` in log space.
        *children: Its inputs, each ``[batch, ...]``.

    Returns:
        ``[batch, *lead, sums]``; the plain ``log_sum(*children)`` inside
        :func:`without_zero_sample`.
    """
    if not zero_sample_active():
        return log_sum(*children)
    # The zero sample rides along in the batch: a separate batch-of-one contraction may be compiled (by XLA)
    # into another summation order, with another rounding.
    padded = [with_zero_rows(child, axis=0) for child in children]
    rows = padded[0][1]
    out = log_sum(*(child for child, _ in padded))
    return out[:rows] - tf.stop_gradient(out[rows : rows + 1])
