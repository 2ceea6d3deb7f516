"""The helpers shared by the example scripts and the tutorial notebooks (examples/spn_tutorials)."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

from spn_tutorials import completion, data, plots  # noqa: E402

matplotlib_figure = pytest.importorskip("matplotlib.figure")


class FillWith:
    """Stands in for a model: ``complete`` puts one value per method into the NaN entries."""

    def __init__(self, values):
        self.values = values
        self.calls = []

    def complete(self, x, method, seed=None):
        self.calls.append((method, seed))
        return np.where(np.isnan(x), self.values[method], x)


def test_complete_and_score_against_numpy():
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 16, size=(5, 4, 4, 1)).astype("float32")
    mask = data.half_masks(4)["bottom"]
    means = np.full((4, 4, 1), 7.0)
    result = completion.complete_and_score(FillWith({"mpe": 3.0, "posterior_marginal": 8.0}), images, mask, means)
    hidden = images[:, 2:]
    assert np.isnan(result.masked[:, 2:]).all() and np.array_equal(result.masked[:, :2], images[:, :2])
    assert result.mse["mpe"] == pytest.approx(np.mean((hidden - 3.0) ** 2), rel=1e-6)
    assert result.mse["posterior_marginal"] == pytest.approx(np.mean((hidden - 8.0) ** 2), rel=1e-6)
    assert result.baseline_mse == pytest.approx(np.mean((hidden - 7.0) ** 2), rel=1e-6)
    assert set(result.seconds) == {"mpe", "posterior_marginal"}


def test_conditional_samples_columns_and_seeds():
    model = FillWith({"mpe": 1.0, "sample": 2.0})
    images = np.zeros((3, 4, 4, 1), "float32")
    masked, columns = completion.conditional_samples(model, images, data.half_masks(4)["left"], 2, seed=10)
    assert list(columns) == ["MPE", "sample 1", "sample 2"]
    assert model.calls == [("mpe", None), ("sample", 10), ("sample", 11)]
    assert np.isnan(masked[:, :, :2]).all()


def test_half_masks_hide_half_of_the_pixels():
    masks = data.half_masks(8)
    assert masks["left"][:, :4].all() and not masks["left"][:, 4:].any()
    assert masks["bottom"][4:].all() and not masks["bottom"][:4].any()


def test_synthetic_debd_files_and_true_log_likelihood(tmp_path):
    true_ll = data.write_synthetic_debd(tmp_path, seed=0, num_vars=5, sizes=(50, 20, 20))
    train, valid, test = data.load_debd_splits(tmp_path, "synthetic")
    assert train.shape == (50, 5) and valid.shape == (20, 5) and test.shape == (20, 5)
    assert set(np.unique(train)) <= {0, 1}
    assert all(value < 0 for value in true_ll.values())
    # A single-component mixture is a product of Bernoullis: its log-likelihood is a sum of logs.
    x = np.array([[1, 0], [0, 0]])
    p = np.array([[0.3, 0.6]])
    expected = [np.log(0.3) + np.log(0.4), np.log(0.7) + np.log(0.4)]
    assert np.allclose(data.mixture_log_likelihood(x, np.array([1.0]), p), expected)
    assert data.independent_bernoulli_log_likelihood(train, test) < 0


def test_training_curve_and_its_missing_keys(tmp_path):
    history = {"loss": [3.0, 2.0, 1.5], "val_loss": [3.5, 2.5, 2.0]}
    figure = plots.training_curve(history, ["loss", "val_loss"], negate=True)
    assert isinstance(figure, matplotlib_figure.Figure)
    lines = figure.axes[0].get_lines()
    assert np.allclose(lines[0].get_ydata(), [-3.0, -2.0, -1.5]) and np.allclose(lines[0].get_xdata(), [1, 2, 3])
    path = tmp_path / "curve.png"
    assert plots.training_curve(history, ["loss"], path=path) == path and path.stat().st_size > 0
    with pytest.raises(ValueError, match="accuracy"):
        plots.training_curve(history, ["accuracy"])


def test_completion_grid_rows_are_kinds_of_images():
    images = np.ones((3, 4, 4, 1))
    figure = plots.completion_grid(images, images * np.nan, {"MPE": images, "PM": images}, pixel_max=16)
    titles = [axes.get_title() for axes in figure.axes]
    assert len(titles) == 4 * 3
    assert [t for t in titles if t] == ["original", "masked", "MPE", "PM"]


def test_tree_picture_draws_every_variable_and_edge():
    parents = [-1, 0, 0, 1, 1, 2]
    figure = plots.tree_picture(parents)
    axes = figure.axes[0]
    assert sorted(text.get_text() for text in axes.texts) == sorted(f"x{v}" for v in range(6))
    assert len(axes.get_lines()) == 5
