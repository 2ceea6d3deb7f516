"""Region graphs keep their product kind (elementwise / outer) through their config, and HCLT models save and load."""

import numpy as np
from tensorflow import keras

from libspn_keras import models
from libspn_keras.region_graph import RegionNode, RegionVariable, topological_regions
from libspn_keras.structure.chow_liu import hclt_region_graph
from libspn_keras.structure.serialization import region_graph_from_config, region_graph_to_config


def test_elementwise_and_outer_products_survive_the_config():
    elementwise = hclt_region_graph(np.array([-1, 0, 0, 1]))
    outer = RegionNode([RegionNode([RegionVariable(4), RegionVariable(5)]), RegionVariable(6)])
    for root in (elementwise, outer):
        restored = region_graph_from_config(region_graph_to_config(root))[0]
        original = [(r.variables, r.product) for r in topological_regions([root]) if isinstance(r, RegionNode)]
        again = [(r.variables, r.product) for r in topological_regions([restored]) if isinstance(r, RegionNode)]
        assert again == original
    assert {r.product for r in topological_regions([elementwise]) if isinstance(r, RegionNode)} == {"elementwise"}


def test_an_hclt_model_saves_and_loads(tmp_path):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    data = (rng.random((200, 5)) < 0.4).astype("int32")
    data[:, 1] = data[:, 0]
    model = models.build_hclt(data, 3)
    expected = model.predict(data[:8], verbose=0)
    path = str(tmp_path / "hclt.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(data[:8], verbose=0), expected, rtol=1e-6, atol=1e-6)
