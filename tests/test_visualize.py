"""Pictures: every function writes a PNG that matplotlib reads back."""

import numpy as np
import pytest
from tensorflow import keras

from libspn_keras import layers, visualize
from libspn_keras.region_graph import RegionNode, RegionVariable, random_region_graph, region_graph_to_dense_spn

matplotlib_image = pytest.importorskip("matplotlib.image")


def _read_png(path):
    assert path.exists() and path.stat().st_size > 0
    pixels = matplotlib_image.imread(str(path))
    assert pixels.ndim == 3 and pixels.shape[0] > 10 and pixels.shape[1] > 10
    return pixels


def test_visualize_region_graph_single_and_several_decompositions(tmp_path):
    root = RegionNode(
        [RegionNode([RegionVariable(0), RegionVariable(1)]), RegionNode([RegionVariable(2), RegionVariable(3)])]
    )
    single = tmp_path / "region_graph.png"
    assert visualize.visualize_region_graph(root, single) == single
    _read_png(single)
    several = tmp_path / "region_graphs.png"
    visualize.visualize_region_graph(random_region_graph(12, depth=2, num_decomps=3, seed=0), several)
    _read_png(several)


def test_visualize_region_graph_rejects_other_objects(tmp_path):
    with pytest.raises(ValueError, match="RegionNode"):
        visualize.visualize_region_graph("not a graph", tmp_path / "x.png")


def test_visualize_dense_spn(tmp_path):
    roots = random_region_graph(8, depth=2, num_decomps=2, seed=1)
    model = region_graph_to_dense_spn(roots, layers.NormalLeaf(num_components=3), [4, 4, 1])
    path = tmp_path / "spn.png"
    assert visualize.visualize_dense_spn(model, path) == path
    assert visualize.visualize_dense_spn(dense_spn=model, show_legend=path) == path  # 0.6.0's keyword
    _read_png(path)


def test_visualize_dense_spn_of_a_plain_sequential(tmp_path):
    model = keras.Sequential(
        [
            keras.Input(shape=(4, 1, 1)),
            layers.NormalLeaf(num_components=2),
            layers.DenseProduct(num_factors=2),
            layers.DenseSum(num_sums=2),
        ]
    )
    path = tmp_path / "sequential.png"
    visualize.visualize_dense_spn(model, path)
    _read_png(path)


def test_visualize_dense_spn_reads_the_build_shape_of_a_model_without_inputs(tmp_path):
    class TwoLayers(keras.Model):
        def __init__(self):
            super().__init__()
            self.leaf = layers.NormalLeaf(num_components=2)
            self.product = layers.DenseProduct(num_factors=2)

        def build(self, input_shape):
            self.leaf.build(input_shape)
            self.product.build(self.leaf.compute_output_shape(input_shape))

        def call(self, x):
            return self.product(self.leaf(x))

    model = TwoLayers()
    model.build((None, 4, 1, 1))
    path = tmp_path / "subclassed.png"
    assert visualize.visualize_dense_spn(model, path) == path
    _read_png(path)


def test_visualize_dense_spn_of_an_unbuilt_model_says_how_to_fix_it(tmp_path):
    model = keras.Sequential([layers.NormalLeaf(num_components=2)])
    with pytest.raises(ValueError, match="no known input shape"):
        visualize.visualize_dense_spn(model, tmp_path / "unbuilt.png")


def test_image_grid_with_nans_and_titles(tmp_path):
    images = np.random.default_rng(0).uniform(size=(5, 8, 8, 1))
    images[1, :4] = np.nan
    path = tmp_path / "grid.png"
    assert visualize.image_grid(images, path, titles=[f"#{i}" for i in range(5)]) == path
    pixels = _read_png(path)
    red = (pixels[..., 0] > 0.7) & (pixels[..., 1] < 0.3) & (pixels[..., 2] < 0.3)
    assert red.any(), "NaN pixels should show in red"
    path_rows = tmp_path / "grid_rows.png"
    visualize.image_grid(images[..., 0], path_rows, rows=1)
    _read_png(path_rows)


def test_image_grid_rejects_bad_shapes(tmp_path):
    with pytest.raises(ValueError, match="shape"):
        visualize.image_grid(np.zeros((3, 4)), tmp_path / "bad.png")
    with pytest.raises(ValueError, match="titles"):
        visualize.image_grid(np.zeros((2, 4, 4)), tmp_path / "bad.png", titles=["a"])


def test_decompositions_sharing_variables_are_drawn_apart():
    shared = [RegionVariable(i) for i in range(4)]
    roots = [
        RegionNode([RegionNode(shared[:2]), RegionNode(shared[2:])]),
        RegionNode([RegionNode([shared[0], shared[3]]), RegionNode([shared[1], shared[2]])]),
    ]
    figure = visualize.visualize_region_graph(roots)  # no path: the matplotlib figure itself
    positions = [t.get_position() for t in figure.axes[0].texts if t.get_text() == "x0"]
    # One box for x0 in each decomposition, side by side rather than on top of each other.
    assert len(positions) == 2
    assert positions[0][0] != positions[1][0]
