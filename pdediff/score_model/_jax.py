"""The optional JAX backend of the neural score models (extra ``pdediff[nn]``)."""

from __future__ import annotations

import contextlib
from typing import Any

_MESSAGE = (
    "the neural score models (pdediff.score_model.MLPLogDensity and its training) need "
    "JAX and optax: install the optional extra with  pip install 'pdediff[nn]'"
)


def require() -> tuple[Any, Any, Any]:
    """``(jax, jax.numpy, optax)``, or an ImportError naming ``pdediff[nn]``."""
    try:
        import jax
        import jax.numpy as jnp
        import optax
    except ImportError as error:
        raise ImportError(_MESSAGE) from error
    return jax, jnp, optax


def precision(dtype: str) -> contextlib.AbstractContextManager:
    """A context in which ``dtype`` ('float32' or 'float64') is available to JAX:
    float64 needs ``jax_enable_x64``, switched on only inside the context so that the
    user's global JAX configuration is left alone."""
    jax = require()[0]
    return jax.enable_x64(True) if dtype == "float64" else contextlib.nullcontext()
