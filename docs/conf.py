"""Sphinx configuration of the pdediff documentation.

Build with ``sphinx-build -W -b html docs docs/_build/html`` from the repository root.
"""

import os
import sys

# Document the source tree next to this folder (works without an install, and picks the
# working copy over any installed pdediff).
sys.path.insert(0, os.path.abspath(".."))
os.environ.setdefault("OMP_WAIT_POLICY", "passive")
os.environ.setdefault("MPLBACKEND", "Agg")

from pdediff._version import __version__  # noqa: E402

project = "pdediff"
author = "pdediff developers"
copyright = "2026, pdediff developers"
version = release = __version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
]

exclude_patterns = ["_build", "performance_table.rst"]  # included by performance.rst
root_doc = "index"
templates_path = []
html_theme = "alabaster"
html_static_path = []
html_theme_options = {"description": "PDE checks of score-based diffusion models", "fixed_sidebar": True}

# autodoc / numpydoc: the docstrings are numpy style.  Class members are listed by
# ``:members:`` on each page, not by numpydoc's autosummary tables (which would need
# generated stub pages that go stale as the package is refactored).
autodoc_member_order = "bysource"
autodoc_typehints = "none"
autodoc_default_options = {"members": True, "show-inheritance": False}
autosummary_generate = False
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks = set()

default_role = "math"
