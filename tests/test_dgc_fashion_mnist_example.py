"""Smoke tests of ``examples/dgc_spn_fashion_mnist.py`` on small fake IDX files (the real ones are not needed).

The fake images make an easy task: class ``k`` is a bright 8x8 square at one of ten fixed places on a dark,
noisy background, so that a class-conditional density model separates the classes after a few EM steps.
"""

import re

import numpy as np
import pytest
import tensorflow as tf
from reference import example_module, run_script
from tensorflow import keras
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


@pytest.mark.slow  # ~45 s on 2 quiet cores, mostly XLA compilation; the generative test below stays in CI
def test_discriminative_quick_runs_the_recipe(idx_dir):
    out = run_script(SCRIPT, "--quick", "--idx-dir", idx_dir)
    assert "data: 640 training and 320 test images of shape (28, 28, 1)" in out
    # The README's DGC-SPN: 16 Cauchy components per pixel (locations and fixed scales), five Local2DSum layers of
    # 16/32/32/64/64 sums per cell on 14x14, 7x7, 8x8, 10x10 and 14x14 cells, 10 class sums over 8*8*64 children
    # the root's 10 weights, and the six products' fixed 2x2 kernels:
    # 25,088 + 50,176 + 25,088 + 65,536 + 204,800 + 802,816 + 40,960 + 10 + 6 * 4.
    assert "model: 1,214,498 parameters, jit_compile=True" in out
    epochs = re.findall(r"^\d+/\d+ - .* - accuracy: \d\.\d+ - loss: (\d+\.\d+)$", out, re.MULTILINE)
    assert len(epochs) == 4, out  # two networks (seeds 1 and 2), 2 epochs each
    assert out.count("model: 1,214,498 parameters") == 2, out
    assert "the 2 networks together (their class log-posteriors added):" in out
    assert re.search(r"^test accuracy with mirror images: \d\.\d{4}$", out, re.MULTILINE), out
    assert re.search(r"^training time: \d+ s wall, \d+ s CPU for 2 epoch\(s\)$", out, re.MULTILINE), out
    assert all(0.0 <= value <= 1.0 for value in accuracies(out).values())


def test_generative_quick_learns_the_classes(idx_dir, example, capsys):
    # One network per class, 2 x 9 EM steps of 6 images per class (step 0.3 decaying): train and test accuracy
    # 1.0 (the classes differ in where a bright square is). Chance is 0.1.
    # The script's main in this process, which has imported TensorFlow already: a subprocess spent 8-10 s of the
    # test's 25-35 s importing it again (the slow discriminative test above runs the script as a command).
    example.main(["--quick", "--generative", "--learning-rate", "0.3", "--idx-dir", str(idx_dir)])
    out = capsys.readouterr().out
    assert "data: 640 training and 320 test images of shape (28, 28, 1)" in out
    assert "train accuracy below on the first 640 training images" in out
    # Per class network, wider at the bottom than the discriminative one: EM leaves with 32 components per pixel,
    # 3 numbers each besides location and scale (784 * 32 * 3 = 75,264), Local2DSum layers of 64, 64, 32, 64 and 64
    # sums per cell on 14x14, 7x7, 8x8, 10x10 and 14x14 cells (196*32*64 + 49*64*64 + 64*64*32 + 100*32*64 +
    # 196*64*64 = 1,740,800), one root over 8*8*64 children (4,096) and the six products' kernels (24): 1,820,184,
    # ten times.
    assert "model: ten networks, 18,201,840 parameters, jit_compile=False" in out
    values = accuracies(out)
    assert values["train"] > 0.5 and values["test"] > 0.5, out


@pytest.mark.slow  # ~30 s on 2 quiet cores
def test_generative_shared_class_roots_quick_learns_the_classes(idx_dir):
    # --per-class 0: the discriminative architecture's class roots, trained by EM with NegativeLogJoint. With the
    # constant learning rate 0.05 the test accuracy was 0.34 after 20 steps; with 0.3 it is 1.0.
    out = run_script(SCRIPT, "--quick", "--generative", "--per-class", 0, "--learning-rate", 0.3, "--idx-dir", idx_dir)
    # The EM leaves keep (count, mean, second moment) per pixel and component: 12,544 more numbers than the
    # discriminative leaves' locations and scales.
    assert "model: 1,227,042 parameters, jit_compile=True" in out
    values = accuracies(out)
    assert values["train"] > 0.5 and values["test"] > 0.5, out


@pytest.fixture(scope="module")
def example():
    """The example script as a module (its helpers and argument parser)."""
    return example_module(SCRIPT)


def shifted_reference(image, down, right):
    """``image`` ``[h, w, c]`` moved ``down`` rows and ``right`` columns, the pixels moved in set to its minimum."""
    out = np.full_like(image, image.min())
    height, width = image.shape[:2]
    for row in range(height):
        for col in range(width):
            if 0 <= row - down < height and 0 <= col - right < width:
                out[row, col] = image[row - down, col - right]
    return out


def test_shift_images_against_numpy(example):
    rng = np.random.default_rng(0)
    images = rng.normal(size=(6, 5, 7, 2)).astype("float32")
    rows, cols = rng.integers(0, 5, size=6), rng.integers(0, 5, size=6)
    out = example.shift_images(tf.constant(images), tf.constant(rows, tf.int32), tf.constant(cols, tf.int32), 2)
    # Offset 0 in [0, 4] moves the content 2 pixels down / right, offset 4 two pixels up / left.
    expected = [shifted_reference(image, 2 - row, 2 - col) for image, row, col in zip(images, rows, cols)]
    np.testing.assert_array_equal(out.numpy(), np.stack(expected))


def test_random_shift_draws_every_offset_up_to_max_shift(example):
    # Distinct pixel values above a background of 0, so that each output shows which shift made it.
    image = np.zeros((9, 9, 1), "float32")
    image[2:7, 2:7, 0] = np.arange(1, 26).reshape(5, 5)
    out = example.random_shift(tf.constant(np.repeat(image[None], 300, axis=0)), 1, seed=3).numpy()
    candidates = {(down, right): shifted_reference(image, down, right) for down in (-1, 0, 1) for right in (-1, 0, 1)}
    found = [[key for key, candidate in candidates.items() if np.array_equal(shifted, candidate)] for shifted in out]
    assert all(len(keys) == 1 for keys in found)
    assert {keys[0] for keys in found} == set(candidates)  # all nine shifts, none larger


def test_smoothed_cross_entropy_against_numpy(example):
    rng = np.random.default_rng(1)
    # Log joints of an SPN's class roots: large and negative, tens of nats apart.
    logits = (-500.0 + 30.0 * rng.normal(size=(8, 10))).astype("float32")
    labels = rng.integers(0, 10, size=8)
    loss = example.smoothed_cross_entropy(0.1)(tf.constant(labels, tf.int32), tf.constant(logits)).numpy()
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    targets = 0.9 * np.eye(10)[labels] + 0.01
    np.testing.assert_allclose(loss, -(targets * log_probs).sum(axis=1), rtol=1e-5)


def test_ema_flag_ends_fit_with_the_averaged_weights(example):
    # compile_model on a small dense classifier: with --ema 0.9 the weights after fit are the average that
    # Keras keeps (first step: the weights themselves), computed here from the weights after every step.
    args = example.parse_args(["--ema", "0.9"])
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(10)])
    example.compile_model(model, args, steps=8)
    seen = []
    record = keras.callbacks.LambdaCallback(on_train_batch_end=lambda *_, **__: seen.append(model.get_weights()))
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(64, 4)).astype("float32"), rng.integers(0, 10, size=64).astype("int32")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False, callbacks=[record])
    assert len(seen) == 8
    average = seen[0]
    for weights in seen[1:]:
        average = [0.9 * a + 0.1 * w for a, w in zip(average, weights)]
    for final, expected, last in zip(model.get_weights(), average, seen[-1]):
        np.testing.assert_allclose(final, expected, rtol=1e-5, atol=1e-6)
        assert np.abs(final - last).max() > 1e-3


def test_new_flags_parse(example):
    args = example.parse_args([])
    assert (args.shift, args.ema, args.label_smoothing) == (0, 0.0, 0.1)  # smoothing chosen on validation
    assert example.parse_args(["--generative"]).label_smoothing == 0.0
    args = example.parse_args(["--shift", "2", "--ema", "0.999", "--label-smoothing", "0.05"])
    assert (args.shift, args.ema, args.label_smoothing) == (2, 0.999, 0.05)


def test_architecture_defaults_per_recipe(example):
    # The README's network for the discriminative recipe and the shared-root EM one; the class networks of
    # --generative are wider at the bottom (chosen on validation); explicit flags win in every mode.
    for argv in ([], ["--generative", "--per-class", "0"]):
        args = example.parse_args(argv)
        assert (args.num_components, args.sums) == (16, "16,32,32,64,64")
    args = example.parse_args(["--generative"])
    assert (args.num_components, args.sums) == (32, "64,64,32,64,64")
    args = example.parse_args(["--generative", "--num-components", "8", "--sums", "4,4,4,4,4"])
    assert (args.num_components, args.sums) == (8, "4,4,4,4,4")


def test_batch_size_defaults_per_recipe(example):
    # EM steps of the class networks re-estimate every sum from the images of one class in the batch: 400 of
    # 4,000 images (chosen on validation against 2,000 and 8,000); gradient steps and --quick keep 64.
    assert example.parse_args([]).batch_size == 64
    assert example.parse_args(["--generative"]).batch_size == 4000
    assert example.parse_args(["--generative", "--per-class", "0"]).batch_size == 1024
    assert example.parse_args(["--generative", "--quick"]).batch_size == 64
    assert example.parse_args(["--generative", "--batch-size", "2000"]).batch_size == 2000


def test_class_batches_give_image_k_of_class_k(example):
    # 5 to 9 images per class, each image's pixels all equal to 10 * label + its index within the class.
    labels = np.repeat(np.arange(10), np.arange(5, 15)[:10] % 5 + 5)
    within = np.concatenate([np.arange(np.sum(labels == label)) for label in range(10)])
    images = np.broadcast_to((10.0 * labels + within)[:, None, None, None], (len(labels), 28, 28, 1))
    args = example.parse_args(["--generative", "--batch-size", "30"])
    data = example.class_batches(images.astype("float32"), labels.astype("int32"), args)
    seen = [set() for _ in range(10)]
    for batch, dummy in data.take(20):
        assert batch.shape == (3, 10, 28, 28, 1) and dummy.shape == (3,)
        batch = batch.numpy()
        assert np.all(batch == batch[:, :, :1, :1, :])  # whole images, not mixed
        for label in range(10):
            values = batch[:, label, 0, 0, 0]
            assert np.all(values // 10 == label), values
            seen[label].update(values.tolist())
    # 20 batches of 3 per class go through every class's 5-9 images at least once.
    assert all(len(found) == np.sum(labels == label) for label, found in enumerate(seen))


def test_class_networks_classifier_is_each_class_network_plus_its_log_prior(example):
    # Network k alone (the trainer, with image x in every slot) against the classifier's column k.
    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(10), [4, 6, 4, 6, 4, 6, 4, 6, 4, 6]).astype("int32")
    images = rng.normal(size=(len(labels), 28, 28, 1)).astype("float32")
    trainer, classifier = example.build_class_networks(images, labels, 2, (1, 1, 1, 1, 1), 0.05, seed=0)
    x = images[:5]
    per_class = trainer(np.repeat(x[:, None], 10, axis=1)).numpy()
    assert per_class.shape == (5, 10) and np.all(per_class < 0)
    # Distinct networks: leaves started at k-means centres of different images give different densities.
    assert np.min(np.std(per_class, axis=1)) > 1.0
    prior = np.bincount(labels) / len(labels)
    np.testing.assert_allclose(classifier(x).numpy(), per_class + np.log(prior), rtol=1e-5)


def test_mirrored_log_posteriors_add_both_views_normalized_over_classes(example):
    # A linear "log joint" per class that reads every pixel with its own weight, so that mirroring matters.
    rng = np.random.default_rng(4)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    images = rng.normal(size=(7, 28, 28, 1)).astype("float32")
    out = np.asarray(example.mirrored_log_posteriors(model, images, batch_size=3))

    kernel, bias = (weight.astype(np.float64) for weight in model.get_weights())

    def log_posteriors(batch):
        logits = batch.reshape(len(batch), -1) @ kernel + bias
        shifted = logits - logits.max(axis=1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))

    mirrored = np.stack([np.fliplr(image) for image in images])  # columns reversed, rows kept
    assert not np.allclose(log_posteriors(mirrored), log_posteriors(images))
    np.testing.assert_allclose(out, log_posteriors(images) + log_posteriors(mirrored), rtol=1e-4, atol=1e-4)


def test_test_flips_follow_the_training_flips_by_default(example):
    assert example.parse_args([]).test_flips == 1
    assert example.parse_args(["--generative"]).test_flips == 0
    assert example.parse_args(["--flip", "0"]).test_flips == 0
    assert example.parse_args(["--flip", "0", "--test-flips", "1"]).test_flips == 1


def test_em_step_decays_along_a_cosine_to_0_02(example):
    args = example.parse_args(["--generative"])
    schedule = example.em_step(args, steps=100)
    for step in (0, 30, 50, 100):
        expected = 0.02 + (0.5 - 0.02) * (1 + np.cos(np.pi * step / 100)) / 2
        np.testing.assert_allclose(float(schedule(step)), expected, rtol=1e-5)
    assert example.em_step(example.parse_args(["--generative", "--em-schedule", "constant"]), steps=100) == 0.5


def test_networks_default_to_two_for_the_discriminative_recipe(example):
    # Two networks from seeds 1 and 2 classify 90.39% of the validation images with mirror images, against
    # 89.79% and 89.88% for each alone (benchmarks/RESULTS.md section 3.16).
    assert example.parse_args([]).networks == 2
    assert example.parse_args(["--generative"]).networks == 1
    assert example.parse_args(["--networks", "3"]).networks == 3
    with pytest.raises(SystemExit):
        example.parse_args(["--networks", "0"])


def test_networks_are_combined_by_their_class_log_posteriors(example, monkeypatch, capsys):
    # Stand-ins for the trained DGC-SPNs: linear "log joints" of every pixel, a different one per seed, so that
    # each network classifies differently and mirroring matters; the printed accuracies against NumPy.
    rng = np.random.default_rng(5)
    x_train, x_eval = rng.normal(size=(2, 40, 28, 28, 1)).astype("float32")
    y_train, y_eval = rng.integers(0, 10, size=(2, 40))
    monkeypatch.setattr(example, "load_data", lambda *_: ((x_train, y_train), (x_eval, y_eval), "test"))
    seeds, kernels = [], []

    def train_network(args, x, y):
        seeds.append(args.seed)
        model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
        kernel = np.random.default_rng(args.seed).normal(size=(784, 10)).astype("float32")
        model.set_weights([kernel, np.zeros(10, "float32")])
        kernels.append(kernel.astype(np.float64))
        return model, (x, y), 16

    monkeypatch.setattr(example, "train_network", train_network)
    returned = example.main(["--networks", "3", "--seed", "7"])
    out = capsys.readouterr().out
    assert seeds == [7, 8, 9]

    def log_posteriors(images, kernel):
        logits = images.reshape(len(images), -1).astype(np.float64) @ kernel
        shifted = logits - logits.max(axis=1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))

    def accuracy(scores, labels):
        return np.mean(np.argmax(scores, axis=1) == labels)

    mirrored = x_eval[:, :, ::-1]
    for index, kernel in enumerate(kernels):
        alone = accuracy(log_posteriors(x_eval, kernel), y_eval)
        assert f"  network {index + 1}: test accuracy: {alone:.4f}\n" in out, out
        both = accuracy(log_posteriors(x_eval, kernel) + log_posteriors(mirrored, kernel), y_eval)
        assert f"  network {index + 1}: test accuracy with mirror images: {both:.4f}\n" in out, out
    together = out.split("the 3 networks together (their class log-posteriors added):\n")[1]
    expected = {
        "train": accuracy(sum(log_posteriors(x_train, k) for k in kernels), y_train),
        "test": accuracy(sum(log_posteriors(x_eval, k) for k in kernels), y_eval),
        "mirror": accuracy(sum(log_posteriors(x_eval, k) + log_posteriors(mirrored, k) for k in kernels), y_eval),
    }
    assert together == (
        f"train accuracy: {expected['train']:.4f}\ntest accuracy: {expected['test']:.4f}\n"
        f"test accuracy with mirror images: {expected['mirror']:.4f}\n"
    )
    assert returned == pytest.approx(expected["mirror"])
    # The networks disagree, or the test would not tell adding from picking one.
    assert len({f"{accuracy(log_posteriors(x_eval, k), y_eval):.4f}" for k in kernels}) > 1
