"""What one module says about sessions and apps, read through qualified names.

`collect_facts` walks a module once with LibCST's FullyQualifiedNameProvider, so
``scoped_session``, ``orm.scoped_session``, ``from sqlalchemy.orm.scoping import
scoped_session as ss`` and relative imports all resolve to the same names. The result is
plain, picklable data (`ModuleFacts`); the project-wide questions are answered by
`codemods.index.ProjectIndex`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import libcst as cst
import libcst.matchers as m
from libcst.metadata import (
    FullyQualifiedNameProvider,
    MetadataWrapper,
    ParentNodeProvider,
    PositionProvider,
)
from libcst.metadata.name_provider import ModuleNameAndPackage

from codemods.location import Location
from codemods.orm import CacheCollector, OrmFacts
from codemods.reports_facts import ReportCollector, ReportFacts
from codemods.sessions import (
    INLINE_SESSIONMAKER,
    SESSIONMAKER,
    Plan,
    SessionFacts,
    analyse_block,
    is_session_helper,
)

__all__ = ["Location", "ModuleFacts", "collect_facts"]

SCOPED_SESSION = frozenset(
    {"sqlalchemy.orm.scoped_session", "sqlalchemy.orm.scoping.scoped_session"}
)
FLASK = frozenset({"flask.Flask", "flask.app.Flask"})
# Ways to register an end-of-request handler. `after_request` is late (skipped when a view
# raises: FS010), but a handler there still counts as present for FS001.
TEARDOWN_KINDS = frozenset(
    {"teardown_appcontext", "teardown_request", "teardown_app_request", "after_request"}
)


@dataclass
class RegistryDef:
    qname: str
    name: str
    location: Location


@dataclass
class AppDef:
    qname: str | None  # None when the Flask(...) call is not bound to a plain name
    var: str | None
    function: str | None  # qualified name of the enclosing function (factory), if any
    location: Location


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
    calls: list[CallWithArgs] = field(default_factory=list)
    module_names: set[str] = field(default_factory=set)  # every name bound at module level
    gevent_patched: bool = False  # calls gevent.monkey.patch_all()
    sessions: SessionFacts = field(default_factory=SessionFacts)
    orm: OrmFacts = field(default_factory=OrmFacts)
    reports: ReportFacts = field(default_factory=ReportFacts)


def module_name_for(path: Path) -> tuple[Path, ModuleNameAndPackage]:
    """The import root of ``path`` and its dotted name there: packages are the folders with an
    ``__init__.py``, and the root is the first folder above them that has none."""
    path = Path(os.path.abspath(path))
    root, packages = _package_of(path.parent)
    parts = list(packages) + ([] if path.stem == "__init__" else [path.stem])
    name = ".".join(parts)
    package = name if path.stem == "__init__" else name.rpartition(".")[0]
    return root, ModuleNameAndPackage(name or path.stem, package)


@lru_cache(maxsize=4096)
def _package_of(directory: Path) -> tuple[Path, tuple[str, ...]]:
    """(import root, package names) of a folder, asked of the disk once per folder."""
    if directory.parent == directory or not (directory / "__init__.py").is_file():
        return directory, ()
    root, packages = _package_of(directory.parent)
    return root, (*packages, directory.name)


def make_wrapper(module: cst.Module, where: ModuleNameAndPackage) -> MetadataWrapper:
    return MetadataWrapper(
        module, unsafe_skip_copy=True, cache={FullyQualifiedNameProvider: where}
    )


def absolute_module(module: str | None, level: int, package: str) -> str:
    if not level:
        return module or ""
    base = package.split(".") if package else []
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, *([module] if module else [])])


def dotted(node: cst.BaseExpression | None) -> str | None:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        head = dotted(node.value)
        return f"{head}.{node.attr.value}" if head else None
    return None


class _Collector(cst.CSTVisitor):
    METADATA_DEPENDENCIES = (FullyQualifiedNameProvider, PositionProvider, ParentNodeProvider)

    def __init__(self, facts: ModuleFacts) -> None:
        super().__init__()
        self.facts = facts
        self.functions: list[FunctionFacts] = []
        self.depth = 0  # >0 inside a function or class body
        self.lambdas = 0
        # Nodes the rules edit, keyed the way the facts name them.
        self.app_statements: dict[Location, cst.CSTNode] = {}
        self.function_nodes: dict[str, cst.FunctionDef] = {}
        self.factory_statements: dict[str, cst.CSTNode] = {}
        self.session_plans: list[Plan] = []
        self.helper_depth = 0  # >0 inside a session helper: its session is the point

    # -- helpers -------------------------------------------------------------------------
    def qnames(self, node: cst.CSTNode) -> frozenset[str]:
        return frozenset(q.name for q in self.get_metadata(FullyQualifiedNameProvider, node, ()))

    def location(self, node: cst.CSTNode) -> Location:
        pos = self.get_metadata(PositionProvider, node)
        return Location(pos.start.line, pos.start.column, pos.end.line, pos.end.column)

    def current(self) -> FunctionFacts | None:
        return self.functions[-1] if self.functions else None

    def statement_of(self, node: cst.CSTNode) -> cst.CSTNode:
        parent = self.get_metadata(ParentNodeProvider, node)
        while not isinstance(parent, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            node, parent = parent, self.get_metadata(ParentNodeProvider, parent)
        return parent

    # -- imports ---------------------------------------------------------------------------
    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            name = dotted(alias.name)
            parts = name.split(".")
            for i in range(len(parts)):
                self.facts.imported.add(".".join(parts[: i + 1]))
            if self.depth == 0:
                if alias.asname:
                    self.facts.bindings[alias.asname.name.value] = name
                else:
                    self.facts.bindings.setdefault(parts[0], parts[0])

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        level = len(node.relative)
        base = absolute_module(dotted(node.module), level, self.facts.package)
        if level:
            self.facts.relative_imports += 1
        elif base.split(".")[0] == self.facts.name.split(".")[0] and "." in self.facts.name:
            self.facts.absolute_sibling_imports += 1
        self.facts.imported.add(base)
        if isinstance(node.names, cst.ImportStar):
            return
        for alias in node.names:
            name = alias.name.value
            self.facts.imported.add(f"{base}.{name}" if base else name)
            if self.depth == 0:
                local = alias.asname.name.value if alias.asname else name
                self.facts.bindings[local] = f"{base}.{name}" if base else name

    # -- definitions -----------------------------------------------------------------------
    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        if self.depth == 0:
            self.facts.module_names.add(node.name.value)
        self.depth += 1

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self.depth -= 1

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if self.depth == 0:
            self.facts.module_names.add(node.name.value)
        qname = min(self.qnames(node.name), default=node.name.value)
        params = tuple(
            p.name.value
            for p in (*node.params.posonly_params, *node.params.params, *node.params.kwonly_params)
        )
        info = FunctionFacts(qname, params)
        self.facts.functions[qname] = info
        self.function_nodes[qname] = node
        for decorator in node.decorators:
            attr = decorator.decorator
            if isinstance(attr, cst.Attribute) and attr.attr.value in TEARDOWN_KINDS:
                self.facts.registrations.append(
                    Registration(
                        self.qnames(attr.value),
                        attr.attr.value,
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

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.functions.pop()
        self.depth -= 1
        if self.helper_depth:
            self.helper_depth -= 1

    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> None:
        info = self.current()
        if info is None or self.helper_depth or "<lambda" in info.qname:
            return
        plans = analyse_block(node, info.qname, self.session_callee, self.location)
        self.session_plans.extend(plans)
        self.facts.sessions.handmade.extend(p.summary for p in plans)

    def session_callee(self, call: cst.Call) -> frozenset[str]:
        if isinstance(call.func, cst.Call) and self.qnames(call.func.func) & SESSIONMAKER:
            return frozenset({INLINE_SESSIONMAKER})
        return self.qnames(call.func)

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self.lambdas += 1
        info = FunctionFacts(f"{self.facts.name}.<lambda{self.lambdas}>", ())
        self.facts.functions[info.qname] = info
        self.functions.append(info)

    def leave_Lambda(self, original_node: cst.Lambda) -> None:
        self.functions.pop()

    def visit_Assign(self, node: cst.Assign) -> None:
        if self.depth == 0:
            for target in node.targets:
                if isinstance(target.target, cst.Name):
                    self.facts.module_names.add(target.target.value)
        if len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name):
            name = node.targets[0].target
            self._assigned(name, node.value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if isinstance(node.target, cst.Name):
            if self.depth == 0:
                self.facts.module_names.add(node.target.value)
            if node.value is not None:
                self._assigned(node.target, node.value)

    def _assigned(self, name: cst.Name, value: cst.BaseExpression) -> None:
        if self.depth == 0 and isinstance(value, (cst.Name, cst.Attribute)):
            # `Session = db_session`: an alias other modules may import.
            target = self.qnames(value)
            if len(target) == 1:
                self.facts.bindings[name.value] = next(iter(target))
        if not isinstance(value, cst.Call):
            return
        callee = self.qnames(value.func)
        if callee & SESSIONMAKER and self.depth == 0:
            qname = f"{self.facts.name}.{name.value}"
            self.facts.sessions.factories.append((qname, self.location(name)))
            self.factory_statements[qname] = self.statement_of(name)
        if callee & SCOPED_SESSION and self.depth == 0:
            self.facts.registries.append(
                RegistryDef(f"{self.facts.name}.{name.value}", name.value, self.location(name))
            )

    # -- calls -----------------------------------------------------------------------------
    def visit_Call(self, node: cst.Call) -> None:
        callee = self.qnames(node.func)
        if callee & FLASK:
            self._app(node)
        if "gevent.monkey.patch_all" in callee:
            self.facts.gevent_patched = True
        func = node.func
        info = self.current()
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            if method in ("remove", "close") and not node.args and info is not None:
                # Only a name or attribute names the object: `factory().remove()` does not.
                owner = (
                    self.qnames(func.value)
                    if isinstance(func.value, (cst.Name, cst.Attribute))
                    else frozenset()
                )
                if method == "remove":
                    info.removes |= owner
                    info.unresolved_remove |= not owner
                else:
                    info.closes |= owner
            if method in TEARDOWN_KINDS and len(node.args) == 1:
                handler = node.args[0].value
                handler_names = self.qnames(handler)
                if isinstance(handler, cst.Lambda):
                    handler_names = frozenset({f"{self.facts.name}.<lambda{self.lambdas + 1}>"})
                self.facts.registrations.append(
                    Registration(
                        self.qnames(func.value), method, handler_names,
                        info.qname if info else None,
                    )
                )
        if info is not None:
            info.calls |= callee
        args = tuple(
            (arg.keyword.value if arg.keyword else index, self.qnames(arg.value))
            for index, arg in enumerate(node.args)
            if isinstance(arg.value, (cst.Name, cst.Attribute)) and not arg.star
        )
        if args and callee:
            self.facts.calls.append(
                CallWithArgs(callee, args, info.qname if info else None)
            )

    def _app(self, call: cst.Call) -> None:
        parent = self.get_metadata(ParentNodeProvider, call)
        info = self.current()
        function = info.qname if info and "<lambda" not in info.qname else None
        if (
            m.matches(parent, m.Assign(targets=[m.AssignTarget(target=m.Name())]))
            or m.matches(parent, m.AnnAssign(target=m.Name()))
        ):
            target = parent.targets[0].target if isinstance(parent, cst.Assign) else parent.target
            qname = min(self.qnames(target), default=None)
            app = AppDef(qname, target.value, function, self.location(call))
            self.app_statements[app.location] = self.statement_of(call)
        else:
            app = AppDef(None, None, function, self.location(call))
        self.facts.apps.append(app)


@dataclass
class CollectedModule:
    """Facts plus the nodes of the tree they came from (not picklable, never shared)."""

    facts: ModuleFacts
    wrapper: MetadataWrapper
    app_statements: dict[Location, cst.CSTNode]
    function_nodes: dict[str, cst.FunctionDef]
    factory_statements: dict[str, cst.CSTNode]
    session_plans: list[Plan]
    caches: CacheCollector


def collect_facts(module: cst.Module, path: Path, where: ModuleNameAndPackage) -> CollectedModule:
    wrapper = make_wrapper(module, where)
    facts = ModuleFacts(where.name, where.package, path)
    collector = _Collector(facts)
    wrapper.visit(collector)
    caches = CacheCollector(where.name)
    wrapper.visit(caches)
    facts.orm = caches.facts
    reports = ReportCollector(where.name)
    wrapper.visit(reports)
    facts.reports = reports.facts
    return CollectedModule(
        facts,
        wrapper,
        collector.app_statements,
        collector.function_nodes,
        collector.factory_statements,
        collector.session_plans,
        caches,
    )
