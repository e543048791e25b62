"""Verdicts and checks: the verdict rules of docs/verification, as code (see
:mod:`pdediff.studies.harness` for the rules in words)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

import numpy as np

#: A bound that holds with measured/bound below this carries no evidence (VACUOUS).
VACUOUS_RATIO = 1e-2
#: A vanishing tolerance passes only if the lower end of the 95 % interval of its
#: fitted order lies above this.
ORDER_FLOOR = 0.5
CONFIDENCE = 0.95


class Verdict(str, Enum):
    """The four verdicts; the report counts each separately."""

    PASS = "PASS"
    FAIL = "FAIL"
    VACUOUS = "VACUOUS"
    OBSERVATION = "OBSERVATION"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Refinement:
    """Evidence that a raw violation vanishes under refinement.

    ``h``: resolution parameter (e.g. spacing), ``>= 3`` values; ``violation``: raw
    violation (``>= 0``) at each; ``order``, ``low``, ``high``: the fitted order of
    ``violation ~ C h^order`` and its 95 % interval over the nonzero violations
    (``nan`` when fewer than 3 are nonzero).
    """

    h: tuple[float, ...]
    violation: tuple[float, ...]
    order: float = math.nan
    low: float = math.nan
    high: float = math.nan

    def text(self) -> str:
        pairs = ", ".join(f"{h:.3g}:{v:.2g}" for h, v in zip(self.h, self.violation))
        if math.isnan(self.order):
            return f"violation by h {{{pairs}}}"
        return (f"order {self.order:.3g} [{self.low:.3g}, {self.high:.3g}] "
                f"(violation by h {{{pairs}}})")


def _floats(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size == 0:
        raise ValueError(f"{name}: expected at least one value")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: contains NaN or inf")
    return arr


@dataclass(frozen=True)
class Check:
    """One verified (or observed) statement, with its pre-stated criterion.

    ``statement``: the claim; ``criterion``: how the verdict is decided, written before
    the numbers; ``worst``: the worst measured value; ``margin``: signed slack of the
    criterion (``>= 0`` where the criterion is met; units in ``criterion``);
    ``figure``: path relative to the output folder; ``detail``: free text (which case
    was worst, an explanation of a FAIL); ``refinement``: vanishing-tolerance evidence.

    Build checks with the constructors, which encode the verdict rules.
    """

    name: str
    statement: str
    criterion: str
    verdict: Verdict
    worst: float
    margin: float
    figure: str = ""
    detail: str = ""
    refinement: Refinement | None = None

    @property
    def passed(self) -> bool:
        return self.verdict is Verdict.PASS

    # ------------------------------------------------------------------ constructors
    @classmethod
    def bound(cls, name: str, statement: str, measured: Any, bound: Any, *,
              criterion: str = "", figure: str = "", detail: str = "") -> Check:
        """A proven upper bound ``measured <= bound`` (elementwise over cases).

        FAIL if ``measured > bound`` anywhere; VACUOUS if it holds everywhere with
        ``max(measured / bound) < 1e-2``; else PASS.  ``worst`` is the largest ratio
        ``measured / bound`` (the tightest case), ``margin = 1 - worst``.  ``bound``
        must be positive.
        """
        m = _floats(measured, "measured")
        b = np.broadcast_to(_floats(bound, "bound"), m.shape) if np.size(bound) == 1 else \
            _floats(bound, "bound")
        if b.shape != m.shape:
            raise ValueError(f"bound: expected one value or shape {m.shape}, got {b.shape}")
        if np.any(b <= 0):
            raise ValueError("bound: expected positive bounds (measured/bound is the evidence)")
        ratio = m / b
        worst = float(ratio.max())
        if worst > 1.0:
            verdict = Verdict.FAIL
        elif worst < VACUOUS_RATIO:
            verdict = Verdict.VACUOUS
        else:
            verdict = Verdict.PASS
        text = criterion or (f"measured/bound <= 1 in every case; PASS if the largest ratio is "
                             f">= {VACUOUS_RATIO:g}, VACUOUS below")
        return cls(name, statement, text, verdict, worst, 1.0 - worst, figure, detail)

    @classmethod
    def vanishing(cls, name: str, statement: str, h: Any, violation: Any, *,
                  criterion: str = "", ratio: float | None = None, figure: str = "",
                  detail: str = "") -> Check:
        """A continuum property whose discrete violation must vanish under refinement.

        ``h``: ``>= 3`` distinct positive resolutions of one physical setting (refine
        the time tolerance with them); ``violation``: raw violation ``>= 0`` at each
        (the worst over cases at that resolution).  PASS if all are zero; if the
        nonzero ones decrease strictly and are followed by exact zeros at (at least)
        the two finest resolutions; or if ``>= 3`` are nonzero and the 95 % interval of
        the fitted order ``q`` of ``violation ~ C h^q`` over them lies above 0.5.
        Otherwise FAIL.  ``worst``: the
        violation at the finest ``h``; ``margin``: ``low - 0.5`` (``+inf`` when no
        fit was needed, ``-inf`` when no fit was possible).  ``ratio``: optional
        measured/bound at the finest ``h``; a PASS with ``ratio < 1e-2`` is VACUOUS.
        """
        from ..metrics import observed_order

        hh = _floats(h, "h")
        vv = _floats(violation, "violation")
        if hh.shape != vv.shape:
            raise ValueError(f"violation: expected one value per h ({hh.size}), got {vv.size}")
        if hh.size < 3:
            raise ValueError(f"h: a vanishing tolerance needs >= 3 resolutions, got {hh.size}")
        if np.any(hh <= 0) or np.unique(hh).size != hh.size:
            raise ValueError("h: expected distinct positive resolutions")
        if np.any(vv < 0):
            raise ValueError("violation: expected the raw violation (negative part), >= 0")
        order = np.argsort(hh)[::-1]  # coarse to fine
        hh, vv = hh[order], vv[order]
        nonzero = vv > 0
        fit = (math.nan, math.nan, math.nan)
        if nonzero.sum() >= 3:
            rate = observed_order(hh[nonzero], vv[nonzero], CONFIDENCE)
            fit = (rate.slope, rate.ci[0], rate.ci[1])
        last = np.flatnonzero(nonzero)
        if not nonzero.any():
            verdict, margin = Verdict.PASS, math.inf
        elif (last[-1] < vv.size - 2
              and bool(np.all(np.diff(vv[: last[-1] + 1]) < 0))):
            # Decreasing, then exactly zero at (at least) the two finest resolutions.
            verdict, margin = Verdict.PASS, math.inf
            zeros = vv.size - 1 - int(last[-1])
            detail = f"decreasing, then exactly zero at the {zeros} finest resolutions" + (
                f"; {detail}" if detail else "")
        elif math.isnan(fit[0]):
            verdict, margin = Verdict.FAIL, -math.inf
        else:
            margin = fit[1] - ORDER_FLOOR
            verdict = Verdict.PASS if margin > 0 else Verdict.FAIL
        if verdict is Verdict.PASS and ratio is not None and ratio < VACUOUS_RATIO:
            verdict = Verdict.VACUOUS
        text = criterion or (
            f"raw violation at >= 3 resolutions (h and rtol refined together): PASS iff zero, "
            f"or decreasing to exactly zero at the two finest, or its fitted order's 95% "
            f"interval lies above {ORDER_FLOOR}")
        refinement = Refinement(tuple(hh.tolist()), tuple(vv.tolist()), *fit)
        return cls(name, statement, text, verdict, float(vv[-1]), float(margin), figure,
                   detail, refinement)

    @classmethod
    def interval(cls, name: str, statement: str, estimate: float, low: float, high: float,
                 target: float, side: str = "contains", *, criterion: str = "",
                 figure: str = "", detail: str = "") -> Check:
        """A plain 95 % interval ``[low, high]`` of ``estimate`` against ``target``.

        ``side="above"``: PASS iff ``low > target`` (margin ``low - target``);
        ``"below"``: PASS iff ``high < target`` (margin ``target - high``);
        ``"contains"``: PASS iff ``low <= target <= high`` (margin the distance of
        ``target`` inside the nearer end).  Anything else FAILs.
        """
        est, lo, hi, tgt = (float(v) for v in (estimate, low, high, target))
        if not all(math.isfinite(v) for v in (est, lo, hi, tgt)):
            verdict, margin = Verdict.FAIL, -math.inf
        elif lo > hi:
            raise ValueError(f"low: expected low <= high, got [{lo}, {hi}]")
        else:
            if side == "above":
                margin = lo - tgt
            elif side == "below":
                margin = tgt - hi
            elif side == "contains":
                margin = min(tgt - lo, hi - tgt)
            else:
                raise ValueError(f"side: expected 'above', 'below' or 'contains', got {side!r}")
            strict = side != "contains"
            verdict = Verdict.PASS if (margin > 0 if strict else margin >= 0) else Verdict.FAIL
        text = criterion or {
            "above": f"plain 95% interval lies above {tgt:g}",
            "below": f"plain 95% interval lies below {tgt:g}",
            "contains": f"plain 95% interval contains {tgt:g}",
        }.get(side, side)
        detail = (f"estimate {est:.4g}, 95% interval [{lo:.4g}, {hi:.4g}]"
                  + (f"; {detail}" if detail else ""))
        return cls(name, statement, text, verdict, est, margin, figure, detail)

    @classmethod
    def observation(cls, name: str, statement: str, value: float, detail: str = "", *,
                    figure: str = "") -> Check:
        """A measured property that no theorem states: OBSERVATION, never a pass or fail."""
        return cls(name, statement, "none: no theorem states this; recorded, not judged",
                   Verdict.OBSERVATION, float(value), math.nan, figure, detail)

    # ------------------------------------------------------------------------ output
    def row(self) -> str:
        evidence = f"  {self.refinement.text()}" if self.refinement is not None else ""
        tail = f"  {self.detail}" if self.detail else ""
        return (f"{self.verdict.value:<11} {self.name}: worst {self.worst:.4g}, margin "
                f"{self.margin:.3g}{evidence}{tail}")

    def to_attrs(self) -> dict[str, Any]:
        values = asdict(self)
        values["verdict"] = self.verdict.value
        values["passed"] = self.passed
        values["refinement"] = None if self.refinement is None else asdict(self.refinement)
        return values

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> Check:
        ref = attrs.get("refinement")
        refinement = None if not ref else Refinement(
            tuple(ref["h"]), tuple(ref["violation"]),
            *(math.nan if ref[k] is None else float(ref[k]) for k in ("order", "low", "high")))
        return cls(str(attrs["name"]), str(attrs.get("statement", "")),
                   str(attrs.get("criterion", "")), Verdict(attrs["verdict"]),
                   float(attrs.get("worst", math.nan)), float(attrs.get("margin", math.nan)),
                   str(attrs.get("figure", "")), str(attrs.get("detail", "")), refinement)


def count_verdicts(checks: Iterable[Check]) -> dict[str, int]:
    counts = {v.value: 0 for v in Verdict}
    for check in checks:
        counts[check.verdict.value] += 1
    return counts
