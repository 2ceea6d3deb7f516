"""Seed-style names for the sum ops."""

import enum


class BackpropMode(enum.Enum):
    """What flows backward through sum layers; each member names a sum op.

    ``GRADIENT``: true gradients. ``EM``: soft EM counts. ``HARD_EM``: counts
    of each sum's best weighted child (exact sums forward).
    ``HARD_EM_UNWEIGHTED``: the same with the weights ignored when choosing.
    ``SAMPLE``: one child drawn from the posterior per sum.
    """

    GRADIENT = "grad"
    EM = "em"
    HARD_EM = "hard_em"
    HARD_EM_UNWEIGHTED = "unweighted_hard_em"
    SAMPLE = "sample"
