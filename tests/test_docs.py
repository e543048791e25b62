"""Every code snippet of the README and of the documentation runs as a test.

Snippets are the ```` ```python ```` fences of ``README.md`` (and of any Markdown page
under ``docs/``) and the ``.. code-block:: python`` blocks of the reStructuredText pages
under ``docs/``.  Each one runs on its own: a fresh namespace, in an empty temporary
folder, so a snippet that needs a name from another one fails.  The documentation
build itself (``sphinx-build -W``) runs in ``.ci/run``.
"""

from __future__ import annotations

import importlib
import re
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
_DIRECTIVE = re.compile(r"^(?P<indent>[ \t]*)\.\. code-block:: python[ \t]*$")

# Snippets that take more than a few seconds, by id; none today.
SLOW: set[str] = set()


def markdown_snippets(text: str) -> list[tuple[int, str]]:
    """``(line, code)`` of every ```` ```python ```` fence in Markdown ``text``."""
    return [(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in _FENCE.finditer(text)]


def rst_snippets(text: str) -> list[tuple[int, str]]:
    """``(line, code)`` of every ``.. code-block:: python`` block in reST ``text``.

    The body is every following line indented deeper than the directive, after its
    option lines (``:caption: ...``) and the blank line that ends them.
    """
    lines = text.splitlines()
    found = []
    i = 0
    while i < len(lines):
        match = _DIRECTIVE.match(lines[i])
        if not match:
            i += 1
            continue
        indent = len(match.group("indent").expandtabs())
        i += 1
        while i < len(lines) and lines[i].strip().startswith(":") and lines[i].strip():
            i += 1  # directive options
        body, start = [], None
        while i < len(lines):
            line = lines[i]
            if line.strip() and len(line) - len(line.lstrip()) <= indent:
                break
            if line.strip() and start is None:
                start = i + 1
            body.append(line)
            i += 1
        code = textwrap.dedent("\n".join(body)).strip("\n")
        if code:
            found.append((start, code + "\n"))
    return found


def collect() -> list[tuple[str, int, str]]:
    """Every snippet as ``(file relative to the repository, line, code)``."""
    sources = [ROOT / "README.md", *sorted(DOCS.rglob("*.md")), *sorted(DOCS.rglob("*.rst"))]
    snippets = []
    for path in sources:
        if "_build" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        extract = markdown_snippets if path.suffix == ".md" else rst_snippets
        for line, code in extract(text):
            snippets.append((path.relative_to(ROOT).as_posix(), line, code))
    return snippets


SNIPPETS = collect()


def _param(file: str, line: int, code: str):
    ident = f"{file}:{line}"
    marks = [pytest.mark.slow] if ident in SLOW else []
    return pytest.param(file, line, code, id=ident, marks=marks)


@pytest.mark.parametrize(("file", "line", "code"), [_param(*s) for s in SNIPPETS])
def test_snippet_runs(file: str, line: int, code: str, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__main__"}
    exec(compile(code, f"{file}:{line}", "exec"), namespace)


def test_snippets_are_found() -> None:
    """The extraction finds the snippets it must (a broken pattern would make every
    snippet test vanish instead of fail)."""
    per_file: dict[str, int] = {}
    for file, _, _ in SNIPPETS:
        per_file[file] = per_file.get(file, 0) + 1
    assert per_file.get("README.md", 0) >= 1
    assert per_file.get("docs/tutorial.rst", 0) >= 4
    assert per_file.get("docs/guide.rst", 0) >= 3


def test_rst_extraction() -> None:
    text = (
        "Intro.\n\n.. code-block:: python\n   :caption: demo\n\n   x = 1\n\n   y = x + 1\n"
        "\nAfter.\n\n  .. code-block:: python\n\n     z = 3\n"
    )
    assert rst_snippets(text) == [(6, "x = 1\n\ny = x + 1\n"), (14, "z = 3\n")]


def test_markdown_extraction() -> None:
    text = "# T\n\n```python\nprint(1)\n```\n\n```bash\nls\n```\n"
    assert markdown_snippets(text) == [(4, "print(1)\n")]


def _api_modules() -> list[str]:
    pattern = re.compile(r"^\.\. automodule:: (\S+)", re.M)
    return sorted({m for page in (DOCS / "api").glob("*.rst") for m in pattern.findall(page.read_text())})


@pytest.mark.parametrize("module", _api_modules())
def test_api_module_imports(module: str) -> None:
    """Every module of the API reference imports (autodoc would warn and -W fail)."""
    importlib.import_module(module)


def test_docs_are_self_contained() -> None:
    """The documentation refers to its own pages, never to an outside design note."""
    sources = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *DOCS.rglob("*.rst"), DOCS / "conf.py"]
    offenders = [
        p.relative_to(ROOT).as_posix()
        for p in sources
        if "_build" not in p.parts and re.search(r"DESIGN(\.md| section| ?§| \d)", p.read_text())
    ]
    assert offenders == []
