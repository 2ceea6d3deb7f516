"""Smoke tests of the tutorial examples: each runs end to end in its ``--quick`` mode and prints what it promises."""

import gzip
import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest
from reference import run_script

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
NUMBER = r"-?\d+\.\d+"

# The examples that draw PNGs need matplotlib, an optional extra (``pip install -e .[examples]``).
needs_matplotlib = pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None, reason="matplotlib (the examples extra) is not installed"
)


def run_example(name, *args, timeout=300):
    """Runs ``examples/NAME`` with ``args`` from the repository root; returns its stdout after checking exit 0."""
    return run_script(f"examples/{name}", *args, timeout=timeout)


def line_value(pattern, out):
    """The float captured by ``pattern`` (one group) in a line of ``out``."""
    match = re.search(pattern, out, re.MULTILINE)
    assert match, f"no line matching {pattern!r} in:\n{out}"
    return float(match.group(1))


def assert_png(path):
    assert path.is_file(), f"{path} was not written"
    assert path.read_bytes()[:8] == PNG_MAGIC, f"{path} is not a PNG"
    assert path.stat().st_size > 1000


def assert_completion_output(out, tmp_path):
    for mask in ("left", "bottom"):
        for method in ("posterior_marginal", "mpe"):
            pattern = (
                rf"^{mask} half missing, {method}: MSE ({NUMBER}), per-pixel-mean baseline MSE {NUMBER} "
                rf"\(ratio {NUMBER}\)"
            )
            assert 0.0 < line_value(pattern, out) < 1e5
        assert re.search(rf"^saved .*completion_{mask}\.png$", out, re.MULTILINE), out
        assert_png(tmp_path / f"completion_{mask}.png")


@pytest.mark.slow  # the docs build executes the same tutorial code as a notebook
@needs_matplotlib
def test_image_completion_quick(tmp_path):
    out = run_example("image_completion.py", "--quick", "--output-dir", tmp_path)
    assert "digits: 320 training and 60 test images of shape (8, 8, 1)" in out
    assert re.search(r"^\d+/\d+ - .* - loss: \d+\.\d+", out, re.MULTILINE), out  # a Keras verbose=2 epoch line
    assert line_value(rf"^mean test log-likelihood: ({NUMBER}) nats per image", out) < 0
    assert_completion_output(out, tmp_path)


def write_idx(path, array):
    """Writes a gzip-compressed IDX file of unsigned bytes (the format of the Fashion-MNIST files)."""
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(size).to_bytes(4, "big") for size in array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.tobytes())


@pytest.mark.slow
@needs_matplotlib
def test_image_completion_fashion_mnist_idx_quick(tmp_path):
    """The Fashion-MNIST branch on small fake IDX files (bright squares on black), with the 28x28 DGC-SPN."""
    rng = np.random.default_rng(0)
    idx_dir = tmp_path / "idx"
    idx_dir.mkdir()
    for stem, count in (("train", 400), ("t10k", 100)):
        images = np.zeros((count, 28, 28), np.uint8)
        for image in images:
            row, col = rng.integers(2, 12, size=2)
            image[row : row + 14, col : col + 14] = rng.integers(100, 256)
        write_idx(idx_dir / f"{stem}-images-idx3-ubyte.gz", images)
        write_idx(idx_dir / f"{stem}-labels-idx1-ubyte.gz", rng.integers(0, 10, size=count))
    out_dir = tmp_path / "out"
    out = run_example(
        "image_completion.py", "--quick", "--fashion-mnist", "--idx-dir", idx_dir, "--output-dir", out_dir
    )
    assert "fashion-mnist: 300 training and 60 test images of shape (28, 28, 1)" in out
    assert_completion_output(out, out_dir)


@pytest.mark.slow  # the docs build executes the same tutorial code as a notebook
@needs_matplotlib
def test_sampling_quick(tmp_path):
    out = run_example("sampling.py", "--quick", "--output-dir", tmp_path)
    assert "digits: 320 training and 60 test images of shape (8, 8, 1)" in out
    assert re.search(r"^drew 64 samples of shape \(8, 8, 1\) in \d+\.\d+ s$", out, re.MULTILINE), out
    assert 0.0 <= line_value(rf"mean absolute difference ({NUMBER}) \(of 0\.\.16\)", out) < 16.0
    assert_png(tmp_path / "samples.png")
    assert_png(tmp_path / "conditional_samples.png")


# Chance on the quick digits subsets (10 balanced classes, 320 training and 160 test samples) is 0.10; the most
# frequent class makes up at most 0.14 of either subset (seeds 1, 2, 3, 1234). 0.30 is far above both: a uniform
# random guess reaches it on 160 samples with probability 2e-12. One quick epoch of the RAT-SPN reached 0.24-0.46
# test accuracy over those seeds, too close to call; 4 epochs (a few seconds more) reached 0.54-0.68 test and
# 0.57-0.73 train accuracy.
BETTER_THAN_CHANCE = 0.30


@pytest.mark.slow  # the docs build executes the same tutorial code as a notebook
def test_rat_spn_classification_quick():
    out = run_example("rat_spn_classification.py", "--quick", "--epochs", 4)
    assert "digits: 320 training and 160 test samples of 64 pixels" in out
    assert re.search(r"^\d+/\d+ - .*accuracy: \d\.\d+ - loss: \d+\.\d+ - val_accuracy: ", out, re.MULTILINE), out
    assert BETTER_THAN_CHANCE < line_value(r"^train accuracy: (\d\.\d{4})$", out) <= 1.0
    assert BETTER_THAN_CHANCE < line_value(r"^test accuracy: (\d\.\d{4})$", out) <= 1.0
    assert line_value(rf"^mean test log p\(x\): ({NUMBER}) nats", out) < 0


@pytest.mark.slow  # the docs build executes the same tutorial code as a notebook
@needs_matplotlib
def test_region_spns_quick(tmp_path):
    out = run_example("region_spns.py", "--quick", "--output-dir", tmp_path)
    assert "region graph: 2 decompositions over 6 variables" in out
    assert "product factors per level (bottom first): [3, 3]" in out
    assert "decomposition 1: [0, 3, -1, 1, 4, -1, 2, 5, -1]" in out
    assert "(PermuteAndPadScopes)" in out  # model.summary()
    sums = re.findall(r"log of the sum of p\(x\) over all 64 assignments = ([-+]\d\.\d+e[-+]\d+)$", out, re.MULTILINE)
    marginals = re.findall(
        r"max \|log p\(x0\.\.x4\) - log sum_x5 p\(x0\.\.x5\)\| = (\d\.\d+e[-+]\d+)$", out, re.MULTILINE
    )
    assert len(sums) == 2 and len(marginals) == 2, out
    assert all(abs(float(value)) < 1e-4 for value in sums + marginals)
    for split in ("train", "test"):
        match = re.search(
            rf"^{split} log-likelihood: before ({NUMBER}), after ({NUMBER}), true ({NUMBER})$", out, re.MULTILINE
        )
        assert match, out
        before, after, true = map(float, match.groups())
        assert after > before  # one batch EM step from random weights
        assert true > before
    assert_png(tmp_path / "region_graph.png")
    assert_png(tmp_path / "region_spn_layers.png")


@pytest.mark.slow  # the docs build executes the same tutorial code as a notebook
def test_debd_density_estimation_quick():
    out = run_example("debd_density_estimation.py", "--quick")
    assert "synthetic: 16 variables, 1000 train, 200 valid, 200 test samples" in out
    assert re.search(r"^RAT-SPN: depth 2, 10 repetitions, [\d,]+ parameters", out, re.MULTILINE), out
    for split in ("train", "valid", "test"):
        match = re.search(
            rf"^{split} LL: ({NUMBER})  \(independent Bernoullis ({NUMBER}), true distribution ({NUMBER})\)$",
            out,
            re.MULTILINE,
        )
        assert match, out
        spn, independent, true = map(float, match.groups())
        assert spn < 0 and independent < 0 and true < 0


@pytest.mark.slow  # the docs build executes the same tutorial code as a notebook
def test_dynamic_spn_quick():
    out = run_example("dynamic_spn.py", "--quick")
    assert "HMM sequences: 300 train, 100 held out, lengths 3..10 (padded to 10 with -1)" in out
    assert "training the dynamic SPN by gradient:" in out and "training the dynamic SPN by em:" in out
    values = {}
    for label in ("untrained", "independent steps", "dynamic SPN, gradient", "dynamic SPN, EM", "true HMM"):
        values[label] = line_value(rf"^  {re.escape(label)}\s+({NUMBER})$", out)
        assert values[label] < 0
    # The generating HMM scores its own samples better than a model without dependence between steps.
    assert values["true HMM"] > values["independent steps"]
    for method in ("gradient", "em"):
        assert re.search(rf"^gap to the true HMM \({method}\): {NUMBER} nats per sequence$", out, re.MULTILINE), out
