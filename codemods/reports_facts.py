"""Facts the report rules (FS006-FS012) need, collected in one pass per module: views,
session method calls, module-level and `self.` sessions, session `with` scopes and the slow
calls inside them, pushed app contexts and registry scopefuncs."""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst
from libcst.metadata import FullyQualifiedNameProvider, PositionProvider

from codemods.location import Location

ROUTE_METHODS = frozenset({"route", "get", "post", "put", "patch", "delete"})
BLUEPRINT = frozenset({"flask.Blueprint", "flask.blueprints.Blueprint"})
SCOPED_SESSION = frozenset({"sqlalchemy.orm.scoped_session", "sqlalchemy.orm.scoping.scoped_session"})
SESSION_METHODS = frozenset(
    {"expire_all", "expunge_all", "refresh", "remove", "add", "add_all", "delete", "merge",
     "commit", "rollback", "flush", "bulk_save_objects"}
)
SLOW_PREFIXES = (
    "requests.", "httpx.", "urllib.request.", "http.client.", "subprocess.", "smtplib.",
    "boto3.", "socket.", "time.sleep", "asyncio.sleep", "aiohttp.",
)


@dataclass(frozen=True)
class SessionCall:
    function: str | None
    owner: frozenset[str]
    method: str
    location: Location


@dataclass
class SessionScope:
    """`with X(...) as s:` in a function, with what it calls that can take long."""

    callee: frozenset[str]
    slow: list[tuple[str, Location]]


@dataclass
class ReportFacts:
    blueprints: set[str] = field(default_factory=set)
    views: dict[str, frozenset[str]] = field(default_factory=dict)  # function -> route owners
    session_calls: list[SessionCall] = field(default_factory=list)
    module_sessions: list[tuple[str, frozenset[str], Location]] = field(default_factory=list)
    self_sessions: list[tuple[str, frozenset[str], Location]] = field(default_factory=list)
    instantiated_at_import: set[str] = field(default_factory=set)  # callee qnames
    scopes: list[SessionScope] = field(default_factory=list)
    pushes: list[Location] = field(default_factory=list)
    scopefuncs: list[tuple[str, frozenset[str], Location]] = field(default_factory=list)


class ReportCollector(cst.CSTVisitor):
    METADATA_DEPENDENCIES = (FullyQualifiedNameProvider, PositionProvider)

    def __init__(self, module_name: str) -> None:
        super().__init__()
        self.module_name = module_name
        self.facts = ReportFacts()
        self.functions: list[str] = []
        self.classes: list[str] = []
        self.scopes: list[SessionScope] = []
        self.contexts: set[str] = set()  # module-level names bound to X.app_context()

    def qnames(self, node: cst.CSTNode) -> frozenset[str]:
        return frozenset(q.name for q in self.get_metadata(FullyQualifiedNameProvider, node, ()))

    def location(self, node: cst.CSTNode) -> Location:
        pos = self.get_metadata(PositionProvider, node)
        return Location(pos.start.line, pos.start.column, pos.end.line, pos.end.column)

    # -- scopes -------------------------------------------------------------------------------
    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.classes.append(min(self.qnames(node.name), default=node.name.value))

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self.classes.pop()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        qname = min(self.qnames(node.name), default=node.name.value)
        for decorator in node.decorators:
            expr = decorator.decorator
            func = expr.func if isinstance(expr, cst.Call) else expr
            if isinstance(func, cst.Attribute) and func.attr.value in ROUTE_METHODS:
                self.facts.views[qname] = self.facts.views.get(qname, frozenset()) | self.qnames(func.value)
        self.functions.append(qname)

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.functions.pop()

    def visit_With(self, node: cst.With) -> None:
        if not self.functions:
            return
        callee = frozenset(
            q for item in node.items if isinstance(item.item, cst.Call) for q in self.qnames(item.item.func)
        )
        scope = SessionScope(callee, [])
        self.facts.scopes.append(scope)
        self.scopes.append(scope)

    def leave_With(self, original_node: cst.With) -> None:
        if self.functions:
            self.scopes.pop()

    # -- statements ---------------------------------------------------------------------------
    def visit_Assign(self, node: cst.Assign) -> None:
        if not isinstance(node.value, cst.Call) or len(node.targets) != 1:
            return
        target = node.targets[0].target
        callee = self.qnames(node.value.func)
        if isinstance(node.value.func, cst.Call):  # sessionmaker(...)()
            callee |= frozenset(f"{q}()" for q in self.qnames(node.value.func.func))
        if not self.functions and not self.classes and isinstance(target, cst.Name):
            qname = f"{self.module_name}.{target.value}"
            if callee & BLUEPRINT:
                self.facts.blueprints.add(qname)
            self.facts.module_sessions.append((qname, callee, self.location(node.value)))
            if isinstance(node.value.func, cst.Attribute) and node.value.func.attr.value == "app_context":
                self.contexts.add(target.value)
        elif (
            self.functions and self.classes
            and isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name)
            and target.value.value == "self"
        ):
            self.facts.self_sessions.append((self.classes[-1], callee, self.location(node.value)))

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        callee = self.qnames(func)
        if not self.functions and not self.classes:
            self.facts.instantiated_at_import |= callee
        on_a_result = isinstance(func, cst.Attribute) and isinstance(func.value, cst.Call)
        for scope in self.scopes if not on_a_result else ():  # not `requests.get(...).json()`
            for name in callee:
                if name.startswith(SLOW_PREFIXES):
                    scope.slow.append((name, self.location(node)))
                    break
        if callee & SCOPED_SESSION:
            for arg in node.args:
                if arg.keyword and arg.keyword.value == "scopefunc":
                    self.facts.scopefuncs.append((self._bound_name(node), self.qnames(arg.value), self.location(arg)))
        if not isinstance(func, cst.Attribute):
            return
        method = func.attr.value
        if method in SESSION_METHODS:
            owner = self.qnames(func.value) if isinstance(func.value, (cst.Name, cst.Attribute)) else frozenset()
            self.facts.session_calls.append(
                SessionCall(self.functions[-1] if self.functions else None, owner, method, self.location(node))
            )
        if method == "push" and not node.args and not self.functions and not self.classes:
            pushed = func.value
            if (
                isinstance(pushed, cst.Call) and isinstance(pushed.func, cst.Attribute)
                and pushed.func.attr.value == "app_context"
            ) or (isinstance(pushed, cst.Name) and pushed.value in self.contexts):
                self.facts.pushes.append(self.location(node))

    def _bound_name(self, call: cst.Call) -> str:
        return f"{self.module_name}.<scoped_session@{self.location(call).line}>"
