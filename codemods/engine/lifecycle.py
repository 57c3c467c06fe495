"""`fixsessions lifecycle-test`: write a pytest module proving that each request ends its session,
for the Flask apps and the `scoped_session` registries the project index finds.

For each app and each registry it uses, two tests: a request that uses the registry leaves it
empty when its context is popped (FS001's teardown), and a read in a new request, after another
connection committed a change, emits a SELECT and sees the change. They run on a table of their
own, on the registry's database; when the engine's URL comes from an environment variable that
is not set, on a temporary SQLite file whose tables the app's models create.
"""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..analysis.facts import is_test_module
from ..analysis.index import ProjectIndex


@dataclass
class Target:
    """One app (module-level, or made by a factory) and the registries it uses."""

    module: str
    name: str  # the app's name, or the factory's
    factory: str | None  # why the factory cannot be called without arguments, or "" if it can
    registries: list[tuple[str, str]]  # (module, name)
    path: Path


@dataclass
class Project:
    root: Path
    targets: list[Target] = field(default_factory=list)
    models: list[str] = field(default_factory=list)  # modules defining the app's models
    database_env: str | None = None  # the environment variable the engine's URL comes from


def find(root: Path, index: ProjectIndex) -> Project:
    """The apps of one import root that use a module-level registry."""
    project = Project(root)
    for facts in sorted(index.modules.values(), key=lambda f: f.name):
        if is_test_module(facts.path) or index.runs_apart(facts):
            continue
        used = [
            q for q in index.registries_used_by(facts.name)
            if len(index.registries[q]) == 1 and index.registry_module(q) in index.modules
        ]
        if not used:
            continue
        for app in index.apps_of(facts):
            if app.function is None and app.qname == f"{facts.name}.{app.var}":
                name, factory = app.var, None
            elif app.function and app.function.rpartition(".")[0] == facts.name:
                name = app.function.rpartition(".")[2]
                factory = _uncallable(facts.path, name, app.var)
            else:
                continue  # an app made in a method or a nested function: nothing to import
            registries = [(index.registry_module(q), q.rpartition(".")[2]) for q in used]
            project.targets.append(Target(facts.name, name, factory, registries, facts.path))
    modules = sorted({m.rpartition(".")[0] for m in index.models})
    project.models = [m for m in modules if m in index.modules]
    for module in sorted({m for t in project.targets for m, _ in t.registries}):
        project.database_env = project.database_env or _database_env(index.modules[module].path)
    return project


def _uncallable(path: Path, factory: str, app: str | None) -> str:
    """Why ``factory()`` cannot make the app ("" when it can): required arguments, or it does
    not return the app."""
    tree = ast.parse(path.read_bytes())
    function = next(
        (n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == factory),
        None,
    )
    if function is None:
        return f"{factory} is not a module-level function"
    args = function.args
    required = [a.arg for a in args.posonlyargs + args.args][: len(args.posonlyargs + args.args) - len(args.defaults)]
    required += [a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is None]
    if required:
        return f"{factory}() needs {', '.join(required)}"
    returns = {
        n.value.id for n in ast.walk(function)
        if isinstance(n, ast.Return) and isinstance(n.value, ast.Name)
    }
    if app not in returns:
        return f"{factory}() does not return `{app}`"
    return ""


ENV_CALLS = {"os.environ.get", "os.getenv", "environ.get", "getenv"}


def _database_env(path: Path) -> str | None:
    """The variable in `create_engine(os.environ.get("VAR", ...))`, directly or through a
    module-level name, in the registry's module."""
    tree = ast.parse(path.read_bytes())
    bound = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            bound[stmt.targets[0].id] = stmt.value
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _dotted(node.func).endswith("create_engine") and node.args:
            argument = node.args[0]
            if isinstance(argument, ast.Name):
                argument = bound.get(argument.id, argument)
            variable = _env_variable(argument)
            if variable:
                return variable
    return None


def _env_variable(node: ast.expr) -> str | None:
    if isinstance(node, ast.Call) and _dotted(node.func) in ENV_CALLS and node.args:
        key = node.args[0]
    elif isinstance(node, ast.Subscript) and _dotted(node.value) in {"os.environ", "environ"}:
        key = node.slice
    else:
        return None
    return key.value if isinstance(key, ast.Constant) and isinstance(key.value, str) else None


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


# -- the module written -----------------------------------------------------------------------

HEADER = '''"""Session lifecycle tests, written by `fixsessions lifecycle-test`: each request must end
its SQLAlchemy session. They are yours now: edit them freely.

For each Flask app and each scoped_session registry it uses:
- a request that uses the registry leaves it empty once its context is popped (a teardown
  calls `remove()`; fixsessions FS001 adds it);
- a read in a new request, after another connection committed a change, emits a SELECT and
  sees the change (no session, identity map or snapshot survives from an earlier request).

They write to a table of their own, `fixsessions_lifecycle_probe`, created and dropped here.
"""

import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import MetaData, String, event, select, update
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
'''

PROBE = '''

class ProbeBase(DeclarativeBase):
    pass


class Probe(ProbeBase):
    """A row written on one connection and read through the registry."""

    __tablename__ = "fixsessions_lifecycle_probe"
    id: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[str] = mapped_column(String(20))


def engine_of(registry):
    bind = registry.session_factory.kw.get("bind")
    if bind is None:
        pytest.fail("the registry's sessionmaker has no bind=: give these tests its engine")
    return bind


def create_tables(engine, *modules):
    """The app's own tables, on a new database: its code may query them at import."""
    seen = set()
    for module in modules:
        for value in vars(module).values():
            metadata = getattr(value, "metadata", None)
            if isinstance(metadata, MetaData) and id(metadata) not in seen:
                seen.add(id(metadata))
                metadata.create_all(engine)


@pytest.fixture(scope="module")
def probe():
    """The probe table on every registry's database, with one row: ("old")."""
    engines = {{id(engine_of(r)): engine_of(r) for r in registries().values()}}.values()
    for engine in engines:
        Probe.__table__.create(engine, checkfirst=True)
    yield Probe
    for engine in engines:
        Probe.__table__.drop(engine, checkfirst=True)


@pytest.fixture
def fresh_probe(probe, registry):
    registry.remove()
    with engine_of(registry).begin() as connection:
        connection.execute(Probe.__table__.delete())
        connection.execute(Probe.__table__.insert().values(id=1, value="old"))
    return probe


@contextmanager
def statements_on(engine):
    """The SQL statements the engine runs inside the with-block."""
    seen = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
'''

TESTS = '''

@pytest.mark.parametrize("registry", [{registries}], indirect=True)
def test_{slug}_request_leaves_the_registry_empty({app}, registry):
    registry.remove()
    with {app}.test_request_context():
        registry.execute(select(1))
    assert not registry.registry.has(), (
        "the registry still holds this thread's session after the request: no teardown "
        "calls its remove() (fixsessions FS001)"
    )
    registry.remove()


@pytest.mark.parametrize("registry", [{registries}], indirect=True)
def test_{slug}_new_request_reads_a_commit_made_elsewhere({app}, registry, fresh_probe):
    with {app}.test_request_context():
        # Held past the request, as code that keeps an ORM object does: a session that
        # outlived the request would hand it back from its identity map, with no SELECT.
        held = registry.get(fresh_probe, 1)
        assert held.value == "old"
    with engine_of(registry).begin() as other:  # another connection, as another process
        other.execute(update(fresh_probe).where(fresh_probe.id == 1).values(value="new"))
    try:
        with statements_on(engine_of(registry)) as statements, {app}.test_request_context():
            value = registry.get(fresh_probe, 1).value
    finally:
        registry.remove()
    del held
    assert any(s.lstrip().upper().startswith("SELECT") for s in statements), (
        "no SELECT: the row came from the identity map of an earlier request's session"
    )
    assert value == "new", "the new request read an earlier request's snapshot"
'''


def render(projects: list[Project], output: Path) -> str:
    """The text of the test module, for ``output``'s folder."""
    lines = [HEADER]
    for project in projects:
        relative = os.path.relpath(project.root, output.parent.resolve()).replace(os.sep, "/")
        lines.append(
            f'\n# The folder that holds the project\'s top-level packages.\n'
            f'ROOT = (Path(__file__).resolve().parent / "{relative}").resolve()\n'
            f'if str(ROOT) not in sys.path:\n    sys.path.insert(0, str(ROOT))\n'
        )
    envs = sorted({p.database_env for p in projects if p.database_env})
    if envs:
        lines.append(
            "\n# The engine reads its URL from the environment: unless it is set, these tests run"
            "\n# on a temporary SQLite file.\nTEMPORARY = {}\n"
        )
        for env in envs:
            lines.append(
                f'if "{env}" not in os.environ:\n'
                f'    os.environ["{env}"] = TEMPORARY["{env}"] = '
                f'f"sqlite:///{{tempfile.mkdtemp()}}/lifecycle.db"\n'
            )
    registries = sorted({r for p in projects for t in p.targets for r in t.registries})
    ids = _ids([name for _, name in registries])
    lines.append("\n\ndef registries():\n    \"\"\"Every registry, by name.\"\"\"\n")
    for (module, name), ident in zip(registries, ids):
        alias = "" if ident == name else f" as {ident}"
        lines.append(f"    from {module} import {name}{alias}\n")
    lines.append("    return {" + ", ".join(f'"{i}": {i}' for i in ids) + "}\n")
    lines.append(
        "\n\n@pytest.fixture\ndef registry(request):\n    return registries()[request.param]\n"
    )
    lines.append(PROBE.replace("{{", "{").replace("}}", "}"))
    models = sorted({m for p in projects for m in p.models})
    app_ids = _ids([t.name for p in projects for t in p.targets])
    targets = [t for p in projects for t in p.targets]
    for target, ident in zip(targets, app_ids):
        lines.append(_fixture(target, ident, models, bool(envs), dict(zip(registries, ids))))
        names = ", ".join(f'"{dict(zip(registries, ids))[r]}"' for r in target.registries)
        lines.append(TESTS.format(slug=ident, app=f"app_{ident}", registries=names))
    return "".join(lines)


def _fixture(target: Target, ident: str, models: list[str], temporary: bool, names: dict) -> str:
    first = names[target.registries[0]]
    body = []
    if temporary:
        body.append(
            "    if TEMPORARY:  # a new database: the app's tables first\n"
            + "".join(f"        import {m}\n" for m in models)
            + f'        create_tables(engine_of(registries()["{first}"]), '
            + ", ".join(models) + ")\n"
        )
    if target.factory is None:
        body.append(f"    from {target.module} import {target.name} as app\n")
    elif target.factory:
        body.append(
            f"    pytest.fail(\"fixsessions could not make this app: {target.factory}; "
            f"make it here\")\n"
        )
    else:
        body.append(f"    from {target.module} import {target.name}\n\n")
        body.append(f"    app = {target.name}()\n")
    if target.factory != "" and target.factory is not None:
        return (
            f"\n\n@pytest.fixture(scope=\"module\")\ndef app_{ident}():\n"
            f"    \"\"\"The app {target.name} in {target.module}.\"\"\"\n" + body[-1]
        )
    body.append('    app.config["TESTING"] = True\n    return app\n')
    what = "made by" if target.factory == "" else "defined in"
    where = f"{target.module}.{target.name}()" if target.factory == "" else target.module
    return (
        f"\n\n@pytest.fixture(scope=\"module\")\ndef app_{ident}():\n"
        f"    \"\"\"The app {what} {where}.\"\"\"\n" + "".join(body)
    )


def _ids(names: list[str]) -> list[str]:
    """Python names for the generated code, unique, in order."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        base = re.sub(r"\W", "_", name).lower() or "x"
        seen[base] = seen.get(base, 0) + 1
        out.append(base if seen[base] == 1 else f"{base}_{seen[base]}")
    return out
