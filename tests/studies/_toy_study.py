"""A tiny study on the harness contract, for the harness tests (importable by workers)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pdediff.studies.harness import Check

DESCRIPTION = "toy study: seeded sums"


@dataclass(frozen=True)
class Settings:
    n: int = 1000
    seeds: tuple[int, ...] = (1, 2, 3)
    scale: float = 1.0
    label: str = "toy"
    flag: bool = False
    solve: bool = False  # add one small numba Fokker-Planck solve per case

    @classmethod
    def quick(cls) -> Settings:
        return cls(n=100)

    @classmethod
    def full(cls) -> Settings:
        return cls()


@dataclass(frozen=True)
class Case:
    seed: int

    @property
    def key(self) -> str:
        return f"seed/{self.seed}"


def cases(settings: Settings) -> list[Case]:
    return [Case(s) for s in settings.seeds]


def compute(case: Case, settings: Settings) -> dict:
    rng = np.random.default_rng(case.seed)
    x = settings.scale * rng.standard_normal(settings.n)
    out = {"x": x, "mean": float(x.mean()), "label": settings.label,
           "nested": {"cumsum": np.cumsum(x)}}
    if settings.solve:
        from pdediff import Grid
        from pdediff.distributions import GaussianMixture
        from pdediff.fokker_planck import solve_forward
        from pdediff.processes import VP

        grid = Grid([(-4.0, 4.0)] * 2, 24)
        law = GaussianMixture([[0.1 * case.seed, 0.0]], [0.3])
        process = VP()
        p0 = grid.normalize(law.cell_average(grid, 0.05, process))
        out["p"] = solve_forward(p0, grid, process, [0.05, 0.3], progress=False).p[-1]
    return out


def checks(results: dict, settings: Settings) -> list[Check]:
    means = np.array([r["mean"] for r in results.values()])
    return [
        Check.bound("mean_small", "|mean| <= 1", np.abs(means), 1.0),
        Check.observation("spread", "spread of the means", float(means.std())),
    ]


def figures(results: dict, folder: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    for key, r in results.items():
        ax.plot(r["nested"]["cumsum"], label=key)
    path = Path(folder) / "toy.png"
    fig.savefig(path)
    plt.close(fig)
    return [path]
