"""Random numbers for the library: seeds, and draws that leave the process-wide generators alone.

Queries (``sample``, ``complete``, ``mpe``) run inside :func:`random_source`,
which installs a ``tf.random.Generator`` of their own: the same seed gives
the same result, and the user's ``tf.random`` sequence is not advanced.
In training calls, a sum layer's choices (hard EM's ties and ``sample_prob``)
come from the layer's ``keras.random.SeedGenerator`` (:func:`default_source`,
:func:`training_draws`), as ``keras.layers.Dropout`` draws from its own:
stateless draws, so seeded training repeats under XLA too, where stateful
``tf.random`` ops do not; the backward pass draws from a seed drawn in the
forward pass (:func:`backward_source`). Code outside both draws from
TensorFlow's global generator.
"""

import contextlib
import numbers
import threading

import numpy as np
import tensorflow as tf
from tensorflow import keras

from libspn_keras.trace_switch import TraceSwitch

_MAX_SEED = 2**31 - 1
_sources = threading.local()
_training_calls = TraceSwitch()


def resolve_seed(seed):
    """``seed`` itself, or for ``None`` a fresh seed from NumPy's global state (``keras.utils.set_random_seed``)."""
    if seed is None:
        return int(np.random.randint(_MAX_SEED))
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or not 0 <= seed < 2**64:
        # Philox keys are 64-bit: -1 would be the key of 2**64 - 1, and 2**64 that of 0.
        raise ValueError(f"seed must be an int or None (ints from 0 to 2**64 - 1), got {seed!r}.")
    return int(seed)


def numpy_rng(seed=None):
    """A NumPy ``Generator`` seeded by :func:`resolve_seed`."""
    return np.random.default_rng(resolve_seed(seed))


def structure_random_state(seed=None):
    """What random structures are drawn from: NumPy's global functions for ``seed=None``, else a ``RandomState``.

    libspn-keras 0.6.0 drew its random structures (channel picks of
    ``Conv2DProduct``, scope permutations of ``PermuteAndPadScopesRandom``)
    from NumPy's global state. Drawing the same way, in the same order, gives
    a 0.6.0 script that seeds NumPy (or calls ``keras.utils.set_random_seed``)
    the same structure.
    """
    return np.random if seed is None else np.random.RandomState(int(seed) % 2**32)


def _stack():
    if not hasattr(_sources, "stack"):
        _sources.stack = []
    return _sources.stack


@contextlib.contextmanager
def random_source(seed=None):
    """Within the block, the library's draws come from a generator seeded by :func:`resolve_seed` (``seed``).

    Yields the ``tf.random.Generator``. TensorFlow's global generator and
    seed are neither read nor changed. Different seeds, however close,
    give independent streams (each seed is a Philox key of its own).
    """
    # The seed is Philox's key, not its counter: ``Generator.from_seed(s)`` starts the counter at ``s`` under one key,
    # so seeds ``s`` and ``s + 1`` would give the same stream four numbers apart.
    generator = tf.random.Generator.from_key_counter(key=resolve_seed(seed), counter=[0, 0], alg="philox")
    with drawing_from(generator):
        yield generator


def current_source():
    """The innermost source of draws (a ``tf.random.Generator``, ``keras.random.SeedGenerator`` or
    :class:`SeededDraws`), else ``None``."""
    stack = _stack()
    return stack[-1] if stack else None


@contextlib.contextmanager
def drawing_from(source):
    """Within the block, the library's draws come from ``source`` (see :func:`current_source`); ``None``: no change."""
    if source is None:
        yield
        return
    _stack().append(source)
    try:
        yield
    finally:
        _stack().pop()


def training_draws(active=True):
    """Within it (when ``active``), :func:`default_source` installs a layer's seed generator: a training call.

    Outside training calls (``predict``, ``evaluate``, a SavedModel's serving
    function) a layer draws nothing of its generator, as
    ``keras.layers.Dropout``: a function that reads a generator's state
    cannot be saved (TensorFlow does not track the state), and an inference
    call has no backward pass to draw for.
    """
    return _training_calls.on(active)


def default_source(seed_generator):
    """:func:`drawing_from` ``seed_generator`` (a ``keras.random.SeedGenerator``) in a training call
    (:func:`training_draws`) where no other source is active.

    A layer's own generator gives way to a query's :func:`random_source`,
    whose seed decides all its draws. Outside training calls a backward pass
    draws from TensorFlow's global generator.
    """
    return drawing_from(None if _stack() or not _training_calls.is_on() else seed_generator)


class SeededDraws:
    """A source of stateless draws from one ``[2]`` seed drawn earlier: draw ``i`` folds ``i`` into the seed.

    What a backward pass draws from (:func:`backward_source`): it holds a
    tensor, not a variable, so a gradient function tracing it captures no
    generator state (a SavedModel cannot save a gradient function that reads
    an untracked variable handle).
    """

    def __init__(self, seed):
        self.seed = seed
        self.draws = 0

    def next_pair(self):
        """The seed of the next draw, ``[2]`` int64."""
        pair = tf.random.experimental.stateless_fold_in(self.seed, self.draws)
        self.draws += 1
        return pair


_STATELESS = (keras.random.SeedGenerator, SeededDraws)


def backward_source():
    """A function giving the source of draws for a backward pass traced later, decided now, in the forward pass.

    For a layer's ``keras.random.SeedGenerator`` the seed is drawn here and
    the backward pass draws from it (:class:`SeededDraws`); any other source
    (a query's generator, or none) is used as it is.
    """
    source = current_source()
    if not isinstance(source, keras.random.SeedGenerator):
        return lambda: source
    seed = _stateless_pair(source)
    return lambda: SeededDraws(seed)


def _stateless_pair(source):
    """The next ``[2]`` seed of a stateless source for stateless ops. A ``keras.random.SeedGenerator``'s is folded
    with the replica's index under a distribution strategy: the replicas share the generator's state and would
    otherwise draw alike."""
    if isinstance(source, SeededDraws):
        return source.next_pair()
    seed = tf.cast(source.next(), tf.int64)
    context = tf.distribute.get_replica_context()
    if context is not None and context.num_replicas_in_sync > 1:
        seed = tf.random.experimental.stateless_fold_in(seed, context.replica_id_in_sync_group)
    return seed


def uniform(shape, dtype=tf.float32, minval=0.0, maxval=1.0):
    """Uniform draws in ``[minval, maxval)`` from the innermost source of draws, else from ``tf.random``."""
    source = current_source()
    if source is None:
        return tf.random.uniform(shape, minval=minval, maxval=maxval, dtype=dtype)
    if isinstance(source, _STATELESS):
        return tf.random.stateless_uniform(shape, _stateless_pair(source), minval=minval, maxval=maxval, dtype=dtype)
    return source.uniform(shape, minval=minval, maxval=maxval, dtype=dtype)


def stateless_seed():
    """A ``[2]`` int32 seed for stateless ops (and TFP ``sample``) from the innermost source; ``None`` outside one."""
    source = current_source()
    if source is None:
        return None
    if isinstance(source, _STATELESS):
        return tf.cast(_stateless_pair(source), tf.int32)
    return source.uniform_full_int([2], dtype=tf.int32)


def draw_key():
    """A Philox key (int64 scalar tensor) for :func:`keyed_draws`, from the innermost source of draws.

    Outside one it comes from NumPy's global state, as :func:`resolve_seed` does.
    """
    source = current_source()
    if source is None:
        return tf.constant(resolve_seed(None), tf.int64)
    if isinstance(source, _STATELESS):
        return tf.random.stateless_uniform([], _stateless_pair(source), minval=0, maxval=_MAX_SEED, dtype=tf.int64)
    return source.uniform_full_int([], dtype=tf.int64)


def keyed_draws(function):
    """``function`` with a Philox key as an extra first argument: its draws come from a generator of its own.

    The generator is reset to the key at the start of every call, inside the
    call, so a ``tf.function`` of the result draws what the key says on every
    call rather than what its first trace saw: the same key gives the same
    draws, whether traced or not. The caller draws the keys (:func:`draw_key`),
    so seeded queries stay reproducible and the process-wide generators untouched.
    """
    with tf.init_scope():
        generator = tf.random.Generator.from_key_counter(key=0, counter=[0, 0], alg="philox")

    def with_key(key, *args):
        generator.reset_from_key_counter(key, [0, 0])
        with drawing_from(generator):
            return function(*args)

    return with_key
