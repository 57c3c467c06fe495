"""What one module says about sessions and apps, read through qualified names.

`collect_facts` reads a module's `ast` once (with `Names` for scopes and imports), so
``scoped_session``, ``orm.scoped_session``, ``from sqlalchemy.orm.scoping import
scoped_session as ss`` and relative imports all resolve to the same names. The result is
plain, picklable data (`ModuleFacts`); the project-wide questions are answered by
`ProjectIndex` (index.py). `CollectedModule` adds the `ast` nodes the rules edit. A test
module that sets up no session machinery is read for its imports and names only
(`reads_partly`, `_test_module_facts`).
"""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from .walk import INERT, walk
from .location import Location, Positions, suppresses
from .names import FUNCTIONS, Names, absolute_module
from .orm import CacheCollector, OrmFacts, collect_orm
from .reports import ReportFacts, collect_reports
from .sessions import (
    INLINE_SESSIONMAKER,
    SESSION_METHODS,
    SESSIONMAKER,
    Plan,
    SessionFacts,
    analyse_block,
    is_session_helper,
)

__all__ = ["Location", "ModuleFacts", "collect_facts", "module_name_for"]

SCOPED_SESSION = frozenset(
    {"sqlalchemy.orm.scoped_session", "sqlalchemy.orm.scoping.scoped_session"}
)
FLASK = frozenset({"flask.Flask", "flask.app.Flask"})
# What makes an app serve requests: views and blueprints registered on it.
ROUTES = frozenset({
    "route", "get", "post", "put", "patch", "delete", "add_url_rule", "register_blueprint",
    "endpoint",
})

def _subclasses(base: type) -> frozenset[type]:
    found, todo = set(), [base]
    while todo:
        for kind in todo.pop().__subclasses__():
            found.add(kind)
            todo.append(kind)
    return frozenset(found)


# Every statement node class: `type(node) in STATEMENTS` costs less than `isinstance` on a
# base class, for each of the hundreds of thousands of nodes of an app.
STATEMENTS = _subclasses(ast.stmt)
SYS_PATH = frozenset({"sys.path.insert", "sys.path.append", "site.addsitedir"})
CELERY = frozenset({"celery.Celery", "celery.app.Celery", "celery.app.base.Celery"})
# `@click.command()`: a stand-alone command, which pushes no Flask app context of its own
CLICK_ONLY = frozenset({"click.command", "click.group", "click.decorators.command"})
# Ways to register an end-of-request handler. `after_request` is late (skipped when a view
# raises: FS010), but a handler there still counts as present for FS001.
TEARDOWN_KINDS = frozenset(
    {"teardown_appcontext", "teardown_request", "teardown_app_request", "after_request"}
)
BLOCKS = ("body", "orelse", "finalbody")
ALEMBIC_BIND = "alembic.op.get_bind"
TEST_FOLDERS = frozenset({"test", "tests", "testing"})
PROJECT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", ".git")


def is_test_module(path: Path | None) -> bool:
    """A test module, by pytest's and unittest's naming: named `test_*.py`, `*_test.py` or
    `conftest.py`, or in a `test`, `tests` or `testing` folder of its project (the folders
    above the nearest `pyproject.toml`, `setup.py`, `setup.cfg` or `.git` do not count)."""
    if path is None:
        return False
    name = path.name
    if name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py":
        return True
    return any(part in TEST_FOLDERS for part in _folders_in_project(path.parent))


# Words of a test module that sets up what production findings may rest on: sessions and their
# registries, end-of-request handlers, gevent's patching, declarative bases and Flask
# extensions, Celery apps, session classes and `@contextmanager` session helpers (which teach
# the pre-filter the names of the files to read). A test module with none of them is read partly.
SETS_UP = frozenset({
    "scoped_session", "sessionmaker", "create_scoped_session", "query_property",
    "teardown_appcontext", "teardown_request", "teardown_app_request", "after_request",
    "patch_all", "declarative_base", "DeclarativeBase", "SQLAlchemy", "Cache", "Celery",
    "__exit__", "contextmanager",
})
_SETS_UP = re.compile(r"\b(?:" + "|".join(sorted(SETS_UP)) + r")\b")


def reads_partly(path: Path | None, text: str) -> bool:
    """Whether the module is read for its imports and module-level names only: a test module
    (`is_test_module`) of a project with a marker file, whose text names none of `SETS_UP`. Its apps, sessions and caches are
    there on purpose (docs/catalog.md: "not production findings"), and the collectors took
    about twice the parse's time on test code, 42% of the bytes of 21 real apps."""
    if not is_test_code(path):
        return False
    # A substring search per word first: the pattern alone reads 10 MB of tests in 0.4 s.
    return not any(word in text for word in SETS_UP) or _SETS_UP.search(text) is None


@lru_cache(maxsize=None)  # asked of every module once a round: cleared when a run starts
def is_test_code(path: Path | None) -> bool:
    """A test module (`is_test_module`) of a project with a marker file: what it does runs in
    the test suite, not in production. With no marker, `is_test_module` guesses from the
    nearest folders, and an app in a folder named `tests` would be all test code."""
    if path is None:
        return False
    path = Path(os.path.abspath(path))
    return is_test_module(path) and _in_a_project(path.parent)


def _in_a_project(folder: Path) -> bool:
    """Whether a folder at or above ``folder`` holds a project marker."""
    while not any((folder / marker).exists() for marker in PROJECT_MARKERS):
        if folder.parent == folder:
            return False
        folder = folder.parent
    return True


def _commits_self(function: ast.AST) -> bool:
    """Whether the method calls `self.commit()` (the first parameter's, whatever its name)."""
    args = function.args.posonlyargs + function.args.args
    if not args:
        return False
    me = args[0].arg
    return any(
        isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        and node.func.attr == "commit" and isinstance(node.func.value, ast.Name)
        and node.func.value.id == me
        for node in ast.walk(function)
    )


def is_main_guard(stmt: ast.stmt) -> bool:
    """``if __name__ == "__main__":``"""
    test = stmt.test if isinstance(stmt, ast.If) else None
    return (
        isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)
        and {_constant_or_name(test.left), _constant_or_name(test.comparators[0])} == {"__name__", "'__main__'"}
    )


SERVING = frozenset({"run", "serve", "serve_forever", "run_simple"})


def _serves(stmt: ast.stmt) -> bool:
    """Whether a ``__main__`` block starts a server (``app.run()``, ``serve(app)``)."""
    for node in ast.walk(stmt):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in SERVING:
                return True
    return False


def _constant_or_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return repr(node.value)
    return None


@lru_cache(maxsize=1024)
def _folders_in_project(folder: Path) -> tuple[str, ...]:
    parts = []
    while not any((folder / marker).exists() for marker in PROJECT_MARKERS):
        if folder.parent == folder:
            return tuple(parts[:3])  # no project: the nearest folders only
        parts.append(folder.name)
        folder = folder.parent
    return tuple(parts)


class Where(NamedTuple):
    """A module's dotted name and its package."""

    name: str
    package: str


@dataclass
class RegistryDef:
    qname: str
    name: str
    location: Location
    rebound: bool = False  # bound in a function through `global`, not at module level
    made_by: bool = False  # `X = get_scoped_session()`: made by a project function


@dataclass
class AppDef:
    qname: str | None  # None when the Flask(...) call is not bound to a plain name
    var: str | None
    function: str | None  # qualified name of the enclosing function (factory), if any
    location: Location
    # `app = router(Flask(__name__))`: what wraps it, and at which argument
    wrapped_by: frozenset[str] = frozenset()
    wrapped_arg: int = -1


@dataclass
class Registration:
    """``target.<kind>(handler)``, in decorator or call form."""

    target: frozenset[str]
    kind: str
    handler: frozenset[str]  # qualified names of the handler function
    function: str | None  # enclosing function, for registrations on a parameter


@dataclass
class CallWithArgs:
    """A call passing names as arguments: how ``init_app(app)`` registrars are found."""

    callee: frozenset[str]
    args: tuple[tuple[int | str, frozenset[str]], ...]
    function: str | None


@dataclass
class FunctionFacts:
    qname: str
    params: tuple[str, ...]
    removes: set[str] = field(default_factory=set)  # X in X.remove()
    closes: set[str] = field(default_factory=set)  # X in X.close()
    unresolved_remove: bool = False  # .remove() on something no name resolves
    calls: set[str] = field(default_factory=set)
    decorators: set[str] = field(default_factory=set)  # what `@d` / `@d(...)` names
    removes_attrs: set[str] = field(default_factory=set)  # X in `<anything>.X.remove()`
    method_of: str | None = None  # the class, for a method
    returns_param: int | None = None  # every `return` hands back this positional parameter
    location: Location | None = None  # of its name
    returns_call: frozenset[str] = frozenset()  # `return X(...)` on every path: what X names


@dataclass
class ModuleFacts:
    name: str
    package: str
    path: Path
    bindings: dict[str, str] = field(default_factory=dict)  # module-level name -> target
    imported: set[str] = field(default_factory=set)  # absolute module names, anywhere
    relative_imports: int = 0
    absolute_sibling_imports: int = 0
    registries: list[RegistryDef] = field(default_factory=list)
    apps: list[AppDef] = field(default_factory=list)
    functions: dict[str, FunctionFacts] = field(default_factory=dict)
    registrations: list[Registration] = field(default_factory=list)
    # module-level `application = create_app()`: qualified name -> what the called names denote
    made_by: dict[str, frozenset[str]] = field(default_factory=dict)
    # `app = App(__name__)`: apps if the class they make derives from Flask (the index knows)
    app_candidates: list[tuple[AppDef, frozenset[str]]] = field(default_factory=list)
    # module-level names also bound to something that is no scoped_session -> first such line
    not_registry: dict[str, int] = field(default_factory=dict)
    placeholders: set[str] = field(default_factory=set)  # module-level `X = None`
    # `X = scoped_session(...)` in a function without `global X`, X also module-level:
    # name -> (function, where)
    shadowed_registries: dict[str, tuple[str, Location]] = field(default_factory=dict)
    celery_apps: dict[str, Location] = field(default_factory=dict)  # `X = Celery(...)`
    celery_factories: set[str] = field(default_factory=set)  # functions returning `Celery(...)`
    made_at: dict[str, Location] = field(default_factory=dict)  # where each `made_by` name is bound
    # `self.X = scoped_session(...)` in a method: (class, X, method, where)
    class_registries: list[tuple[str, str, str, Location]] = field(default_factory=list)
    main_guard: bool = False  # `if __name__ == "__main__":` at module level, starting no server
    partly: bool = False  # read for its imports and names only (`reads_partly`)
    # Read partly: the modules it imports as modules, at any depth (`import app`, `from pkg
    # import app`, `from app import *`), through which it may reach a module's names.
    module_imports: set[str] = field(default_factory=set)
    cli_commands: dict[str, Location] = field(default_factory=dict)  # `@app.cli.command()` & co.
    calls: list[CallWithArgs] = field(default_factory=list)
    module_names: set[str] = field(default_factory=set)  # every name bound at module level
    gevent_patched: bool = False  # calls gevent.monkey.patch_all()
    extends_sys_path: bool = False  # calls sys.path.insert(...), sys.path.append(...)
    routed: set[str] = field(default_factory=set)  # X of `@X.route(...)`, `X.register_blueprint(...)`
    sessions: SessionFacts = field(default_factory=SessionFacts)
    orm: OrmFacts = field(default_factory=OrmFacts)
    reports: ReportFacts = field(default_factory=ReportFacts)


def module_name_for(path: Path) -> tuple[Path, Where]:
    """The import root of ``path`` and its dotted name there: packages are the folders with an
    ``__init__.py``, and the root is the first folder above them that has none."""
    path = Path(os.path.abspath(path))
    root, packages = _package_of(path.parent)
    parts = list(packages) + ([] if path.stem == "__init__" else [path.stem])
    name = ".".join(parts)
    package = name if path.stem == "__init__" else name.rpartition(".")[0]
    return root, Where(name or path.stem, package)


@lru_cache(maxsize=4096)
def _package_of(directory: Path) -> tuple[Path, tuple[str, ...]]:
    """(import root, package names) of a folder, asked of the disk once per folder."""
    if directory.parent == directory or not (directory / "__init__.py").is_file():
        return _NAMESPACES.get(directory, (directory, ()))
    root, packages = _package_of(directory.parent)
    return root, (*packages, directory.name)


# Folders without `__init__.py` that the project imports as packages (PEP 420 namespace
# packages): folder -> (the import root above them, their dotted names). Set for one run by
# `set_namespace_packages`; forked workers inherit it.
_NAMESPACES: dict[Path, tuple[Path, tuple[str, ...]]] = {}


def set_namespace_packages(found: dict[Path, tuple[Path, tuple[str, ...]]]) -> None:
    if found != _NAMESPACES:
        _NAMESPACES.clear()
        _NAMESPACES.update(found)
        _package_of.cache_clear()


_NAMED = frozenset({ast.Name, ast.Attribute})  # what `CallWithArgs` records of arguments
# Node kind -> those of its fields that may hold a statement list (`If.body`, `Try.finalbody`;
# `IfExp.body` is an expression, which `_Collector.blocks` sees).
_WITH_BLOCKS = {
    kind: fields
    for kind in _subclasses(ast.AST)
    if (fields := tuple(name for name in BLOCKS if name in getattr(kind, "_fields", ())))
}


class _Collector:
    """One walk over the module, in source order, keeping the enclosing function and
    statement at hand (what LibCST's visitor gave through metadata)."""

    def __init__(self, facts: ModuleFacts, names: Names, positions: Positions) -> None:
        self.facts = facts
        self.names = names
        self.positions = positions
        self.functions: list[FunctionFacts] = []
        self.depth = 0  # >0 inside a function or class body
        self.lambdas = 0
        self.statement: ast.stmt | None = None
        self.parent: ast.AST | None = None
        # Nodes the rules edit, keyed the way the facts name them.
        self.app_statements: dict[Location, ast.stmt] = {}
        self.function_nodes: dict[str, ast.AST] = {}
        self.factory_statements: dict[str, ast.stmt] = {}
        self.class_registry_statements: dict[tuple[str, str], ast.stmt] = {}
        self.worker_statements: dict[str, ast.stmt] = {}  # `celery = Celery(...)`
        self.returns: dict[str, list] = {}  # function -> what its `return`s hand back
        self.celery_locals: set[tuple[str, str]] = set()  # (function, name) bound to `Celery(...)`
        self.session_plans: list[Plan] = []
        self.helper_depth = 0  # >0 inside a session helper: its session is the point
        self.blocks_seen: list[tuple[list[ast.stmt], str]] = []  # (statements, function)
        self.method_owners: set[str] = set()  # `s` of every `s.commit()` (SESSION_METHODS)
        self.cli_commands: set[str] = set()  # functions decorated with `@....command(...)`
        self.alembic_binds: set[tuple[str, str]] = set()  # (function, `conn` of conn = op.get_bind())

    def qnames(self, node: ast.AST) -> frozenset[str]:
        return self.names.qnames(node)

    def location(self, node: ast.AST) -> Location:
        return self.positions.location(node)

    def current(self) -> FunctionFacts | None:
        return self.functions[-1] if self.functions else None

    # -- the walk --------------------------------------------------------------------------
    def visit(self, node: ast.AST, parent: ast.AST | None) -> None:
        """Statements keep themselves as `statement` for their children; `parent` is what the
        handler of the node being entered reads (only `call` does)."""
        kind = type(node)
        if kind in STATEMENTS:
            outer_statement = self.statement
            self.statement = node
            self.parent = parent
            if kind in FUNCTIONS:
                self.function(node)
            elif kind is ast.ClassDef:
                self.klass(node)
            else:
                handler = self.HANDLERS.get(kind)
                if handler is not None:
                    handler(self, node)
                if (
                    self.functions and not self.helper_depth and kind in _WITH_BLOCKS
                    and "<lambda" not in self.functions[-1].qname
                ):
                    self.blocks(node)
                for child in node._fs_children:
                    if type(child) not in INERT:  # no handler takes a name or a constant
                        self.visit(child, node)
            self.statement = outer_statement
            return
        if kind is ast.Call:
            self.parent = parent
            self.call(node)
        elif kind is ast.Lambda:
            self.lambda_(node)
            return
        elif (
            (kind is ast.ExceptHandler or kind is ast.match_case)
            and self.functions and not self.helper_depth and "<lambda" not in self.functions[-1].qname
        ):
            self.blocks(node)
        for child in node._fs_children:
            if type(child) not in INERT:
                self.visit(child, node)

    def blocks(self, node: ast.AST) -> None:
        """Hand-made sessions created in each statement list of a function (LibCST's
        IndentedBlocks: a one-line ``if x: s = S()`` is none)."""
        for name in _WITH_BLOCKS.get(type(node), ()):
            body = getattr(node, name)
            if not body or not isinstance(body, list) or not isinstance(body[0], ast.stmt):
                continue
            if self._one_line(body[0]):
                continue
            self.blocks_seen.append((body, self.functions[-1].qname))

    def analyse_blocks(self) -> None:
        """After the walk, when every name a session method is called on is known."""
        if is_test_module(self.facts.path):
            # A test opens a second session on purpose (a race, a fresh read), and its
            # sessions end with the test run: no finding, and no helper in production code.
            return
        for body, function in self.blocks_seen:
            if function in self.cli_commands:
                continue  # `@cli.command()`: one command, one process; its session ends with it
            plans = analyse_block(
                body, function, lambda call, function=function: self.session_callee(call, function),
                self.positions, self.method_owners,
                skip=lambda call, function=function: self._on_alembic_connection(call, function),
            )
            # A suppressed session is none: no finding, and no helper generated for it alone.
            lines = self.positions.lines
            plans = [p for p in plans if not suppresses(lines[p.summary.location.line - 1], "FS005")]
            self.session_plans.extend(plans)
            self.facts.sessions.handmade.extend(p.summary for p in plans)

    def _on_alembic_connection(self, call: ast.Call, function: str) -> bool:
        """``Session(bind=op.get_bind())`` in a migration: the session rides Alembic's own
        connection and transaction, which Alembic commits or rolls back; it holds no
        pooled connection of its own."""
        for arg in (*call.args, *(k.value for k in call.keywords)):
            if isinstance(arg, ast.Call) and ALEMBIC_BIND in self.qnames(arg.func):
                return True
            if isinstance(arg, ast.Name) and (function, arg.id) in self.alembic_binds:
                return True
        return False

    def _one_line(self, stmt: ast.stmt) -> bool:
        lines = self.positions.lines
        line = lines[stmt.lineno - 1] if stmt.lineno <= len(lines) else ""
        return bool(line[: self.positions.column(stmt.lineno, stmt.col_offset)].strip())

    # -- imports ---------------------------------------------------------------------------
    def import_(self, node: ast.Import) -> None:
        for alias in node.names:
            name = alias.name
            parts = name.split(".")
            for i in range(len(parts)):
                self.facts.imported.add(".".join(parts[: i + 1]))
            if self.depth == 0:
                if alias.asname:
                    self.facts.bindings[alias.asname] = name
                else:
                    self.facts.bindings.setdefault(parts[0], parts[0])

    def import_from(self, node: ast.ImportFrom) -> None:
        level = node.level or 0
        base = absolute_module(node.module, level, self.facts.package)
        if level:
            self.facts.relative_imports += 1
        elif base.split(".")[0] == self.facts.name.split(".")[0] and "." in self.facts.name:
            self.facts.absolute_sibling_imports += 1
        self.facts.imported.add(base)
        for alias in node.names:
            if alias.name == "*":
                return
            name = alias.name
            self.facts.imported.add(f"{base}.{name}" if base else name)
            if self.depth == 0:
                local = alias.asname or name
                self.facts.bindings[local] = f"{base}.{name}" if base else name

    # -- definitions -----------------------------------------------------------------------
    def klass(self, node: ast.ClassDef) -> None:
        if self.depth == 0:
            self.facts.module_names.add(node.name)
        self.depth += 1
        if self.functions and not self.helper_depth and "<lambda" not in self.functions[-1].qname:
            self.blocks(node)
        for child in node._fs_children:
            self.visit(child, node)
        self.depth -= 1

    def function(self, node) -> None:
        if self.depth == 0:
            self.facts.module_names.add(node.name)
        qname = self.names.definition(node)
        args = node.args
        params = tuple(a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs))
        info = FunctionFacts(qname, params)
        scope = self.names.scope_of.get(id(node))
        if scope is not None and scope.kind == "class":
            info.method_of = scope.prefix
            if node.name == "__exit__" and _commits_self(node):
                self.facts.sessions.committing_exits.add(scope.prefix)
        self.facts.functions[qname] = info
        self.function_nodes[qname] = node
        info.location = self.positions.name_location(node)
        for decorator in node.decorator_list:
            called = decorator.func if isinstance(decorator, ast.Call) else decorator
            info.decorators |= self.qnames(called)
            if (isinstance(called, ast.Attribute) and called.attr == "command") or (
                isinstance(called, ast.Name) and called.id == "command"
            ):
                self.cli_commands.add(qname)  # click's, Flask's `app.cli`'s, Flask-Script's
                if not self.qnames(called) & CLICK_ONLY:  # a Flask app's command, not a script's
                    self.facts.cli_commands[qname] = self.positions.name_location(node)
            if isinstance(called, ast.Attribute) and called.attr in ROUTES:
                self.facts.routed |= self.qnames(called.value)  # `@app.route("/")`: it serves
            if isinstance(decorator, ast.Attribute) and decorator.attr in TEARDOWN_KINDS:
                self.facts.registrations.append(
                    Registration(
                        self.qnames(decorator.value),
                        decorator.attr,
                        frozenset({qname}),
                        self.current().qname if self.current() else None,
                    )
                )
        factories = is_session_helper(node, self.qnames)
        if factories:
            self.facts.sessions.helpers[qname] = factories
        self.helper_depth += bool(factories) or bool(self.helper_depth)
        self.functions.append(info)
        self.depth += 1
        if not self.helper_depth:
            self.blocks(node)
        for child in node._fs_children:
            self.visit(child, node)
        self._returned(info, node, self.returns.pop(qname, []))
        self.functions.pop()
        self.depth -= 1
        if self.helper_depth:
            self.helper_depth -= 1

    def lambda_(self, node: ast.Lambda) -> None:
        self.lambdas += 1
        info = FunctionFacts(f"{self.facts.name}.<lambda{self.lambdas}>", ())
        self.facts.functions[info.qname] = info
        self.functions.append(info)
        for child in node._fs_children:
            self.visit(child, node)
        self.functions.pop()

    def assign(self, node: ast.Assign) -> None:
        if self.depth == 0:
            for target in node.targets:
                if isinstance(target, ast.Name):
                    self.facts.module_names.add(target.id)
        if len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            self._assigned(node.targets[0], node.value)
        elif len(node.targets) == 1 and isinstance(node.targets[0], ast.Attribute):
            self._assigned_attribute(node.targets[0], node.value)

    def ann_assign(self, node: ast.AnnAssign) -> None:
        if isinstance(node.target, ast.Name):
            if self.depth == 0:
                self.facts.module_names.add(node.target.id)
            if node.value is not None:
                self._assigned(node.target, node.value)

    def return_(self, node: ast.Return) -> None:
        info = self.current()
        if info is not None:
            self.returns.setdefault(info.qname, []).append(node.value)

    def _returned(self, info: FunctionFacts, function, values: list) -> None:
        """What every `return` of the function hands back, when they agree: a positional
        parameter (`return app`), or a call (`return SessionLocal()`)."""
        if not values:
            return
        names = {v.id if isinstance(v, ast.Name) else None for v in values}
        positional = [a.arg for a in (*function.args.posonlyargs, *function.args.args)]
        if len(names) == 1 and (name := next(iter(names))) in positional:
            info.returns_param = positional.index(name)
        calls = {self.session_callee(v) if isinstance(v, ast.Call) else frozenset() for v in values}
        if len(calls) == 1:
            info.returns_call = calls.pop()
        if all(
            isinstance(v, ast.Call) and self.qnames(v.func) & CELERY
            or isinstance(v, ast.Name) and (info.qname, v.id) in self.celery_locals
            for v in values
        ):
            self.facts.celery_factories.add(info.qname)  # `def make_celery(app): ... return celery`

    def _assigned_attribute(self, target: ast.Attribute, value: ast.expr) -> None:
        """`self.Session = scoped_session(...)` in a method: a registry the class holds."""
        info = self.current()
        if info is None or info.method_of is None or not isinstance(value, ast.Call):
            return
        if not (isinstance(target.value, ast.Name) and info.params and target.value.id == info.params[0]):
            return
        callee = self.qnames(value.func)
        if callee & SCOPED_SESSION:
            self.facts.class_registries.append((info.method_of, target.attr, info.qname, self.location(target)))
            self.class_registry_statements[(info.method_of, target.attr)] = self.statement
        elif callee & SESSIONMAKER:
            self.facts.sessions.class_factories.add(f"{info.method_of}.{target.attr}")

    def _assigned(self, name: ast.Name, value: ast.expr) -> None:
        if self.depth == 0 and isinstance(value, (ast.Name, ast.Attribute)):
            # `Session = db_session`: an alias other modules may import.
            target = self.qnames(value)
            if len(target) == 1:
                self.facts.bindings[name.id] = next(iter(target))
        if not isinstance(value, ast.Call):
            if self.depth == 0 and isinstance(value, ast.Constant) and value.value is None:
                self.facts.placeholders.add(name.id)  # filled later (`global`), or never
            elif self.depth == 0:
                self.facts.not_registry.setdefault(name.id, value.lineno)
            return
        callee = self.qnames(value.func)
        if self.depth == 0 and callee:
            qname = f"{self.facts.name}.{name.id}"
            self.facts.made_by[qname] = callee
            if not callee & CELERY:
                self.facts.made_at[qname] = self.location(name)
                self.worker_statements[qname] = self.statement  # a Celery app, if a factory made it
        if callee & CELERY and self.functions:
            self.celery_locals.add((self.functions[-1].qname, name.id))
        if ALEMBIC_BIND in callee and self.functions:
            self.alembic_binds.add((self.functions[-1].qname, name.id))
        if callee & CELERY and self.depth == 0:
            qname = f"{self.facts.name}.{name.id}"
            self.facts.celery_apps[qname] = self.location(name)
            self.worker_statements[qname] = self.statement
        if callee & SESSIONMAKER and self.depth == 0:
            qname = f"{self.facts.name}.{name.id}"
            self.facts.sessions.factories.append((qname, self.location(name)))
            self.factory_statements[qname] = self.statement
            for keyword in value.keywords:
                if keyword.arg == "class_":
                    self.facts.sessions.factory_classes[qname] = self.qnames(keyword.value)
        if self.depth == 0 and not callee & SCOPED_SESSION:
            self.facts.not_registry.setdefault(name.id, value.lineno)
        if callee & SCOPED_SESSION and self.depth == 0:
            self.facts.registries.append(
                RegistryDef(f"{self.facts.name}.{name.id}", name.id, self.location(name))
            )
        elif callee & SCOPED_SESSION and self.functions:
            module_level = f"{self.facts.name}.{name.id}"
            if self.qnames(name) == {module_level}:  # `global X` first
                self.facts.registries.append(
                    RegistryDef(module_level, name.id, self.location(name), rebound=True)
                )
            else:
                self.facts.shadowed_registries.setdefault(
                    name.id, (self.functions[-1].qname, self.location(value))
                )

    # -- calls -----------------------------------------------------------------------------
    def call(self, node: ast.Call) -> None:
        qnames = self.names.qnames
        callee = qnames(node.func)
        if callee & FLASK:
            self._app(node)
        elif callee and node.args and isinstance(node.args[0], ast.Name) and node.args[0].id == "__name__":
            self._app(node, callee)  # `App(__name__)`: a Flask subclass, perhaps
        if "gevent.monkey.patch_all" in callee:
            self.facts.gevent_patched = True
        if callee & SYS_PATH:
            self.facts.extends_sys_path = True
        func = node.func
        info = self.functions[-1] if self.functions else None
        if isinstance(func, ast.Attribute):
            method = func.attr
            if method in SESSION_METHODS and isinstance(func.value, ast.Name):
                self.method_owners.add(func.value.id)
            if method in ("remove", "close") and not node.args and not node.keywords and info is not None:
                # Only a name or attribute names the object: `factory().remove()` does not.
                owner = (
                    self.qnames(func.value)
                    if isinstance(func.value, (ast.Name, ast.Attribute))
                    else frozenset()
                )
                if method == "remove":
                    info.removes |= owner
                    info.unresolved_remove |= not owner
                    if isinstance(func.value, ast.Attribute):
                        info.removes_attrs.add(func.value.attr)
                else:
                    info.closes |= owner
            if method in ("add_url_rule", "register_blueprint"):
                self.facts.routed |= self.qnames(func.value)
            if method in TEARDOWN_KINDS and len(node.args) + len(node.keywords) == 1:
                handler = node.args[0] if node.args else node.keywords[0].value
                handler_names = self.qnames(handler)
                if (
                    info is not None and info.method_of and isinstance(handler, ast.Attribute)
                    and isinstance(handler.value, ast.Name) and handler.value.id == "self"
                ):  # `app.teardown_appcontext(self.shutdown_session)` in a method
                    handler_names |= {f"{info.method_of}.{handler.attr}"}
                if isinstance(handler, ast.Lambda):
                    handler_names = frozenset({f"{self.facts.name}.<lambda{self.lambdas + 1}>"})
                self.facts.registrations.append(
                    Registration(
                        self.qnames(func.value), method, handler_names,
                        info.qname if info else None,
                    )
                )
        if info is not None:
            info.calls |= callee
        if not callee or not (node.args or node.keywords):
            return
        found = [
            (index, qnames(value)) for index, value in enumerate(node.args) if type(value) in _NAMED
        ]
        found += [
            (kw.arg, qnames(kw.value))
            for kw in node.keywords if kw.arg is not None and type(kw.value) in _NAMED
        ]
        if found:
            self.facts.calls.append(CallWithArgs(callee, tuple(found), info.qname if info else None))

    def session_callee(self, call: ast.Call, function: str | None = None) -> frozenset[str]:
        if isinstance(call.func, ast.Call) and self.qnames(call.func.func) & SESSIONMAKER:
            return frozenset({INLINE_SESSIONMAKER})
        info = self.facts.functions.get(function) if function else None
        func = call.func
        if (
            info is not None and info.method_of and info.params
            and isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
            and func.value.id == info.params[0]
        ):  # `self.Session()`: what the class holds under that name
            return self.qnames(func) | {f"{info.method_of}.{func.attr}"}
        return self.qnames(func)

    def _app(self, call: ast.Call, made_by: frozenset[str] | None = None) -> None:
        parent = self.parent
        if isinstance(parent, ast.Attribute) and parent.value is call:
            return  # `Flask(__name__).test_request_context()`: thrown away, serves no request
        info = self.current()
        function = info.qname if info and "<lambda" not in info.qname else None
        target = None
        wrapped: tuple = (frozenset(), -1)
        statement = self.statement
        if (
            isinstance(parent, ast.Call) and call in parent.args
            and isinstance(statement, ast.Assign) and statement.value is parent
            and len(statement.targets) == 1 and isinstance(statement.targets[0], ast.Name)
        ):  # `app = router(Flask(__name__))`: the app, if the wrapper hands it back
            target = statement.targets[0]
            wrapped = (self.qnames(parent.func), parent.args.index(call))
        elif isinstance(parent, ast.Assign) and parent.value is call:
            # `app = flask_app = CKANFlask(__name__)`: the first name it is bound to
            target = next((t for t in parent.targets if isinstance(t, ast.Name)), None)
        elif isinstance(parent, ast.AnnAssign) and parent.value is call:
            target = parent.target
        if isinstance(target, ast.Name):
            qname = min(self.qnames(target), default=None)
            app = AppDef(qname, target.id, function, self.location(call), *wrapped)
            self.app_statements[app.location] = self.statement
        else:
            app = AppDef(None, None, function, self.location(call))
        if made_by is None:
            self.facts.apps.append(app)
        elif app.var is not None:
            self.facts.app_candidates.append((app, made_by))

    HANDLERS = {
        ast.Import: import_,
        ast.ImportFrom: import_from,
        ast.Assign: assign,
        ast.AnnAssign: ann_assign,
        ast.Call: call,
        ast.Return: return_,
    }


@dataclass
class CollectedModule:
    """Facts plus the `ast` nodes they came from (not kept for files without findings)."""

    facts: ModuleFacts
    names: Names
    app_statements: dict[Location, ast.stmt]
    function_nodes: dict[str, ast.AST]
    factory_statements: dict[str, ast.stmt]
    session_plans: list[Plan]
    caches: CacheCollector
    class_registry_statements: dict[tuple[str, str], ast.stmt]
    worker_statements: dict[str, ast.stmt]


def collect_facts(
    tree: ast.Module, positions: Positions, path: Path, where: Where, partly: bool = False
) -> CollectedModule:
    """The module's facts; with ``partly``, only its imports, its module-level names and
    whether it extends `sys.path` (see `reads_partly`)."""
    if partly:
        return _test_module_facts(tree, path, where)
    return _module_facts(tree, positions, path, where)


def _test_module_facts(tree: ast.Module, path: Path, where: Where) -> CollectedModule:
    """What other modules need of a test module that sets up nothing: the modules it imports
    (`tests/test_main.py` importing `app.main` says where app/main.py is imported from), its
    module-level names with what its imports bind them to (how the pre-filter learns which
    files to read), and whether it puts a folder on `sys.path`. Its statements are walked,
    not its expressions. Where production code needs more of it (production imports it, or
    it reaches a cache: `engine.core._read_production_imports`, `_naming_caches`), it is read
    whole."""
    collected = _module_facts(ast.parse(""), Positions(""), path, where)  # no fact, every part
    facts = collected.facts
    facts.partly = True
    _TestModuleStatements(facts).body(tree.body, 0)
    if not {"sys", "site"}.isdisjoint(facts.imported):
        names = Names(tree, where.name, where.package)
        facts.extends_sys_path = any(
            type(node) is ast.Call and names.qnames(node.func) & SYS_PATH for node in walk(tree)
        )
    return collected


class _TestModuleStatements:
    """The imports and module-level names of a test module, in source order, as `_Collector`
    records them."""

    DEFINITIONS = (*FUNCTIONS, ast.ClassDef)

    def __init__(self, facts: ModuleFacts) -> None:
        self.collector = _Collector(facts, None, None)  # only its import handlers are called

    def module_imports(self, node: ast.Import | ast.ImportFrom) -> None:
        facts = self.collector.facts
        if type(node) is ast.Import:
            facts.module_imports.update(alias.name for alias in node.names)
            return
        try:
            base = absolute_module(node.module, node.level or 0, facts.package)
        except ImportError:
            return
        for alias in node.names:  # `from pkg import app` names module pkg.app, if it is one
            facts.module_imports.add(base if alias.name == "*" else f"{base}.{alias.name}" if base else alias.name)

    def body(self, statements: list, depth: int) -> None:
        collector, names = self.collector, self.collector.facts.module_names
        for node in statements:
            kind = type(node)
            if kind is ast.Import or kind is ast.ImportFrom:
                collector.depth = depth
                (collector.import_ if kind is ast.Import else collector.import_from)(node)
                self.module_imports(node)
                continue
            if depth == 0:
                if kind in self.DEFINITIONS:
                    names.add(node.name)
                elif kind is ast.Assign:
                    names.update(t.id for t in node.targets if type(t) is ast.Name)
                elif kind is ast.AnnAssign and type(node.target) is ast.Name:
                    names.add(node.target.id)
            inner = depth + 1 if kind in self.DEFINITIONS else depth
            for field_name in ("body", "orelse", "finalbody"):
                block = getattr(node, field_name, None)
                if block:
                    self.body(block, inner)
            for handler in getattr(node, "handlers", None) or ():  # try / try*
                self.body(handler.body, inner)
            for case in getattr(node, "cases", None) or ():  # match
                self.body(case.body, inner)


def _module_facts(tree: ast.Module, positions: Positions, path: Path, where: Where) -> CollectedModule:
    names = Names(tree, where.name, where.package)
    facts = ModuleFacts(where.name, where.package, path)
    collector = _Collector(facts, names, positions)
    for stmt in tree.body:
        collector.visit(stmt, tree)
        if is_main_guard(stmt) and not _serves(stmt):
            facts.main_guard = True
    collector.analyse_blocks()
    caches = collect_orm(tree, names, positions, where.name)
    facts.orm = caches.facts
    facts.reports = collect_reports(tree, names, positions, where.name)
    return CollectedModule(
        facts,
        names,
        collector.app_statements,
        collector.function_nodes,
        collector.factory_statements,
        collector.session_plans,
        caches,
        collector.class_registry_statements,
        collector.worker_statements,
    )
