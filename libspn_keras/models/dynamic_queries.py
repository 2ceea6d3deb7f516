"""Queries on dynamic SPNs, answered by the query code of the other models.

The queries read a model as (layers before the leaf, the leaf, what lies
above it). For a dynamic SPN the steps are first stacked into the batch,
the template's own layers before its leaf follow, and *above the leaf* is
the rest of the template, the recurrence over steps and the root at the last
step. Completing a step therefore uses the evidence of every other step.
"""

import contextlib

import numpy as np
import tensorflow as tf
from tensorflow import keras

from libspn_keras.arguments import check_int
from libspn_keras.layers.base_leaf import missing_value
from libspn_keras.layers.normalize_standard_score import NormalizeStandardScore
from libspn_keras.layers.validation import layer_label
from libspn_keras.math.gradients import no_gradients
from libspn_keras.math.seeding import numpy_rng
from libspn_keras.models.dynamic_arguments import check_sequence_lens, refuse_lengths_beside_sequences, step_mask
from libspn_keras.models.fast_path import compiled_query, sum_layers_in
from libspn_keras.models.queries import complete, mark_missing, missing_mask, split_at_leaf
from libspn_keras.models.queries.batches import in_batches, query_batch_size
from libspn_keras.models.queries.chain import run_layers
from libspn_keras.models.queries.evidence import check_leaf_values, check_num_samples, query_dtype, query_input


class _StepsToBatch:
    """``[batch, time, ...]`` -> ``[batch * time, ...]``: every step goes through the template as one sample."""

    def __call__(self, x):
        return tf.reshape(x, [-1, *x.shape[2:]])


class _AboveTheLeaf:
    """The rest of a dynamic SPN from the leaf outputs of all steps to the root at the last step."""

    def __init__(self, model, template_post, num_steps, sequence_lens):
        self.model, self.template_post, self.num_steps, self.sequence_lens = (
            model,
            template_post,
            num_steps,
            sequence_lens,
        )

    def call(self, leaf_output, training=None):
        template = run_layers(self.template_post, leaf_output, training=training)
        template = tf.reshape(template, [-1, self.num_steps, 1, 1, template.shape[-1]])
        return self.model.unroll(template, self.sequence_lens, training=training, last_step=True)

    __call__ = call

    def sum_layers(self):
        """The sum layers above the leaf, whose sum ops a query replaces."""
        networks = [*self.template_post, *self.model.recurrent_networks()]
        return [found for network in networks for found in sum_layers_in(network)]


class DynamicQueryMixin:
    """``log_likelihood``, ``complete``, ``mpe`` and ``sample`` for dynamic SPNs, as for the other SPN models.

    Inputs are sequences ``[batch, time, ...]`` shaped like the model input;
    for 0.6.0's form pass ``[x, sequence_lens]`` as to the model itself.
    Missing entries (NaN, -1 for categories, or ``evidence_mask`` False) may
    sit anywhere, whole steps included: they are marginalized in
    :meth:`log_likelihood` and filled in by :meth:`complete`. Every query
    uses the root at the last step (``log p`` of the whole sequence).
    """

    def query_chain(self):
        """``(layers before the leaf, leaf, above)`` for the query code, for the sequences being queried."""
        pre, leaf, post = split_at_leaf(self.template_model)
        if any(isinstance(layer, NormalizeStandardScore) for layer in pre):
            raise ValueError(
                f"{self.name}: queries on dynamic SPNs do not support NormalizeStandardScore inside the template; "
                f"normalize the sequences before the model instead."
            )
        num_steps, sequence_lens = self._query_sequences
        return [_StepsToBatch(), *pre], leaf, [_AboveTheLeaf(self, post, num_steps, sequence_lens)]

    def recurrent_networks(self):
        """The networks applied across steps above the template."""
        if self.original_form:
            return [self.interface_network_t0, self.interface_network_t_minus_1, self.top_network]
        return [self.interface, self.root]

    def log_likelihood(self, x, evidence_mask=None, batch_size=None):
        """Exact ``log p(evidence)`` of every sequence ``[batch]``: missing entries and steps are marginalized.

        Args:
            x: Sequences ``[batch, time, ...]`` shaped like the model input;
                for 0.6.0's form the pair ``[x, sequence_lens]``.
            evidence_mask: Optional booleans shaped like the sequences ``x``;
                ``True`` = observed, ``False`` marks an entry missing, like NaN
                (or -1 for categories); as for
                :meth:`QueryMixin.log_likelihood <libspn_keras.models.queries.QueryMixin.log_likelihood>`.
            batch_size: Sequences per pass through the model (an int; by default
                :data:`~libspn_keras.models.queries.batches.DEFAULT_QUERY_BATCH_SIZE`).
        """
        x, sequence_lens = self._split_input(x)
        leaf = split_at_leaf(self.template_model)[1]
        missing = missing_mask(x, leaf, evidence_mask, name=self.name)
        check_leaf_values(self, leaf, x, missing)
        x = mark_missing(x, missing)
        rows = query_batch_size(self, batch_size, f"{self.name}.log_likelihood")
        inputs = [x]
        if sequence_lens is not None:
            # Checked here, where the values are known: in the compiled query the check is an assertion.
            label = f"DynamicSumProductNetwork '{self.name}'"
            inputs.append(check_sequence_lens(label, sequence_lens, int(x.shape[0]), int(x.shape[1])))
        # Compiled as the other models' log_likelihood (checked sums, XLA where the model's steps use it), one
        # function per number of steps, which the unrolled recurrence needs to know when it is traced.
        key = ("log_likelihood", int(x.shape[1]), sequence_lens is not None)
        query = compiled_query(self, key, self._log_likelihood_of_marked)
        return in_batches(query, inputs, rows, pad=query.jit_compile).numpy()

    def _log_likelihood_of_marked(self, x, sequence_lens=None):
        steps = tf.reshape(x, [-1, *x.shape[2:]])
        with no_gradients():
            template = self.template_model(steps, training=False)
            template = tf.reshape(template, [-1, x.shape[1], 1, 1, template.shape[-1]])
            output = self.unroll(template, sequence_lens, training=False, last_step=True, lengths_checked=True)
        return tf.reduce_logsumexp(tf.reshape(output, [tf.shape(output)[0], -1]), axis=-1)

    def complete(self, x, evidence_mask=None, method="posterior_marginal", seed=None, batch_size=None):
        """Fills in the missing entries of the sequences ``x``; see
        :meth:`QueryMixin.complete <libspn_keras.models.queries.QueryMixin.complete>`.

        Args:
            x: Sequences ``[batch, time, ...]`` shaped like the model input;
                for 0.6.0's form the pair ``[x, sequence_lens]``.
            evidence_mask: Optional booleans shaped like the sequences ``x``;
                ``True`` = observed, ``False`` marks an entry missing.
            method: ``"posterior_marginal"``, ``"mpe"`` or ``"sample"``, as
                for :meth:`QueryMixin.complete <libspn_keras.models.queries.QueryMixin.complete>`.
            seed: Optional int: the same seed gives the same result (as for
                :meth:`QueryMixin.complete <libspn_keras.models.queries.QueryMixin.complete>`).
            batch_size: Sequences per pass through the model (an int; by default
                :data:`~libspn_keras.models.queries.batches.DEFAULT_QUERY_BATCH_SIZE`);
                several batches draw with seeds derived from ``seed``.

        Returns:
            A NumPy array shaped like the sequences, observed entries unchanged;
            with 0.6.0's ``[x, sequence_lens]``, so are the padding steps before
            each sequence starts.
        """
        x, sequence_lens = self._split_input(x)
        completed = self._completed(x, sequence_lens, evidence_mask, method, seed, batch_size)
        if sequence_lens is None:
            return completed
        # The steps before a sequence starts are not part of it: they come back as they were given.
        inside = tf.reshape(step_mask(sequence_lens, x.shape[1]), [-1, x.shape[1]] + [1] * (len(x.shape) - 2))
        return np.where(inside.numpy(), completed, x.numpy().astype(completed.dtype))

    def _completed(self, x, sequence_lens, evidence_mask, method, seed, batch_size):
        rows = query_batch_size(self, batch_size, f"{self.name}.complete", signal=True)
        if int(x.shape[0]) <= rows:
            with self._querying(x.shape[1], sequence_lens):
                return complete(self, x, evidence_mask=evidence_mask, method=method, seed=seed)
        # The whole mask is checked here: the batches below would not see rows it has beyond those of x.
        observed = tf.logical_not(missing_mask(x, split_at_leaf(self.template_model)[1], evidence_mask, name=self.name))
        starts = range(0, int(x.shape[0]), rows)
        seeds = numpy_rng(seed).integers(2**31 - 1, size=len(starts))
        completed = []
        for start, batch_seed in zip(starts, seeds):
            with self._querying(x.shape[1], _rows_of(sequence_lens, start, rows)):
                part, mask = x[start : start + rows], observed[start : start + rows]
                completed.append(complete(self, part, evidence_mask=mask, method=method, seed=int(batch_seed)))
        return np.concatenate(completed)

    def mpe(self, x, evidence_mask=None, seed=None, batch_size=None):
        """Most probable explanation of the missing entries: ``complete(x, method="mpe")``.

        ``evidence_mask``, ``seed`` (which breaks ties) and ``batch_size`` are
        as for :meth:`complete`.
        """
        return self.complete(x, evidence_mask=evidence_mask, method="mpe", seed=seed, batch_size=batch_size)

    def sample(self, num_samples, num_steps=None, seed=None, batch_size=None):
        """``num_samples`` sequences of ``num_steps`` steps (default: the length the model was built for)."""
        num_samples = check_num_samples(f"{self.name}.sample", num_samples)
        num_steps = num_steps if num_steps is not None else self._built_shape[1]
        num_steps = check_int(f"{self.name}.sample", "num_steps", num_steps, minimum=1)
        dtype = query_dtype(self._built_dtype)
        evidence = tf.fill((num_samples, num_steps, *self._built_shape[2:]), missing_value(dtype))
        inputs = [evidence, np.full(num_samples, num_steps)] if self.original_form else evidence
        samples = self.complete(inputs, method="sample", seed=seed, batch_size=batch_size)
        return samples.astype(tf.as_dtype(self._built_dtype).as_numpy_dtype)

    def _split_input(self, x):
        if self.original_form:
            if not isinstance(x, (list, tuple)) or len(x) != 2:
                raise ValueError(f"{self.name}: 0.6.0's dynamic SPNs are queried with [x, sequence_lens].")
            x, sequence_lens = x
            sequence_lens = tf.convert_to_tensor(sequence_lens)
            if sequence_lens.shape.rank != 1 or not (sequence_lens.dtype.is_integer or sequence_lens.dtype.is_floating):
                raise ValueError(
                    f"{self.name}: sequence_lens must be one whole number per sequence of x (shape [batch]), got "
                    f"{sequence_lens.dtype.name} of shape {tuple(sequence_lens.shape)}."
                )
        else:
            refuse_lengths_beside_sequences(layer_label(self), x)
            sequence_lens = None
        x = query_input(self, x, self.name)
        if x.shape.rank is None or x.shape.rank < 3 or x.shape[1] == 0:
            raise ValueError(
                f"{self.name}: queries on a dynamic SPN take sequences [batch, time, ...] with at least one step, "
                f"got shape {tuple(x.shape)}; add the time axis (x[:, None] for sequences of one step)."
            )
        if not self.built:
            # A query may be the model's first use: build it as a call would, or the template keeps this batch's
            # number of rows as its input shape and a later call on other sequences fails.
            shape = (None, *x.shape[1:])
            self.build([shape, tuple(sequence_lens.shape)] if self.original_form else shape)
        return tf.cast(x, query_dtype(x.dtype)), sequence_lens

    @contextlib.contextmanager
    def _querying(self, num_steps, sequence_lens):
        self._query_sequences = (num_steps, sequence_lens)
        try:
            yield
        finally:
            del self._query_sequences

    @property
    def _built_shape(self):
        shape = self.get_build_config()["input_shape"]
        return tuple(shape[0] if self.original_form else shape)

    @property
    def _built_dtype(self):
        leaf = split_at_leaf(self.template_model)[1]
        return "int32" if leaf.is_categorical else keras.config.floatx()


def _rows_of(sequence_lens, start, rows):
    """The sequence lengths of rows ``start`` to ``start + rows`` (``None`` for sequences without lengths)."""
    return None if sequence_lens is None else sequence_lens[start : start + rows]
