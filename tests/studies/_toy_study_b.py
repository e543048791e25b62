"""A second toy study (other seeds, other size), so that two studies can share one
pool in the tests of ``pdediff reproduce``."""

from __future__ import annotations

from dataclasses import dataclass

from . import _toy_study
from ._toy_study import Case, cases, checks, compute, figures  # noqa: F401

DESCRIPTION = "toy study B: seeded sums"


@dataclass(frozen=True)
class Settings(_toy_study.Settings):
    seeds: tuple[int, ...] = (4, 5, 6, 7)

    @classmethod
    def quick(cls) -> Settings:
        return cls(n=50)

    @classmethod
    def full(cls) -> Settings:
        return cls()
