"""0.6.0's model configs, loaded by this library (tests/test_configs_060.py).

``python configs_060.py original FOLDER`` (under libspn-keras 0.6.0, see ../shared/ANCHORS.md) builds every case
of ``weights_060.py`` as that script does and writes ``model.to_json()`` to ``FOLDER/CASE.json``: the architecture
as 0.6.0 serializes it under Keras 2, whose weights ``tests/data/weights_060/`` holds. ``tests/data/configs_060/``
holds that output, so the test runs without 0.6.0. (0.6.0's own ``to_json`` fails on the cases with
``PermuteAndPadScopesRandom``, whose ``get_config`` reads an attribute it never sets; they are left out.)
"""

import os
import sys

if __name__ == "__main__" and sys.argv[1] == "original":
    os.environ["TF_USE_LEGACY_KERAS"] = "1"  # 0.6.0 needs Keras 2 (../shared/ANCHORS.md)
    import tensorflow as tf

    tf.keras.optimizers.Optimizer = tf.keras.optimizers.legacy.Optimizer
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import weights_060  # noqa: E402


def main(folder):
    os.makedirs(folder, exist_ok=True)
    for name in weights_060.CASES:
        model = weights_060.build(name)
        try:
            text = model.to_json(indent=1)
        except AttributeError as error:  # 0.6.0's PermuteAndPadScopesRandom.get_config fails before it is called
            print(f"{name}: 0.6.0 cannot serialize it ({error})")
            continue
        with open(os.path.join(folder, f"{name}.json"), "w") as file:
            file.write(text)


if __name__ == "__main__":
    main(sys.argv[2])
