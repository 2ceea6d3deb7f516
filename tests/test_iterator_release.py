"""The SPN models keep each epoch's dataset iterator and delete replaced ones in a background thread."""

import gc
import threading
import time
import weakref

import numpy as np
import pytest
import tensorflow as tf
from tensorflow import keras

from libspn_keras import models, optimizers
from libspn_keras.models.iterator_release import releasing_iterators


def deleted_in(iterator):
    """A dict that records the thread in which ``iterator`` is deleted (key ``"thread"``)."""
    seen = {}
    weakref.finalize(iterator, lambda: seen.setdefault("thread", threading.current_thread()))
    return seen


def wait_for(seen, seconds=30.0):
    deadline = time.monotonic() + seconds
    while "thread" not in seen and time.monotonic() < deadline:
        time.sleep(0.01)
    return seen.get("thread")


def dataset_iterator():
    return iter(tf.data.Dataset.range(6).batch(2).prefetch(tf.data.AUTOTUNE))


def test_the_last_iterator_is_kept_and_a_replaced_one_is_deleted_off_the_main_thread():
    calls = []
    step = releasing_iterators(lambda iterator, extra=None: calls.append(int(next(iterator)[0])) or extra)
    first = dataset_iterator()
    first_deleted = deleted_in(first)
    assert step(first, extra="logs") == "logs"
    del first
    assert "thread" not in first_deleted  # kept by the wrapped function, not deleted on the main thread
    second = dataset_iterator()
    second_deleted = deleted_in(second)
    step(second)
    thread = wait_for(first_deleted)
    assert thread is not None and thread is not threading.main_thread()
    assert thread.name == "spn-iterator-release"
    step(second)  # the same iterator again (the steps of one epoch): kept
    del second
    assert "thread" not in second_deleted
    assert calls == [0, 0, 2]
    step.release()  # what the models call once fit / evaluate / predict returns
    thread = wait_for(second_deleted)
    assert thread is not None and thread is not threading.main_thread()


def test_other_arguments_pass_through_and_are_not_kept():
    class Batch:
        pass

    step = releasing_iterators(lambda batch: batch)
    batch = Batch()
    deleted = deleted_in(batch)
    assert step(batch) is batch
    del batch
    assert deleted.get("thread") is threading.main_thread()


class KeepIterators:
    """Records every tf.data iterator a step function is called with (weakly) and when it is deleted."""

    def __init__(self, function):
        self.function, self.deleted = function, []

    def __call__(self, iterator, *args):
        if isinstance(iterator, tf.data.Iterator) and all(iterator is not it() for it, _ in self.deleted):
            self.deleted.append((weakref.ref(iterator), deleted_in(iterator)))
        return self.function(iterator, *args)


def spy_on(model, attribute):
    """Replaces ``model.<attribute>`` (made by its ``make_*_function``) with a :class:`KeepIterators` spy."""
    getattr(model, "make_" + attribute)()
    spy = KeepIterators(getattr(model, attribute))
    setattr(model, attribute, spy)
    return spy


def all_deleted_off_the_main_thread(spy):
    threads = [wait_for(seen) for _, seen in spy.deleted]
    return all(thread is not None and thread is not threading.main_thread() for thread in threads)


def test_an_spn_model_drops_each_epochs_iterator_off_the_main_thread_and_keeps_none_after_the_call():
    # Weak references only, and no gc.collect(): a collection here would run the finalizers of other
    # tests' garbage on the main thread, which is what the models avoid.
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, size=(64, 8)).astype(np.int32)
    model = models.build_rat_spn(num_vars=8, depth=2, num_decomps=2, num_input_distributions=3, num_sums=3, sum_op="em")
    model.compile(optimizer=optimizers.OnlineExpectationMaximization(0.05), jit_compile=False)
    train, test = spy_on(model, "train_function"), spy_on(model, "test_function")
    history = model.fit(x, validation_data=(x,), epochs=3, batch_size=16, verbose=0)
    assert np.all(np.isfinite(history.history["loss"])) and np.all(np.isfinite(history.history["val_loss"]))
    # The spies (outside the model's wrapper, holding nothing) see one iterator per epoch, each deleted off-thread
    # once replaced or once fit returns: none is left.
    assert len(train.deleted) == 3 and len(test.deleted) == 3
    assert all_deleted_off_the_main_thread(train) and all_deleted_off_the_main_thread(test)
    # evaluate drops its iterator too; predict (whose function Keras hands batches, not the iterator) gives the
    # same values call after call.
    assert np.isfinite(model.evaluate(x, batch_size=16, verbose=0))
    assert len(test.deleted) == 4 and all_deleted_off_the_main_thread(test)
    log_likelihood = model.predict(x, batch_size=16, verbose=0)
    assert np.all(np.isfinite(log_likelihood)) and np.all(log_likelihood <= 0.0)
    np.testing.assert_allclose(model.predict(x, batch_size=16, verbose=0), log_likelihood, rtol=1e-6)


def live_dataset_iterators():
    """Ids of the tf.data iterators that exist, reachable or not (unreachable ones wait for a garbage collection)."""
    return {id(obj) for obj in gc.get_objects() if isinstance(obj, tf.data.Iterator)}


@pytest.fixture(scope="module")
def model_and_refused_data():
    """A RAT-SPN over 4 binary variables compiled by default (XLA), 32 rows of data, and a copy of them holding a
    category its leaf refuses. One model for the two tests below: its steps compile once (~1-2 s each under XLA), in
    the first test that calls them."""
    good = np.random.default_rng(1).integers(0, 2, size=(32, 4)).astype(np.int32)
    bad = good.copy()
    bad[3, 1] = 7
    model = models.build_rat_spn(num_vars=4, depth=1, num_decomps=2, num_input_distributions=2, num_sums=2)
    model.compile(optimizer="adam")
    return model, good, bad


def test_a_refused_call_leaves_no_iterator_to_the_garbage_collector(model_and_refused_data):
    # A step that raises inside Keras's loop over an epoch used to leave the epoch iterator suspended, in a reference
    # cycle with its generator: only a later garbage collection deleted the tf.data iterator, and it held the
    # interpreter lock while the deletion waited for the autotuning thread (up to a minute late in a process). The
    # iterator now goes with the error, by reference counting alone: collections stay off during the test.
    model, good, bad = model_and_refused_data
    gc.disable()
    try:
        before = live_dataset_iterators()  # a walk over every object: once before and (mostly) once after
        for call in (model.fit, model.evaluate, model.predict):
            try:
                call(bad, batch_size=8, verbose=0)
            except ValueError as error:
                assert "IndicatorLeaf" in str(error)
            else:
                raise AssertionError(f"{call.__name__} took a batch its leaf refuses")
        deadline = time.monotonic() + 10.0  # the model's own references go in background threads
        while (left := live_dataset_iterators() - before) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not left
    finally:
        gc.enable()
    # The model goes on as before.
    model.fit(good, batch_size=8, verbose=0)
    assert np.isfinite(model.evaluate(good, batch_size=8, verbose=0))


def test_a_call_refused_in_a_callback_leaves_the_running_fit_to_go_on(model_and_refused_data):
    # The epoch ended on an error is that of the refused call's own loop, never one of user code above it.
    model, good, bad = model_and_refused_data
    steps_before = int(model.optimizer.iterations.numpy())  # those of the test above, where it ran first
    refused = []

    class TrainOnBadData(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            try:  # train_on_batch has no epoch of its own: the search stops at this frame, not at fit's epoch
                model.train_on_batch(bad[:8])
            except ValueError as error:
                refused.append(str(error))

    history = model.fit(good, batch_size=8, epochs=2, verbose=0, callbacks=[TrainOnBadData()])
    assert len(refused) == 8 and all("IndicatorLeaf" in message for message in refused)
    assert len(history.history["loss"]) == 2 and np.all(np.isfinite(history.history["loss"]))
    assert int(model.optimizer.iterations.numpy()) == steps_before + 8
