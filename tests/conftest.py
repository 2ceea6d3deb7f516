import gc
import os
import sys
import threading
import time

import pytest

# Lets test modules import the shared references in tests/reference.py.
sys.path.insert(0, os.path.dirname(__file__))

# A full (generation 2) garbage collection runs the finalizers of every unreachable object left in reference cycles,
# e.g. by the tracebacks of the many tests that check that a call is refused. Now and then one of them blocks: an
# automatic full collection on the main thread took 27 s inside one test (measured with gc.callbacks), and single
# tests that take 2-6 s alone took 35-88 s in CI runs, a different one each run. A native stack (py-spy) of such a
# collection shows a tf.data iterator's resource being deleted (EagerTensor_dealloc, ~IteratorResource) and waiting,
# with the interpreter lock held, for the autotuning thread to wake: up to about 64 s late in a process. The SPN
# models no longer leave such iterators in cycles after a refused call (libspn_keras.models.iterator_release), but
# plain Keras models in the tests still can. Full collections therefore run in a background thread between tests (at
# most one at a time, at most every _FULL_COLLECTION_SECONDS), and never automatically. Such a wait still holds up the
# worker (the lock is held), and so does a collection while it walks the heap, 0.4 s early in a worker and 2-5 s late
# in it (the graphs of earlier tests stay alive), so they run once a minute: every 20 s they took ~55 s of each
# worker's 600.
_FULL_COLLECTION_SECONDS = 60.0
_collector = {"thread": None, "last": time.monotonic()}


def pytest_configure(config):
    threshold0, threshold1, _ = gc.get_threshold()
    gc.set_threshold(threshold0, threshold1, 2**30)


@pytest.fixture(autouse=True)
def _full_garbage_collection_off_the_main_thread():
    yield
    thread = _collector["thread"]
    if (thread is None or not thread.is_alive()) and time.monotonic() - _collector["last"] > _FULL_COLLECTION_SECONDS:
        _collector["last"] = time.monotonic()
        _collector["thread"] = threading.Thread(target=gc.collect, name="tests-full-gc", daemon=True)
        _collector["thread"].start()
