"""Evidence masks as the queries and ``[x, evidence_mask]`` calls take them: booleans, or 0 and 1."""

import numpy as np
import tensorflow as tf
from tensorflow import keras


def checked_evidence_mask(evidence_mask, name="model"):
    """``evidence_mask`` as booleans where its values are at hand (NumPy, eager), after checking they are 0 / 1."""
    if isinstance(evidence_mask, keras.KerasTensor) or (
        tf.is_tensor(evidence_mask) and not hasattr(evidence_mask, "numpy")
    ):
        return evidence_mask
    values = np.asarray(evidence_mask)
    if values.dtype != bool and not (values.dtype.kind in "iuf" and np.isin(values, (0, 1)).all()):
        raise ValueError(
            f"{name}: evidence_mask must be boolean (True = observed), or 0 and 1; got {values.dtype} values "
            f"such as {values.ravel()[~np.isin(values.ravel(), (0, 1))][:3].tolist()}."
        )
    return values.astype(bool)
