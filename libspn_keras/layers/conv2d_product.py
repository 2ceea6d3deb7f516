"""Products over (dilated) spatial windows, the product layers of DGC-SPNs."""

import functools

import numpy as np
import tensorflow as tf
from tensorflow import keras

from libspn_keras.layers.cell_scopes import (
    cell_scopes,
    describe_cells,
    describe_scopes,
    is_region_layout,
    record_cell_scopes,
)
from libspn_keras.layers.full_precision import FullPrecisionLayer
from libspn_keras.layers.validation import (
    check_bool,
    check_known,
    check_rank,
    check_seed,
    positive_int,
    positive_int_pair,
)
from libspn_keras.math.products import log_outer_product
from libspn_keras.math.seeding import structure_random_state
from libspn_keras.math.spatial import (
    PADDING_MODES,
    axis_product_scopes,
    depthwise_window_product,
    effective_kernel_size,
    kernel_window_slices,
    pad_log_space,
    spatial_output_size,
    spatial_padding,
    uncovered_cells,
)
from libspn_keras.user_warnings import warn

_MAX_CHANNEL_COMBINATIONS = 2**20


@keras.utils.register_keras_serializable(package="libspn_keras")
class Conv2DProduct(FullPrecisionLayer):
    """Log-space products of the cells in every (dilated) kernel window.

    Input ``[batch, rows, cols, channels]`` of log-probabilities, output
    ``[batch, out_rows, out_cols, out_channels]``, where per axis
    ``out = ceil((size + pads - k_eff + 1) / stride)`` and
    ``k_eff = (kernel_size - 1) * dilation + 1``. Padding cells hold 0 (a
    marginalized factor). The kernel is a fixed 0/1 tensor, stored as a
    non-trainable weight so that saved models keep their structure.
    Windows that would leave a variable out of every scope, or join two
    cells that share one, raise ``ValueError`` when the layer is called
    (judged from the cells' scopes recorded while a model is built; see the
    validity guide).

    Args:
        strides: Int or pair; step between windows.
        dilations: Int or pair; spacing of the cells inside a window.
        kernel_size: Int or pair; cells per window along each axis.
        num_channels: Output channels when ``depthwise=False``: each output
            channel picks one input channel per kernel cell. ``None`` takes
            all ``channels ** (kernel rows * kernel cols)`` combinations, in
            0.6.0's order: output channel ``o`` takes channel
            ``(o // channels ** k) % channels`` from kernel cell ``k``
            (row-major);
            fewer draws that many at random as 0.6.0 does (each kernel cell
            uses every input channel as equally often as the number of
            outputs allows, counts differing by at most one, when there are
            at least as many outputs as channels, so combinations may
            repeat), from
            NumPy's global state (``keras.utils.set_random_seed`` or
            ``np.random.seed`` make it reproducible, and a seeded 0.6.0
            script gets the same picks) or from ``seed``. More than all
            combinations gives all of them, with a warning.
            Ignored when ``depthwise=True``, as 0.6.0 documents (the output
            keeps the input channels; a different number warns at build).
        padding: ``"valid"`` (none), ``"full"`` (``k_eff - 1`` on every side)
            or ``"final"`` (``(k_eff - 1) * 2 - size`` on top and left, for
            the last product of a DGC-SPN; none along an axis where the kernel
            is 1 wide, as in 0.6.0).
        depthwise: If ``True`` channel ``c`` of the output is the product of
            channel ``c`` of every cell in the window. Its kernel is a fixed
            ``[kernel rows, kernel cols]`` mask of ones, kept as a weight for
            parity with the original's parameter counts; the product itself
            is computed row by row and column by column, which is what a full
            mask of ones means.
        seed: Optional int seeding the choice of channel combinations.
        **kwargs: Passed to ``keras.layers.Layer``.
    """

    def __init__(
        self,
        strides,
        dilations,
        kernel_size,
        num_channels=None,
        padding="valid",
        depthwise=False,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        label = f"Conv2DProduct '{self.name}'"
        self.strides = positive_int_pair(label, "strides", strides)
        self.dilations = positive_int_pair(label, "dilations", dilations)
        self.kernel_size = positive_int_pair(label, "kernel_size", kernel_size)
        if padding not in PADDING_MODES:
            raise ValueError(f"{label}: unknown padding {padding!r}; use one of {PADDING_MODES}.")
        self.padding = padding
        self.depthwise = check_bool(label, "depthwise", depthwise)
        if num_channels is not None:
            num_channels = positive_int(label, "num_channels", num_channels)
        self.num_channels = num_channels
        self.seed = check_seed(label, "seed", seed)

    def __call__(self, *args, **kwargs):
        x = args[0] if args else kwargs.get("x", kwargs.get("inputs"))
        if x is not None:
            self._check_windows_cover(x)
        return super().__call__(*args, **kwargs)

    def build(self, input_shape):
        check_rank(self, input_shape, 4, "[batch, rows, cols, channels]")
        check_known(self, input_shape, (1, 2, 3), "rows, cols and channels")
        self._pads = [self._axis_padding(axis, input_shape[axis + 1]) for axis in (0, 1)]
        self._output_size = [self._axis_output_size(axis, input_shape[axis + 1]) for axis in (0, 1)]
        channels = input_shape[3]
        if self.depthwise:
            if self.num_channels is not None and self.num_channels != channels:
                warn(
                    f"Conv2DProduct '{self.name}': num_channels={self.num_channels} is ignored with depthwise=True "
                    f"(as in libspn-keras 0.6.0); the output keeps the {channels} input channels."
                )
            self.kernel = self.add_weight(name="kernel", shape=self.kernel_size, initializer="ones", trainable=False)
            self._out_channels = channels
        else:
            combinations = self._channel_combinations(channels)
            self._out_channels = combinations.shape[-1]
            self._all_combinations = self._out_channels == channels ** (self.kernel_size[0] * self.kernel_size[1])
            one_hot = np.eye(channels, dtype="float32")[combinations]  # [kr, kc, out, in]
            kernel_value = np.transpose(one_hot, (0, 1, 3, 2))
            self.kernel = self.add_weight(
                name="kernel",
                shape=kernel_value.shape,
                initializer=keras.initializers.Constant(kernel_value),
                trainable=False,
            )
        # Resolved as 0.6.0 resolves it, so that code sizing the next layer from it reads the output channels.
        self.num_channels = self._out_channels

    def call(self, x):
        x = pad_log_space(x, self._pads[0], self._pads[1])
        if self.depthwise:
            return depthwise_window_product(x, self.kernel_size, self.dilations, self.strides, self._output_size)
        windows = kernel_window_slices(x, self.kernel_size, self.dilations, self.strides, self._output_size)
        if self._all_combinations:
            # Every combination in 0.6.0's order (the first cell's channel least significant): nested outer sums,
            # which XLA fuses like any broadcast; a gather would recompute the fused cells below it once per output
            # channel.
            return functools.reduce(log_outer_product, windows[::-1])
        picks = tf.reshape(tf.argmax(self.kernel, axis=2, output_type=tf.int32), [len(windows), -1])
        return tf.add_n([tf.gather(window, picks[i], axis=-1) for i, window in enumerate(windows)])

    def compute_output_shape(self, input_shape):
        rows, cols = (self._axis_output_size(axis, input_shape[axis + 1]) for axis in (0, 1))
        if self.depthwise:
            channels = input_shape[3]
        elif input_shape[3] is None:
            channels = self.num_channels
        else:
            channels = input_shape[3] ** (self.kernel_size[0] * self.kernel_size[1])
            if self.num_channels is not None:
                channels = min(channels, self.num_channels)
        return (input_shape[0], rows, cols, channels)

    def compute_output_spec(self, x, *args, **kwargs):
        output = super().compute_output_spec(x, *args, **kwargs)
        scopes = cell_scopes(x)
        if scopes is None or not self.built:
            return record_cell_scopes(output, None, x)  # keeps the layout
        (rows, shared_rows), (cols, shared_cols) = (
            axis_product_scopes(
                scopes[axis],
                self._pads[axis],
                self.kernel_size[axis],
                self.dilations[axis],
                self.strides[axis],
                self._output_size[axis],
            )
            for axis in (0, 1)
        )
        # Two cells of a window share variables when they overlap along one axis and the window covers anything
        # along the other.
        row_overlap, col_overlap = shared_rows.any(axis=1), shared_cols.any(axis=1)
        joins_overlap = (row_overlap[:, None] & cols.any(axis=1)[None, :]) | (rows.any(axis=1)[:, None] & col_overlap)
        if joins_overlap.any():
            i, j = np.argwhere(joins_overlap)[0]
            shared, axis_name = (shared_rows[i], "row") if row_overlap[i] else (shared_cols[j], "column")
            if is_region_layout(x):
                covered = "the same variables" if axis_name == "column" else describe_scopes(x, shared)
                advice = (
                    "On a region tensor the columns are decompositions of the same variables: join scopes (axis 1) "
                    "only, with kernel_size[1] = 1 and windows that do not overlap, or with DenseProduct / "
                    "ReduceProduct."
                )
            else:
                covered = "image " + describe_cells(shared, axis_name)
                advice = (
                    "The cells a window joins must cover disjoint parts of the image: after a product with "
                    "overlapping windows (stride below kernel_size * dilations), double the dilations of the next one "
                    "(1, 2, 4, ... as in DGC-SPNs), or use strides equal to kernel_size. Cells joined by a "
                    "keras.layers.Concatenate must come from different parts of the image (or from different inputs)."
                )
            raise ValueError(
                f"Conv2DProduct '{self.name}': output cell {(int(i), int(j))} would multiply input cells that both "
                f"cover {covered}, so the product is not decomposable and the network is no longer a normalized "
                f"distribution. {advice}"
            )
        return record_cell_scopes(output, (rows, cols), x)

    def get_config(self):
        config = super().get_config()
        config.update(
            strides=list(self.strides),
            dilations=list(self.dilations),
            kernel_size=list(self.kernel_size),
            num_channels=self.num_channels,
            padding=self.padding,
            depthwise=self.depthwise,
            seed=self.seed,
        )
        return config

    def _axis_padding(self, axis, size):
        pads = spatial_padding(self.padding, size, self.kernel_size[axis], self.dilations[axis])
        if pads[0] < 0:
            k_eff = effective_kernel_size(self.kernel_size[axis], self.dilations[axis])
            raise ValueError(
                f"Conv2DProduct '{self.name}': padding='final' needs (k_eff - 1) * 2 >= size on every axis with a "
                f"kernel wider than 1, but axis {axis} has size {size} and k_eff {k_eff}. Double the dilation of "
                f"this layer or use padding='valid'/'full'."
            )
        return pads

    def _axis_output_size(self, axis, size):
        pads = self._axis_padding(axis, size)
        out_size = spatial_output_size(size, pads, self.kernel_size[axis], self.dilations[axis], self.strides[axis])
        if out_size < 1:
            raise ValueError(
                f"Conv2DProduct '{self.name}': a kernel of size {self.kernel_size[axis]} with dilation "
                f"{self.dilations[axis]} does not fit axis {axis} of size {size} with padding "
                f"'{self.padding}' (output size {out_size}). Reduce kernel_size or dilations, or pad."
            )
        return out_size

    def _check_windows_cover(self, x):
        """Refuses windows that leave out input cells whose variables no other cell covers.

        Checked on every symbolic call, and on the first call on data (not
        in ``build``, which sees the shape only, and which a saved model's
        layers run before they are called). With the cover recorded while a
        model is built (:mod:`~libspn_keras.layers.cell_scopes`), a skipped
        cell is refused only where its image rows (or columns) would drop out
        of every scope, since after ``padding="full"`` other cells cover them
        too and a region tensor's columns are decompositions of the same
        variables; without a record every cell counts as its own part of the
        image.
        """
        shape = getattr(x, "shape", None)
        if getattr(self, "_windows_checked", False) and not isinstance(x, keras.KerasTensor):
            return
        if shape is None or len(shape) != 4 or shape[1] is None or shape[2] is None:
            return
        scopes = cell_scopes(x, recorded_only=True)
        for axis in (0, 1):
            size = shape[axis + 1]
            self._axis_output_size(axis, size)  # its own errors first (a window wider than the axis)
            pads = self._axis_padding(axis, size)
            missed = uncovered_cells(size, pads, self.kernel_size[axis], self.dilations[axis], self.strides[axis])
            if not missed:
                continue
            dropped = ""
            if scopes is not None:
                cover = scopes[axis]
                kept = np.ones(size, dtype=bool)
                kept[missed] = False
                lost = cover[missed].any(axis=0) & ~cover[kept].any(axis=0)
                if not lost.any():
                    continue
                axis_name = ("scope" if is_region_layout(x) else "row") if axis == 0 else "column"
                dropped = f" ({describe_cells(lost, axis_name)}{'' if is_region_layout(x) else ' of the image'})"
            raise ValueError(
                f"Conv2DProduct '{self.name}': cells {missed} of axis {axis} (size {size}) fall in no product "
                f"window with kernel_size={self.kernel_size[axis]}, strides={self.strides[axis]}, "
                f"dilations={self.dilations[axis]}, padding='{self.padding}', so their variables{dropped} would "
                f"drop out of every scope. Choose sizes where the windows tile the axis (e.g. an even size for "
                f"kernel 2 / stride 2)"
                + (", or use padding='full'." if self.padding != "full" else ", or a smaller stride.")
            )
        self._windows_checked = True

    def _channel_combinations(self, channels):
        """Input channel per kernel cell for every output channel, ``[kernel_rows, kernel_cols, out]``."""
        area = self.kernel_size[0] * self.kernel_size[1]
        total = channels**area
        wanted = total if self.num_channels is None else self.num_channels
        if wanted > total:
            warn(
                f"Conv2DProduct '{self.name}': num_channels={wanted} exceeds the {total} distinct channel "
                f"combinations of {channels} channels over {area} kernel cells; using all {total}, as "
                f"libspn-keras 0.6.0 does. Pass num_channels=None for all of them."
            )
            wanted = self.num_channels = total
        if wanted > _MAX_CHANNEL_COMBINATIONS:
            raise ValueError(
                f"Conv2DProduct '{self.name}': {wanted} output channels is too many; set num_channels to at "
                f"most {_MAX_CHANNEL_COMBINATIONS} or use depthwise=True."
            )
        shape = (self.kernel_size[0], self.kernel_size[1], wanted)
        if wanted == total:
            # Cell k (row-major over the kernel) takes digit k of the output channel, the first cell's the least
            # significant, as in 0.6.0, so that its models and checkpoints keep their channel order.
            codes = np.arange(total)
            return ((codes[None, :] // channels ** np.arange(area)[:, None]) % channels).reshape(shape)
        # 0.6.0's draw, call for call: each cell uses every input channel equally often, in shuffled order; with
        # fewer outputs than channels, independent picks.
        random = structure_random_state(self.seed)
        if wanted >= channels:
            picks = []
            for _ in range(area):
                cell = np.arange(wanted) % channels
                random.shuffle(cell)
                picks.append(cell)
            return np.asarray(picks).reshape(shape)
        return random.randint(channels, size=area * wanted).reshape(shape)
