"""Dataset iterators dropped off the main thread, so that no epoch waits for tf.data's autotuning thread.

Keras makes a new ``tf.data`` iterator for every epoch of ``fit`` and every
call of ``evaluate`` and ``predict``, and drops the previous one on the main
thread. Deleting an iterator of an autotuned pipeline (Keras builds those for
arrays) can block until the pipeline's autotuning thread next wakes up, which
it does at doubling intervals after the iterator was made (about 1.3 s,
2.6 s, 5.1 s, ..., later once a minute). On this project's 2-core machine
every other 1.8 s HCLT epoch ended 0.75 s late that way, and RAT-SPN epochs
of 2 s paused now and then. The SPN models therefore keep the iterator their
step function was last called with, and drop it in a short-lived background
thread once a new one arrives.
"""

import threading

import tensorflow as tf


def releasing_iterators(function):
    """``function(iterator, ...)`` that keeps its last ``tf.data`` iterator and drops replaced ones off-thread.

    Other arguments (e.g. the generator of ``train_on_batch``) pass through
    untouched. The last iterator lives until the next call with another one,
    or until the wrapped function is deleted.
    """
    held = []

    def wrapped(iterator, *args, **kwargs):
        if isinstance(iterator, tf.data.Iterator):
            if held and held[0] is not iterator:
                # The list is the only reference: the iterator is deleted in the thread that empties it.
                replaced = [held.pop()]
                threading.Thread(target=replaced.clear, name="spn-iterator-release", daemon=True).start()
                del replaced
            if not held:
                held.append(iterator)
        return function(iterator, *args, **kwargs)

    return wrapped
