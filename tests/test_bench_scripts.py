"""The GPU benchmark command works end to end at tiny sizes on CPU (``bash scripts/bench.sh --gpu --dry-run``)."""

import os
import subprocess
from pathlib import Path

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
