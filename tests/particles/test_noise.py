"""Tests of pdediff.particles.noise (the seeded chunked normal streams) and of the
bit-identity of the samplers across thread counts and drawing threads."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from pdediff.particles import reverse
from pdediff.particles.noise import NormalStream
from pdediff.processes import VP

from ._closed_forms import gaussian

ROOT = Path(__file__).resolve().parents[2]


def test_stream_is_the_documented_chunk_generators():
    """Chunk c of the stream draws from Generator(PCG64(SeedSequence(seed).spawn(C)[c])),
    call after call, whatever the number of filling threads or background fills."""
    n, d, chunk, seed = 1000, 2, 300, 7
    children = np.random.SeedSequence(seed).spawn(4)
    generators = [np.random.Generator(np.random.PCG64(c)) for c in children]
    bounds = [(0, 300), (300, 600), (600, 900), (900, 1000)]
    expected = []
    for _ in range(3):
        z = np.empty((n, d))
        for g, (lo, hi) in zip(generators, bounds, strict=True):
            z[lo:hi] = g.standard_normal((hi - lo, d))
        expected.append(z)
    for workers, background in [(1, False), (3, False), (1, True)]:
        with NormalStream(seed, n, chunk, workers, background=background) as stream:
            for call, want in enumerate(expected):
                z = np.empty((n, d))
                if background and call == 1:
                    stream.submit(z)()
                else:
                    stream.fill(z)
                np.testing.assert_array_equal(z, want)


def test_seed_sequence_is_not_advanced_and_seeds_differ():
    seq = np.random.SeedSequence(123)
    draws = []
    for _ in range(2):
        z = np.empty((50, 1))
        with NormalStream(seq, 50, 16) as stream:
            stream.fill(z)
        draws.append(z)
    np.testing.assert_array_equal(draws[0], draws[1])
    other = np.empty((50, 1))
    with NormalStream(124, 50, 16) as stream:
        stream.fill(other)
    assert not np.array_equal(other, draws[0])
    with NormalStream(None, 5, 2) as stream:
        assert isinstance(stream.entropy, int)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"seed": "abc"}, TypeError, "seed"),
        ({"seed": -1}, ValueError, "seed"),
        ({"seed": True}, TypeError, "seed"),
        ({"chunk_size": 0}, ValueError, "chunk_size"),
        ({"chunk_size": 2.0}, TypeError, "chunk_size"),
        ({"workers": 0}, ValueError, "workers"),
        ({"n": 0}, ValueError, "n"),
    ],
)
def test_stream_validation(kwargs, error, match):
    args = {"seed": 0, "n": 10, "chunk_size": 4, "workers": 1}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        NormalStream(**args)


def test_submit_needs_a_pool():
    with NormalStream(0, 10, 4) as stream, pytest.raises(RuntimeError, match="background"):
        stream.submit(np.empty((10, 1)))


_REPRO_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numba
    import numpy as np
    from pdediff.distributions import GaussianMixture
    from pdediff.particles import reverse
    from pdediff.processes import VP
    from pdediff.scores import KernelScore, exact

    process = VP()
    def score(x, t):
        V = process.alpha(t) ** 2 * 0.3 + process.sigma2(t)
        return -(x - process.alpha(t)) / V
    covs = np.array([[[0.2, 0.05], [0.05, 0.1]], [[0.1, 0.0], [0.0, 0.3]]])
    mixture = exact(GaussianMixture([[-1.0, 0.0], [1.0, 0.5]], covs, [0.4, 0.6]), process)
    kernel = KernelScore(np.random.default_rng(1).standard_normal((30, 2)), 0.2, process)
    x_T = np.random.default_rng(0).standard_normal((1000, 2))
    cases = {
        "generic-em": (score, {}),
        "generic-langevin": (score, {"corrector": "langevin"}),
        "fused-em": (mixture, {}),
        "fused-heun-logq": (mixture, {"eps": 0.0, "track_log_density": True}),
        "kernel-em": (kernel, {}),
    }
    results = {}
    for threads in range(1, numba.config.NUMBA_NUM_THREADS + 1):
        numba.set_num_threads(threads)
        for workers in (1, 2):
            for name, (s, kwargs) in cases.items():
                sol = reverse(x_T, process, s, [1.0, 0.5, 0.01], steps=20, seed=123,
                              chunk_size=128, workers=workers, **kwargs)
                value = sol.x[-1].tobytes().hex()
                if sol.log_q is not None:
                    value += sol.log_q[-1].tobytes().hex()
                results[f"{threads}-{workers}-{name}"] = value
    json.dump(results, sys.stdout)
    """
)


def test_seed_reproducible_across_thread_counts():
    """Same seed and chunk size give bit-identical particles (and tracked log q) in
    child processes with NUMBA_NUM_THREADS=1 and 2 (the latter also switching to 1
    thread inside), with 1 or 2 drawing threads, on the generic and the fused paths,
    and identical to this process."""
    results = {}
    for threads in ("1", "2"):
        env = dict(os.environ, NUMBA_NUM_THREADS=threads, PYTHONPATH=str(ROOT))
        out = subprocess.run(
            [sys.executable, "-c", _REPRO_SCRIPT],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        results.update({f"{threads}:{k}": v for k, v in json.loads(out.stdout).items()})
    names = {key.split("-", 2)[2] for key in results}
    # 1 thread in the first child, 1 and 2 in the second; 2 drawing threads each.
    assert len(results) == 6 * len(names) == 30
    for name in names:
        values = {v for k, v in results.items() if k.endswith(name)}
        assert len(values) == 1, name
    assert {k.split("-")[0] for k in results} == {"1:1", "2:1", "2:2"}
    # Different cases give different particles (the comparison can fail).
    assert len({results[f"1:1-1-{name}"] for name in names}) == len(names)

    process = VP()

    def score(x, t):
        return -(x - process.alpha(t)) / (process.alpha(t) ** 2 * 0.3 + process.sigma2(t))

    x_T = np.random.default_rng(0).standard_normal((1000, 2))
    here = reverse(x_T, process, score, [1.0, 0.5, 0.01], steps=20, seed=123, chunk_size=128)
    assert here.x[-1].tobytes().hex() == results["1:1-1-generic-em"]
    other = reverse(x_T, process, score, [1.0, 0.5, 0.01], steps=20, seed=124, chunk_size=128)
    assert not np.array_equal(other.x[-1], here.x[-1])
    rechunked = reverse(x_T, process, score, [1.0, 0.5, 0.01], steps=20, seed=123, chunk_size=100)
    assert not np.array_equal(rechunked.x[-1], here.x[-1])
    seq = np.random.SeedSequence(123)
    first = reverse(x_T, process, score, [1.0, 0.01], steps=5, seed=seq)
    second = reverse(x_T, process, score, [1.0, 0.01], steps=5, seed=seq)
    np.testing.assert_array_equal(first.x, second.x)


def test_background_draws_do_not_change_the_particles(monkeypatch):
    """Euler–Maruyama pre-generates the next increments while the kernels run; the
    particles are bit-identical to drawing them synchronously."""
    module = importlib.import_module("pdediff.particles.reverse")
    process = VP()
    score = gaussian(process, [1.0, 0.0], 0.3)
    x_T = np.random.default_rng(1).standard_normal((700, 2))
    args = (x_T, process, score, [1.0, 0.3, 0.01])
    background = reverse(*args, steps=15, seed=9, chunk_size=64)
    monkeypatch.setattr(module, "_PREFETCH", False)
    synchronous = reverse(*args, steps=15, seed=9, chunk_size=64)
    np.testing.assert_array_equal(background.x, synchronous.x)
