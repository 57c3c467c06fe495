"""The project-wide index: registries, apps, teardown registrations and who reaches what.

Built from every module's `ModuleFacts` before any file is rewritten, so that a rule looking
at ``app.py`` knows that ``database.py`` defines the registry and that ``extensions.py``
registers a teardown through ``init_app(app)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from codemods.facts import AppDef, ModuleFacts, RegistryDef


@dataclass(frozen=True)
class Reach:
    """What a teardown handler does to registries, following the helpers it calls."""

    removes: frozenset[str]
    closes: frozenset[str]
    unknown_remove: bool  # calls .remove() on something the index cannot name


class ProjectIndex:
    def __init__(self, modules: dict[str, ModuleFacts]) -> None:
        self.modules = modules

    def replacing(self, facts: ModuleFacts) -> ProjectIndex:
        """The same project with one module's facts re-read (after a fix changed it)."""
        return ProjectIndex({**self.modules, facts.name: facts})

    # -- names ----------------------------------------------------------------------------
    def resolve(self, qname: str) -> str:
        """Follow re-exports: ``pkg.models.db_session`` -> ``pkg.database.db_session``."""
        for _ in range(32):
            parts = qname.split(".")
            for cut in range(len(parts) - 1, 0, -1):
                module = self.modules.get(".".join(parts[:cut]))
                if module is None:
                    continue
                target = module.bindings.get(parts[cut])
                if target is None or target == ".".join(parts[: cut + 1]):
                    return qname
                qname = ".".join([target, *parts[cut + 1 :]])
                break
            else:
                return qname
        return qname

    def resolve_all(self, qnames) -> frozenset[str]:
        return frozenset(self.resolve(q) for q in qnames)

    # -- registries -----------------------------------------------------------------------
    @cached_property
    def registries(self) -> dict[str, list[RegistryDef]]:
        found: dict[str, list[RegistryDef]] = {}
        for facts in self.modules.values():
            for registry in facts.registries:
                found.setdefault(registry.qname, []).append(registry)
        return found

    def registry_module(self, qname: str) -> str:
        return qname.rpartition(".")[0]

    @cached_property
    def unpatched_gevent(self) -> bool:
        """gevent is imported but nothing monkey-patches: greenlets share thread-locals."""
        facts = self.modules.values()
        uses = any(name.split(".")[0] == "gevent" for f in facts for name in f.imported)
        return uses and not any(f.gevent_patched for f in facts)

    # -- imports --------------------------------------------------------------------------
    def closure(self, module: str) -> set[str]:
        """Project modules that importing ``module`` executes (itself included)."""
        seen = {module}
        todo = [module]
        while todo:
            facts = self.modules.get(todo.pop())
            if facts is None:
                continue
            for name in facts.imported:
                parts = name.split(".")
                for i in range(1, len(parts) + 1):  # importing a.b runs a/__init__ too
                    candidate = ".".join(parts[:i])
                    if candidate in self.modules and candidate not in seen:
                        seen.add(candidate)
                        todo.append(candidate)
        return seen

    def registries_used_by(self, app_module: str) -> list[str]:
        modules = self.closure(app_module)
        return sorted(q for q in self.registries if self.registry_module(q) in modules)

    # -- functions and teardowns ----------------------------------------------------------
    @cached_property
    def functions(self):
        return {q: f for facts in self.modules.values() for q, f in facts.functions.items()}

    def reach(self, handlers) -> Reach:
        removes, closes, unknown = set(), set(), False
        seen: set[str] = set()
        todo = [self.resolve(h) for h in handlers]
        while todo:
            qname = todo.pop()
            if qname in seen:
                continue
            seen.add(qname)
            function = self.functions.get(qname)
            if function is None:
                continue
            removes |= self.resolve_all(function.removes)
            closes |= self.resolve_all(function.closes)
            unknown |= function.unresolved_remove
            todo.extend(self.resolve(c) for c in function.calls)
        return Reach(frozenset(removes), frozenset(closes), unknown)

    @cached_property
    def registrars(self) -> dict[tuple[str, int | str], list]:
        """(function, parameter) -> teardown registrations it makes on that parameter.

        ``def init_app(app): app.teardown_appcontext(h)`` registers on parameter 0 (and on the
        keyword ``app``); a function passing its parameter on to a registrar is one too.
        """
        found: dict[tuple[str, int | str], list] = {}
        for facts in self.modules.values():
            for reg in facts.registrations:
                key = self._param_of(reg.function, reg.target)
                if key:
                    found.setdefault(key[0], []).append(reg)
                    found.setdefault(key[1], []).append(reg)
        changed = True
        while changed:
            changed = False
            for facts in self.modules.values():
                for call in facts.calls:
                    for arg_key, arg_names in call.args:
                        param = self._param_of(call.function, arg_names)
                        if not param:
                            continue
                        for callee in self.resolve_all(call.callee):
                            regs = found.get((callee, arg_key), [])
                            for key in param:
                                have = found.setdefault(key, [])
                                new = [r for r in regs if r not in have]
                                if new:
                                    have.extend(new)
                                    changed = True
        return found

    def _param_of(self, function: str | None, names) -> tuple | None:
        if function is None or function not in self.functions:
            return None
        params = self.functions[function].params
        for name in names:
            prefix, _, param = name.rpartition(".<locals>.")
            if prefix == function and param in params:
                return ((function, params.index(param)), (function, param))
        return None

    def registrations_for(self, app: AppDef, app_module: str) -> list:
        """Every teardown registration that applies to ``app``."""
        regs = []
        closure = self.closure(app_module)
        for facts in self.modules.values():
            for reg in facts.registrations:
                targets = self.resolve_all(reg.target)
                if app.qname in targets:
                    regs.append(reg)
                elif reg.kind == "teardown_app_request" and facts.name in closure:
                    regs.append(reg)  # a blueprint's app-wide teardown
            for call in facts.calls:
                for arg_key, arg_names in call.args:
                    if app.qname in self.resolve_all(arg_names):
                        for callee in self.resolve_all(call.callee):
                            regs.extend(self.registrars.get((callee, arg_key), []))
        return regs

    @cached_property
    def teardown_handlers(self) -> frozenset[str]:
        return frozenset(
            self.resolve(h)
            for facts in self.modules.values()
            for reg in facts.registrations
            for h in reg.handler
        )
