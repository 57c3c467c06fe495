"""How a module refers to a name defined in another module of the project.

Rules that add code (FS001's teardown, FS005's helper) reuse the module's own way of reaching
the name (an import of it, an import of its module), and otherwise add an import written the
way the module already imports its siblings: relative when it uses relative imports.
"""

from __future__ import annotations

from .base import FileContext, ImportItem



def reference(ctx: FileContext, qname: str):
    """How this module can name ``qname``: ``(expression, None)`` when it already can,
    ``(name, ImportItem)`` when an import must be added (in the style of the module's imports
    of its siblings), or ``(None, reason)`` when the name is taken by something else."""
    index, facts = ctx.index, ctx.facts
    module, _, name = qname.rpartition(".")
    if module == facts.name:
        return name, None
    for local, target in sorted(facts.bindings.items(), key=lambda kv: kv[0] != name):
        resolved = index.resolve(target)
        if resolved == qname:
            return local, None
        if module == resolved or module.startswith(resolved + "."):
            return local + module[len(resolved) :] + "." + name, None
    if name in facts.module_names or name in facts.bindings:
        return None, f"`{name}` already names something else in this module"
    if any(target.rpartition(".")[0] == module for target in facts.bindings.values()):
        return name, ImportItem(module, name)  # merged into the existing `from ... import`
    top = facts.name.split(".")[0]
    if facts.relative_imports and module.split(".")[0] == top and facts.package:
        relative = _relative(module, facts.package)
        if relative:
            return name, ImportItem(relative[1], name, relative[0])
    return name, ImportItem(module, name)


def _relative(module: str, package: str) -> tuple[int, str] | None:
    """``pkg.sub.database`` seen from package ``pkg.sub.web`` is ``(2, "database")``."""
    target, base = module.split("."), package.split(".")
    common = 0
    while common < min(len(target) - 1, len(base)) and target[common] == base[common]:
        common += 1
    if common == 0:
        return None
    return len(base) - common + 1, ".".join(target[common:])


def import_code(item: ImportItem) -> str:
    return f"from {'.' * item.relative}{item.module} import {item.name}"
