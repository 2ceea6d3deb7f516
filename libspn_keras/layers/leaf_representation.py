"""How a leaf fills in a value it is asked to reconstruct (0.6.0's ``LeafRepresentation``)."""

import enum


class LeafRepresentation(enum.Enum):
    """What a leaf component contributes where a model reconstructs inputs (``infer_no_evidence`` models,
    ``zero_evidence_inference``): its mode, or a draw from it."""

    MODE = "mode"
    """The component's most probable value."""
    SAMPLE = "sample"
    """A value drawn from the component."""
