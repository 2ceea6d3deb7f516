"""Smoke test: examples/learn_structure.py runs end to end on synthetic data and ends with ``test_ll=``."""

import re

import pytest
from reference import run_script


def test_learn_structure_quick(tmp_path):
    # Graph mode: the script's default (XLA) is tested on HCLTs elsewhere, and its compiles cost CI time.
    out = run_script("examples/learn_structure.py", "--quick", "--jit", "off", "--output-dir", str(tmp_path))
    last = out.strip().splitlines()[-1]
    match = re.fullmatch(r"test_ll=(-?\d+\.\d+)", last)
    assert match, out
    independent = float(re.search(r"independent Bernoullis: test LL (-?\d+\.\d+)", out).group(1))
    # Better than the independent model on data whose variables depend on a hidden cluster.
    assert float(match.group(1)) > independent + 0.3, out
    assert (tmp_path / "synthetic_tree.png").stat().st_size > 1000


@pytest.mark.slow
def test_bench_structures_quick():
    out = run_script("benchmarks/bench_structures.py", "--quick")
    for part in ("structure ", "hclt ", "chain ", "learnspn ", "prune "):
        assert any(line.startswith(part) for line in out.splitlines()), out
    assert re.search(r"x the ideal$", out, re.MULTILINE), out
