"""Shared pieces of the fokker_planck tests: a process that breaks mid-solve, and a
script run in a child process with a given numba thread count."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from pdediff.processes import ForwardProcess

ROOT = Path(__file__).resolve().parents[2]


class BrokenProcess(ForwardProcess):
    """OU until t = 0.05, then a NaN drift."""

    name = "broken"

    def parameters(self):
        return {}

    def _a(self, t):
        return np.where(t > 0.05, np.nan, -1.0)

    def _g2(self, t):
        return np.ones_like(t)

    def _log_alpha(self, t):
        return -t

    def _sigma2(self, t):
        return t


def run_with_threads(script: str, threads: int) -> dict:
    """Run ``script`` (which prints one JSON line last) with ``threads`` numba threads."""
    env = dict(os.environ, NUMBA_NUM_THREADS=str(threads), OMP_WAIT_POLICY="passive",
               PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=600, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])
