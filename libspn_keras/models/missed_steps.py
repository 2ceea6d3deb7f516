"""Training and evaluation steps that check the weights inside their compiled function, and rerun a missed batch.

The checked variant of an SPN model's train / test function (traced inside
:func:`~libspn_keras.sum_ops.checked.checked_accumulators`) starts each step
with :func:`~libspn_keras.sum_ops.checked.weights_fit_fast_kernel` over every
sum layer, fused into the step by XLA, and runs the step in a ``tf.cond`` on
it. Where the weights do not fit (whoever changed them: ``set_weights``, a
callback's ``assign``, another optimizer) the step changes nothing and sets a
flag instead, and the wrapper of :func:`rerun_on_miss` runs the same batch
with the exact variant (the range check kept), traced and compiled only the
first time that happens. So a step costs one function call and one read of
the flag, not a separate call of the check and a read of its result. The
checked function takes the batch from the ``tf.data`` iterator and returns it
with its outputs, and the exact one is given that same batch, so the iterator
advances once per step.
"""

import tensorflow as tf

from libspn_keras.models.bookkeeping import bookkeeping_variable
from libspn_keras.models.traced_functions import model_function
from libspn_keras.sum_ops.checked import checked_accumulators, is_checked


class MissedStepCheck:
    """The accumulators and check of a model whose steps check in the graph, and the flag its checked variant sets
    when the weights do not fit (``None`` where several steps per call choose their variant in the graph instead;
    a plain object, so that Keras does not track the variables)."""

    def __init__(self, accumulators, check, missed=None):
        self.accumulators, self.check, self.missed = accumulators, check, missed


def missed_step_check(model, accumulators, check):
    """A :class:`MissedStepCheck` for ``model``, with a flag variable made once per model."""
    # Not a weight of the model, and kept out of checkpoints (models.bookkeeping).
    missed = bookkeeping_variable(model, "_spn_missed_steps", 0, dtype=tf.int64, name="missed_fast_steps")
    return MissedStepCheck(accumulators, check, missed)


def step_or_miss(model, found, step, data):
    """``step(data)`` where ``found.check()`` holds; otherwise sets ``found.missed`` and changes nothing.

    :func:`rerun_on_miss` clears the flag before every step, so it always
    tells about the last step of the checked variant.

    Only in a trace inside ``checked_accumulators(found.accumulators)`` (the
    checked variant); elsewhere ``step(data)`` as it is. A missed step
    returns the metrics' current values, unchanged.
    """
    if not found.accumulators or not is_checked(found.accumulators[0]):
        return step(data)

    # The assignment runs by tf.function's automatic control dependencies. (An explicit control dependency would
    # also hold the initializers of variables the first step creates, e.g. an optimizer's, which then could not be
    # lifted out of an XLA-compiled step.)
    def missed():
        found.missed.assign(1)
        return model.get_metrics_result()

    return tf.cond(found.check(), lambda: step(data), missed)


def rerun_on_miss(found, fast, exact, compiled=True, before_exact=None):
    """A train / test function that runs ``fast`` (traced as checked) and, after a missed step, ``exact``.

    ``fast`` and ``exact`` are Keras's functions of an iterator. Given a
    ``tf.data`` iterator, a ``tf.function`` (when ``compiled``) takes the
    next batch and passes it to ``fast``, as Keras's own function would, and
    returns the batch too, so that ``exact`` gets that same batch; at the end
    of the data it raises ``OutOfRangeError``, as Keras's does. Other
    iterables (``train_on_batch``) give their one batch to both. For one
    step per call (several steps per call check inside the graph).
    ``before_exact`` (a function without arguments, or ``None``) runs
    before each rerun: it may raise where the weights are not merely
    outside the fast kernel's range but no distribution at all.
    """

    def fast_on_iterator(iterator):
        # Cleared here, before every step, and set only by a missed one: a step that refuses its batch
        # (models.guarded_training) never reaches step_or_miss, and a flag left from the step before would run the
        # refused batch again (counted twice).
        found.missed.assign(0)
        batch = iterator.get_next()
        return fast(iter([batch])), batch

    def exact_on_batch(batch):
        return exact(iter([batch]))

    if compiled:
        # Outside XLA, like Keras's own outer function: variables that the first step creates (an optimizer's,
        # metrics') are lifted out of Keras's XLA-compiled step.
        fast_on_iterator = model_function(fast_on_iterator, reduce_retracing=True)
        exact_on_batch = model_function(exact_on_batch, reduce_retracing=True)

    def function(iterator, *args, **kwargs):
        if tf.distribute.has_strategy() or args or kwargs:
            return exact(iterator, *args, **kwargs)
        with checked_accumulators(found.accumulators):  # active whenever ``fast`` traces, and only then
            if isinstance(iterator, tf.data.Iterator):
                outputs, batch = fast_on_iterator(iterator)
            else:
                batch = next(iter(iterator))
                found.missed.assign(0)
                outputs = fast(iter([batch]))
        if int(found.missed.numpy()):
            if before_exact is not None:
                before_exact()
            outputs = exact_on_batch(batch)
        return outputs

    return function
