"""Metrics on root outputs."""

from libspn_keras.metrics.log_joint import LogJoint
from libspn_keras.metrics.log_likelihood import LogLikelihood

__all__ = ["LogJoint", "LogLikelihood"]
