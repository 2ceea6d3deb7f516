"""A learning rate held in a variable, read at every step (how libspn-keras 0.6.0 took a ``tf.Variable``)."""

import tensorflow as tf
from tensorflow import keras


@keras.utils.register_keras_serializable(package="libspn_keras")
class VariableLearningRate(keras.optimizers.schedules.LearningRateSchedule):
    """The current value of ``variable`` at every step, so that assigning to it changes the learning rate.

    Keras 3 optimizers take a number, a schedule or a callable; 0.6.0's
    (``OptimizerV2``) also took a ``tf.Variable`` and read it at every step,
    e.g. for a callback that lowers it. Saved as the value it holds then; a
    loaded optimizer reads a fresh variable holding that value.

    Args:
        variable: A scalar float ``tf.Variable`` or ``keras.Variable``.
    """

    def __init__(self, variable):
        self.variable = variable

    def __call__(self, step):
        return tf.convert_to_tensor(self.variable)

    def get_config(self):
        value = tf.convert_to_tensor(self.variable)
        return {"variable": float(value.numpy()), "dtype": value.dtype.name}

    @classmethod
    def from_config(cls, config):
        return cls(tf.Variable(config["variable"], dtype=config.get("dtype", "float32"), trainable=False))
