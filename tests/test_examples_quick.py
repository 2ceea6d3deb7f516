"""Smoke tests: the demo and the sum-layer benchmark run end to end in their ``--quick`` modes."""

import re

import pytest
from reference import example_module, run_script

# Chance on the quick digits subsets (10 balanced classes, 320 training and 160 test images) is 0.10; the most
# frequent class makes up at most 0.14 of either subset (seeds 1, 2, 3, 1234). 0.30 is far above both: a uniform
# random guess reaches it on 160 images with probability 2e-12. One quick epoch leaves the DGC-SPN at chance
# (loss 2.30 -> 2.30), so the test trains 10 quick epochs (a few seconds), after which seeds 1, 2, 3, 1234 gave
# test accuracy 0.44-0.64 and train accuracy 0.54-0.68.
BETTER_THAN_CHANCE = 0.30


def test_dgc_spn_digits_quick(monkeypatch, capsys):
    # The script's main in this process, which has imported TensorFlow already: a subprocess spent 6-10 s of the
    # test's 14-20 s importing it again.
    example_module("examples/dgc_spn_digits.py", monkeypatch).main(["--quick", "--epochs", "10"])
    out = capsys.readouterr().out
    assert "digits: 320 training and 160 test images of shape (8, 8, 1)" in out
    # One Keras progress line per epoch (verbose=2), e.g. "10/10 - 4s - 425ms/step - accuracy: 0.10 - loss: 2.30 ...".
    assert re.search(r"^\d+/\d+ - .*accuracy: \d\.\d+ - loss: \d+\.\d+ - val_accuracy: ", out, re.MULTILINE), out
    train = re.search(r"^train accuracy: (\d\.\d{4})$", out, re.MULTILINE)
    test = re.search(r"^test accuracy: (\d\.\d{4})$", out, re.MULTILINE)
    assert train and test, out
    assert BETTER_THAN_CHANCE < float(train.group(1)) <= 1.0
    assert BETTER_THAN_CHANCE < float(test.group(1)) <= 1.0


@pytest.mark.slow  # ~20 s; the sum layers' speed is a benchmark, their math is tested elsewhere
def test_bench_sum_layers_quick():
    out = run_script("benchmarks/bench_sum_layers.py", "--quick")
    assert "layer/plain" in out and "log_mm/plain" in out
    ratio = r"\s+\d+\.\d{3}\s+\d+\.\d{3}\s+\d+\.\d{3}\s+\d+\.\d{2}x\s+\d+\.\d{2}x$"
    for layer in ("DenseSum", "Local2DSum", "Conv2DSum"):
        for compile_mode in ("graph", "xla"):
            for pass_name in ("fwd", "fwd\\+bwd"):
                pattern = rf"^{layer}\s+\[[\d,]+\] -> \d+\s+{compile_mode}\s+{pass_name}{ratio}"
                assert re.search(pattern, out, re.MULTILINE), f"no row {layer} {compile_mode} {pass_name}:\n{out}"
    assert re.search(r"^graph\s+\d+\.\d\s+\d+\.\d\s+\d+\.\d$", out, re.MULTILINE), out
    assert "samples/s" in out
