"""Optimizers for EM training."""

from libspn_keras.optimizers.online_expectation_maximization import OnlineExpectationMaximization
from libspn_keras.optimizers.variable_learning_rate import VariableLearningRate

__all__ = ["OnlineExpectationMaximization", "VariableLearningRate"]
