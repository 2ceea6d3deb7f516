"""libspn-keras: Sum-Product Networks as Keras layers."""

import tensorflow as tf

from libspn_keras import (
    config,
    constraints,
    datasets,
    initializers,
    layers,
    logspace,
    losses,
    math,
    metrics,
    models,
    optimizers,
    region,
    region_graph,
    regularizers,
    structure,
    sum_ops,
    visualize,
)
from libspn_keras.backprop_mode import BackpropMode
from libspn_keras.config import (
    get_default_accumulator_initializer,
    get_default_linear_accumulators_constraint,
    get_default_logspace_accumulators_constraint,
    set_default_accumulator_initializer,
    set_default_linear_accumulators_constraint,
    set_default_logspace_accumulators_constraint,
)
from libspn_keras.logspace import logspace_wrapper_initializer
from libspn_keras.models.region_graph_spn import region_graph_to_dense_spn
from libspn_keras.region_graph import (
    OverlappingScopesException,
    Region,
    RegionNode,
    RegionVariable,
    random_region_graph,
)
from libspn_keras.sum_ops import (
    SumOpEMBackprop,
    SumOpGradBackprop,
    SumOpHardEMBackprop,
    SumOpSampleBackprop,
    SumOpUnweightedHardEMBackprop,
    get_default_sum_op,
    set_default_sum_op,
)
from libspn_keras.version import __version__
from libspn_keras.visualize import visualize_dense_spn

# On Ampere and newer GPUs TensorFlow runs float32 matmuls and convolutions in TensorFloat-32 (10 mantissa
# bits): sums of probabilities then drift in the fourth digit, as an H200 showed against the enumeration and
# EM references. SPNs keep float32; tf.config.experimental.enable_tensor_float_32_execution(True) after this
# import trades that back for speed (docs/guide/speed.md).
tf.config.experimental.enable_tensor_float_32_execution(False)

# ``libspn_keras.region_graph`` is plain data and imports no models; its former name for the builder is kept
# by attaching it here, where both are already imported.
region_graph.region_graph_to_dense_spn = region_graph_to_dense_spn

__all__ = [
    "OverlappingScopesException",
    "Region",
    "RegionNode",
    "RegionVariable",
    "random_region_graph",
    "region_graph_to_dense_spn",
    "BackpropMode",
    "SumOpEMBackprop",
    "SumOpGradBackprop",
    "SumOpHardEMBackprop",
    "SumOpSampleBackprop",
    "SumOpUnweightedHardEMBackprop",
    "__version__",
    "config",
    "constraints",
    "datasets",
    "get_default_accumulator_initializer",
    "get_default_linear_accumulators_constraint",
    "get_default_logspace_accumulators_constraint",
    "get_default_sum_op",
    "initializers",
    "layers",
    "logspace",
    "logspace_wrapper_initializer",
    "losses",
    "math",
    "metrics",
    "models",
    "optimizers",
    "region",
    "region_graph",
    "regularizers",
    "set_default_accumulator_initializer",
    "set_default_linear_accumulators_constraint",
    "set_default_logspace_accumulators_constraint",
    "set_default_sum_op",
    "structure",
    "sum_ops",
    "visualize",
    "visualize_dense_spn",
]
