"""Import path of libspn-keras 0.6.0 for :func:`logspace_wrapper_initializer`."""

from libspn_keras.initializers.logspace import logspace_wrapper_initializer

__all__ = ["logspace_wrapper_initializer"]
