"""Queries in batches of rows: the same answers as one pass, bounded batch shapes, the automatic batch size.

References: marginals are log-sum-exps of the model's joint over every completion of the missing
variables, the joint being the model's own forward pass on complete assignments (no query code).
"""

import itertools

import numpy as np
import pytest
import tensorflow as tf
from reference import np_logsumexp, randomize_accumulators
from tensorflow import keras

from libspn_keras import models
from libspn_keras.models.batch_padding import PaddedToCompiledRows
from libspn_keras.models.queries import batches
from libspn_keras.models.queries.batches import in_batches, output_bytes_per_row, padded_rows, query_batch_size
from libspn_keras.optimizers import OnlineExpectationMaximization

NUM_VARS = 4


def rat_spn(jit_compile, seed=0):
    keras.utils.set_random_seed(seed)
    model = models.build_rat_spn(num_vars=NUM_VARS, depth=2, num_decomps=2, num_input_distributions=3, num_sums=3)
    randomize_accumulators(model, np.random.default_rng(seed))
    model.compile(optimizer=OnlineExpectationMaximization(0.1), jit_compile=jit_compile)
    return model


@pytest.fixture(scope="module")
def model():
    """``rat_spn("auto")``, built and compiled once for the tests that only query it (none trains it or changes its
    weights; their monkeypatches change the batch sizes, not the model): the compiled queries it keeps per batch
    shape serve every test, instead of each test's own model compiling the same shapes again under XLA."""
    return rat_spn("auto")


@pytest.fixture(scope="module")
def graph_model():
    """``rat_spn(False)``, built once for the graph-mode tests that only query it (as ``model`` above)."""
    return rat_spn(False)


def evidence(num_rows, seed=1):
    """Binary rows with about a third of the entries missing (-1)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, size=(num_rows, NUM_VARS)).astype(np.int32)
    x[rng.random(x.shape) < 0.35] = -1
    return x


def marginals_by_enumeration(model, x):
    """``log p(observed part of each row)``: the joint of every completion, from the model's forward pass."""
    assignments = np.array(list(itertools.product([0, 1], repeat=NUM_VARS)), np.int32)
    joint = np.asarray(model(assignments)).reshape(len(assignments)).astype(np.float64)
    result = []
    for row in x:
        agrees = np.all((assignments == row) | (row < 0), axis=1)
        result.append(np_logsumexp(joint[agrees]))
    return np.array(result)


def record_in_batches(monkeypatch):
    """Records ``(batch_size, pad)`` of every ``in_batches`` call that ``log_likelihood`` makes."""
    calls = []
    original = batches.in_batches

    def recording(function, tensors, batch_size, pad=False):
        calls.append((batch_size, pad))
        return original(function, tensors, batch_size, pad)

    monkeypatch.setattr("libspn_keras.models.queries.mixin.in_batches", recording)
    return calls


# A diagonal in the core: every batch size once, batches of 1 under the default compile (XLA on CPU, its padding
# also checked by test_small_batches_are_padded_to_powers_of_two_under_xla) and the others in graph mode; the other
# four combinations are slow extras.
@pytest.mark.parametrize(
    "batch_size, jit_compile",
    [
        pytest.param(1, "auto", id="1-auto"),
        pytest.param(1, False, id="1-False", marks=pytest.mark.slow),
        pytest.param(3, "auto", id="3-auto", marks=pytest.mark.slow),
        pytest.param(3, False, id="3-False"),
        pytest.param(7, "auto", id="7-auto", marks=pytest.mark.slow),
        pytest.param(7, False, id="7-False"),
        pytest.param(None, "auto", id="None-auto", marks=pytest.mark.slow),
        pytest.param(None, False, id="None-False"),
    ],
)
def test_log_likelihood_in_batches_equals_enumeration(jit_compile, batch_size, request):
    # The shared models: rat_spn("auto") or rat_spn(False), built and traced once for the cases of each.
    model = request.getfixturevalue("model" if jit_compile == "auto" else "graph_model")
    x = evidence(11)
    got = model.log_likelihood(x, batch_size=batch_size)
    assert got.shape == (11,)
    np.testing.assert_allclose(got, marginals_by_enumeration(model, x), atol=1e-5)


def test_small_batches_are_padded_to_powers_of_two_under_xla(model, monkeypatch):
    """Every size from 1 to 20 reaches the compiled function as one of 6 shapes (1, 2, 4, 8, 16 and 20)."""
    assert model.jit_compile is True
    seen = set()
    original = batches.in_batches

    def spying(function, tensors, batch_size, pad=False):
        def recorded(*parts):
            seen.add(int(parts[0].shape[0]))
            return function(*parts)

        return original(recorded, tensors, batch_size, pad)

    monkeypatch.setattr("libspn_keras.models.queries.mixin.in_batches", spying)
    x = evidence(20)
    expected = marginals_by_enumeration(model, x)  # row by row: the first rows' marginals are expected[:rows]
    for rows in range(1, 21):
        np.testing.assert_allclose(model.log_likelihood(x[:rows], batch_size=20), expected[:rows], atol=1e-5)
    assert seen == {1, 2, 4, 8, 16, 20}


def test_graph_mode_queries_are_not_padded(graph_model, monkeypatch):
    model = graph_model
    calls = record_in_batches(monkeypatch)
    model.log_likelihood(evidence(5), batch_size=8)
    assert calls == [(8, False)]


@pytest.mark.parametrize(
    "rows, batch_size, expected",
    [(0, 8, 0), (1, 8, 1), (3, 8, 4), (5, 8, 8), (8, 8, 8), (9, 12, 12), (12, 12, 12), (5, 6, 6), (40, 8, 40)],
)
def test_padded_rows(rows, batch_size, expected):
    assert padded_rows(rows, batch_size) == expected


def test_in_batches_concatenates_structures_in_order_and_drops_padding():
    calls = []

    def function(a, b):
        calls.append(int(a.shape[0]))
        return {"sum": a + b, "first": a[:, :1]}

    a = np.arange(22, dtype=np.float32).reshape(11, 2)
    b = np.ones((11, 2), np.float32)
    result = in_batches(function, [a, b], 4, pad=True)
    np.testing.assert_array_equal(result["sum"], a + b)
    np.testing.assert_array_equal(result["first"], a[:, :1])
    assert calls == [4, 4, 4]  # the last batch of 3 rows padded to 4
    assert in_batches(function, [a[:0], b[:0]], 4, pad=True)["sum"].shape == (0, 2)


def test_automatic_batch_size_follows_the_layer_outputs(model):
    per_row = sum(int(np.prod(layer.output.shape[1:])) * 4 for layer in model.layers)
    assert output_bytes_per_row(model) == per_row
    assert query_batch_size(model) == batches.QUERY_BATCH_BYTES // per_row
    assert query_batch_size(model, 5) == 5


@pytest.mark.parametrize("batch_size", [0, -2, 1.5, "8", True])
def test_invalid_batch_size_is_refused(model, batch_size):
    with pytest.raises(ValueError, match="batch_size"):
        model.log_likelihood(evidence(3), batch_size=batch_size)
    with pytest.raises(ValueError, match="batch_size"):
        model.complete(evidence(3), batch_size=batch_size)
    with pytest.raises(ValueError, match="batch_size"):
        model.sample(3, batch_size=batch_size)


# Slow extras: completions in batches equal one batch, for posterior_marginal and mpe, in the core in
# test_signal_queries_take_a_quarter_of_the_rows (batches of 2 rows and a last one of 1 against a batch of 9) and
# for a dynamic SPN in test_dynamic_spns_answer_in_batches_of_sequences.
@pytest.mark.slow
@pytest.mark.parametrize("method", ["posterior_marginal", "mpe"])
def test_completion_in_batches_equals_one_batch(model, method):
    x = evidence(13, seed=3)
    whole = model.complete(x, method=method, seed=0)
    for batch_size in (1, 4, 13):
        np.testing.assert_array_equal(model.complete(x, method=method, seed=0, batch_size=batch_size), whole)
    assert np.all(whole[x >= 0] == x[x >= 0]) and np.isin(whole, (0, 1)).all()


def test_sampling_in_batches_is_seeded_and_valid(model):
    first = model.sample(10, seed=4, batch_size=3)
    assert first.shape == (10, NUM_VARS) and np.isin(first, (0, 1)).all()
    np.testing.assert_array_equal(model.sample(10, seed=4, batch_size=3), first)
    x = evidence(10, seed=5)
    completed = model.complete(x, method="sample", seed=6, batch_size=4)
    np.testing.assert_array_equal(completed[x >= 0], x[x >= 0])


def test_a_mask_shaped_like_the_leaf_input_is_refused_with_the_mask_to_pass(model):
    # libspn-keras 0.6.0 took a FlatToRegions model's mask as [batch, variables, decompositions, 1].
    x = evidence(8)
    mask = np.random.default_rng(3).random(x.shape) < 0.5
    with pytest.raises(ValueError, match=r"as libspn-keras 0\.6\.0 took it.*pass mask\[\.\.\., 0, 0\]"):
        model.complete(x, evidence_mask=np.broadcast_to(mask[:, :, None, None], x.shape + (2, 1)))
    np.testing.assert_array_equal(
        model.complete(x, evidence_mask=np.broadcast_to(mask[:, :, None, None], x.shape + (2, 1))[..., 0, 0]),
        model.complete(x, evidence_mask=mask),
    )


def test_batched_completion_checks_the_whole_evidence_mask(model):
    """Batches of x alone would never read the mask's extra rows."""
    x = evidence(8)
    with pytest.raises(ValueError, match="evidence_mask has shape"):
        model.complete(x, evidence_mask=np.ones((10, NUM_VARS), bool), batch_size=4)


# Slow extra: test_signal_queries_take_a_quarter_of_the_rows checks the automatic batch size from QUERY_BATCH_BYTES (8
# rows for log_likelihood, 2 for the completions) and that log_likelihood (against enumeration) and completion
# (posterior_marginal and mpe, against one batch) answer the same in those batches.
@pytest.mark.slow
def test_large_queries_hold_one_batch_at_a_time(model, monkeypatch):
    """With room for 2 rows of layer outputs the automatic batch size is 2, and the answers stay the same."""
    monkeypatch.setattr(batches, "QUERY_BATCH_BYTES", 2 * output_bytes_per_row(model))
    assert query_batch_size(model) == 2
    x = evidence(9)
    np.testing.assert_allclose(model.log_likelihood(x), marginals_by_enumeration(model, x), atol=1e-5)
    np.testing.assert_array_equal(model.complete(x, seed=0), model.complete(x, seed=0, batch_size=9))


def test_dynamic_spn_completes_all_sequences_at_once(monkeypatch):
    """Its query chain holds the sequence lengths of the whole call, so it is never split into batches."""
    from test_dynamic_spn_queries import MAX_STEPS, original_dspn

    model = original_dspn(seed=1)
    monkeypatch.setattr(batches, "QUERY_BATCH_BYTES", 1)  # one row per batch, were it split
    monkeypatch.setattr(batches, "DEFAULT_QUERY_BATCH_SIZE", 1)
    x = np.random.default_rng(0).integers(0, 2, size=(6, MAX_STEPS, 2)).astype(np.int32)
    x[:, -1, 0] = -1
    lens = np.array([3, 2, 3, 1, 3, 2])
    completed = model.complete([x, lens], seed=0)
    assert completed.shape == x.shape and np.isin(completed, (0, 1)).all()
    np.testing.assert_array_equal(completed[x >= 0], x[x >= 0])


def test_signal_queries_take_a_quarter_of_the_rows(model, monkeypatch):
    """Completion, MPE and sampling keep the intermediates of both passes: their automatic batches are smaller."""
    from libspn_keras.models.queries import completion

    monkeypatch.setattr(batches, "QUERY_BATCH_BYTES", 8 * output_bytes_per_row(model))
    assert query_batch_size(model) == 8
    assert query_batch_size(model, signal=True) == 8 // batches.SIGNAL_QUERY_MEMORY_FACTOR == 2
    seen = []
    original = completion._complete_batch

    def spying(model, x, *args):
        seen.append(int(x.shape[0]))
        return original(model, x, *args)

    monkeypatch.setattr(completion, "_complete_batch", spying)
    x = evidence(9)
    whole = {method: model.complete(x, method=method, seed=0, batch_size=9) for method in ("posterior_marginal", "mpe")}
    for method in ("posterior_marginal", "mpe"):
        seen.clear()
        np.testing.assert_array_equal(model.complete(x, method=method, seed=0), whole[method])
        assert seen == [2, 2, 2, 2, 1]
    seen.clear()
    model.sample(5, seed=0)
    assert seen == [2, 2, 1]
    calls = record_in_batches(monkeypatch)
    np.testing.assert_allclose(model.log_likelihood(x), marginals_by_enumeration(model, x), atol=1e-5)
    assert calls == [(8, True)]  # one pass up: the full batch size


def test_compiled_region_graphs_count_their_products_and_sums():
    """A compiled region graph holds every level's products and sums; the batch size counts them (by hand here)."""
    import libspn_keras as spn
    from libspn_keras import layers

    V = spn.RegionVariable
    # One region over two variables: 2 x 2 outer products, one root sum.
    outer = models.compile_region_graph(spn.RegionNode([V(0), V(1)]), layers.IndicatorLeaf(num_components=2), 3)
    # A region of 4 outer products and 2 sums, then a root of 2 elementwise products and one sum.
    mixed = models.compile_region_graph(
        spn.RegionNode([spn.RegionNode([V(0), V(1)]), V(2)], product="elementwise"),
        layers.IndicatorLeaf(num_components=2),
        num_sums=2,
    )
    for model, values in ((outer, 5), (mixed, 9)):
        compiled = model.layers[-1]
        assert type(compiled).__name__ == "CompiledRegionGraph" and compiled.values_per_row() == values
        others = sum(int(np.prod(layer.output.shape[1:])) * 4 for layer in model.layers[:-1])
        assert output_bytes_per_row(model) == others + 4 * values
    hclt = models.build_hclt(np.random.default_rng(0).integers(0, 2, (200, 12)), num_latents=4)
    assert output_bytes_per_row(hclt) > 0
    assert query_batch_size(hclt) == batches.QUERY_BATCH_BYTES // output_bytes_per_row(hclt)


def test_wrong_shapes_are_reported_for_the_whole_input(model):
    for x in (np.zeros((9, NUM_VARS + 1), np.int32), np.zeros((9,), np.int32)):
        with pytest.raises(ValueError, match=rf"got shape \({x.shape[0]},"):
            model.complete(x, batch_size=2)


def test_dynamic_spns_answer_in_batches_of_sequences():
    from test_dynamic_spn_queries import MAX_STEPS, original_dspn

    model = original_dspn(seed=1)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, size=(7, MAX_STEPS, 2)).astype(np.int32)
    x[rng.random(x.shape) < 0.3] = -1
    lens = np.array([3, 2, 3, 1, 3, 2, 3])
    np.testing.assert_allclose(
        model.log_likelihood([x, lens], batch_size=2), model.log_likelihood([x, lens]), rtol=1e-6
    )
    for method in ("posterior_marginal", "mpe"):
        np.testing.assert_array_equal(
            model.complete([x, lens], method=method, seed=0, batch_size=3),
            model.complete([x, lens], method=method, seed=0),
        )
    drawn = model.sample(5, seed=2, batch_size=2)
    assert drawn.shape == (5, MAX_STEPS, 2) and np.isin(drawn, (0, 1)).all()
    np.testing.assert_array_equal(model.sample(5, seed=2, batch_size=2), drawn)
    with pytest.raises(ValueError, match="evidence_mask has shape"):
        model.complete([x, lens], evidence_mask=np.ones((9, MAX_STEPS, 2), bool), batch_size=3)
    with pytest.raises(ValueError, match="batch_size"):
        model.log_likelihood([x, lens], batch_size=0)


def test_data_without_rows_gives_outputs_without_rows(model):
    # Keras's own predict loop raised UnboundLocalError for arrays of 0 rows.
    empty = evidence(4)[:0]
    assert model.predict(empty, verbose=0).shape == (0, *model.compute_output_shape((None, NUM_VARS))[1:])
    assert model.log_likelihood(empty).shape == (0,)
    assert model.complete(empty).shape == (0, NUM_VARS)
    x = evidence(5)
    np.testing.assert_allclose(model.predict(x, verbose=0)[:, 0], marginals_by_enumeration(model, x), atol=1e-5)


def test_predict_padding_takes_a_call_to_its_batch_size_and_other_batches_to_at_most_twice_their_rows():
    calls = []

    def predict_function(data):
        (x,) = data[0]
        calls.append(tuple(x.shape))
        return {"row": x * 2.0, "total": tf.reduce_sum(x)}

    function = PaddedToCompiledRows(predict_function)
    x = tf.reshape(tf.range(1, 101, dtype=tf.float32), (100, 1))

    def call(*batches):
        function.new_call()
        for rows in batches:
            outputs = function([(x[:rows],)])
            np.testing.assert_array_equal(outputs["row"], np.arange(1, rows + 1).reshape(rows, 1) * 2.0)
        return outputs

    # A call's last batch runs at the call's batch size: 6 -> 32.
    call(32, 32, 6)
    # Other batches go to a size run before only within twice their rows: 20 -> 32, 15 -> 15 (kept), 9 -> 15, 3 -> 3.
    call(20)
    call(15)
    call(9)
    call(3)
    # After a call of 100, a call of 40 is not padded to it; its own last batch still is: 40, 40, then 20 -> 40.
    call(100)
    outputs = call(40, 40, 20)
    assert [rows for rows, _ in calls] == [32, 32, 32, 32, 15, 15, 3, 100, 40, 40, 40]
    # The padded rows repeat the first row (1): the sum over the whole padded batch of 20 -> 40 rows shows them.
    assert float(outputs["total"]) == sum(range(1, 21)) + 20 * 1
    # Arrays are padded as tensors are; another row shape or dtype, several batches and no rows pass unchanged.
    function.new_call()
    function([(x.numpy()[:30],)])
    assert calls[-1] == (32, 1)
    function.new_call()
    function([(tf.zeros((7, 5)),)])
    function([(tf.zeros((7, 1), tf.float64),)])
    function([(x[:2],), (x[:2],)])
    assert function([(x[:0],)])["row"].shape == (0, 1)
    assert calls[-4:] == [(7, 5), (7, 1), (2, 1), (0, 1)]


# Graph mode (False) is a slow extra: its queries are not padded in the core in test_graph_mode_queries_are_not_padded,
# and its predict matches the default compile's in test_default_compiled_fit_and_predict_match_graph_mode.
@pytest.mark.parametrize("jit_compile", ["auto", pytest.param(False, marks=pytest.mark.slow)])
def test_predict_runs_its_last_short_batch_at_the_compiled_size(jit_compile):
    """The default compile (XLA) traces and compiles ``predict`` for one batch shape only, whatever the last batch holds
    and for a later call of up to twice fewer rows; the outputs are each row's marginal by enumeration. Graph mode pads
    nothing."""
    model = rat_spn(jit_compile, seed=3)
    shapes = []
    step = model.predict_step

    def recording_step(data):
        shapes.append(tuple(keras.utils.unpack_x_y_sample_weight(data)[0].shape))
        return step(data)

    model.predict_step = recording_step
    ends = []
    recorder = keras.callbacks.LambdaCallback(
        on_predict_batch_end=lambda batch, logs: ends.append(len(logs["outputs"]))
    )
    x = evidence(70, seed=4)
    expected = marginals_by_enumeration(model, x)
    outputs = model.predict(x, batch_size=32, verbose=0, callbacks=[recorder])
    np.testing.assert_allclose(outputs.reshape(-1), expected, atol=1e-5)
    # A later call of 20 rows runs at 32 too (at most twice its rows; a call of 3 would compile its own size).
    np.testing.assert_allclose(model.predict(x[:20], verbose=0).reshape(-1), expected[:20], atol=1e-5)
    assert ends == [32, 32, 6]
    if model.jit_compile is True:
        assert shapes == [(32, NUM_VARS)]
    else:
        assert len(shapes) == 2 and shapes[0] == (32, NUM_VARS)  # the second trace takes any rows
    # A batch of another row shape is not padded: refused, its message counts its own rows.
    with pytest.raises(ValueError, match=r"built for input of shape \(None, 4\) but got shape \(7, 5\)"):
        model.predict_on_batch(np.ones((7, 5), np.int32))
