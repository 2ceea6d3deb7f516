"""Smoke test: examples/learn_structure.py runs end to end on synthetic data and ends with ``test_ll=``."""

import importlib.util
import re

import pytest
from reference import example_module, run_script


def test_learn_structure_quick(tmp_path, example, capsys, monkeypatch):
    # Graph mode: the script's default (XLA) is tested on HCLTs elsewhere, and its compiles cost CI time.
    # The script's main in this process, which has imported TensorFlow already: a subprocess spent 6-10 s of the
    # test's 15 s importing it again.
    monkeypatch.setenv("MPLBACKEND", "Agg")  # as run_script sets it, should matplotlib be imported first here
    example.main(["--quick", "--jit", "off", "--output-dir", str(tmp_path)])
    out = capsys.readouterr().out
    last = out.strip().splitlines()[-1]
    match = re.fullmatch(r"test_ll=(-?\d+\.\d+)", last)
    assert match, out
    independent = float(re.search(r"independent Bernoullis: test LL (-?\d+\.\d+)", out).group(1))
    # Better than the independent model on data whose variables depend on a hidden cluster.
    assert float(match.group(1)) > independent + 0.3, out
    # Two trees are tried after K (the mixture stage), whatever validation then keeps.
    assert "K=4, prior 0.003, 2 trees: structure learned" in out, out
    assert re.search(r"chosen on validation: K=4, prior 0.003, [12] trees? \(", out), out
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "synthetic_tree.png").stat().st_size > 1000
    else:
        assert "structure not drawn" in out, out


@pytest.fixture
def example(monkeypatch):
    """The example script as a module (it imports ``spn_tutorials`` from ``examples/``)."""
    return example_module("examples/learn_structure.py", monkeypatch)


@pytest.mark.parametrize(
    "num_rows, values_per_row, most_rows",
    [
        (12758, 111 * 64, 4096),  # accidents, K=64: the row limit binds
        (2461, 1556 * 64 * 2, 4096),  # ad's shape, K=64, two trees: the activation limit binds
        (291326, 17 * 64, 4096),  # msnbc's shape: many batches
        (7, 5, 4096),  # fewer rows than one batch
        (10, 2**27, 4096),  # a single row over the limit still makes batches of one row
        (4096, 1, 4096),  # exactly one full batch
    ],
)
def test_full_data_batches_are_equal_and_within_the_limits(example, num_rows, values_per_row, most_rows):
    rows, num_batches = example.full_data_batches(num_rows, values_per_row, most_rows)
    # Keras cuts the epoch into batches of `rows`; the last holds the rest.
    sizes = [rows] * (num_rows // rows) + ([num_rows % rows] if num_rows % rows else [])
    assert len(sizes) == num_batches and sum(sizes) == num_rows
    assert max(sizes) - min(sizes) <= num_batches  # equal up to rounding: the averaged estimates weigh rows alike
    assert rows <= most_rows
    assert rows == 1 or rows * values_per_row <= example.FULL_BATCH_VALUES
    # No more batches than the limits require.
    limit = max(1, min(most_rows, example.FULL_BATCH_VALUES // values_per_row))
    assert num_batches == -(-num_rows // limit)


@pytest.mark.slow
def test_bench_structures_quick():
    out = run_script("benchmarks/bench_structures.py", "--quick")
    for part in ("structure ", "hclt ", "chain ", "learnspn ", "prune "):
        assert any(line.startswith(part) for line in out.splitlines()), out
    assert re.search(r"x the ideal$", out, re.MULTILINE), out
