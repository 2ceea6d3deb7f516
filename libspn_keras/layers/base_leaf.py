"""Common base of the leaf layers, which turn raw inputs into log-probabilities per component."""

import tensorflow as tf

from libspn_keras.arguments import ArgumentError
from libspn_keras.layers.cell_scopes import record_leaf_cells
from libspn_keras.layers.full_precision import FullPrecisionLayer
from libspn_keras.layers.input_guard import check_input_shape, guard_values
from libspn_keras.layers.leaf_representation import LeafRepresentation
from libspn_keras.layers.validation import check_known, layer_label, positive_int


def holds_missing_marker(dtype):
    """Whether values of ``dtype`` can mark a missing entry (NaN or -1): not for unsigned integers and bools."""
    dtype = tf.as_dtype(dtype)
    return not (dtype.is_unsigned or dtype == tf.bool)


def marker_dtype(dtype):
    """The dtype in which values of ``dtype`` are read where they may be missing: ``dtype`` itself where it holds
    the marker, else a signed integer type holding -1 (``int32``, which holds every value of 8 and 16 bits; ``int64``
    for 32 and 64 bits, whose ``uint64`` values from 2**63 up it cannot hold)."""
    dtype = tf.as_dtype(dtype)
    if holds_missing_marker(dtype):
        return dtype
    return tf.int64 if dtype != tf.bool and dtype.size >= 4 else tf.int32


def check_leaf(owner, leaf, allow_none=False):
    """``leaf`` itself where it is a leaf layer (or ``None`` where allowed); raises ``ValueError`` naming ``owner``
    otherwise (a sum layer in its place would make a model whose outputs are not log-probabilities of the input)."""
    if (leaf is None and allow_none) or isinstance(leaf, LeafBase):
        return leaf
    raise ArgumentError(
        f"{owner}: leaf must be a leaf layer (e.g. NormalLeaf(...) or IndicatorLeaf(...))"
        f"{' or None' if allow_none else ''}, got {leaf!r}."
    )


def as_float_with_missing(x, dtype):
    """``x`` cast to the float ``dtype``; a signed integer ``x`` marks missing entries with ``-1``, which become
    ``NaN`` (see :func:`~libspn_keras.layers.base_leaf.missing_value`). Float ``x`` is returned as it is."""
    if x.dtype.is_floating:
        return x
    converted = tf.cast(x, dtype)
    if holds_missing_marker(x.dtype):
        converted = tf.where(tf.equal(x, -1), tf.constant(float("nan"), converted.dtype), converted)
    return converted


def missing_value(dtype):
    """The input value every leaf reads as unobserved: NaN for floats, -1 for signed integers.

    Raises:
        ValueError: For unsigned integer and bool dtypes, which cannot hold -1.
    """
    dtype = tf.as_dtype(dtype)
    if dtype.is_floating:
        return tf.constant(float("nan"), dtype)
    if not holds_missing_marker(dtype):
        raise ValueError(
            f"dtype {dtype.name} cannot hold the missing marker -1; use a signed integer dtype (e.g. int32) for "
            f"inputs that may hold missing values."
        )
    return tf.constant(-1, dtype)


class LeafBase(FullPrecisionLayer):
    """Input ``[batch, ..., d]`` -> log-probabilities ``[batch, ..., num_components]``.

    The last input axis holds the ``d`` dimensions of one variable (``d = 1``
    for univariate leaves); a multivariate leaf is a product (diagonal)
    distribution, so its log-probabilities are summed over ``d``. Unobserved
    entries (see :meth:`observed_mask`) contribute log-probability 0, which
    marginalizes them exactly. Subclasses implement
    :meth:`component_log_prob`; a subclass written for 0.6.0, with its hooks
    ``_build_distribution(shape)`` (called in ``build`` with 0.6.0's
    ``[1, *cells, num_components, d]``) and ``_get_distribution()`` (a
    ``tfp.distributions`` object over that shape), works unchanged: its
    log-probabilities are the distribution's.

    Every call checks its input (see :meth:`checked_input`): the shape must
    be the one the leaf was built for (``ValueError`` naming the expected and
    the given shape), and every value must be valid or the missing marker
    (``ValueError`` eagerly, ``tf.errors.InvalidArgumentError`` inside
    ``tf.function``, before any update). Under XLA, which compiles
    assertions away, refused values are read as missing instead, so nothing
    non-finite reaches a variable.

    Args:
        num_components: Number of distributions per variable.
        leaf_representation: What a component contributes where the model
            reconstructs inputs (``infer_no_evidence``, ``zero_evidence_inference``):
            ``LeafRepresentation.MODE`` (0.6.0's default) or ``.SAMPLE``, or their values ``"mode"``, ``"sample"``.
        dtype: Passed to ``keras.layers.Layer`` (third by position, as in 0.6.0).
        **kwargs: Passed to ``keras.layers.Layer``.
    """

    checks_built_shape = False  # call checks it against the variables it models, with the layout in the error

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "_get_distribution" in cls.__dict__ and "component_log_prob" not in cls.__dict__:
            cls.component_log_prob = _log_prob_of_060_distribution

    def __init__(self, num_components, leaf_representation=LeafRepresentation.MODE, dtype=None, **kwargs):
        if dtype is not None:
            kwargs["dtype"] = dtype
        super().__init__(**kwargs)
        self.num_components = positive_int(f"{type(self).__name__} '{self.name}'", "num_components", num_components)
        try:
            self.leaf_representation = LeafRepresentation(leaf_representation)
        except ValueError:
            raise ValueError(
                f"{layer_label(self)}: leaf_representation must be a LeafRepresentation or one of "
                f"{[member.value for member in LeafRepresentation]}, got {leaf_representation!r}."
            ) from None

    def build(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError(
                f"{type(self).__name__} '{self.name}' expects input [batch, ..., d] with the dimensions of one "
                f"variable on the last axis; got shape {tuple(input_shape)}. Add a trailing axis of size 1 "
                f"for univariate data."
            )
        check_known(self, input_shape, range(1, len(input_shape)), "the variables")
        self.cells_shape = tuple(input_shape[1:-1])
        self.num_dims = input_shape[-1]
        build_060 = getattr(self, "_build_distribution", None)
        if build_060 is not None:
            if len(self.cells_shape) == 2:
                self._num_scopes, self._num_decomps = self.cells_shape  # 0.6.0 set these for its subclasses
            build_060((1, *self.cells_shape, self.num_components, self.num_dims))

    def call(self, x):
        x = self.checked_input(x)
        usable = self.usable_mask(x)
        safe_x = tf.where(usable, x, tf.zeros_like(x))
        log_prob = self.component_log_prob(tf.expand_dims(safe_x, axis=-2))
        log_prob = tf.where(tf.expand_dims(usable, axis=-2), log_prob, tf.zeros_like(log_prob))
        return tf.reduce_sum(log_prob, axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.num_components,)

    def compute_output_spec(self, x, *args, **kwargs):
        # On an image, every output cell covers its own pixel: the layers above check their windows against it.
        return record_leaf_cells(x, super().compute_output_spec(x, *args, **kwargs))

    def get_config(self):
        config = super().get_config()
        config.update(num_components=self.num_components, leaf_representation=self.leaf_representation.value)
        return config

    input_contract = (
        "Accepted: finite numbers; NaN marks a missing value (marginalized). Replace +inf/-inf by NaN to "
        "marginalize them, or clip them."
    )

    def checked_input(self, x):
        """``x`` in the leaf's dtype, its shape checked against the built shape and its values guarded.

        Raises:
            ValueError: On a shape other than the built one (when traced), and
                eagerly on values that are neither valid nor the missing marker
                (``tf.errors.InvalidArgumentError`` inside ``tf.function``).
        """
        x = self.convert_input(tf.convert_to_tensor(x))
        label = layer_label(self)
        x = check_input_shape(label, x, (*self.cells_shape, self.num_dims), "[batch, ..., d]")
        return guard_values(label, x, self.invalid_entries(x), self.input_contract)

    def convert_input(self, x):
        """``x`` in the dtype the leaf computes with: integers and bools are cast to the compute dtype.

        A signed integer input marks missing entries with ``-1``
        (:func:`~libspn_keras.layers.base_leaf.missing_value`); they become ``NaN``.
        """
        return as_float_with_missing(x, self.compute_dtype)

    def observed_mask(self, x):
        """Boolean mask of the entries of ``x`` that are not the missing marker.

        The marker (:func:`~libspn_keras.layers.base_leaf.missing_value`) is
        NaN for float ``x`` and -1 for signed integers; unsigned and bool
        ``x`` hold none, so all their entries are observed.
        """
        if x.dtype.is_floating:
            return tf.logical_not(tf.math.is_nan(x))
        if holds_missing_marker(x.dtype):
            return tf.not_equal(x, -1)
        return tf.ones_like(x, dtype=tf.bool)

    def invalid_entries(self, x):
        """Entries that are neither a valid value nor the missing marker: here ``+inf`` and ``-inf``."""
        if x.dtype.is_floating:
            return tf.math.is_inf(x)
        return tf.zeros_like(x, dtype=tf.bool)

    def usable_mask(self, x):
        """Entries that enter the computation: observed and valid (the rest contributes log-probability 0).

        :meth:`observed_mask` without :meth:`invalid_entries` (which only reach here under XLA, where the check
        that refuses them is compiled away), so a subclass that overrides either is marginalized accordingly.
        """
        return tf.logical_and(self.observed_mask(x), tf.logical_not(self.invalid_entries(x)))

    is_categorical = False

    def component_log_prob(self, x):
        """Log-probability of ``x`` ``[batch, ..., 1, d]`` under every component: ``[batch, ..., K, d]``."""
        raise NotImplementedError

    def component_mean(self):
        """Mean (or, where none exists, the centre) of every component, broadcastable to ``[*cells, K, d]``."""
        raise NotImplementedError

    def mode(self):
        """Most probable value of every component, broadcastable to ``[*cells, K, d]``."""
        raise NotImplementedError

    def mode_log_prob(self):
        """Log-density at the mode of every component, broadcastable to ``[*cells, K, d]``."""
        raise NotImplementedError

    def sample_components(self, num_samples, seed=None):
        """One draw from every component for each of ``num_samples``: ``[num_samples, *cells, K, d]``."""
        raise NotImplementedError

    def get_modes(self):
        """0.6.0's name: :meth:`mode` of every component as ``[1, *cells, K, d]`` (0.6.0's shape)."""
        return tf.broadcast_to(self.mode(), (1, *self.cells_shape, self.num_components, self.num_dims))

    def get_leaf_representation(self, size):
        """0.6.0's: what every component fills in where a model reconstructs inputs, ``[size, *cells, K, d]``.

        The modes repeated ``size`` times, or ``size`` draws with ``leaf_representation=LeafRepresentation.SAMPLE``.
        """
        if self.leaf_representation == LeafRepresentation.SAMPLE:
            return self.sample_components(size)
        return tf.repeat(self.get_modes(), size, axis=0)


def _log_prob_of_060_distribution(leaf, x):
    """``component_log_prob`` of a leaf written for 0.6.0: the log-probability under its ``_get_distribution()``."""
    return leaf._get_distribution().log_prob(x)


BaseLeaf = LeafBase
"""0.6.0's name of :class:`LeafBase`."""
