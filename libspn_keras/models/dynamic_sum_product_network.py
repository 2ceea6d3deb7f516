"""Dynamic SPNs for sequences: one template network per step, chained through interface sums."""

import tensorflow as tf
from tensorflow import keras

from libspn_keras.layers.dense_sum import DenseSum
from libspn_keras.layers.root_sum import RootSum
from libspn_keras.layers.temporal_dense_product import TemporalDenseProduct
from libspn_keras.models.unsupervised import UnsupervisedTrainingMixin


@keras.utils.register_keras_serializable(package="libspn_keras")
class DynamicSumProductNetwork(UnsupervisedTrainingMixin, keras.Model):
    """A dynamic SPN over sequences ``[batch, time, ...]``.

    At every step the *template* network maps that step's inputs to nodes
    ``[batch, 1, 1, n]`` over the step's variables. The *interface* at step
    ``t`` is ``num_interface_sums`` sums over the products (``TemporalDenseProduct``)
    of the interface at ``t - 1`` and the template at ``t``; the first step
    starts from an interface of marginalized nodes. The root sums the last
    interface. Weights are shared across time, so one model handles any
    length: pad shorter sequences with missing values (NaN, or -1 for
    categories) and the marginalized steps drop out exactly, giving the
    likelihood of the unpadded prefix.

    Args:
        template: Layer or model mapping one step ``[batch, ...]`` to
            ``[batch, 1, 1, n]`` (e.g. a ``keras.Sequential`` of SPN layers ending in a sum).
        num_interface_sums: Sums in the interface at each step.
        return_weighted_child_logits: Passed to the ``RootSum``.
        unsupervised: If ``True``, ``fit(x)`` needs no labels.
        sum_kwargs: Dict of sum-layer arguments for the interface sums and
            the root (``sum_op``, ``logspace_accumulators``, ...).
        **kwargs: Passed to ``keras.Model``.
    """

    def __init__(
        self,
        template,
        num_interface_sums,
        return_weighted_child_logits=False,
        unsupervised=True,
        sum_kwargs=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.template = template
        self.num_interface_sums = num_interface_sums
        self.return_weighted_child_logits = return_weighted_child_logits
        self.unsupervised = bool(unsupervised)
        self.sum_kwargs = dict(sum_kwargs or {})
        self.temporal_product = TemporalDenseProduct()
        self.interface = DenseSum(num_sums=num_interface_sums, **self.sum_kwargs)
        self.root = RootSum(return_weighted_child_logits=return_weighted_child_logits, **self.sum_kwargs)

    def build(self, input_shape):
        if len(input_shape) < 3:
            raise ValueError(
                f"DynamicSumProductNetwork '{self.name}' expects input [batch, time, ...], got {tuple(input_shape)}."
            )
        step_shape = (None, *input_shape[2:])
        self.template.build(step_shape)
        template_shape = self.template.compute_output_shape(step_shape)
        if len(template_shape) != 4 or template_shape[1:3] != (1, 1):
            raise ValueError(
                f"DynamicSumProductNetwork '{self.name}': the template must output [batch, 1, 1, nodes] (one scope), "
                f"got {tuple(template_shape)}. End it with sums over a single scope."
            )
        interface_shape = (None, 1, 1, self.num_interface_sums)
        self.temporal_product.build([interface_shape, template_shape])
        self.interface.build(self.temporal_product.compute_output_shape([interface_shape, template_shape]))
        self.root.build(interface_shape)

    def call(self, x):
        num_steps = x.shape[1]
        steps = tf.reshape(x, [-1, *x.shape[2:]])
        template = self.template(steps)
        template = tf.reshape(template, [-1, num_steps, 1, 1, template.shape[-1]])
        interface = tf.zeros_like(template[:, 0, :, :, :1]) + tf.zeros([self.num_interface_sums], template.dtype)
        for step in range(num_steps):
            interface = self.interface(self.temporal_product([interface, template[:, step]]))
        return self.root(interface)

    def compute_output_shape(self, input_shape):
        return self.root.compute_output_shape((input_shape[0], 1, 1, self.num_interface_sums))

    def get_config(self):
        return {
            "name": self.name,
            "template": keras.utils.serialize_keras_object(self.template),
            "num_interface_sums": self.num_interface_sums,
            "return_weighted_child_logits": self.return_weighted_child_logits,
            "unsupervised": self.unsupervised,
            "sum_kwargs": {
                key: keras.utils.serialize_keras_object(value) if hasattr(value, "get_config") else value
                for key, value in self.sum_kwargs.items()
            },
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["template"] = keras.utils.deserialize_keras_object(config["template"], custom_objects=custom_objects)
        config["sum_kwargs"] = {
            key: keras.utils.deserialize_keras_object(value, custom_objects=custom_objects)
            if isinstance(value, dict)
            else value
            for key, value in config.get("sum_kwargs", {}).items()
        }
        return cls(**config)
