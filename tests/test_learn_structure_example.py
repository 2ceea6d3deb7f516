"""Smoke test: examples/learn_structure.py runs end to end on synthetic data and ends with ``test_ll=``."""

import importlib.util
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
    # Two trees are tried after K (the mixture stage), whatever validation then keeps.
    assert "K=4, prior 0.003, 2 trees: structure learned" in out, out
    assert re.search(r"chosen on validation: K=4, prior 0.003, [12] trees? \(", out), out
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "synthetic_tree.png").stat().st_size > 1000
    else:
        assert "structure not drawn" in out, out


@pytest.mark.slow
def test_bench_structures_quick():
    out = run_script("benchmarks/bench_structures.py", "--quick")
    for part in ("structure ", "hclt ", "chain ", "learnspn ", "prune "):
        assert any(line.startswith(part) for line in out.splitlines()), out
    assert re.search(r"x the ideal$", out, re.MULTILINE), out
