"""Optimizers for EM training."""

from libspn_keras.optimizers.online_expectation_maximization import OnlineExpectationMaximization

__all__ = ["OnlineExpectationMaximization"]
