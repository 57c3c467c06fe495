"""Facts the report rules (FS006-FS012) need, collected in one pass per module's `ast`: views,
session method calls, module-level and `self.` sessions, session `with` scopes and the slow
calls inside them, pushed app contexts and registry scopefuncs."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from .walk import INERT, children, fill
from .location import Location, Positions
from .names import Names

ROUTE_METHODS = frozenset({"route", "get", "post", "put", "patch", "delete"})
BLUEPRINT = frozenset({"flask.Blueprint", "flask.blueprints.Blueprint"})
SCOPED_SESSION = frozenset({"sqlalchemy.orm.scoped_session", "sqlalchemy.orm.scoping.scoped_session"})
MAKERS = SCOPED_SESSION | {"sqlalchemy.orm.sessionmaker", "sqlalchemy.orm.session.sessionmaker"}
CREATE_ENGINE = frozenset({"sqlalchemy.create_engine", "sqlalchemy.engine.create_engine"})
SESSION_METHODS = frozenset(
    {"expire_all", "expunge_all", "refresh", "remove", "add", "add_all", "delete", "merge",
     "commit", "rollback", "flush", "bulk_save_objects"}
)
SLOW_PREFIXES = (
    "requests.", "httpx.", "urllib.request.", "http.client.", "subprocess.", "smtplib.",
    "boto3.", "socket.", "time.sleep", "asyncio.sleep", "aiohttp.",
)
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
ENDS_TRANSACTION = frozenset({"commit", "rollback", "close"})
BEGINS_TRANSACTION = frozenset(
    {"query", "execute", "get", "scalar", "scalars", "add", "add_all", "delete", "merge",
     "flush", "refresh", "bulk_save_objects", "begin", "connection"}
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
    # `global X; X = Session()` in a function: (module-level qname, callee, where, function)
    global_sessions: list[tuple[str, frozenset[str], Location, str]] = field(default_factory=list)
    # `X.app_context()` outside a request (a job, a command, a script's main block)
    app_contexts: list[Location] = field(default_factory=list)
    scopefuncs: list[tuple[str, frozenset[str], Location]] = field(default_factory=list)
    scopefunc_names: set[str] = field(default_factory=set)  # every name a scopefunc reads
    before_request: dict[str, frozenset[str]] = field(default_factory=dict)  # hook -> its app/bp
    engines: list[tuple[str, Location]] = field(default_factory=list)  # create_engine() in a function


def collect_reports(tree: ast.Module, names: Names, positions: Positions, module_name: str) -> ReportFacts:
    fill(tree)  # done already where `names` was made of this tree
    collector = _ReportCollector(names, positions, module_name)
    collector.visit(tree)
    return collector.facts


# The node kinds `_children` does not simply list as `walk.fill` did.
_REORDERED = frozenset({*FUNCTIONS, ast.ClassDef, ast.IfExp, ast.Dict, ast.Call, ast.arguments})


def _children(node: ast.AST) -> list[ast.AST]:
    """``node``'s children in source order, the order LibCST visited them in (`ast` keeps
    decorators after the body, the test of ``a if test else b`` first, a dict's keys apart
    from its values, defaults apart from their parameters)."""
    kind = type(node)  # parsed trees hold no subclasses of the node classes
    if kind in FUNCTIONS or kind is ast.ClassDef:
        header = [node.args, node.returns] if kind in FUNCTIONS else [*node.bases, *node.keywords]
        return [*node.decorator_list, *(n for n in header if n is not None), *node.body]
    if kind is ast.IfExp:
        return [node.body, node.test, node.orelse]
    if kind is ast.Dict:
        return [n for pair in zip(node.keys, node.values) for n in pair if n is not None]
    found = children(node)
    if kind is ast.Call:
        if not _keyword_first(node):
            return found
        return sorted(found, key=lambda n: (n.lineno, n.col_offset))  # not in place: shared
    if kind is ast.arguments:
        return sorted(found, key=lambda n: (n.lineno, n.col_offset))
    return found


def _keyword_first(call: ast.Call) -> bool:
    """Whether a keyword comes before an argument, `f(x=1, *rest)`: the only call whose
    children `walk.fill` lists out of source order."""
    return bool(call.keywords and call.args and _before(call.keywords[0], call.args[-1]))


def _before(a: ast.AST, b: ast.AST) -> bool:
    return (a.lineno, a.col_offset) < (b.lineno, b.col_offset)


class _ReportCollector:
    def __init__(self, names: Names, positions: Positions, module_name: str) -> None:
        self.names = names
        self.positions = positions
        self.module_name = module_name
        self.facts = ReportFacts()
        self.functions: list[str] = []
        self.classes: list[str] = []
        self.scopes: list[SessionScope] = []
        self.transaction: list[list] = []  # per scope: [session names, open?]
        self.contexts: set[str] = set()  # module-level names bound to X.app_context()
        self.local_makers: set[tuple[str, str]] = set()  # (function, name) = scoped_session/sessionmaker(...)

    def qnames(self, node: ast.AST) -> frozenset[str]:
        """What LibCST named an expression: a call or a subscript stands for what it calls or
        subscripts (``sessionmaker()()`` is ``sessionmaker``, ``f().g`` is ``f.g``)."""
        while isinstance(node, (ast.Call, ast.Subscript)):
            node = node.func if isinstance(node, ast.Call) else node.value
        return self.names.qnames(node)

    def location(self, node: ast.AST) -> Location:
        return self.positions.location(node)

    # -- the walk -----------------------------------------------------------------------------
    def visit(self, node: ast.AST) -> None:
        kind = type(node)
        if kind in FUNCTIONS:
            self.function(node)
        elif kind is ast.ClassDef:
            self.classes.append(self.names.definition(node))
            self.generic_visit(node)
            self.classes.pop()
        elif (kind is ast.With or kind is ast.AsyncWith) and self.functions:
            self.with_scope(node)
        else:
            if kind is ast.Assign:
                self.assign(node)
            elif kind is ast.Call:
                self.call(node)
            # not generic_visit: one frame a level, for deep trees
            if kind not in _REORDERED or (kind is ast.Call and not _keyword_first(node)):
                listed = node._fs_children
            else:
                listed = _children(node)
            for child in listed:
                if type(child) not in INERT:  # nothing here acts on a name or a constant
                    self.visit(child)

    def generic_visit(self, node: ast.AST) -> None:
        for child in _children(node):
            if type(child) not in INERT:
                self.visit(child)

    # -- scopes -------------------------------------------------------------------------------
    def function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        qname = self.names.definition(node)
        for expr in node.decorator_list:
            func = expr.func if isinstance(expr, ast.Call) else expr
            if isinstance(func, ast.Attribute) and func.attr in ROUTE_METHODS:
                self.facts.views[qname] = self.facts.views.get(qname, frozenset()) | self.qnames(func.value)
            elif isinstance(func, ast.Attribute) and func.attr in ("before_request", "before_app_request"):
                self.facts.before_request[qname] = self.qnames(func.value)
        self.functions.append(qname)
        self.generic_visit(node)
        self.functions.pop()

    def with_scope(self, node: ast.With | ast.AsyncWith) -> None:
        callee = frozenset(
            q for item in node.items if isinstance(item.context_expr, ast.Call)
            for q in self.qnames(item.context_expr.func)
        )
        scope = SessionScope(callee, [])
        self.facts.scopes.append(scope)
        self.scopes.append(scope)
        names = frozenset(
            item.optional_vars.id for item in node.items if isinstance(item.optional_vars, ast.Name)
        )
        begins = any(
            isinstance(item.context_expr, ast.Call) and isinstance(item.context_expr.func, ast.Attribute)
            and item.context_expr.func.attr == "begin"
            for item in node.items
        )
        # Whether a transaction is open, in source order: `with Session() as s:` begins one
        # at the first query (autobegin), `commit()` and `rollback()` end it; a scope whose
        # session has no name is taken as open throughout.
        self.transaction.append([names, begins or not names])
        self.generic_visit(node)
        self.transaction.pop()
        self.scopes.pop()

    # -- statements ---------------------------------------------------------------------------
    def assign(self, node: ast.Assign) -> None:
        if not isinstance(node.value, ast.Call) or len(node.targets) != 1:
            return
        target = node.targets[0]
        func = node.value.func
        callee = self.qnames(func)
        if isinstance(func, ast.Call):  # sessionmaker(...)()
            callee |= frozenset(f"{q}()" for q in self.qnames(func.func))
        if not self.functions and not self.classes and isinstance(target, ast.Name):
            qname = f"{self.module_name}.{target.id}"
            if callee & BLUEPRINT:
                self.facts.blueprints.add(qname)
            self.facts.module_sessions.append((qname, callee, self.location(node.value)))
            if isinstance(func, ast.Attribute) and func.attr == "app_context":
                self.contexts.add(target.id)
        elif self.functions and isinstance(target, ast.Name):
            function = self.functions[-1]
            if callee & MAKERS:
                self.local_makers.add((function, target.id))
            elif self.names.qnames(target) == {f"{self.module_name}.{target.id}"}:  # `global`
                if isinstance(func, ast.Name) and (function, func.id) in self.local_makers:
                    callee = frozenset({"sqlalchemy.orm.sessionmaker()"})  # a local maker's session
                self.facts.global_sessions.append(
                    (f"{self.module_name}.{target.id}", callee, self.location(node.value), function)
                )
        elif (
            self.functions and self.classes
            and isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
            and target.value.id == "self"
        ):
            self.facts.self_sessions.append((self.classes[-1], callee, self.location(node.value)))

    def call(self, node: ast.Call) -> None:
        func = node.func
        callee = self.qnames(func)
        if not self.functions and not self.classes:
            self.facts.instantiated_at_import |= callee
        on_a_result = isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call)
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            for state in self.transaction:
                if func.value.id in state[0]:
                    if func.attr in ENDS_TRANSACTION:
                        state[1] = False
                    elif func.attr in BEGINS_TRANSACTION:
                        state[1] = True
        for scope, state in zip(self.scopes, self.transaction) if not on_a_result else ():
            if not state[1]:
                continue  # nothing open while it waits (`commit()` then `sleep()` in a loop)
            for name in callee:
                if name.startswith(SLOW_PREFIXES):  # not `requests.get(...).json()`
                    scope.slow.append((name, self.location(node)))
                    break
        if callee & CREATE_ENGINE and self.functions:
            self.facts.engines.append((self.functions[-1], self.location(node)))
        if callee & SCOPED_SESSION:
            for keyword in node.keywords:
                if keyword.arg == "scopefunc":
                    self.facts.scopefunc_names.update(
                        q for n in ast.walk(keyword.value)
                        if isinstance(n, (ast.Name, ast.Attribute)) for q in self.qnames(n)
                    )
                    self.facts.scopefuncs.append(
                        (self._bound_name(node), self.qnames(keyword.value), self.location(keyword))
                    )
        if not isinstance(func, ast.Attribute):
            return
        method = func.attr
        if method in SESSION_METHODS:
            owner = self.qnames(func.value) if isinstance(func.value, (ast.Name, ast.Attribute)) else frozenset()
            self.facts.session_calls.append(
                SessionCall(self.functions[-1] if self.functions else None, owner, method, self.location(node))
            )
        if method == "app_context":
            self.facts.app_contexts.append(self.location(node))
        if method == "push" and not node.args and not node.keywords and not self.functions and not self.classes:
            pushed = func.value
            if (
                isinstance(pushed, ast.Call) and isinstance(pushed.func, ast.Attribute)
                and pushed.func.attr == "app_context"
            ) or (isinstance(pushed, ast.Name) and pushed.id in self.contexts):
                self.facts.pushes.append(self.location(node))

    def _bound_name(self, call: ast.Call) -> str:
        return f"{self.module_name}.<scoped_session@{self.location(call).line}>"
