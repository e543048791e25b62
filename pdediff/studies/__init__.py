"""The studies behind pdediff's figures and report, by name.

Each study is a module ``pdediff.studies.NAME`` following the contract of
:mod:`pdediff.studies.harness` (``Settings``, ``cases``, ``compute``, ``checks``,
``figures``); a study not yet migrated defines ``run(quick, out, progress)`` instead
and is run through it.  Descriptions are read from the modules' source, so ``pdediff
list`` imports no study.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class StudyEntry:
    name: str

    @property
    def description(self) -> str:
        from .harness import study_description

        return study_description(self.name)


#: Every study, in the order ``pdediff reproduce`` runs them.
STUDIES: dict[str, StudyEntry] = {
    name: StudyEntry(name)
    for name in ("li_yau", "pde_vs_particles", "lp_stability", "entropy", "concentration",
                 "stopping_time", "ode_sde_gap")
}


def run_study(name: str, quick: bool = False, out: Path = Path("data"), progress: bool = True,
              overrides: dict | None = None, executor=None):
    """Run study ``name`` by whichever interface it defines: a
    :class:`~pdediff.studies.harness.Summary` for harness studies, the old summary
    dict (with ``"table"``) otherwise (``overrides``/``executor`` then unsupported)."""
    from . import harness

    module = harness.load_study(name)
    if harness.is_harness_study(module):
        return harness.run(name, quick=quick, overrides=overrides, out=Path(out),
                           progress=progress, executor=executor)
    if overrides:
        raise ValueError(f"overrides: study {name!r} is not on the harness yet; no --set")
    return module.run(quick=quick, out=Path(out), progress=progress)


def __getattr__(attr: str):
    # Lazy, so that ``pdediff list`` imports no study machinery.  ``Check`` is the
    # harness's; the old-style helpers stay reachable until every study has migrated.
    if attr in ("Check", "Verdict", "Refinement"):
        from . import harness

        return getattr(harness, attr)
    if attr in ("write_study", "study_main"):
        from . import common

        return getattr(common, attr)
    raise AttributeError(attr)


__all__ = ["STUDIES", "StudyEntry", "run_study"]
