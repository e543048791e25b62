"""Package structure: no module imports the package root (so importing a submodule
never needs, or cycles through, ``pdediff/__init__``'s names)."""

import ast
from pathlib import Path

import pdediff

PACKAGE = Path(pdediff.__file__).resolve().parent


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name != "__init__.py" or path.parent != PACKAGE:
            yield path


def _is_submodule(name: str) -> bool:
    return (PACKAGE / f"{name}.py").exists() or (PACKAGE / name / "__init__.py").exists()


def test_no_module_imports_the_package_root():
    offences = []
    for path in _modules():
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        package = parts[:-1]  # the package a relative import starts from
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                offences += [f"{path}: import {a.name}" for a in node.names if a.name == "pdediff"]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package[: len(package) - (node.level - 1)]
                    target = ".".join((*base, *(node.module.split(".") if node.module else ())))
                else:
                    target = node.module or ""
                if target == "pdediff":
                    offences += [f"{path}: from {target} import {a.name}" for a in node.names
                                 if not _is_submodule(a.name)]
    assert offences == []


def test_version_lives_in_its_own_module():
    from pdediff._version import __version__

    assert pdediff.__version__ == __version__
    tree = ast.parse((PACKAGE / "_version.py").read_text())
    assert not [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
