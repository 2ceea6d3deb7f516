"""Dynamic SPNs for sequences: one template network per step, chained through interface networks."""

import numpy as np
import tensorflow as tf
from tensorflow import keras

from libspn_keras.arguments import ArgumentError
from libspn_keras.backprop_mode import BackpropMode
from libspn_keras.layers.dense_sum import DenseSum
from libspn_keras.layers.full_precision import keep_full_precision
from libspn_keras.layers.root_sum import RootSum
from libspn_keras.layers.temporal_dense_product import TemporalDenseProduct
from libspn_keras.layers.validation import is_shape, layer_label, sizes_conflict
from libspn_keras.models.dynamic_arguments import (
    ORIGINAL_NETWORKS,
    check_sequence_lens,
    dynamic_arguments,
    lengths_fit,
    refuse_lengths_beside_sequences,
    refuse_ranks_of_lengths_beside_sequences,
    step_mask,
)
from libspn_keras.models.dynamic_queries import DynamicQueryMixin
from libspn_keras.models.fast_path import FastPathMixin, with_a_sample
from libspn_keras.models.guarded_training import InputGuardMixin
from libspn_keras.models.input_shapes import refuse_non_numeric_arrays
from libspn_keras.models.iterator_release import drop_function
from libspn_keras.models.unsupervised import UnsupervisedTrainingMixin
from libspn_keras.models.weight_files import WeightFilesMixin


@keras.utils.register_keras_serializable(package="libspn_keras")
class DynamicSumProductNetwork(
    DynamicQueryMixin, InputGuardMixin, UnsupervisedTrainingMixin, FastPathMixin, WeightFilesMixin, keras.Model
):
    """A dynamic SPN over sequences ``[batch, time, ...]``, in either of two forms.

    **0.6.0's form** ``DynamicSumProductNetwork(template_network,
    interface_network_t0, interface_network_t_minus_1, top_network,
    return_last_step=True, unsupervised=True)`` is called on
    ``[x, sequence_lens]``: ``x`` ``[batch, time, ...]`` holds left-padded
    sequences (a sequence of length ``L`` fills the last ``L`` steps) and
    ``sequence_lens`` ``[batch]`` their lengths. At every step ``t`` of a
    sequence the template network maps the step's inputs to ``[batch, 1, 1,
    n]``, ``interface_network_t0`` maps that to ``[batch, 1, 1, k]``, a
    :class:`~libspn_keras.layers.TemporalDenseProduct` joins it with the
    interface of step ``t - 1`` (``k`` nodes; marginalized nodes before the
    first step), ``top_network`` (ending in a ``RootSum``) turns the
    products into the root over all steps so far, and
    ``interface_network_t_minus_1`` maps them to the next interface (``k``
    nodes). The output is the root at the last step ``[batch, root_out]``
    (``return_last_step=True``: ``log p`` of each whole sequence, a
    normalized distribution for every length) or at every step
    ``[batch, time, root_out]`` (0 at the padding steps). As in 0.6.0,
    ``fit(x, sequence_lens)`` (lengths in place of labels) trains without labels.

    **This library's form** ``DynamicSumProductNetwork(template,
    num_interface_sums, return_weighted_child_logits=False, unsupervised=True,
    sum_kwargs=None)`` is called on ``x`` alone: the interface at step ``t``
    is ``num_interface_sums`` sums over the products of the interface at
    ``t - 1`` and the template at ``t``, and the root sums the last
    interface. Steps padded with missing values (NaN, or -1 for categories)
    anywhere in the sequence are marginalized exactly: a sequence of ``t``
    steps padded at the front to ``T`` steps gets exactly the ``t``-step
    probability; padded at the end it gets the marginal of the ``T``-step
    model, which is not the ``t``-step model's probability (call the model on
    the ``t`` steps alone for that, pad at the front, or use 0.6.0's form with
    ``sequence_lens``).

    The form is detected from the arguments (0.6.0's keywords, or networks
    in place of ``num_interface_sums``). Weights are shared across time, so
    one model handles any number of steps. Both forms answer the queries of
    :class:`~libspn_keras.models.dynamic_queries.DynamicQueryMixin`.

    Args:
        template: Layer or model mapping one step ``[batch, ...]`` to
            ``[batch, 1, 1, n]`` (e.g. a ``keras.Sequential`` of SPN layers
            ending in a sum). 0.6.0's form names it ``template_network``
            (given by keyword, that name selects 0.6.0's form).
        num_interface_sums: Sums in the interface at each step (this library's form).
        interface_network_t0: 0.6.0's form: network on the template's output at each step.
        interface_network_t_minus_1: 0.6.0's form: network from the step's
            products to the interface passed to the next step.
        top_network: 0.6.0's form: network from the step's products to the root.
        return_last_step: 0.6.0's form: return the root at the last step only.
        return_weighted_child_logits: This library's form: passed to its ``RootSum``.
        unsupervised: If ``True``, ``fit`` needs no labels.
        sum_kwargs: This library's form: dict of sum-layer arguments for the
            interface sums and the root (``sum_op``, ``logspace_accumulators``, ...).
        **kwargs: Passed to ``keras.Model``.
    """

    def __init__(self, *args, **kwargs):
        self.original_form, arguments, model_kwargs = dynamic_arguments(args, kwargs)
        super().__init__(**model_kwargs)
        keep_full_precision(self)
        self.unsupervised = bool(arguments.get("unsupervised", True))
        self.temporal_product = TemporalDenseProduct()
        if self.original_form:
            # Tracked in 0.6.0's order (template, top, t0, t - 1): model.weights and get_weights() follow it, so a
            # 0.6.0 model's get_weights() lines up with set_weights() here, array for array (the root's takes a
            # reshape: [1, 1, n, 1] in 0.6.0, [n, 1] here; see the migration guide).
            for name in ("template_network", "top_network", "interface_network_t0", "interface_network_t_minus_1"):
                setattr(self, name, arguments[name])
            self.return_last_step = bool(arguments.get("return_last_step", True))
            return
        self.template = arguments["template"]
        self.num_interface_sums = arguments["num_interface_sums"]
        self.return_weighted_child_logits = arguments.get("return_weighted_child_logits", False)
        sum_kwargs = arguments.get("sum_kwargs") or {}
        if not isinstance(sum_kwargs, dict):
            raise ArgumentError(
                f"{type(self).__name__} '{self.name}': sum_kwargs must be a dict of sum-layer arguments (e.g. "
                f"{{'sum_op': 'em'}}) or None, got {sum_kwargs!r}."
            )
        taken = sorted({"num_sums", "return_weighted_child_logits", "name"} & set(sum_kwargs))
        if taken:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': sum_kwargs holds {taken}, which the model sets itself "
                f"(num_interface_sums for the interface, return_weighted_child_logits for the root); pass those as the "
                f"model's own arguments."
            )
        self.sum_kwargs = dict(sum_kwargs)
        try:
            self.interface = DenseSum(num_sums=self.num_interface_sums, **self.sum_kwargs)
            self.root = RootSum(return_weighted_child_logits=self.return_weighted_child_logits, **self.sum_kwargs)
        except ValueError as error:  # the layers' own names mean nothing to the user, who passed sum_kwargs
            raise ValueError(f"{type(self).__name__} '{self.name}': sum_kwargs: {error}") from None

    def build(self, input_shape):
        if self.original_form:
            if not (isinstance(input_shape, (list, tuple)) and len(input_shape) == 2 and is_shape(input_shape[0])):
                raise ValueError(
                    f"DynamicSumProductNetwork '{self.name}' (0.6.0's form) is called on [x, sequence_lens]; got "
                    f"input shape {input_shape}."
                )
            input_shape = input_shape[0]
        elif isinstance(input_shape, (list, tuple)) and len(input_shape) == 2 and is_shape(input_shape[0]):
            lens_shape = input_shape[1]
            lens_rank = len(lens_shape) if is_shape(lens_shape) else None
            refuse_ranks_of_lengths_beside_sequences(layer_label(self), len(input_shape[0]), lens_rank)
        if len(input_shape) < 3:
            raise ValueError(
                f"DynamicSumProductNetwork '{self.name}' expects input [batch, time, ...], got {tuple(input_shape)}."
            )
        step_shape = (None, *input_shape[2:])
        self.template_model.build(step_shape)
        template_shape = self.template_model.compute_output_shape(step_shape)
        if len(template_shape) != 4 or tuple(template_shape[1:3]) != (1, 1):
            raise ValueError(
                f"DynamicSumProductNetwork '{self.name}': the template must output [batch, 1, 1, nodes] (one scope), "
                f"got {tuple(template_shape)}. End it with sums over a single scope."
            )
        if self.original_form:
            self._build_original(template_shape)
            return
        interface_shape = (None, 1, 1, self.num_interface_sums)
        self.temporal_product.build([interface_shape, template_shape])
        self.interface.build(self.temporal_product.compute_output_shape([interface_shape, template_shape]))
        self.root.build(interface_shape)

    def call(self, inputs, training=None):
        if self.original_form and not (isinstance(inputs, (list, tuple)) and len(inputs) == 2):
            got = f"shape {tuple(inputs.shape)}" if hasattr(inputs, "shape") else f"a {type(inputs).__name__}"
            raise ValueError(
                f"DynamicSumProductNetwork '{self.name}' (0.6.0's form) is called on [x, sequence_lens]; got {got}. "
                f"Pass the lengths beside x (np.full(len(x), x.shape[1]) for full-length sequences)."
            )
        if not self.original_form:
            refuse_lengths_beside_sequences(layer_label(self), inputs)
        x, sequence_lens = (inputs[0], inputs[1]) if self.original_form else (inputs, None)
        x = tf.convert_to_tensor(x)
        self._check_step_shape(x.shape)
        num_steps = x.shape[1]
        self._check_known_steps(num_steps, x.shape)
        steps = tf.reshape(x, [-1, *x.shape[2:]])
        template = self.template_model(steps, training=training)
        template = tf.reshape(template, [-1, num_steps, 1, 1, template.shape[-1]])
        return self.unroll(template, sequence_lens, training=training)

    def _integer_input(self, x):
        if self.original_form and isinstance(x, (list, tuple)) and len(x) == 2:
            return type(x)([super()._integer_input(x[0]), x[1]])
        return super()._integer_input(x)

    def _input_reader(self):
        # The model has no functional input: the template's first layer tells whether it reads integers.
        return self.template_model

    def compute_output_shape(self, input_shape):
        if not self.original_form:
            return self.root.compute_output_shape((input_shape[0], 1, 1, self.num_interface_sums))
        x_shape = input_shape[0]
        root_shape = self.top_network.compute_output_shape(self._product_shape)
        return (x_shape[0], *root_shape[1:]) if self.return_last_step else (x_shape[0], x_shape[1], *root_shape[1:])

    def get_config(self):
        config = {"name": self.name, "unsupervised": self.unsupervised}
        if self.original_form:
            config.update({name: keras.utils.serialize_keras_object(getattr(self, name)) for name in ORIGINAL_NETWORKS})
            config["return_last_step"] = self.return_last_step
            return config
        config.update(
            template=keras.utils.serialize_keras_object(self.template),
            num_interface_sums=self.num_interface_sums,
            return_weighted_child_logits=self.return_weighted_child_logits,
            sum_kwargs={key: _serialized_sum_argument(value) for key, value in self.sum_kwargs.items()},
        )
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for name in ("template",) + ORIGINAL_NETWORKS:
            if name in config:
                config[name] = keras.utils.deserialize_keras_object(config[name], custom_objects=custom_objects)
        if "sum_kwargs" in config:
            config["sum_kwargs"] = {
                key: keras.utils.deserialize_keras_object(value, custom_objects=custom_objects)
                if isinstance(value, dict)
                else value
                for key, value in (config["sum_kwargs"] or {}).items()
            }
        model = cls(**config)
        model._build_for_template()
        return model

    @property
    def template_model(self):
        """The network applied to every step (``template`` or ``template_network``)."""
        return self.template_network if self.original_form else self.template

    def unroll(self, template, sequence_lens=None, training=None, last_step=None, *, lengths_checked=False):
        """The recurrence over steps, from the template outputs ``[batch, time, 1, 1, n]``.

        Args:
            template: Template outputs of every step.
            sequence_lens: Optional lengths ``[batch]`` of left-padded
                sequences (0.6.0's form); steps before a sequence's start
                are left out.
            training: Passed to the networks.
            last_step: Return the root at the last step only; ``None`` for
                ``return_last_step`` (0.6.0's form) or ``True`` (this library's).
            lengths_checked: ``sequence_lens`` were checked before the call
                (as by ``log_likelihood``), so no assertion is built for them
                (XLA would drop it and log that it did).

        Returns:
            The model output (see the class description).
        """
        num_steps = template.shape[1]
        self._check_known_steps(num_steps, template.shape)
        mask = None
        if sequence_lens is not None:
            if not lengths_checked:
                num_sequences = template.shape[0] if template.shape[0] is not None else tf.shape(template)[0]
                label = f"DynamicSumProductNetwork '{self.name}'"
                sequence_lens = check_sequence_lens(label, sequence_lens, num_sequences, num_steps)
            mask = step_mask(sequence_lens, num_steps)
        if not self.original_form:
            interface = tf.zeros_like(template[:, 0, :, :, :1]) + tf.zeros([self.num_interface_sums], template.dtype)
            for step in range(num_steps):
                interface = self.interface(self.temporal_product([interface, template[:, step]]))
            return self.root(interface)
        current = self.interface_network_t0(tf.reshape(template, [-1, 1, 1, template.shape[-1]]), training=training)
        current = tf.reshape(current, [-1, num_steps, 1, 1, current.shape[-1]])
        last_step = self.return_last_step if last_step is None else last_step
        previous = tf.zeros_like(current[:, 0])
        outputs = []
        for step in range(num_steps):
            active = mask[:, step, None, None, None]
            started = mask[:, step - 1, None, None, None] if step > 0 else tf.zeros_like(active)
            products = self.temporal_product([_masked(previous, started), _masked(current[:, step], active)])
            if not last_step or step == num_steps - 1:
                top = self.top_network(products, training=training)
                # Only the roots of every step get 0 at padding steps. The last root needs no mask: for a sequence of
                # length 0 every product there is marginalized (log 1), so the root gives log p = 0 by itself, where
                # a mask would set each of its children's weighted logits to 0 (log p = log of their number).
                if not last_step:
                    top = _masked(top, tf.reshape(active, [-1] + [1] * (top.shape.rank - 1)))
                outputs.append(top)
            previous = self.interface_network_t_minus_1(products, training=training)
        return outputs[-1] if last_step else tf.stack(outputs, axis=1)

    def fit(self, x=None, y=None, *args, **kwargs):
        # 0.6.0's form takes the lengths in place of labels; check NumPy ones here, where XLA would drop assertions.
        if self.original_form and isinstance(x, np.ndarray) and isinstance(y, (np.ndarray, list)):
            check_sequence_lens(f"DynamicSumProductNetwork '{self.name}'", np.asarray(y), len(x), x.shape[1])
        return super().fit(x, y, *args, **kwargs)

    def _build_from_data(self, data):
        """Builds an unbuilt model from the sequences in ``data``; returns ``data`` (see ``FastPathMixin``)."""
        data, sample = with_a_sample(data)
        self._build_for_sequences(_sequence_shape(sample))
        return data

    def _prepare_for_data(self, data, attribute):
        """Builds the model from ``data``, and drops Keras's cached ``attribute`` when ``data`` has another number of
        steps than it was traced for.

        The recurrence is unrolled over a known number of steps, but Keras retraces its functions with relaxed
        shapes (the time axis becomes unknown): a new number of steps gets the function traced again instead
        (one trace per change; alternating lengths retrace each time).
        """
        refuse_non_numeric_arrays(self, data)
        if not self.original_form:
            refuse_lengths_beside_sequences(layer_label(self), data)
        data, sample = with_a_sample(data)
        shape = _sequence_shape(sample)
        self._build_for_sequences(shape)
        given = _first_tensor_shape(sample)
        if given is not None and self.built:
            # Here, on the first batch's own shape: a step traced again sees relaxed shapes it cannot check.
            self._check_step_shape(tf.TensorShape(given))
        steps = None if shape is None else shape[1]
        if not isinstance(steps, int):
            return data
        traced = f"_spn_steps_of_{attribute}"
        if getattr(self, traced, None) != steps:
            drop_function(self, attribute)
            setattr(self, traced, steps)
        return data

    def _template_step_shape(self):
        """The step shape ``[batch, ...]`` the template was built for, or ``None`` (unbuilt, or built for several
        inputs)."""
        built = (self.template_model.get_build_config() or {}).get("input_shape")
        if not isinstance(built, (list, tuple)) or not built or isinstance(built[0], (list, tuple)):
            return None
        return tuple(built)

    def _build_for_template(self):
        """Builds the model for the steps its template is built for, if it is (a copy made by ``from_config`` then
        takes ``set_weights`` at once, as the README's copy recipe does with the other models)."""
        built = self._template_step_shape()
        if self.built or built is None:
            return
        shape = (None, None, *built[1:])
        self.build([shape, (None,)] if self.original_form else shape)

    def _build_for_sequences(self, shape):
        """Builds an unbuilt model for sequences of ``shape`` ``[batch, time, ...]`` (``None``: unknown, nothing)."""
        if shape is not None and not self.built and all(isinstance(size, int) for size in shape[1:]):
            step_shape = (None, *shape[1:])
            self.build([step_shape, (None,)] if self.original_form else step_shape)

    def _check_step_shape(self, shape):
        """Refuses input without a time axis, or whose steps have another shape than the template was built for."""
        label = f"DynamicSumProductNetwork '{self.name}'"
        if shape.rank is not None and shape.rank < 3:
            raise ValueError(
                f"{label} takes sequences [batch, time, ...], got shape {tuple(shape)}; add the time axis (x[:, None] "
                f"for sequences of one step)."
            )
        built = self._template_step_shape()
        if shape.rank is None or built is None:
            return
        given = tuple(None if size is None else int(size) for size in shape[2:])
        if sizes_conflict(given, tuple(built[1:])):
            raise ValueError(
                f"{label} was built for steps of shape {(None, *built[1:])} but got sequences of shape {tuple(shape)}. "
                f"Feed sequences whose steps have the shape the model was built for."
            )

    def _check_known_steps(self, num_steps, shape):
        if num_steps == 0:
            raise ValueError(
                f"DynamicSumProductNetwork '{self.name}' got input of shape {tuple(shape)}, with no time steps; a "
                f"sequence needs at least one step."
            )
        if num_steps is None:
            shown = tuple(shape) if shape.rank is not None else "(unknown)"
            raise ValueError(
                f"DynamicSumProductNetwork '{self.name}' unrolls a known number of time steps but got input of "
                f"shape {shown}, whose number of steps is unknown (e.g. a tf.data pipeline whose batches "
                f"have different lengths). Pad all batches of one call to the same number of steps."
            )

    def train_step(self, data):
        return super().train_step(self._with_lengths_as_input(data))

    def test_step(self, data):
        return super().test_step(self._with_lengths_as_input(data))

    def _checked_inputs(self, x, raise_errors=True):
        valid = super()._checked_inputs(x, raise_errors)
        if not (self.original_form and isinstance(x, (list, tuple)) and len(x) == 2):
            return valid
        # Checked in the step: under XLA the call's assertions on the lengths are compiled away.
        sequences = tf.convert_to_tensor(x[0])
        if sequences.shape.rank is None or sequences.shape.rank < 2 or sequences.shape[1] is None:
            return valid  # the call refuses such input by name
        return tf.logical_and(valid, lengths_fit(x[1], tf.shape(sequences)[0], sequences.shape[1]))

    def _refused_inputs_note(self):
        if not self.original_form:
            return ""
        return "sequence_lens that are not one whole number per sequence, from 0 to the number of steps of x"

    def _with_lengths_as_input(self, data):
        # 0.6.0 trained its dynamic SPNs with fit(x, sequence_lens): the lengths come in place of the labels.
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if self.original_form and self.unsupervised and not isinstance(x, (list, tuple)) and y is not None:
            return keras.utils.pack_x_y_sample_weight((x, y), None, sample_weight)
        return data

    def _build_original(self, template_shape):
        self.interface_network_t0.build(template_shape)
        interface_shape = tuple(self.interface_network_t0.compute_output_shape(template_shape))
        self.temporal_product.build([interface_shape, interface_shape])
        self._product_shape = self.temporal_product.compute_output_shape([interface_shape, interface_shape])
        self.interface_network_t_minus_1.build(self._product_shape)
        self.top_network.build(self._product_shape)
        next_shape = tuple(self.interface_network_t_minus_1.compute_output_shape(self._product_shape))
        if next_shape[1:] != interface_shape[1:]:
            raise ValueError(
                f"DynamicSumProductNetwork '{self.name}': interface_network_t_minus_1 outputs {next_shape} but the "
                f"interface of the next step must match interface_network_t0's output {interface_shape}."
            )


def _serialized_sum_argument(value):
    """A sum-layer argument as Keras can save it: a ``BackpropMode`` as its op name (which ``sum_ops.get`` reads)."""
    if isinstance(value, BackpropMode):
        return value.value
    return keras.utils.serialize_keras_object(value) if hasattr(value, "get_config") else value


def _first_tensor_shape(sample):
    """The shape of the first tensor in ``sample`` (``x`` or ``[x, sequence_lens]`` of one batch, as
    :func:`~libspn_keras.models.fast_path.with_a_sample` returns it), or ``None``."""
    while isinstance(sample, (list, tuple)) and sample:
        sample = sample[0]
    shape = getattr(sample, "shape", None)
    # A TensorShape of unknown rank has no length (getattr's default would be evaluated anyway).
    if shape is None or (isinstance(shape, tf.TensorShape) and shape.rank is None):
        return None
    return tuple(shape)


def _sequence_shape(sample):
    """The shape ``[batch, time, ...]`` of the sequences in ``sample`` (see :func:`_first_tensor_shape`), or ``None``
    (also for a tensor without a time axis)."""
    shape = _first_tensor_shape(sample)
    return None if shape is None or len(shape) < 3 else shape


def _masked(values, keep):
    """``values`` where ``keep`` (broadcastable), log 1 = 0 elsewhere: steps outside a sequence are left out."""
    return tf.where(keep, values, tf.zeros_like(values))
