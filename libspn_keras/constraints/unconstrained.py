"""The marker for sum accumulators without a constraint."""

UNCONSTRAINED = "unconstrained"
"""Passed as a sum layer's accumulator constraint (or stored as a default): no constraint at all.

A sum layer's ``None`` takes the library-wide default, as in libspn-keras
0.6.0, so this is how one layer opts out of it. Without a normalizing
constraint, log-space accumulators are the logits of a softmax and gradient
training differentiates through that softmax.
"""
