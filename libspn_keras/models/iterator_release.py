"""Dataset iterators dropped off the main thread, so that no epoch waits for tf.data's autotuning thread.

Keras makes a new ``tf.data`` iterator for every epoch of ``fit`` and every
call of ``evaluate`` and ``predict``, and drops the previous one on the main
thread. Deleting an iterator of an autotuned pipeline (Keras builds those for
arrays) can block until the pipeline's autotuning thread next wakes up, which
it does at doubling intervals after the iterator was made (about 1.3 s,
2.6 s, 5.1 s, ..., later once a minute). On this project's 2-core machine
every other 1.8 s HCLT epoch ended 0.75 s late that way, and RAT-SPN epochs
of 2 s paused now and then. The SPN models' step functions therefore keep
the iterator they were last called with and drop it in a short-lived
background thread once a new one arrives, or once the outermost ``fit``,
``evaluate`` or ``predict`` returns (:class:`IteratorReleaseMixin`), so that
no iterator outlives the call that made it.

A step function that raises (a refused batch, an undone step,
``KeyboardInterrupt`` during the step) leaves Keras's epoch iterator
suspended in the middle of its epoch, in a reference cycle with its own
generator. Its ``tf.data`` iterator would then be deleted by a later garbage
collection, which holds the interpreter lock while the deletion waits for
the autotuning thread, by then up to a minute: collections of 2 s after
refused calls in a fresh process, single tests of refused calls taking 38-88
s in a test run. :func:`ending_epoch_on_error` resets that epoch iterator
before the error leaves the step, so the iterator goes with the error.
"""

import contextlib
import functools
import inspect
import threading

import tensorflow as tf


def releasing_iterators(function):
    """``function(iterator, ...)`` that keeps its last ``tf.data`` iterator and drops replaced ones off-thread.

    Other arguments (e.g. the generator of ``train_on_batch``) pass through
    untouched. The returned function has a ``release()`` method that drops
    the kept iterator off-thread too.
    """
    held = []

    def release():
        if held:
            # The list is the only reference: the iterator is deleted in the thread that empties it.
            dropped = [held.pop()]
            threading.Thread(target=dropped.clear, name="spn-iterator-release", daemon=True).start()
            del dropped

    def wrapped(iterator, *args, **kwargs):
        if isinstance(iterator, tf.data.Iterator):
            if held and held[0] is not iterator:
                release()
            if not held:
                held.append(iterator)
        return function(iterator, *args, **kwargs)

    wrapped.release = release
    return wrapped


def ending_epoch_on_error(function):
    """``function``, a step function that Keras calls in its loop over an epoch, resetting that epoch if it raises.

    Keras's ``EpochIterator.reset`` (which Keras calls before every epoch)
    ends the suspended epoch: that of the innermost calling frame that holds
    an epoch iterator, told by its public methods. Only frames of this
    library, Keras and TensorFlow are searched, up to the first of user code:
    a ``train_on_batch`` refused inside a callback of another ``fit`` leaves
    that ``fit``'s epoch alone (the callback may catch the error and go on).
    """

    @functools.wraps(function)
    def wrapped(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except BaseException:
            _reset_calling_epoch()
            raise

    return wrapped


_EPOCH_ITERATOR_METHODS = ("enumerate_epoch", "catch_stop_iteration", "reset")
_LIBRARY_PACKAGES = ("libspn_keras", "keras", "tensorflow")


def _reset_calling_epoch():
    frame = inspect.currentframe().f_back
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] in _LIBRARY_PACKAGES:
        # Looked up on the class: no attribute of any other object is read.
        iterators = [
            value
            for value in frame.f_locals.values()
            if all(callable(getattr(type(value), name, None)) for name in _EPOCH_ITERATOR_METHODS)
        ]
        if iterators:
            for iterator in iterators:
                iterator.reset()
            return
        frame = frame.f_back


class IteratorReleaseMixin:
    """``fit`` / ``evaluate`` / ``predict`` that drop the iterators their step functions kept once they return.

    A call made inside another (``fit``'s validation runs ``evaluate``)
    leaves them to the outer one, which still refers to its iterators. Each
    of these calls, and ``train_on_batch`` / ``test_on_batch`` /
    ``predict_on_batch``, runs inside ``_spn_call_scope``, which
    subclasses extend.
    """

    def fit(self, *args, **kwargs):
        with self._spn_call_scope():
            return super().fit(*args, **kwargs)

    def evaluate(self, *args, **kwargs):
        with self._spn_call_scope():
            return super().evaluate(*args, **kwargs)

    def predict(self, *args, **kwargs):
        with self._spn_call_scope():
            return super().predict(*args, **kwargs)

    def train_on_batch(self, *args, **kwargs):
        with self._spn_call_scope():
            return super().train_on_batch(*args, **kwargs)

    def test_on_batch(self, *args, **kwargs):
        with self._spn_call_scope():
            return super().test_on_batch(*args, **kwargs)

    def predict_on_batch(self, *args, **kwargs):
        with self._spn_call_scope():
            return super().predict_on_batch(*args, **kwargs)

    def _spn_call_scope(self):
        return _released_after(self)


def drop_function(model, attribute):
    """Drops ``model.<attribute>`` (a step function) so that Keras makes it again, releasing the iterator it kept."""
    release = _releases_of(model).by_function.pop(attribute, None)
    if release is not None:
        release()
    setattr(model, attribute, None)


def keep_releasing(model, attribute, function):
    """Registers ``function.release`` (of :func:`releasing_iterators`) as the one of ``model.<attribute>``."""
    _releases_of(model).by_function[attribute] = function.release


@contextlib.contextmanager
def _released_after(model):
    releases = _releases_of(model)
    releases.depth += 1
    try:
        yield
    finally:
        releases.depth -= 1
        if releases.depth == 0:
            for release in releases.by_function.values():
                release()


def _releases_of(model):
    releases = getattr(model, "_spn_iterator_releases", None)
    if releases is None:
        releases = _Releases()
        model._spn_iterator_releases = releases
    return releases


class _Releases:
    """The release functions of a model's step functions, and how many of its calls are running (a plain
    object, so that Keras does not track it)."""

    def __init__(self):
        self.by_function = {}
        self.depth = 0
