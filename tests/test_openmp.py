"""The OpenMP wait defaults set at ``import pdediff``: a short spin, then passive
waiting, and never over a user's own choice."""

import os
import subprocess
import sys

from pdediff import _openmp


def test_defaults_fill_an_empty_environment():
    env: dict[str, str] = {}
    _openmp.set_wait_defaults(env)
    assert env == {"OMP_WAIT_POLICY": "passive", "GOMP_SPINCOUNT": _openmp.SPIN_COUNT}


def test_a_users_wait_policy_is_left_alone_without_a_spin_count():
    env = {"OMP_WAIT_POLICY": "active"}
    _openmp.set_wait_defaults(env)
    assert env == {"OMP_WAIT_POLICY": "active"}


def test_a_users_spin_count_is_kept():
    env = {"GOMP_SPINCOUNT": "0"}
    _openmp.set_wait_defaults(env)
    assert env == {"OMP_WAIT_POLICY": "passive", "GOMP_SPINCOUNT": "0"}


def test_import_pdediff_sets_the_defaults_in_a_clean_environment():
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    code = "import os, pdediff; print(os.environ['OMP_WAIT_POLICY'], os.environ['GOMP_SPINCOUNT'])"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["passive", _openmp.SPIN_COUNT]
