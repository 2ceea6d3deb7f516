"""Geometry of spatial product windows: padding, output sizes, coverage, and window slices."""

import numpy as np
import tensorflow as tf

from libspn_keras.math.gradients import custom_gradient

PADDING_MODES = ("valid", "full", "final")


def effective_kernel_size(kernel_size, dilation):
    """Extent of a dilated kernel along one axis: ``(k - 1) * d + 1``."""
    return (kernel_size - 1) * dilation + 1


def spatial_padding(padding, size, kernel_size, dilation):
    """Cells padded ``(before, after)`` along one axis for the given padding mode.

    ``valid``: none. ``full``: ``k_eff - 1`` on both sides. ``final``:
    ``(k_eff - 1) * 2 - size`` before, none after, so that a last product
    layer with doubled dilations joins every scope into one; none along an
    axis where the kernel is 1 wide (nothing is joined along it), as in 0.6.0.
    """
    k_eff = effective_kernel_size(kernel_size, dilation)
    if padding == "valid":
        return 0, 0
    if padding == "full":
        return k_eff - 1, k_eff - 1
    if padding == "final":
        return ((k_eff - 1) * 2 - size, 0) if kernel_size > 1 else (0, 0)
    raise ValueError(f"Unknown padding {padding!r}; use one of {PADDING_MODES}.")


def spatial_output_size(size, pads, kernel_size, dilation, stride):
    """``ceil((size + pads - k_eff + 1) / stride)``: output cells along one axis."""
    k_eff = effective_kernel_size(kernel_size, dilation)
    return -(-(size + sum(pads) - k_eff + 1) // stride)


def uncovered_cells(size, pads, kernel_size, dilation, stride):
    """Indices of input cells (unpadded) that fall in no product window along one axis."""
    out_size = spatial_output_size(size, pads, kernel_size, dilation, stride)
    covered = np.zeros(size + sum(pads), dtype=bool)
    starts = np.arange(max(out_size, 0)) * stride
    for offset in range(kernel_size):
        positions = starts + offset * dilation
        covered[positions[positions < covered.size]] = True
    real = covered[pads[0] : pads[0] + size]
    return np.flatnonzero(~real).tolist()


def kernel_window_slices(x_padded, kernel_size, dilations, strides, output_size):
    """Strided views of ``x_padded`` ``[batch, rows, cols, ch]``, one per kernel cell.

    Each view has shape ``[batch, *output_size, ch]``.

    Summing them (in log space) is a product over every window.
    """
    slices = []
    for i in range(kernel_size[0]):
        for j in range(kernel_size[1]):
            row0, col0 = i * dilations[0], j * dilations[1]
            slices.append(
                x_padded[
                    :,
                    row0 : row0 + (output_size[0] - 1) * strides[0] + 1 : strides[0],
                    col0 : col0 + (output_size[1] - 1) * strides[1] + 1 : strides[1],
                    :,
                ]
            )
    return slices


def pad_log_space(x, pads_rows, pads_cols):
    """Pads rows and columns with 0, which in log space is a marginalized factor (probability 1)."""
    if not any(pads_rows) and not any(pads_cols):
        return x
    return tf.pad(x, [[0, 0], list(pads_rows), list(pads_cols), [0, 0]], constant_values=0.0)


def _axis_window_sum(x, axis, kernel_size, dilation, stride, output_size):
    """Sum over one axis of the ``kernel_size`` cells of every window along it."""
    if stride == kernel_size and dilation == 1 and x.shape[axis] == output_size * kernel_size:
        shape = [-1 if i == 0 else size for i, size in enumerate(x.shape)]
        shape[axis : axis + 1] = [output_size, kernel_size]
        # Adds, not a reduce_sum: XLA on the CPU fuses the layer below (e.g. a leaf's logs) into a reduction as a
        # scalar loop, but into adds as a vectorized one (Cauchy leaves: a DGC-SPN step 1.2-1.9x faster).
        return tf.add_n(tf.unstack(tf.reshape(x, shape), axis=axis + 1))
    if stride == 1:
        return _shifted_sum(x, axis, kernel_size, dilation, output_size)
    total = None
    for cell in range(kernel_size):
        start = cell * dilation
        index = [slice(None)] * x.shape.rank
        index[axis] = slice(start, start + (output_size - 1) * stride + 1, stride)
        window = x[tuple(index)]
        total = window if total is None else total + window
    return total


def _shifted_sum(x, axis, kernel_size, dilation, output_size):
    """Stride-1 window sums; the backward pass pads the incoming signal back into place, one shift per cell.

    Autodiff of the slices would build a zero tensor per slice and scatter
    into it, which costs many times the forward pass.
    """
    size = x.shape[axis]
    starts = [cell * dilation for cell in range(kernel_size)]

    def window(tensor, start):
        begin = [0] * tensor.shape.rank
        length = [-1] * tensor.shape.rank
        begin[axis], length[axis] = start, output_size
        return tf.slice(tensor, begin, length)

    @custom_gradient
    def shifted_sum(x):
        def grad(dy):
            paddings = [[0, 0]] * dy.shape.rank
            placed = []
            for start in starts:
                paddings[axis] = [start, size - start - output_size]
                placed.append(tf.pad(dy, paddings))
            return tf.add_n(placed)

        return tf.add_n([window(x, start) for start in starts]), grad

    return shifted_sum(x)


def depthwise_window_product(x_padded, kernel_size, dilations, strides, output_size):
    """Log-space product of every (dilated) window, channel by channel: ``[batch, *output_size, ch]``.

    A full rectangular window factorizes into a product over its rows of a
    product over its columns, so each axis is reduced separately (and, for
    non-overlapping windows, by a reshape), which keeps the backward pass to
    broadcasts and a few slices.
    """
    rows = _axis_window_sum(x_padded, 1, kernel_size[0], dilations[0], strides[0], output_size[0])
    return _axis_window_sum(rows, 2, kernel_size[1], dilations[1], strides[1], output_size[1])


def axis_product_scopes(scopes, pads, kernel_size, dilation, stride, output_size):
    """What each output cell of a product layer covers along one axis, and which windows join overlapping cells.

    Every spatial layer acts on rows and columns separately, so the scope of
    cell ``(i, j)`` is ``rows[i] x cols[j]``: the image rows times the image
    columns it covers. ``scopes`` is that per-axis cover, bool
    ``[size, image size]``; padding cells cover nothing.

    Returns:
        ``(output_scopes, shared)``, both bool ``[output_size, image size]``:
        the union of each window's cells, and the image rows (or columns)
        that two or more cells of the window cover.
    """
    padded = np.pad(np.asarray(scopes, dtype=bool), [tuple(pads), (0, 0)])
    cells = np.arange(output_size)[:, None] * stride + np.arange(kernel_size)[None, :] * dilation
    counts = padded[cells].sum(axis=1)
    return counts > 0, counts > 1
