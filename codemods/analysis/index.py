"""The project-wide index: registries, apps, teardown registrations and who reaches what.

Built from every module's `ModuleFacts` before any file is rewritten, so that a rule looking
at ``app.py`` knows that ``database.py`` defines the registry and that ``extensions.py``
registers a teardown through ``init_app(app)``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

from .facts import FLASK, SCOPED_SESSION, AppDef, ModuleFacts, RegistryDef, is_test_code, is_test_module
from .orm import COLUMN_ONLY, OBJECT_TERMINALS
from .sessions import INLINE_SESSIONMAKER, SESSION_CLASS, HandMade


@dataclass(frozen=True)
class Reach:
    """What a teardown handler does to registries, following the helpers it calls."""

    removes: frozenset[str]
    closes: frozenset[str]
    unknown_remove: bool  # calls .remove() on something the index cannot name


GEVENT_SERVERS = frozenset(
    {"gevent.pywsgi.WSGIServer", "gevent.wsgi.WSGIServer", "gevent.pool.Pool", "gevent.server.StreamServer"}
)


SHARED_TASK = frozenset({"celery.shared_task", "celery.app.shared_task"})
REQUEST_CONTEXT = (
    "flask.globals.request_ctx", "flask.request_ctx", "flask._request_ctx_stack",
    "flask.globals._request_ctx_stack", "flask.globals._cv_request", "flask.request",
    "flask.globals.request", "flask.has_request_context",
)


def production_modules(modules: dict[str, ModuleFacts]) -> set[str]:
    """The names of the modules production code runs: those that are not test code
    (`facts.is_test_code`), and every module they import, directly or not (a `testing`
    package of the app's own, imported by the app, is production code)."""
    found = {name for name, facts in modules.items() if not is_test_code(facts.path)}
    # Asked once a round of the pre-filter for each import root: most imported names are
    # another project's (`flask`, `sqlalchemy.orm`), passed over by their first part.
    tops = {name.partition(".")[0] for name in modules}
    done: set[str] = set()  # names whose every leading part has been looked at
    todo = list(found)
    while todo:
        for imported in modules[todo.pop()].imported:
            if imported in done or imported.partition(".")[0] not in tops:
                continue
            name = imported  # and each module name it starts with
            while name and name not in done:
                done.add(name)
                if name in modules and name not in found:
                    found.add(name)
                    todo.append(name)
                name = name.rpartition(".")[0]
    return found


class ProjectIndex:
    def __init__(self, modules: dict[str, ModuleFacts], unparsed=()) -> None:
        self.modules = modules
        self.unparsed = list(unparsed)  # (path, text) of files that could not be parsed
        self._helpers: dict[bool, dict[str, str]] = {}
        self._resolved: dict[str, str] = {}
        self._closures: dict[str, frozenset[str]] = {}
        self._importers: dict[str, frozenset[str]] = {}
        self._decorators_committing: dict[str, bool] = {}
        self._apps_of: dict[str, list] = {}

    def replacing(self, facts: ModuleFacts) -> ProjectIndex:
        """The same project with one module's facts re-read (after a fix changed it).

        Decisions that span files (which helpers to generate) stay those taken on the
        project as it was, so that every file of one run agrees on them. Unchanged facts keep
        this index, and with it every answer already worked out."""
        if self.modules.get(facts.name) == facts:
            return self
        index = ProjectIndex({**self.modules, facts.name: facts}, self.unparsed)
        for unsafe in (False, True):
            self.helpers_to_generate(unsafe)
        index._helpers = self._helpers
        return index

    # -- names ----------------------------------------------------------------------------
    def resolve(self, qname: str) -> str:
        """Follow re-exports: ``pkg.models.db_session`` -> ``pkg.database.db_session``."""
        found = self._resolved.get(qname)
        if found is None:
            found = self._resolved[qname] = self._resolve(qname)
        return found

    def _resolve(self, qname: str) -> str:
        modules = self.modules
        known = 1  # leading parts of qname that name a module for sure (a binding's base)
        for _ in range(32):
            parts = qname.split(".")
            shadowed = self._package_attribute(parts, known)
            if shadowed is not None:
                cut, target = shadowed
                qname = ".".join([target, *parts[cut + 1 :]])
                known = target.count(".")
                continue
            for cut in range(len(parts) - 1, 0, -1):
                module = modules.get(".".join(parts[:cut]))
                if module is None:
                    continue
                target = module.bindings.get(parts[cut])
                if target is None or target == ".".join(parts[: cut + 1]):
                    return qname
                qname = ".".join([target, *parts[cut + 1 :]])
                known = target.count(".")
                break
            else:
                return qname
        return qname

    def _package_attribute(self, parts: list[str], known: int):
        """``from .db import db`` in ``pkg/models/__init__.py``: ``pkg.models.db`` is then the
        package's attribute, the object imported, not the submodule of the same name (Python
        finds the attribute first). (cut, target) for the first such package in ``parts``
        past the ``known`` module prefix, else None."""
        modules = self.modules
        for cut in range(max(known, 1), len(parts)):
            package = modules.get(".".join(parts[:cut]))
            if package is None:
                continue
            target = package.bindings.get(parts[cut])
            submodule = ".".join(parts[: cut + 1])
            if target is not None and target != submodule and submodule in modules:
                return cut, target
        return None

    def resolve_all(self, qnames) -> frozenset[str]:
        return frozenset(self.resolve(q) for q in qnames)

    # -- registries -----------------------------------------------------------------------
    @cached_property
    def registries(self) -> dict[str, list[RegistryDef]]:
        found: dict[str, list[RegistryDef]] = {}
        for facts in self.modules.values():
            for registry in facts.registries:
                found.setdefault(registry.qname, []).append(registry)
        # `db_session = get_scoped_session()`: a project function whose every `return` makes
        # a scoped_session (`return scoped_session(sessionmaker(...))`).
        makers = {
            q for q, f in self.functions.items() if f.returns_call and self.resolve_all(f.returns_call) & SCOPED_SESSION
        }
        if makers:
            for facts in self.modules.values():
                for qname, location in facts.made_at.items():
                    if self.resolve_all(facts.made_by[qname]) & makers:
                        registry = RegistryDef(qname, qname.rpartition(".")[2], location, made_by=True)
                        found.setdefault(qname, []).append(registry)
        return found

    def registry_module(self, qname: str) -> str:
        return qname.rpartition(".")[0]

    @cached_property
    def gevent_serves(self) -> bool:
        """gevent's server or pool runs requests (greenlets, one thread)."""
        return any(
            name in GEVENT_SERVERS for f in self.modules.values() for name in f.imported
        )

    @cached_property
    def unpatched_gevent(self) -> bool:
        """gevent is imported but nothing monkey-patches: greenlets share thread-locals."""
        facts = self.modules.values()
        uses = any(name.split(".")[0] == "gevent" for f in facts for name in f.imported)
        return uses and not any(f.gevent_patched for f in facts)

    # -- imports --------------------------------------------------------------------------
    def closure(self, module: str) -> frozenset[str]:
        """Project modules that importing ``module`` executes (itself included)."""
        found = self._closures.get(module)
        if found is None:
            found = self._closures[module] = frozenset(self._closure(module))
        return found

    def _closure(self, module: str) -> set[str]:
        seen = {module}
        todo = [module]
        imports = self._imports
        while todo:
            for candidate in imports.get(todo.pop(), ()):
                if candidate not in seen:
                    seen.add(candidate)
                    todo.append(candidate)
        return seen

    @cached_property
    def _imports(self) -> dict[str, frozenset[str]]:
        """The project modules each module imports directly (importing a.b runs a/__init__
        too): worked out once, not once per closure."""
        found = {}
        modules = self.modules
        within: dict[str, tuple[str, ...]] = {}  # imported name -> its prefixes that are modules
        for name, facts in modules.items():
            direct = set()
            for imported in facts.imported:
                hits = within.get(imported)
                if hits is None:
                    hits, prefix = [], imported
                    while True:
                        if prefix in modules:
                            hits.append(prefix)
                        cut = prefix.rfind(".")
                        if cut < 0:
                            break
                        prefix = prefix[:cut]
                    hits = within[imported] = tuple(hits)
                direct.update(hits)
            found[name] = frozenset(direct)
        return found

    @cached_property
    def imported_modules(self) -> frozenset[str]:
        """Project modules some project module imports (and their packages)."""
        return frozenset().union(*self._imports.values())

    def importers(self, module: str) -> frozenset[str]:
        """Project modules whose import executes ``module`` (itself included): those whose
        `closure` holds it, found from ``module`` up, not by working out every closure."""
        found = self._importers.get(module)
        if found is None:
            by_import: dict[str, list[str]] = self._by_import
            seen = {module}
            todo = [module]
            while todo:
                for importer in by_import.get(todo.pop(), ()):
                    if importer not in seen:
                        seen.add(importer)
                        todo.append(importer)
            found = self._importers[module] = frozenset(seen)
        return found

    @cached_property
    def _by_import(self) -> dict[str, list[str]]:
        """Module -> the project modules that import it directly (`_imports` reversed)."""
        found: dict[str, list[str]] = {}
        for name, direct in self._imports.items():
            for imported in direct:
                found.setdefault(imported, []).append(name)
        return found

    @cached_property
    def web_modules(self) -> frozenset[str]:
        """Modules that a module making a Flask app imports (itself included)."""
        found: set[str] = set()
        for facts in self.production:
            if self.apps_of(facts):
                found |= self.closure(facts.name)
        return frozenset(found)

    def runs_apart(self, facts) -> str | None:
        """Why the module serves no request, if it does not: "migration" for an Alembic
        environment or revision (it imports `alembic.op` or `alembic.context`, or names its
        `revision` and `down_revision`; `from alembic import command`, which web apps' CLI
        commands use to migrate, is not one), "script" for a module with an
        `if __name__ == "__main__":` block
        that starts no server and that no project module imports. What it keeps at module
        level lives and dies with one command."""
        if any(
            name.startswith(("alembic.op", "alembic.context"))
            and name.split(".")[:2] in (["alembic", "op"], ["alembic", "context"])
            for name in facts.imported
        ):
            return "migration"
        if {"revision", "down_revision"} <= facts.module_names:
            return "migration"
        if facts.main_guard and not facts.reports.views and facts.name not in self.imported_modules:
            return "script"
        return None

    def registries_used_by(self, app_module: str) -> list[str]:
        modules = self.closure(app_module)
        return sorted(q for q in self.registries if self.registry_module(q) in modules)

    # -- functions and teardowns ----------------------------------------------------------
    @cached_property
    def functions(self):
        return {q: f for facts in self.modules.values() for q, f in facts.functions.items()}

    @cached_property
    def production(self) -> list[ModuleFacts]:
        """The modules production code runs (`production_modules`). What a test does (call a
        registrar, schedule a job, remove a session, define a helper) does not happen in
        production, which runs without it; only what a test sets up that production findings
        rest on counts (its teardowns, scopefuncs, gevent and Celery apps)."""
        names = self.production_names
        return [facts for name, facts in self.modules.items() if name in names]

    @cached_property
    def production_names(self) -> frozenset[str]:
        return frozenset(production_modules(self.modules))

    @cached_property
    def production_functions(self):
        return {q: f for facts in self.production for q, f in facts.functions.items()}

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
        # Calls passing a function's parameter on, found once rather than once a round (with
        # no registrar at all, none can pass one on).
        passing = [
            (call.callee, arg_key, param)
            for facts in self.modules.values() for call in facts.calls
            for arg_key, arg_names in call.args
            if (param := self._param_of(call.function, arg_names))
        ] if found else []
        changed = bool(passing)
        while changed:
            changed = False
            for callee_names, arg_key, param in passing:
                for callee in self.resolve_all(callee_names):
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
        """Every teardown registration that applies to ``app``: on its name, or, for an app
        a factory makes, on the names the factory's result is bound to (``application =
        create_app()`` then ``@application.teardown_appcontext``)."""
        by_target, app_wide = self._registrations
        names = [app.qname]
        if app.function is not None:
            names += self._factory_results.get(app.function, [])
        regs = []
        for name in names:
            regs += [reg for reg in by_target.get(name, ()) if reg not in regs]
        closure = self.closure(app_module)
        regs += [reg for module, reg in app_wide if module in closure and reg not in regs]  # a blueprint's
        for name in names:
            for callee_names, arg_key in self._passed(name, app_module not in self.production_names):
                for callee in self.resolve_all(callee_names):
                    regs.extend(self.registrars.get((callee, arg_key), []))
                    method = self._bound_method(callee)
                    if method is not None:  # `db.init_app(app)`: `self` comes first
                        key = arg_key + 1 if isinstance(arg_key, int) else arg_key
                        regs.extend(self.registrars.get((method, key), []))
        return regs

    def _bound_method(self, qname: str) -> str | None:
        """``pkg.database.db.init_app``, where ``db = Database()`` at module level: the
        method ``pkg.database.Database.init_app``."""
        owner, _, attribute = qname.rpartition(".")
        facts = self.modules.get(owner.rpartition(".")[0])
        if facts is None:
            return None
        for cls in self.resolve_all(facts.made_by.get(owner, ())):
            if f"{cls}.{attribute}" in self.functions:
                return f"{cls}.{attribute}"
        return None

    @cached_property
    def _factory_results(self) -> dict[str, list[str]]:
        """Function -> the module-level names bound to what a call of it returns."""
        found: dict[str, list[str]] = {}
        for facts in self.modules.values():
            for target, callee in facts.made_by.items():
                for function in self.resolve_all(callee):
                    found.setdefault(function, []).append(target)
        return found

    @cached_property
    def _registrations(self):
        """Registrations by the app they name, and blueprints' app-wide ones with their
        module."""
        by_target: dict[str, list] = {}
        app_wide = []
        for facts in self.modules.values():
            for reg in facts.registrations:
                for target in self.resolve_all(reg.target):
                    by_target.setdefault(target, []).append(reg)
                if reg.kind == "teardown_app_request":
                    app_wide.append((facts.name, reg))
        return by_target, app_wide

    def _passed(self, qname: str, in_tests: bool = False) -> list[tuple[frozenset[str], int | str]]:
        """The calls that pass ``qname`` on, as (callee, argument), in module order: those of
        production code, and with ``in_tests`` (an app a test makes) those of tests too.

        Only names whose last part can resolve to ``qname``'s are resolved: resolving
        changes a name's last part only through an import under another name (``from .app
        import app as application``), so those are followed back (privacyidea passes 35,000
        names to calls, a few of them an app)."""
        lasts, todo = set(), [qname.rpartition(".")[2]]
        while todo:
            last = todo.pop()
            if last not in lasts:
                lasts.add(last)
                todo.extend(self._aliases.get(last, ()))
        passes = self._passes
        found = sorted(
            {order for last in lasts for order, name in passes.get(last, ()) if self.resolve(name) == qname}
        )
        return [self._pass_names[order][1] for order in found if in_tests or self._pass_names[order][2]]

    @cached_property
    def _passes(self) -> dict[str, list[tuple[int, str]]]:
        """The names passed to calls by their last part: (the pass's number, the name)."""
        found: dict[str, list[tuple[int, str]]] = {}
        for order, (names, _, _) in enumerate(self._pass_names):
            for name in names:
                found.setdefault(name.rpartition(".")[2], []).append((order, name))
        return found

    @cached_property
    def _pass_names(self) -> list[tuple[frozenset[str], tuple, bool]]:
        """Every name passed to a call, with (callee, argument) and whether production code
        makes the call."""
        production = self.production_names
        return [
            (arg_names, (call.callee, arg_key), facts.name in production)
            for facts in self.modules.values() for call in facts.calls for arg_key, arg_names in call.args
        ]

    @cached_property
    def _aliases(self) -> dict[str, set[str]]:
        """The last part of an imported name -> the other names it is imported as."""
        found: dict[str, set[str]] = {}
        for facts in self.modules.values():
            for alias, target in facts.bindings.items():
                last = target.rpartition(".")[2]
                if alias != last:
                    found.setdefault(last, set()).add(alias)
        return found

    # -- workers (FS013) ----------------------------------------------------------------
    @cached_property
    def celery_apps(self) -> dict[str, ModuleFacts]:
        """`celery = Celery(...)` at module level, or `celery = make_celery(app)` where a
        project function makes the Celery app: qualified name -> its module."""
        found = {q: facts for facts in self.modules.values() for q in facts.celery_apps}
        factories = self.celery_factories.keys()
        if factories:
            for facts in self.modules.values():
                for qname in facts.made_at:
                    if self.resolve_all(facts.made_by[qname]) & factories:
                        found[qname] = facts
        return found

    @cached_property
    def celery_factories(self) -> dict[str, ModuleFacts]:
        """Functions that make a Celery app: qualified name -> its module."""
        return {q: facts for facts in self.modules.values() for q in facts.celery_factories}

    def celery_app_location(self, qname: str):
        facts = self.celery_apps[qname]
        return facts.celery_apps.get(qname) or facts.made_at[qname]

    @cached_property
    def worker_jobs(self) -> dict[str, list[str]]:
        """"celery" / "apscheduler" -> the functions run as tasks or scheduled jobs."""
        tasks = {f"{app}.task" for app in self.celery_apps} | SHARED_TASK
        found: dict[str, list[str]] = {}
        for qname, function in sorted(self.functions.items()):
            decorators = self.resolve_all(function.decorators)
            if decorators & tasks:
                found.setdefault("celery", []).append(qname)
            elif any(d.endswith(".scheduled_job") for d in decorators):
                found.setdefault("apscheduler", []).append(qname)
        added = set()  # `scheduler.add_job(job, ...)`, `add_job(func=job)`
        for facts in self.production:
            for call in facts.calls:
                if any(c.endswith(".add_job") for c in call.callee):
                    for key, names in call.args:
                        if key in (0, "func"):
                            added |= {q for q in self.resolve_all(names) if q in self.functions}
        jobs = found.get("apscheduler", [])
        if added - set(jobs):
            found["apscheduler"] = jobs + sorted(added - set(jobs))
        return found

    @cached_property
    def _function_homes(self) -> dict[str, ModuleFacts]:
        return {q: facts for facts in self.modules.values() for q in facts.functions}

    def function_module(self, qname: str) -> str:
        return self._function_homes[qname].name

    def function_path(self, qname: str) -> Path:
        return self._function_homes[qname].path

    def function_location(self, qname: str):
        return self._function_homes[qname].functions[qname].location

    @cached_property
    def task_cleanup(self) -> Reach:
        """What handlers connected to Celery's task_prerun/task_postrun signals remove."""
        connects = {f"celery.signals.{signal}.connect" for signal in ("task_prerun", "task_postrun")}
        handlers = {
            q for q, f in self.production_functions.items() if self.resolve_all(f.decorators) & connects
        }
        for facts in self.production:
            for call in facts.calls:
                if self.resolve_all(call.callee) & connects:
                    handlers |= {n for key, names in call.args if key in (0, "receiver") for n in names}
        reach = self.reach(handlers)
        # A Task base class that ends each task's session itself (`after_return` calling
        # `close()` or `remove()`, pycroft's DBTask): trusted, as an unnamed remove is.
        ends_tasks = any(
            q.endswith(".after_return") and f.method_of and (f.removes or f.closes or f.unresolved_remove)
            for q, f in self.production_functions.items()
        )
        return Reach(reach.removes, reach.closes, reach.unknown_remove or ends_tasks)

    @cached_property
    def removed_attributes(self) -> frozenset[str]:
        """X in any `<anything>.X.remove()` of the project (a class-held registry's name)."""
        return frozenset(a for f in self.production_functions.values() for a in f.removes_attrs)

    def apps_importing(self, module: str) -> list[tuple[Path, AppDef]]:
        """The apps (with their file) whose modules import ``module``, directly or not."""
        importers = self.importers(module)
        return [
            (facts.path, app)
            for facts in sorted(self.modules.values(), key=lambda f: f.name)
            if facts.name in importers and not is_test_module(facts.path)
            for app in self.apps_of(facts)
        ]

    @cached_property
    def teardown_handlers(self) -> frozenset[str]:
        return frozenset(
            self.resolve(h)
            for facts in self.modules.values()
            for reg in facts.registrations
            for h in reg.handler
        )

    # -- hand-made sessions ---------------------------------------------------------------
    @cached_property
    def factories(self) -> dict[str, str]:
        """`X = sessionmaker(...)` at module level: qualified name -> module."""
        return {
            qname: facts.name
            for facts in self.modules.values()
            for qname, _ in facts.sessions.factories
        }

    @cached_property
    def existing_helpers(self) -> dict[str, str]:
        """sessionmaker -> a `@contextmanager` helper that already wraps it, or the
        sessionmaker itself when its `class_=` commits on exit (Flexget's ContextSession:
        `with Session() as session:` commits, rolls back and closes)."""
        found = {}
        committing = {c for facts in self.production for c in facts.sessions.committing_exits}
        for facts in self.production:
            for factory, classes in facts.sessions.factory_classes.items():
                if self.resolve_all(classes) & committing:
                    found[factory] = factory
        for facts in self.production:
            for helper, factories in sorted(facts.sessions.helpers.items()):
                for factory in self.resolve_all(factories):
                    found.setdefault(factory, helper)
        return found

    def session_source(self, handmade: HandMade) -> str | None:
        """The sessionmaker a hand-made session comes from, `Session` / an inline
        `sessionmaker()`, or None when the call makes no session (a registry call, say)."""
        callee = self.resolve_all(handmade.callee)
        factories = sorted(callee & self.factories.keys())
        if factories:
            return factories[0]
        if callee & SESSION_CLASS:
            return "sqlalchemy.orm.Session"
        if INLINE_SESSIONMAKER in callee:
            return INLINE_SESSIONMAKER
        held = sorted(callee & self.class_factories)
        if held:
            return held[0]
        for name in sorted(callee):  # `def get_session(): return SessionLocal()`
            function = self.functions.get(name)
            if function is not None and function.returns_call and self._makes_fresh(function.returns_call):
                return f"{name}()"
        return None

    def _makes_fresh(self, callee) -> bool:
        callee = self.resolve_all(callee)
        return bool(callee & (self.factories.keys() | SESSION_CLASS) or INLINE_SESSIONMAKER in callee)

    def made_by_helper(self, source: str) -> bool:
        """A session source that is a project function returning a fresh Session."""
        return source.endswith("()") and source != INLINE_SESSIONMAKER

    @cached_property
    def class_factories(self) -> frozenset[str]:
        """Sessionmakers held by classes (`self.Session = sessionmaker(...)`): "Class.Session"."""
        return frozenset(q for facts in self.modules.values() for q in facts.sessions.class_factories)

    def fixable(self, handmade: HandMade, unsafe_fixes: bool) -> bool:
        return handmade.applicability == "safe" or (
            unsafe_fixes and handmade.applicability == "unsafe"
        )

    def helpers_to_generate(self, unsafe_fixes: bool) -> dict[str, str]:
        """sessionmaker -> name of the helper to generate next to it: those that some
        hand-made session will be rewritten to use and that have no helper yet."""
        if unsafe_fixes not in self._helpers:
            self._helpers[unsafe_fixes] = self._helpers_to_generate(unsafe_fixes)
        return self._helpers[unsafe_fixes]

    def _helpers_to_generate(self, unsafe_fixes: bool) -> dict[str, str]:
        needed = sorted(
            {
                source
                for facts in self.modules.values()
                if facts.sessions.handmade and self.runs_apart(facts) != "script"
                for handmade in facts.sessions.handmade
                if self.fixable(handmade, unsafe_fixes)
                and (source := self.session_source(handmade)) in self.factories
                and source not in self.existing_helpers
            }
        )
        if len(needed) == 1:
            return {needed[0]: "get_db_session"}
        return {factory: f"get_{_snake(factory.rpartition('.')[2])}" for factory in needed}

    def helper_for(self, factory: str, unsafe_fixes: bool) -> str | None:
        """Qualified name of the helper that wraps ``factory`` (existing or to generate)."""
        if factory in self.existing_helpers:
            return self.existing_helpers[factory]
        name = self.helpers_to_generate(unsafe_fixes).get(factory)
        return f"{self.factories[factory]}.{name}" if name else None


    # -- ORM objects and caches -----------------------------------------------------------
    @cached_property
    def models(self) -> frozenset[str]:
        """Mapped classes: those deriving, at any depth, from a declarative base or
        Flask-SQLAlchemy's `db.Model`."""
        bases = set()
        for facts in self.modules.values():
            bases |= facts.orm.declarative_bases
            bases |= {f"{db}.Model" for db in facts.orm.flask_sqlalchemy}
        classes = {
            cls: self.resolve_all(parents)
            for facts in self.modules.values()
            for cls, parents in facts.orm.classes.items()
        }
        models: set[str] = set()
        changed = True
        while changed:
            changed = False
            for cls, parents in classes.items():
                if cls not in models and cls not in bases and parents & (bases | models):
                    models.add(cls)
                    changed = True
        return frozenset(models)

    @cached_property
    def session_roots(self) -> frozenset[str]:
        """Names whose methods run queries: registries and Flask-SQLAlchemy's `db.session`."""
        roots = set(self.registries)
        for facts in self.modules.values():
            roots |= {f"{db}.session" for db in facts.orm.flask_sqlalchemy}
        return frozenset(roots)

    @cached_property
    def local_sessions(self) -> dict[str, frozenset[str]]:
        """Names local to a function -> what made them (`s = SessionLocal()`, `with X() as s`)."""
        return {q: c for facts in self.modules.values() for q, c in facts.orm.local_sessions.items()}

    def _is_session(self, qname: str) -> bool:
        if qname in self.session_roots:
            return True
        callee = self.local_sessions.get(qname)
        if callee is None:
            return False
        made_by = self.resolve_all(callee)
        return bool(made_by & (self.factories.keys() | self.registries.keys() | SESSION_CLASS))

    def returns_orm_objects(self, query) -> bool:
        roots = self.resolve_all(query.roots)
        if query.root_attr == "query":
            known_root = bool(roots & self.models)
        else:
            known_root = any(self._is_session(root) for root in roots)
        if not known_root or set(query.methods) & COLUMN_ONLY:
            return False
        if query.terminal not in OBJECT_TERMINALS:
            return False
        return bool(self.resolve_all(query.entities) & self.models)

    @cached_property
    def global_caches(self) -> dict:
        """Module-level names bound at import to ORM objects, with why they cannot be
        rewritten (None when they can)."""
        found = {}
        read_at_import = {
            ref: facts.path for facts in self.modules.values()
            for ref in self.resolve_all(facts.orm.import_time_refs)
        }
        declared_global = {q for facts in self.modules.values() for q in facts.orm.declared_global}
        for facts in self.modules.values():
            for cached in facts.orm.globals:
                if not self.returns_orm_objects(cached.query):
                    continue
                problem = None
                if cached.qname in declared_global:
                    problem = "it is reassigned through `global`"
                elif cached.qname in read_at_import:
                    where = os.path.relpath(read_at_import[cached.qname])
                    problem = f"it is read while modules are imported ({where})"
                else:
                    for path, text in self.unparsed:
                        if cached.name in text:
                            problem = f"{os.path.relpath(path)}, which could not be parsed, mentions it"
                            break
                found[cached.qname] = (cached, problem)
        return found

    @cached_property
    def global_cache_modules(self) -> frozenset[str]:
        return frozenset(q.rpartition(".")[0] for q in self.global_caches)

    @cached_property
    def cache_function_names(self) -> dict[str, str]:
        """The name the function replacing a module-level cache gets: the constant's name in
        snake case (pep8-naming's N802 flags `def SUPPORTED_ASSETS():`), unless that name
        appears anywhere in a module the fix edits, or the module lists `__all__`."""
        names = {}
        for qname, (cached, problem) in self.global_caches.items():
            old = cached.name
            new = old.lower()
            if problem is not None or not old.isupper() or new == old:
                continue
            module = self.registry_module(qname)
            edited = [self.modules[module]] + [
                facts for facts in self.modules.values()
                if facts.name != module and (
                    qname in self.resolve_all(facts.bindings.values())
                    or any(t == module for t in facts.bindings.values())
                )
            ]
            if "__all__" in self.modules[module].module_names:
                continue
            word = re.compile(rf"\b{re.escape(new)}\b")
            if any(_mentions(facts.path, word) for facts in edited):
                continue
            names[qname] = new
        return names

    @cached_property
    def cache_cleared(self) -> frozenset[str]:
        return frozenset(
            q for facts in self.modules.values() for q in self.resolve_all(facts.orm.cache_clear)
        )

    @cached_property
    def flask_caches(self) -> frozenset[str]:
        return frozenset(q for facts in self.modules.values() for q in facts.orm.flask_caches)

    def caches_orm_objects(self, cached) -> str | None:
        """Who caches ``cached``'s ORM objects across requests (FS004): "Flask-Caching" or
        "cachetools", or None."""
        if cached.kind == "flask-caching":
            if not self.resolve_all(cached.decorator) & self.flask_caches:
                return None
            by = "Flask-Caching"
        elif cached.kind == "cachetools":
            by = "cachetools"
        else:
            return None
        if cached.returns_plain:
            return None
        return by if any(self.returns_orm_objects(q) for q in cached.queries) else None

    def orm_caches(self, modules) -> list[str]:
        """The functions of ``modules`` whose ORM objects a cache keeps across requests."""
        return [
            cached.qname
            for name in sorted(modules) if name in self.modules
            for cached in self.modules[name].orm.cached
            if self.caches_orm_objects(cached)
        ]


    # -- views, commits and cleanups (the report rules) ---------------------------------------
    @cached_property
    def flask_classes(self) -> frozenset[str]:
        """Project classes deriving, at any depth, from Flask (`class App(Flask)`)."""
        bases = {cls: self.resolve_all(parents) for f in self.modules.values() for cls, parents in f.orm.classes.items()}
        found = {cls for cls, parents in bases.items() if parents & FLASK}
        grew = True
        while grew:
            grew = False
            for cls, parents in bases.items():
                if cls not in found and parents & found:
                    found.add(cls)
                    grew = True
        return frozenset(found)

    def apps_of(self, facts) -> list:
        """The module's Flask apps: `Flask(...)` calls, and `App(__name__)` calls of a class
        that derives from Flask."""
        found = self._apps_of.get(facts.name)
        if found is None:
            made = [
                app for app, made_by in facts.app_candidates
                if self.flask_classes and self.resolve_all(made_by) & self.flask_classes
            ]
            apps = [self._unwrapped(app) for app in facts.apps]
            found = self._apps_of[facts.name] = [*apps, *made]
        return found

    def _unwrapped(self, app: AppDef) -> AppDef:
        """`app = router(Flask(__name__))` binds the Flask app when `router` is a project
        function that returns that argument; otherwise the name holds something else."""
        if not app.wrapped_by:
            return app
        for wrapper in self.resolve_all(app.wrapped_by):
            function = self.functions.get(wrapper)
            if function is not None and function.returns_param == app.wrapped_arg:
                return app
        return replace(app, qname=None, var=None)

    @cached_property
    def apps(self) -> frozenset[str]:
        return frozenset(a.qname for f in self.modules.values() for a in self.apps_of(f) if a.qname)

    @cached_property
    def served(self) -> frozenset[str]:
        """What production code registers views or blueprints on (`@app.route`,
        `register_blueprint`)."""
        return self.resolve_all(q for f in self.production for q in f.routed)

    @cached_property
    def served_anywhere(self) -> frozenset[str]:
        """The same, tests included: what an app a test makes serves."""
        return self.resolve_all(q for f in self.modules.values() for q in f.routed)

    def made_for_workers(self, app, facts) -> str | None:
        """The Celery app a module-level Flask app is made beside, when the Flask app serves
        no request (no view or blueprint is registered on it) and no task pushes an app
        context: a configuration-only app for workers, whose teardown never runs."""
        served = self.served if facts.name in self.production_names else self.served_anywhere
        if app.function is not None or app.qname is None or app.qname in served:
            return None
        # Equal, not the same object: a module parsed in a worker is parsed again to be checked.
        celery = sorted(q for q, home in self.celery_apps.items() if home == facts)
        celery += sorted(q for q, home in self.celery_factories.items() if home == facts)
        if not celery:
            return None
        jobs = [j for kind in self.worker_jobs.values() for j in kind]
        modules = {self.function_module(j) for j in jobs} | {facts.name}
        modules |= {f.name for f in self.celery_apps.values()} | {f.name for f in self.celery_factories.values()}
        production = {f.name for f in self.production}
        if any(self.modules[m].reports.app_contexts for m in modules & production):
            return None
        return celery[0]

    @cached_property
    def blueprints(self) -> frozenset[str]:
        return frozenset(q for f in self.modules.values() for q in f.reports.blueprints)

    @cached_property
    def flask_sqlalchemy(self) -> frozenset[str]:
        return frozenset(q for f in self.modules.values() for q in f.orm.flask_sqlalchemy)

    @cached_property
    def instantiated_at_import(self) -> frozenset[str]:
        return frozenset(q for f in self.production for q in f.reports.instantiated_at_import)

    def is_view(self, owners) -> bool:
        return bool(self.resolve_all(owners) & (self.apps | self.blueprints))

    def is_session(self, owner) -> bool:
        return any(self._is_session(q) for q in self.resolve_all(owner))

    def is_session_scope(self, callee) -> bool:
        """`with X(...)` where X makes a session or begins a session's transaction."""
        names = self.resolve_all(callee)
        helpers = set(self.existing_helpers.values())
        if names & (self.factories.keys() | SESSION_CLASS | helpers):
            return True
        return any(n.endswith(".begin") and self._is_session(n[: -len(".begin")]) for n in names)

    @cached_property
    def _committers(self) -> frozenset[str]:
        return frozenset(
            call.function
            for f in self.modules.values()
            for call in f.reports.session_calls
            if call.method in ("commit", "rollback") and call.function
        )

    def commits(self, function: str) -> bool:
        """Whether ``function``, or anything it calls in the project, commits or rolls back."""
        seen, todo = set(), [function]
        while todo:
            qname = todo.pop()
            if qname in seen:
                continue
            seen.add(qname)
            if qname in self._committers:
                return True
            info = self.functions.get(qname)
            if info is not None:
                todo.extend(self.resolve(c) for c in info.calls)
        return False

    def commits_around(self, function: str) -> bool:
        """Whether a decorator of ``function`` commits or rolls back for it: the decorator,
        or a function defined inside it (its wrapper), commits."""
        info = self.functions.get(function)
        return info is not None and any(self._decorator_commits(self.resolve(d)) for d in info.decorators)

    def _decorator_commits(self, decorator: str) -> bool:
        found = self._decorators_committing.get(decorator)
        if found is None:
            inner = decorator + ".<locals>."
            found = self.commits(decorator) or any(
                self.commits(qname) for qname in self.functions if qname.startswith(inner)
            )
            self._decorators_committing[decorator] = found
        return found

    @cached_property
    def requestless_contexts(self) -> list[tuple[str, Path, object]]:
        """Where the project runs app code with no request, so that `teardown_request`
        never runs: CLI commands and app contexts pushed in functions, outside tests and
        migrations, as ("command" or "app context", path, location), in path order."""
        found = []
        for facts in sorted(self.modules.values(), key=lambda f: str(f.path)):
            if is_test_module(facts.path) or self.runs_apart(facts) == "migration":
                continue
            found += [("command", facts.path, where) for where in facts.cli_commands.values()]
            found += [("app context", facts.path, where) for where in facts.reports.app_contexts]
        return found

    @cached_property
    def teardown_commits(self) -> bool:
        return any(
            self.commits(self.resolve(h))
            for f in self.modules.values()
            for reg in f.registrations
            if reg.kind != "after_request"
            for h in reg.handler
        )

    def late_cleanups(self) -> list:
        """after_request/teardown_request registrations that remove a registry which no
        teardown_appcontext of the same app removes."""
        return self._late_cleanups

    @cached_property
    def request_scoped(self) -> bool:
        """Whether a registry of the project is scoped by Flask's request context
        (`scopefunc=lambda: request_ctx._get_current_object()`, pycroft): its `remove()` only
        works while that context is there, so `teardown_request` is its place, and in
        `teardown_appcontext`, which runs after the request context is popped, it raises."""
        names = {n for facts in self.modules.values() for n in facts.reports.scopefunc_names}
        return any(n == r or n.startswith(r + ".") for n in names for r in REQUEST_CONTEXT)

    @cached_property
    def _late_cleanups(self) -> list:
        late = []
        for facts in self.modules.values():
            for app in self.apps_of(facts):
                if not app.qname:
                    continue
                regs = self.registrations_for(app, facts.name)
                early = set()
                for reg in regs:
                    if reg.kind in ("teardown_appcontext",):
                        early |= self.reach(reg.handler).removes
                for reg in regs:
                    if reg.kind == "teardown_request" and self.request_scoped:
                        continue  # the registry lives and dies with the request context: right
                    if reg.kind in ("after_request", "teardown_request"):
                        removed = self.reach(reg.handler).removes & self.registries.keys()
                        if removed - early and reg not in late:
                            late.append(reg)
        return late


def _mentions(path, word: re.Pattern) -> bool:
    """Whether the file's text has ``word`` (an unreadable file counts as yes)."""
    try:
        return word.search(path.read_text(encoding="utf-8", errors="replace")) is not None
    except OSError:
        return True


def _snake(name: str) -> str:
    out = []
    for i, char in enumerate(name):
        if char.isupper() and i and not name[i - 1].isupper():
            out.append("_")
        out.append(char.lower())
    snake = "".join(out)
    return snake if "session" in snake else f"{snake}_session"
