"""The GPU benchmark command works end to end at tiny sizes on CPU (``bash scripts/bench.sh --gpu --dry-run``)."""

import importlib
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # ~30 s of XLA compilation at tiny sizes; run with -m slow
def test_bench_sh_gpu_dry_run_writes_the_table(tmp_path):
    env = dict(os.environ, BENCH_OUT=str(tmp_path), TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        ["bash", "scripts/bench.sh", "--gpu", "--dry-run"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    table = (tmp_path / "bench_gpu_dry_run.md").read_text()
    assert "| benchmark | params | time / throughput | test LL | step ms | plain chain ms | step/chain |" in table
    for row in ("| RAT-SPN (a) |", "| RAT-SPN (b) |", "| DGC-SPN training (batch", "| DGC-SPN sampling"):
        assert row in table, table
    assert table in result.stdout


def test_bench_sh_refuses_unknown_arguments():
    result = subprocess.run(["bash", "scripts/bench.sh", "--gpx"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "unknown argument --gpx" in result.stderr
    result = subprocess.run(
        ["bash", "scripts/bench.sh", "--dry-run"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and "--dry-run goes with --gpu" in result.stderr


def test_step_chain_ratio_uses_the_measured_times(monkeypatch):
    """step/chain is the ratio of the measured times, not of the ms figures rounded to 0.1."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    bench_gpu = importlib.import_module("bench_gpu")
    # A step of 3.14 ms against a chain of 0.549 ms (GPU chains take 0.3-0.6 ms): 5.72, not 3.1 / 0.5 = 6.20.
    monkeypatch.setattr(bench_gpu, "chain_ratio", lambda *args, **kwargs: (3.14e-3, 0.549e-3))
    args = bench_gpu.parse_args(["--dry-run"])
    rng = np.random.default_rng(0)
    train, test = rng.integers(0, 2, (40, 8), dtype=np.int32), rng.integers(0, 2, (10, 8), dtype=np.int32)
    structure = dict(depth=1, num_decomps=1, num_input_distributions=2, num_sums=2)
    text = bench_gpu.table([bench_gpu.rat_row("t", structure, train, test, args)], "")
    assert text.splitlines()[-1].endswith("| 3.1 | 0.5 | 5.72 |"), text
    # A chain under 0.05 ms prints as 0.0 ms: the ratio stays finite (was a ZeroDivisionError).
    monkeypatch.setattr(bench_gpu, "chain_ratio", lambda *args, **kwargs: (1.0e-3, 0.04e-3))
    text = bench_gpu.table([bench_gpu.rat_row("t", structure, train, test, args)], "")
    assert text.splitlines()[-1].endswith("| 1.0 | 0.0 | 25.00 |"), text


@pytest.mark.slow  # three processes that each build and train the seed's DGC-SPN for a few steps
def test_bench_seed_vs_original_quick_runs_without_the_original():
    result = subprocess.run(
        [
            "python3",
            "benchmarks/bench_seed_vs_original.py",
            "--quick",
            "--with-spn",
            "--original-python",
            "/nonexistent",
        ],
        cwd=ROOT,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "original: skipped" in result.stdout
    assert "| ours | keras.Sequential | jit_compile=False | 1,214,498 |" in result.stdout
    assert "| ours | SequentialSumProductNetwork | jit_compile=True | 1,214,498 |" in result.stdout


def test_seed_report_gives_the_ratios_of_the_medians(monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    bench = importlib.import_module("bench_seed_vs_original")

    def run(step_ms, predict, jit):
        return dict(
            fit_step_ms=step_ms,
            training_samples_per_second=64e3 / step_ms,
            predict_samples_per_second=predict,
            jit_compile=jit,
            params=7,
        )

    bench.report(
        {
            ("ours", "plain"): [run(20.0, 600.0, "False"), run(30.0, 500.0, "False"), run(22.0, 700.0, "False")],
            ("original", "plain"): [run(44.0, 400.0, "None"), run(50.0, 300.0, "None"), run(40.0, 350.0, "None")],
        }
    )
    out = capsys.readouterr().out
    assert "| ours | keras.Sequential | jit_compile=False | 7 | 22.0 |" in out
    # Medians: 44 / 22 ms = 2.00x; 600 / 350 samples/s = 1.71x.
    assert "0.6.0 fit step / ours = 2.00x, predict samples/s ours / 0.6.0 = 1.71x" in out
