"""PEP 420 namespace packages: folders without ``__init__.py`` that the project imports by a
dotted name (``from app.database import db_session``, ``app/`` holding no ``__init__.py``).

Python finds them through the folder above (the project root, or ``src/``), so their modules
are ``app.database``, not ``database``: without this, the registry a view imports would be a
name no module defines. A folder counts as a namespace package only when a module of the run
imports one of its modules or subfolders by that name (so `from alembic import op` leaves a
folder `alembic/` of migrations alone), and none of its own modules imports a sibling by its
bare name (those run with the folder itself on ``sys.path``).

Decided on the modules' facts once they are read (the names every module imports), so that a
project without namespace packages pays nothing; the few modules whose names change are read
again."""

from __future__ import annotations

import keyword
from pathlib import Path

from .discovery import project_root


def _identifier(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name)


def find_namespace_packages(modules) -> dict[Path, tuple[Path, tuple[str, ...]]]:
    """folder -> (import root, dotted names) for each import root among ``modules`` (each
    ``(path, import root, imported module names)``, named without namespace packages) that
    is a namespace package of its project."""
    marked: dict = {}
    candidates: dict[Path, list[tuple[Path, tuple[str, ...]]]] = {}
    for _, root, _ in modules:
        if root in candidates:
            continue
        candidates[root] = []
        project = project_root(root, marked)
        if project is None or project == root or project not in root.parents:
            continue
        parts = root.relative_to(project).parts
        for start in range(len(parts)):  # the longest dotted name first: `src.app`, then `app`
            names = parts[start:]
            above = project.joinpath(*parts[:start])
            if all(_identifier(n) for n in names) and not (above / f"{names[0]}.py").exists():
                candidates[root].append((above, names))
    dotted = {".".join(names) for found in candidates.values() for _, names in found}
    if not dotted:
        return {}
    imported: dict[str, set[str]] = {}  # dotted name -> the names imported from it
    for _, _, names in modules:
        for name in names:
            head, _, inside = name.rpartition(".")
            if head in dotted:
                imported.setdefault(head, set()).add(inside)
    found = {}
    for root, options in candidates.items():
        for above, names in options:
            if any(_in_folder(root, inside) for inside in imported.get(".".join(names), ())):
                found[root] = (above, names)
                break
    for path, root, names in modules:
        if root in found and any("." not in name and _in_folder(root, name) for name in names):
            del found[root]  # `from database import ...` inside app/: app/ is on sys.path
    return found


def _in_folder(folder: Path, name: str) -> bool:
    return (folder / f"{name}.py").is_file() or (folder / name).is_dir()
