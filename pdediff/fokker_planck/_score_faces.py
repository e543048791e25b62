"""Face coefficients of the reverse drift from compiled pdediff scores (placeholder)."""

from __future__ import annotations


def compiled(operator, process, score, eps):
    return None
