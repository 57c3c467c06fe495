"""FS001 adds the teardown that calls ``REGISTRY.remove()`` to every Flask app that uses a
``scoped_session`` registry without one; FS002 turns ``REGISTRY.close()`` in a teardown into
``remove()``. Both read the project index, so registries, apps and teardowns may live in
different modules and be imported under any spelling.
"""

from __future__ import annotations

import ast
import os
from typing import Iterator

from ..analysis.walk import walk
from ..analysis.facts import AppDef
from .base import FileContext, Finding, Fix, Rule
from .edits import insert_after
from .imports import import_code, reference

HANDLER = "shutdown_session"


def where_defined(index, qname: str) -> str:
    definition = index.registries[qname][0]
    path = index.modules[index.registry_module(qname)].path
    return f"{os.path.relpath(path)}:{definition.location.line}"


class MissingTeardown(Rule):
    code = "FS001"
    name = "missing-teardown"
    what = (
        "A `scoped_session` registry used by a Flask app that registers no "
        "`teardown_appcontext`/`teardown_request` handler reaching `REGISTRY.remove()`."
    )
    why = (
        "`scoped_session` gives one session per thread, not per request. Without `remove()` when "
        "the request ends, a pooled worker thread keeps the same session, its identity map and "
        "its open transaction for ever: on a database with per-transaction snapshots (MySQL, "
        "PostgreSQL REPEATABLE READ, SQLite WAL) every later request on that thread reads the "
        "snapshot taken by an earlier one, with no error anywhere."
    )
    example = (
        "db_session = scoped_session(sessionmaker(bind=engine))\n\n"
        "app = Flask(__name__)\n"
    )
    use_instead = (
        "db_session = scoped_session(sessionmaker(bind=engine))\n\n"
        "app = Flask(__name__)\n\n\n"
        "@app.teardown_appcontext\n"
        "def shutdown_session(exception=None):\n"
        "    db_session.remove()\n"
    )
    fix_safety = (
        "Safe when the registry has one definition and the app is bound to a name: the handler "
        "is registered right after the app is created (inside the factory, so every return path "
        "is covered). Objects that views keep past the request come back detached afterwards; "
        "FS003 finds those. Unsafe where the app caches ORM objects with Flask-Caching or "
        "cachetools (FS004): every cache hit would hand out detached objects; the message names "
        "the caches. Code that pushes nested `app.app_context()`s inside a request will "
        "see `remove()` run when the inner context pops (flask-sqlalchemy #508)."
    )

    @classmethod
    def may_apply(cls, facts, index) -> bool:
        # `check`'s three parts, run on the facts: a file they find nothing in is not read
        # again (privacyidea's SQL audit, stats and resolver modules each make a registry
        # that an app's teardown removes).
        return any(
            next(found, None) is not None
            for found in (cls._shadowed_in(facts, index), cls._class_held_in(facts, index),
                          cls._apps_missing(facts, index))
        )

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        yield from self._shadowed(ctx)
        yield from self._class_held(ctx)
        index = ctx.index
        for app, missing in self._apps_missing(ctx.facts, index):
            names = ", ".join(f"`{index.registries[q][0].name}` ({where_defined(index, q)})" for q in missing)
            message = (
                f"Flask app `{app.var or 'Flask(...)'}` uses scoped_session {names} but no "
                f"teardown calls `remove()`: worker threads keep one session and its transaction "
                f"across requests"
            )
            fix, reason = self._fix(ctx, app, missing)
            if reason and fix is not None:
                message += f" (unsafe fix: {reason})"
            elif reason:
                message += f" (not fixed: {reason})"
            yield self.finding(ctx, app.location, message, fix)

    @staticmethod
    def _apps_missing(facts, index) -> Iterator[tuple[AppDef, list[str]]]:
        """Each app of the module whose teardowns leave registries it uses without
        `remove()`, with those registries."""
        used = index.registries_used_by(facts.name) if index.registries else []
        if not used:
            return
        # `log = logging.getLogger(__name__)` is an app candidate too: ask which apps it makes.
        for app in index.apps_of(facts):
            if index.made_for_workers(app, facts):
                continue  # FS013's: its teardown would never run
            handlers = (
                h for reg in index.registrations_for(app, facts.name) for h in reg.handler
            ) if app.qname else ()
            reach = index.reach(handlers)
            if reach.unknown_remove:
                continue  # a handler removes something we cannot name: trust it
            missing = [q for q in used if q not in reach.removes | reach.closes]
            if missing:
                yield app, missing

    def _shadowed(self, ctx: FileContext) -> Iterator[Finding]:
        """A teardown removes a module global that a function meant to fill but did not: it
        bound a local of the same name (no `global`), so the global stays None."""
        for name, function, location in self._shadowed_in(ctx.facts, ctx.index):
            yield self.finding(ctx, location, (
                f"`{name} = scoped_session(...)` in `{function.rpartition('.')[2]}()` binds a "
                f"local name: the module's `{name}` stays None, so the teardown's "
                f"`{name}.remove()` fails with AttributeError and no session is ever removed; "
                f"declare `global {name}` first"
            ))

    @staticmethod
    def _shadowed_in(facts, index) -> Iterator[tuple[str, str, object]]:
        removed = None
        for name, (function, location) in sorted(facts.shadowed_registries.items()):
            qname = f"{facts.name}.{name}"
            if name not in facts.placeholders or qname in index.registries:
                continue
            if removed is None:
                removed = index.reach(index.teardown_handlers).removes
            if qname in removed:
                yield name, function, location

    def _class_held(self, ctx: FileContext) -> Iterator[Finding]:
        """`self.Session = scoped_session(...)` in a method of a class an app's modules import,
        with no `.Session.remove()` anywhere: the registry's teardown goes next to it, on the
        app the method is given (`init_app(self, app)`)."""
        for cls, attr, method, location, (app_path, app) in self._class_held_in(ctx.facts, ctx.index):
            where = f"{os.path.relpath(app_path)}:{app.location.line}"
            message = (
                f"scoped_session `self.{attr}` of `{cls.rpartition('.')[2]}` (made in "
                f"`{method.rpartition('.')[2]}()`) is used by Flask app `{app.var or 'Flask(...)'}` "
                f"({where}) but no teardown calls its `remove()`: worker threads keep one session "
                f"and its transaction across requests"
            )
            fix, reason = self._fix_class_held(ctx, cls, attr, method)
            yield self.finding(ctx, location, f"{message} (not fixed: {reason})" if reason else message, fix)

    @staticmethod
    def _class_held_in(facts, index) -> Iterator[tuple]:
        for cls, attr, method, location in facts.class_registries:
            if attr in index.removed_attributes:
                continue  # some handler removes `<something>.Session`: trust it
            apps = index.apps_importing(facts.name)
            if apps:
                yield cls, attr, method, location, apps[0]

    def _fix_class_held(self, ctx: FileContext, cls: str, attr: str, method: str):
        node = ctx.collected.function_nodes.get(method)
        statement = ctx.collected.class_registry_statements.get((cls, attr))
        if node is None or statement is None:
            return None, "its method could not be read"
        params = [a.arg for a in (*node.args.posonlyargs, *node.args.args)]
        if node.name == "init_app" and len(params) >= 2:
            app = params[1]
        elif "app" in params[1:]:
            app = "app"
        else:
            return None, f"`{node.name}()` is given no app to register a teardown on"
        handler = unused_name(node, HANDLER)
        code = (
            f"@{app}.teardown_appcontext\n"
            f"def {handler}(exception=None):\n"
            f"    {params[0]}.{attr}.remove()\n"
        )
        edits = insert_after(ctx, statement, code, blank_lines=1)
        if edits is None:
            return None, "the registry is made in a one-line block"
        return Fix("safe", edits), None

    # -- the fix ------------------------------------------------------------------------------
    def _fix(self, ctx: FileContext, app: AppDef, missing: list[str]):
        index, facts = ctx.index, ctx.facts
        statement = ctx.collected.app_statements.get(app.location)
        if app.wrapped_by and app.var is None:
            wrapper = min(app.wrapped_by).rpartition(".")[2]
            return None, (
                f"the app is wrapped by `{wrapper}(...)`, which fixsessions cannot see return it: "
                f"register the teardown on the Flask app before it is wrapped"
            )
        if app.var is None or statement is None:
            return None, "the app is not assigned to a plain name"
        if index.unpatched_gevent:
            return None, "gevent runs without monkey-patching, so greenlets share the session (FS012)"
        if index.request_scoped:
            return None, (
                "a registry is scoped by the request context: its `remove()` belongs in "
                "`teardown_request`, and fails in `teardown_appcontext`, which runs after that "
                "context is popped"
            )
        for qname in missing:
            if len(index.registries[qname]) > 1:
                return None, f"`{qname}` is defined more than once"
            module, _, name = qname.rpartition(".")
            line = index.modules[module].not_registry.get(name) if module in index.modules else None
            if line is not None and not any(d.made_by and d.location.line == line for d in index.registries[qname]):
                return None, (
                    f"`{name}` is also bound to something that is not a scoped_session (line "
                    f"{line}), where `{name}.remove()` would fail"
                )

        reached = registry_references(ctx, missing)
        if isinstance(reached, str):
            return None, reached
        references, imports, local_imports = reached

        scope = ctx.collected.function_nodes.get(app.function) if app.function else ctx.tree
        handler = unused_name(scope, HANDLER)
        lines = [f"@{app.var}.teardown_appcontext", f"def {handler}(exception=None):"]
        lines += [f"    {import_code(i)}" for i in local_imports]
        for qname, ref in zip(missing, references):
            module, _, name = qname.rpartition(".")
            if name in index.modules[module].placeholders:  # None until something fills it
                lines += [f"    if {ref} is not None:", f"        {ref}.remove()"]
            else:
                lines.append(f"    {ref}.remove()")
        code = "\n".join(lines) + "\n"
        edits = insert_after(ctx, statement, code, blank_lines=1 if app.function else 2)
        if edits is None:
            return None, "the app is created in a one-line block"
        caches = index.orm_caches(index.closure(facts.name))
        if caches:
            # Today a cache hit hands out objects of a session that lives on; after the fix
            # that session is removed at the end of the request that filled the cache.
            names = ", ".join(f"`{q.rpartition('.')[2]}`" for q in caches)
            return Fix("unsafe", edits, imports), (
                f"the app caches ORM objects across requests ({names}, FS004): after `remove()` "
                f"every cache hit hands out detached objects (DetachedInstanceError on attributes "
                f"not loaded yet); fix those caches first"
            )
        return Fix("safe", edits, imports), None


def registry_references(ctx: FileContext, qnames: list[str]):
    """How a handler added to this module reaches each registry: (expressions, imports to
    add at the top, imports to put inside the handler because the registry's module imports
    this one back), or the reason it cannot."""
    references, imports, local_imports = [], [], []
    for qname in qnames:
        ref, item = registry_reference(ctx, qname)
        if ref is None:
            return item
        references.append(ref)
        if item is None:
            continue
        module = ctx.index.registry_module(qname)
        if ctx.facts.name in ctx.index.closure(module) or _imported_lazily(ctx.facts, module):
            local_imports.append(item)
        else:
            imports.append(item)
    return references, imports, local_imports


def _imported_lazily(facts, module: str) -> bool:
    """This module imports ``module`` only inside functions (a `create_app()` importing the
    database module when called): a new module-level import would run it, engine and all,
    whenever this module is imported."""
    inside = module + "."
    imported = any(name == module or name.startswith(inside) for name in facts.imported)
    bound = any(t == module or t.startswith(inside) for t in facts.bindings.values())
    return imported and not bound


def registry_reference(ctx: FileContext, qname: str):
    """How this module reaches the registry: as `reference` has it, except for a registry
    bound later through `global`, which only its module's attribute sees (an imported name
    keeps the placeholder it had at import)."""
    if not any(d.rebound for d in ctx.index.registries[qname]):
        return reference(ctx, qname)
    module, _, name = qname.rpartition(".")
    if "." not in module:
        return None, f"`{name}` is bound later through `global` in the top-level module `{module}`"
    ref, item = reference(ctx, module)
    return (f"{ref}.{name}", item) if ref is not None else (None, item)


def unused_name(scope: ast.AST, base: str) -> str:
    """``base``, or ``base_2``, ``base_3``... when the scope already spells it."""
    taken = identifiers(scope)
    candidate, number = base, 2
    while candidate in taken:
        candidate, number = f"{base}_{number}", number + 1
    return candidate


def identifiers(tree: ast.AST) -> set[str]:
    """Every identifier spelled in ``tree``: names, attributes, definitions, parameters,
    keywords and imported names (what LibCST's `Name` nodes are)."""
    found: set[str] = set()
    for node in walk(tree):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.add(node.name)
        elif isinstance(node, ast.arg):
            found.add(node.arg)
        elif isinstance(node, ast.keyword) and node.arg:
            found.add(node.arg)
        elif isinstance(node, ast.alias):
            found.update(node.name.split("."))
            if node.asname:
                found.add(node.asname)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            found.update(node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            found.add(node.name)
    return found


class TeardownClose(Rule):
    code = "FS002"
    name = "teardown-close"
    what = "A teardown handler that calls `REGISTRY.close()` on a `scoped_session` registry."
    why = (
        "`close()` ends the session but leaves it in the registry. With the default thread-local "
        "scope the thread reuses it, and with a custom `scopefunc` (one key per request) every "
        "request leaves an entry behind that is never freed. `remove()` closes the session and "
        "discards the registry entry."
    )
    example = (
        "@app.teardown_appcontext\n"
        "def shutdown_session(exception=None):\n"
        "    db_session.close()\n"
    )
    use_instead = (
        "@app.teardown_appcontext\n"
        "def shutdown_session(exception=None):\n"
        "    db_session.remove()\n"
    )
    fix_safety = "Safe: `remove()` calls `close()` first, then drops the registry entry."

    @classmethod
    def may_apply(cls, facts, index) -> bool:
        if not (index.registries and any(f.closes for f in facts.functions.values())):
            return False
        handlers = index.teardown_handlers  # `check` looks at this module's handlers only
        return any(index.resolve(qname) in handlers for qname in facts.functions)

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        index = ctx.index
        handlers = index.teardown_handlers
        for qname, node in ctx.collected.function_nodes.items():
            if index.resolve(qname) not in handlers:
                continue
            function = ctx.facts.functions[qname]
            if index.resolve_all(function.removes) & index.resolve_all(function.closes):
                continue
            yield from self._closes(ctx, node)

    def _closes(self, ctx: FileContext, function: ast.AST) -> Iterator[Finding]:
        index = ctx.index
        for call in _walk_body(function):
            if not (
                isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                and call.func.attr == "close" and not call.args and not call.keywords
            ):
                continue
            owner = index.resolve_all(ctx.qnames(call.func.value))
            registries = sorted(q for q in owner if q in index.registries)
            if not registries:
                continue
            fix = Fix("safe", [(call.func, _to_remove)])
            name = index.registries[registries[0]][0].name
            message = (
                f"teardown calls `{name}.close()`: use `{name}.remove()`, which also discards "
                f"the registry's session"
            )
            yield self.finding(ctx, ctx.location(call), message, fix)


def _walk_body(function: ast.AST):
    for stmt in function.body:
        yield from walk(stmt)


def _to_remove(node, tree):
    return node.with_changes(attr=node.attr.with_changes(value="remove"))
