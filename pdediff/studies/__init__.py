"""The studies behind pdediff's figures and report, by name.

Each entry is a module with ``DESCRIPTION`` and ``run(quick, out, progress)``; see
:mod:`pdediff.studies.common`.  ``run_study`` imports lazily so that ``pdediff list``
stays fast.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from .common import Check, study_main, write_study


@dataclass(frozen=True)
class StudyEntry:
    name: str
    description: str


STUDIES: dict[str, StudyEntry] = {
    entry.name: entry
    for entry in (
        StudyEntry("li_yau", "Li-Yau / Hamilton lower bounds on Lap log p_t and Hess log p_t"),
        StudyEntry("pde_vs_particles", "grid densities of the reverse ODE/SDE against particles"),
        StudyEntry("lp_stability", "L^p norms of reverse solutions against the bound of DESIGN 3.2"),
        StudyEntry("entropy", "KL(q_t || p_t) conserved (ODE) and non-increasing (SDE)"),
        StudyEntry("concentration", "sqrt(t) concentration of reverse dynamics onto supp p_0"),
        StudyEntry("stopping_time", "imitation vs generation against the stopping time t0"),
        StudyEntry("ode_sde_gap", "ODE-SDE gap and FP-residual regularisation (Deveney et al.)"),
    )
}


def run_study(name: str, quick: bool = False, out: Path = Path("data"), progress: bool = True):
    """Run study ``name``; returns its summary dictionary."""
    if name not in STUDIES:
        raise ValueError(f"name: expected one of {sorted(STUDIES)}, got {name!r}")
    module = importlib.import_module(f"{__name__}.{name}")
    return module.run(quick=quick, out=Path(out), progress=progress)


__all__ = ["STUDIES", "run_study", "Check", "write_study", "study_main"]
