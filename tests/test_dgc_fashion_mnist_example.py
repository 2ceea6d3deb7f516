"""Smoke tests of ``examples/dgc_spn_fashion_mnist.py`` on small fake IDX files (the real ones are not needed).

The fake images make an easy task: class ``k`` is a bright 8x8 square at one of ten fixed places on a dark,
noisy background, so that a class-conditional density model separates the classes after a few EM steps.
"""

import re

import numpy as np
import pytest
from reference import run_script
from test_examples_tutorials import write_idx

SCRIPT = "examples/dgc_spn_fashion_mnist.py"
# Top-left corners of the squares of the ten classes.
CORNERS = [(row, col) for row in (2, 10, 18) for col in (2, 10, 18)] + [(6, 6)]


def write_fake_fashion_mnist(folder, seed=0):
    rng = np.random.default_rng(seed)
    for stem, count in (("train", 700), ("t10k", 400)):
        labels = rng.integers(0, 10, size=count)
        images = rng.integers(0, 40, size=(count, 28, 28))
        for image, label in zip(images, labels):
            row, col = CORNERS[label]
            image[row : row + 8, col : col + 8] = rng.integers(180, 256)
        write_idx(folder / f"{stem}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{stem}-labels-idx1-ubyte.gz", labels)
    return folder


def accuracies(out):
    values = {}
    for split in ("train", "test"):
        match = re.search(rf"^{split} accuracy: (\d\.\d{{4}})$", out, re.MULTILINE)
        assert match, out
        values[split] = float(match.group(1))
    return values


@pytest.fixture(scope="module")
def idx_dir(tmp_path_factory):
    return write_fake_fashion_mnist(tmp_path_factory.mktemp("idx"))


@pytest.mark.slow  # ~25 s on 2 quiet cores, mostly XLA compilation; the generative test below stays in CI
def test_discriminative_quick_runs_the_recipe(idx_dir):
    out = run_script(SCRIPT, "--quick", "--idx-dir", idx_dir)
    assert "data: 640 training and 320 test images of shape (28, 28, 1)" in out
    # The README's DGC-SPN: 16 Cauchy components per pixel (locations and fixed scales), five Local2DSum layers of
    # 16/32/32/64/64 sums per cell on 14x14, 7x7, 8x8, 10x10 and 14x14 cells, 10 class sums over 8*8*64 children
    # the root's 10 weights, and the six products' fixed 2x2 kernels:
    # 25,088 + 50,176 + 25,088 + 65,536 + 204,800 + 802,816 + 40,960 + 10 + 6 * 4.
    assert "model: 1,214,498 parameters, jit_compile=True" in out
    epochs = re.findall(r"^\d+/\d+ - .* - accuracy: \d\.\d+ - loss: (\d+\.\d+)$", out, re.MULTILINE)
    assert len(epochs) == 2, out
    assert re.search(r"^training time: \d+ s wall, \d+ s CPU for 2 epoch\(s\)$", out, re.MULTILINE), out
    assert all(0.0 <= value <= 1.0 for value in accuracies(out).values())


def test_generative_quick_learns_the_classes(idx_dir):
    # 20 EM steps: with the recipe's learning rate 0.05 the test accuracy was 0.34 after them; with 0.3 it is 1.0
    # (train and test; the classes differ in where a bright square is). Chance is 0.1.
    out = run_script(SCRIPT, "--quick", "--generative", "--learning-rate", 0.3, "--idx-dir", idx_dir)
    assert "data: 640 training and 320 test images of shape (28, 28, 1)" in out
    # The EM leaves keep (count, mean, second moment) per pixel and component: 12,544 more numbers than the
    # discriminative leaves' locations and scales.
    assert "model: 1,227,042 parameters, jit_compile=True" in out
    values = accuracies(out)
    assert values["train"] > 0.5 and values["test"] > 0.5, out
