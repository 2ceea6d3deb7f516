"""Common base of the sum layers: accumulators, their normalization, and the sum op."""

import contextlib

import numpy as np
from tensorflow import keras

from libspn_keras import config, sum_ops
from libspn_keras.constraints.clip import Clip
from libspn_keras.constraints.greater_equal_epsilon import GreaterEqualEpsilon
from libspn_keras.constraints.unconstrained import UNCONSTRAINED
from libspn_keras.initializers.logspace import logspace_wrapper_initializer
from libspn_keras.layers.cell_scopes import KeepsCellScopes
from libspn_keras.layers.full_precision import FullPrecisionLayer
from libspn_keras.layers.initial_checks import checked_initializer
from libspn_keras.layers.validation import check_bool, keras_object, layer_label, positive_int
from libspn_keras.math.em_roles import tag_sum_accumulators
from libspn_keras.math.seeding import default_source, training_draws
from libspn_keras.math.stable import without_zero_sample
from libspn_keras.sum_ops.base import (
    CountingSumOpBase,
    keeps_normalized,
    normalized_log_weights,
    normalized_weights,
)
from libspn_keras.sum_ops.em import SumOpEMBackprop


def _constraint(label, argument, identifier, default):
    """A sum layer's accumulator constraint: ``None`` takes ``default()``, ``UNCONSTRAINED`` none at all."""
    if identifier is None:
        return default()
    if isinstance(identifier, str) and identifier == UNCONSTRAINED:
        return None
    return keras_object(label, argument, "constraint", identifier)


def linear_floor(constraint):
    """The smallest value a linear accumulator constraint leaves (``GreaterEqualEpsilon``'s epsilon, ``Clip``'s
    min), or ``None`` where it sets none."""
    if isinstance(constraint, GreaterEqualEpsilon):
        return constraint.epsilon
    if isinstance(constraint, Clip) and constraint.min_value is not None:
        return float(np.min(constraint.min_value))
    return None


def _refuse_negative_floor(label, constraint):
    """Refuses a linear accumulator constraint with a floor below 0.

    Linear accumulators are unnormalized weights: a step could leave them
    negative, which is finite (no step is refused) and makes every
    likelihood ``NaN``.
    """
    floor = linear_floor(constraint)
    if floor is not None and floor < 0:
        raise ValueError(
            f"{label}: linear_accumulator_constraint {type(constraint).__name__} with a floor of {floor} lets the "
            "accumulators (the sums' unnormalized weights) become negative, and every likelihood NaN. Pass a floor "
            ">= 0, e.g. constraints.GreaterEqualEpsilon() (the default, 1e-10)."
        )


def constraint_argument(constraint):
    """A layer's resolved constraint as an argument for another sum layer: ``None`` (none) becomes ``UNCONSTRAINED``.

    A constraint argument of ``None`` means "the default", so layers that
    build sum layers with their own constraints pass them through this.
    """
    return UNCONSTRAINED if constraint is None else constraint


def _on_normalized_weights(regularizer, logspace_accumulators, constraint, rank):
    """``regularizer`` applied to what 0.6.0's default constraints stored: the normalized weights (their logs for
    log-space accumulators), so that a 0.6.0 script's penalty keeps its value and its meaning.

    Under a constraint that keeps the accumulators normalized (0.6.0's) they
    are those weights, and the regularizer takes them as they are, with
    0.6.0's gradient.
    """
    if regularizer is None or keeps_normalized(constraint, rank):
        return regularizer
    if logspace_accumulators:
        return lambda accumulators: regularizer(normalized_log_weights(accumulators, True))
    return lambda accumulators: regularizer(normalized_weights(accumulators, False))


def _check_regularizer_space(regularizer, logspace_accumulators, label):
    """Raises ``ValueError`` for a regularizer declared for the other space of accumulators than the layer's."""
    declared = getattr(regularizer, "logspace_accumulators", None)
    if not isinstance(declared, bool) or declared == logspace_accumulators:
        return
    spaces = {True: "log-space", False: "linear"}
    raise ValueError(
        f"{label}: its accumulator_regularizer {type(regularizer).__name__} is made for {spaces[declared]} "
        f"accumulators, but the layer's are {spaces[logspace_accumulators]}, so it would read the weights wrongly. "
        f"Pass {type(regularizer).__name__}(..., logspace_accumulators={logspace_accumulators})."
    )


def _serialized_constraint(constraint):
    # Not None, which would mean "the default" when the layer is loaded again.
    return UNCONSTRAINED if constraint is None else keras.constraints.serialize(constraint)


@contextlib.contextmanager
def training_sums(training):
    """Context of a sum layer's ``call``: a training call (``training=True``, as ``fit`` passes it) traces its sums
    without the zero sample, and draws its routing choices from the layers' seed generators
    (:func:`~libspn_keras.math.seeding.training_draws`).

    The zero sample (:func:`~libspn_keras.math.stable.renormalized`) corrects
    each sum by float32 rounding (about ``5e-9``) so that reported
    probabilities are exactly normalized; a training step has no use for that
    and pays for it with rows in every contraction and a copy of every sum's
    input. The SPN models' training steps skip it as a whole; this gives the
    same to a plain ``keras.Sequential`` or ``keras.Model`` of the layers,
    whose ``fit`` Keras compiles without XLA on CPUs (the seed's DGC-SPN step
    took 1.2-1.6x as long with it: 28-37 ms against 20-28 ms). Calls with
    ``training`` ``False`` or ``None`` (``evaluate``, ``predict``, direct
    calls, queries) keep it.
    """
    with without_zero_sample(active=training is True), training_draws(active=training is True):
        yield


class SumLayerBase(FullPrecisionLayer):
    """Holds accumulators ``[*lead, children, sums]`` and delegates all weighting to a sum op.

    The weights of the forward pass are the accumulators normalized over the
    children axis (a softmax for log-space accumulators, a division by their
    total for linear ones), so the network stays a normalized distribution
    whatever values an optimizer writes. Gradients pass through that
    normalization, except under a constraint that renormalizes the stored
    accumulators after every update (``GreaterEqualEpsilonNormalized``,
    ``LogNormalized``): those give 0.6.0's gradient, that of the weights the
    accumulators stand for, step for step (see the guide on log-space
    accumulators).

    Args:
        sum_op: How children are weighted and what flows backward: a
            :class:`~libspn_keras.sum_ops.SumOpBase`, a registered name
            (``"grad"``, ``"em"``, ``"hard_em"``, ``"unweighted_hard_em"``,
            ``"sample"``) or ``None`` for the global default.
        backprop_mode: Seed-style alternative to ``sum_op``, a
            :class:`~libspn_keras.BackpropMode`.
        logspace_accumulators: Whether accumulators live in log space.
            ``None`` takes the sum op's default (log space for gradients,
            linear space for the EM ops, which require it).
        accumulator_initializer: Initializer of the (linear) accumulator
            values; log-space accumulators store their log, as in 0.6.0
            (an initializer with ``logspace=True``, such as
            ``Dirichlet(logspace=True)``, is used as is). Any layout with
            the variable's number of elements fills it in row-major order
            (e.g. a 0.6.0 array ``[1, 1, children, 1]`` for a ``RootSum``).
            ``None`` takes the global default.
        accumulator_regularizer: Optional Keras regularizer of the sum
            weights. It is given each sum's weights normalized over the
            children axis (for log-space accumulators their logs), which is
            what 0.6.0's default constraints kept in the accumulators, so a
            0.6.0 penalty has the same value here; the stored accumulators
            themselves are unnormalized (see the guide on log-space
            accumulators). The library's own regularizers
            (:mod:`~libspn_keras.regularizers`) give the same value either way.
        linear_accumulator_constraint: Constraint for linear-space
            accumulators; ``None`` takes the global default (``>= 1e-10``),
            ``constraints.UNCONSTRAINED`` none.
            It also applies to the initial values, so an initializer with
            values <= 0 (e.g. Keras' ``RandomUniform()``) starts at the
            constrained values, with a warning; values the constraint
            leaves invalid (non-positive, non-finite) raise ``ValueError``.
        logspace_accumulator_constraint: Constraint for log-space
            accumulators; ``None`` takes the global default (none: the
            accumulators are softmax logits), ``constraints.UNCONSTRAINED``
            none even when a global default is set.
        **kwargs: Passed to ``keras.layers.Layer``.

    Called with ``training=True``, as ``fit`` calls it, the layer traces its
    sums without the zero sample that keeps reported probabilities exactly
    normalized (see :func:`~libspn_keras.layers.base_sum.training_sums`).

    Sum ops that choose one child (hard EM's ties, ``sample_prob``, ``"sample"``)
    draw, in training calls, from the layer's ``keras.random.SeedGenerator``,
    seeded when the layer is made (after ``keras.utils.set_random_seed``, as
    ``keras.layers.Dropout``'s is): seeded training repeats, under XLA too.
    Queries draw from their own seed; the gradient of any other call (one
    without ``training=True``) draws from TensorFlow's global generator, so
    that inference functions read no generator state and save as SavedModels.
    """

    computes_in_floats = True

    def __init__(
        self,
        sum_op=None,
        backprop_mode=None,
        logspace_accumulators=None,
        accumulator_initializer=None,
        accumulator_regularizer=None,
        linear_accumulator_constraint=None,
        logspace_accumulator_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        label = f"{type(self).__name__} '{self.name}'"
        if sum_op is not None and backprop_mode is not None:
            raise ValueError(f"{label}: pass either sum_op or backprop_mode, not both.")
        self.sum_op = sum_op if sum_op is not None else backprop_mode
        logspace_accumulators = check_bool(label, "logspace_accumulators", logspace_accumulators, allow_none=True)
        self.logspace_accumulators = self.sum_op.resolve_logspace_accumulators(logspace_accumulators, label)
        self.accumulator_initializer = (
            keras_object(label, "accumulator_initializer", "initializer", accumulator_initializer)
            if accumulator_initializer is not None
            else config.get_default_accumulator_initializer(self.logspace_accumulators)
        )
        self.accumulator_regularizer = keras_object(
            label, "accumulator_regularizer", "regularizer", accumulator_regularizer
        )
        self.linear_accumulator_constraint = _constraint(
            label,
            "linear_accumulator_constraint",
            linear_accumulator_constraint,
            config.get_default_linear_accumulators_constraint,
        )
        self.logspace_accumulator_constraint = _constraint(
            label,
            "logspace_accumulator_constraint",
            logspace_accumulator_constraint,
            config.get_default_logspace_accumulators_constraint,
        )
        if not self.logspace_accumulators:
            _refuse_negative_floor(label, self.linear_accumulator_constraint)
        self.seed_generator = keras.random.SeedGenerator()

    def drawing(self):
        """Context of every call of the sum op: in a training call the choices it draws come from this layer's seed
        generator (:func:`~libspn_keras.math.seeding.default_source`)."""
        return default_source(self.seed_generator)

    @property
    def sum_op(self):
        """The layer's sum op; assigning another checks it as the constructor does (EM ops need linear accumulators).

        Assigning also updates what the accumulators deliver backward for the
        EM optimizer (counts or gradients; soft-EM or routed counts), so a
        built layer can switch, e.g., from hard to soft EM: the SPN models
        trace their steps again at their next ``fit`` / ``evaluate`` /
        ``predict`` (a plain ``keras.Sequential`` needs ``compile`` again).
        Takes what the constructor's ``sum_op`` takes (an instance, a
        registered name, a ``BackpropMode``, a serialized dict).
        """
        return self._sum_op

    @sum_op.setter
    def sum_op(self, sum_op):
        sum_op = sum_ops.get(sum_op, layer_name=f"{type(self).__name__} '{self.name}'")
        if getattr(self, "logspace_accumulators", None) is not None:
            sum_op.check_accumulator_space(self.logspace_accumulators, f"{type(self).__name__} '{self.name}'")
        self.route_with(sum_op)

    def route_with(self, sum_op):
        """Sets ``sum_op`` (an instance) without checking that it can train the layer's accumulator space.

        For queries, which route their signal through every sum layer with
        one op (e.g. max-product for MPE, also over log-space accumulators
        that an EM op could not train), and put the layer's own op back
        after. Users assign :attr:`sum_op`, which checks.
        """
        self._sum_op = sum_op
        if getattr(self, "accumulators", None) is not None:
            self._tag_accumulators()

    def build_accumulators(self, shape):
        """Creates ``self.accumulators`` of ``shape`` and tags it for the EM optimizer."""
        constraint = (
            self.logspace_accumulator_constraint if self.logspace_accumulators else self.linear_accumulator_constraint
        )
        _check_regularizer_space(self.accumulator_regularizer, self.logspace_accumulators, layer_label(self))
        # As in 0.6.0 the initializer describes linear values; log-space accumulators store their log.
        initializer = self.accumulator_initializer
        if self.logspace_accumulators:
            initializer = logspace_wrapper_initializer(initializer)
        self.accumulators = self.add_weight(
            name="accumulators",
            shape=tuple(shape),
            # Linear accumulators start as their constraint leaves them (e.g. >= 1e-10); invalid values raise.
            initializer=checked_initializer(
                initializer,
                f"{type(self).__name__} '{self.name}'",
                "accumulators",
                constraint=constraint,
                positive=not self.logspace_accumulators,
                fix="Pass an accumulator_initializer giving positive values (e.g. Dirichlet or 'ones').",
            ),
            regularizer=_on_normalized_weights(
                self.accumulator_regularizer, self.logspace_accumulators, constraint, len(shape)
            ),
            constraint=constraint,
            trainable=True,
        )
        self._tag_accumulators()

    def _tag_accumulators(self):
        """Tags the accumulators with the EM role of the current sum op (see :mod:`libspn_keras.math.em_roles`)."""
        # As in 0.6.0, soft-EM counts are normalized per sum; those of ops routing to one child are batch shares.
        # Log-space accumulators (a gradient-built layer given an EM op, e.g. for a query) take no EM step.
        counting = isinstance(self.sum_op, CountingSumOpBase) and not self.logspace_accumulators
        tag_sum_accumulators(self.accumulators, self.name, counting=counting, per_sum=self._counts_per_sum())

    def _counts_per_sum(self):
        """Whether EM normalizes each batch's counts of this layer per sum (see
        :class:`~libspn_keras.math.em_roles.EMRole`)."""
        return isinstance(self.sum_op, SumOpEMBackprop)

    def get_config(self):
        config_dict = super().get_config()
        config_dict.update(
            sum_op=sum_ops.serialize(self.sum_op),
            logspace_accumulators=self.logspace_accumulators,
            accumulator_initializer=keras.initializers.serialize(self.accumulator_initializer),
            accumulator_regularizer=keras.regularizers.serialize(self.accumulator_regularizer)
            if self.accumulator_regularizer is not None
            else None,
            linear_accumulator_constraint=_serialized_constraint(self.linear_accumulator_constraint),
            logspace_accumulator_constraint=_serialized_constraint(self.logspace_accumulator_constraint),
        )
        return config_dict


class NodeSumLayerBase(KeepsCellScopes, SumLayerBase):
    """Base of the layers with ``num_sums`` sums at every position: ``[batch, *lead, ch] -> [batch, *lead, num_sums]``.

    Subclasses only decide, in ``build``, which positions share weights by
    the shape they give ``build_accumulators``.

    Args:
        num_sums: Number of sums at every position.
        **kwargs: Arguments of :class:`SumLayerBase`; the first six may also
            be passed by position, in 0.6.0's order (``logspace_accumulators``,
            ``accumulator_initializer``, ``sum_op``, ``accumulator_regularizer``,
            ``logspace_accumulator_constraint``, ``linear_accumulator_constraint``).
    """

    sums_nodes = True

    def __init__(
        self,
        num_sums,
        logspace_accumulators=None,
        accumulator_initializer=None,
        sum_op=None,
        accumulator_regularizer=None,
        logspace_accumulator_constraint=None,
        linear_accumulator_constraint=None,
        **kwargs,
    ):
        super().__init__(
            logspace_accumulators=logspace_accumulators,
            accumulator_initializer=accumulator_initializer,
            sum_op=sum_op,
            accumulator_regularizer=accumulator_regularizer,
            logspace_accumulator_constraint=logspace_accumulator_constraint,
            linear_accumulator_constraint=linear_accumulator_constraint,
            **kwargs,
        )
        self.num_sums = positive_int(f"{type(self).__name__} '{self.name}'", "num_sums", num_sums)

    def call(self, x, training=None):
        with training_sums(training), self.drawing():
            return self.sum_op.weighted_sum(x, self.accumulators, self.logspace_accumulators)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.num_sums,)

    def get_config(self):
        config_dict = super().get_config()
        config_dict.update(num_sums=self.num_sums)
        return config_dict
