"""The query methods of the SPN models."""

import tensorflow as tf

from libspn_keras.math.gradients import no_gradients
from libspn_keras.math.seeding import random_source
from libspn_keras.models.fast_path import compiled_query
from libspn_keras.models.guarded_training import checked_markers_kept
from libspn_keras.models.queries.batches import in_batches, query_batch_size
from libspn_keras.models.queries.chain import split_at_leaf
from libspn_keras.models.queries.completion import complete, reconstruct
from libspn_keras.models.queries.evidence import (
    check_leaf_values,
    check_num_samples,
    empty_evidence,
    input_dtype,
    mark_missing,
    missing_mask,
    query_dtype,
    query_input,
)


class QueryMixin:
    """Queries on SPN models: marginal likelihood, completion, MPE and sampling."""

    def log_likelihood(self, x, evidence_mask=None, batch_size=None):
        """Exact ``log p(evidence)`` per sample ``[batch]``: missing entries (NaN, -1, mask False) are marginalized.

        Every sum op computes exact sums in the forward pass, so this is the
        model's own output, summed over class roots.

        Args:
            x: Inputs shaped like the model input.
            evidence_mask: Optional booleans shaped like ``x``; ``True`` = observed.
            batch_size: Rows per call of the model (an int); by default as many
                as fit about 2 GiB of layer outputs (see
                :mod:`~libspn_keras.models.queries.batches`).

        Raises:
            ValueError: For a model with other layers before its leaf than
                ``FlatToRegions``, ``NormalizeStandardScore`` and
                ``InputDropout`` (as for every query), and for input the
                leaves refuse.
        """
        x = query_input(self, x, f"{self.name}.log_likelihood")
        x = tf.cast(x, query_dtype(x.dtype, self))
        leaf = split_at_leaf(self)[1]
        missing = missing_mask(x, leaf, evidence_mask, name=self.name)
        check_leaf_values(self, leaf, x, missing)
        marked = mark_missing(x, missing)
        checked_markers_kept(self, marked)  # the model's own call reads the markers (complete does not)
        rows = query_batch_size(self, batch_size, f"{self.name}.log_likelihood")
        query = compiled_query(self, "log_likelihood", self._log_likelihood_of_marked)
        return in_batches(query, [marked], rows, pad=query.jit_compile).numpy()

    def _log_likelihood_of_marked(self, x):
        with no_gradients():
            output = self(x, training=False)
        return tf.reduce_logsumexp(tf.reshape(output, [tf.shape(output)[0], -1]), axis=-1)

    def complete(self, x, evidence_mask=None, method="posterior_marginal", seed=None, batch_size=None, labels=None):
        """Fills in missing entries of ``x`` (NaN, the category -1, or ``evidence_mask`` False).

        Args:
            x: Inputs shaped like the model input.
            evidence_mask: Optional booleans shaped like ``x``; ``True`` = observed.
            method: ``"posterior_marginal"`` (conditional mean for continuous
                leaves, the posterior-weighted average of the locations for
                Cauchy leaves, whose mean is undefined; most probable category
                under the posterior marginal for indicators), ``"mpe"`` (leaf modes along the most
                probable induced tree, found by max-product sums) or
                ``"sample"`` (a draw from ``p(missing | evidence)``).
            seed: Optional int: the same seed gives the same result. Draws
                come from a generator of the query's own, so TensorFlow's
                global random state is neither read nor changed; ``None``
                takes a seed from NumPy's global state.
            batch_size: Rows per pass through the model (an int), as for
                :meth:`log_likelihood`. Draws depend on it where ``x`` has
                more rows than one batch.
            labels: Optional class of the samples, for a model with class
                roots: one int for every row, or one per row (``[batch]``).
                The query is then conditioned on the class as well, e.g.
                ``p(missing | evidence, y)`` for ``"sample"``; by default
                the classes are summed out (posterior marginals and
                sampling) or maximized over (MPE).

        Returns:
            A NumPy array shaped like ``x``, with the observed entries unchanged.
        """
        return complete(
            self, x, evidence_mask=evidence_mask, method=method, seed=seed, batch_size=batch_size, labels=labels
        )

    def mpe(self, x, evidence_mask=None, seed=None, batch_size=None, labels=None):
        """Most probable explanation of the missing entries: ``complete(x, method="mpe")`` (``seed`` breaks ties;
        ``labels`` as for :meth:`complete`)."""
        return complete(
            self, x, evidence_mask=evidence_mask, method="mpe", seed=seed, batch_size=batch_size, labels=labels
        )

    def sample(self, num_samples, seed=None, batch_size=None, labels=None):
        """``num_samples`` samples shaped like the model input (``seed`` and ``batch_size`` as for :meth:`complete`).

        Unconditional by default; with ``labels`` (one int, or one per
        sample) drawn from ``p(x | y)`` of those classes, for a model with
        class roots.
        """
        num_samples = check_num_samples(f"{self.name}.sample", num_samples)
        query_batch_size(self, batch_size, f"{self.name}.sample")  # checked here, for a message naming sample
        evidence = empty_evidence(self, num_samples)
        samples = complete(
            self,
            evidence,
            method="sample",
            seed=seed,
            batch_size=batch_size,
            labels=labels,
            owner=f"{self.name}.sample",
        )
        return samples.astype(input_dtype(self).as_numpy_dtype)

    def zero_evidence_inference(self, size, seed=None, batch_size=None):
        """What libspn-keras 0.6.0 returns for ``size`` inputs without evidence: the model's own reconstruction.

        The signal from the root is routed by the sum layers' own ops to leaf
        components whose modes make up the result: for hard-EM ops the modes
        along each sum's best child (ties at random: without evidence every
        child of an unweighted hard-EM sum ties, so each row is another
        reconstruction), for :class:`~libspn_keras.sum_ops.SumOpSampleBackprop`
        layers the modes along a randomly drawn tree (a different image per
        row), for gradient / soft-EM ops the posterior-weighted average of the
        modes (``infer_weighted_sum``, as the original's default) or the mode
        of the component with the largest weight. Use :meth:`sample` for
        draws from the distribution itself.

        On a model whose root returns several outputs (class roots, or a
        ``RootSum`` with its default ``return_weighted_child_logits=True``),
        the signal starts at every output alike, as in 0.6.0: the root's
        weights play no part, and the result mixes the reconstructions of all
        root children (with hard-EM ops, averages of several trees' modes).
        For one class's reconstruction, use :meth:`complete` with ``labels``
        on all-missing input; for a density, end the stack with
        ``RootSum(return_weighted_child_logits=False)``.

        Args:
            size: Number of inputs to reconstruct.
            seed: Optional int fixing the random choices (as for :meth:`complete`).
            batch_size: Rows per pass through the model (an int), as for :meth:`complete`.

        Returns:
            A NumPy array ``[size, *input_shape]`` of floats.
        """
        size = check_num_samples(f"{self.name}.zero_evidence_inference", size, argument="size")
        rows = query_batch_size(self, batch_size, f"{self.name}.zero_evidence_inference", signal=True)
        weighted = getattr(self, "infer_weighted_sum", True)

        def reconstructed(evidence):
            mask = tf.zeros(tf.shape(evidence), tf.bool)
            return reconstruct(self, evidence, evidence_mask=mask, weighted=weighted, training=False)

        # A kept graph, as for sample (a dynamic SPN's query chain holds this call's sequence lengths: not kept).
        if not callable(getattr(self, "query_chain", None)):
            reconstructed = compiled_query(self, ("reconstruction", weighted), reconstructed, random=True)
        with random_source(seed):
            return in_batches(reconstructed, [empty_evidence(self, size)], rows).numpy()
