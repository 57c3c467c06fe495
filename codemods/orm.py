"""What an expression queries, as plain data the index can judge: does it return ORM objects?

``db_session.query(Asset).order_by(Asset.symbol).all()`` is summarised as root
``pkg.database.db_session``, entities ``{pkg.models.Asset, ...}`` and terminal ``all``. Whether
the root is a known session (a registry, Flask-SQLAlchemy's ``db.session``, a local session, or
``Model.query``) and whether an entity is a mapped class is decided by the index, which knows
every module's registries and models; names alone decide nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import libcst as cst
import libcst.matchers as m
from libcst.metadata import (
    ExpressionContext,
    ExpressionContextProvider,
    FullyQualifiedNameProvider,
    ParentNodeProvider,
    PositionProvider,
)

from codemods.location import Location

DECLARATIVE_BASE = frozenset(
    {
        "sqlalchemy.orm.declarative_base",
        "sqlalchemy.ext.declarative.declarative_base",
        "sqlalchemy.orm.decl_api.declarative_base",
    }
)
DECLARATIVE_CLASS = frozenset(
    {
        "sqlalchemy.orm.DeclarativeBase",
        "sqlalchemy.orm.DeclarativeBaseNoMeta",
        "sqlalchemy.orm.decl_api.DeclarativeBase",
    }
)
FLASK_SQLALCHEMY = frozenset({"flask_sqlalchemy.SQLAlchemy", "flask_sqlalchemy.extension.SQLAlchemy"})
LRU_CACHE = frozenset({"functools.lru_cache", "functools.cache"})
CACHETOOLS = frozenset({"cachetools.cached", "cachetools.func.ttl_cache", "cachetools.func.lru_cache"})
FLASK_CACHING = frozenset({"flask_caching.Cache"})

# Terminal calls that hand back mapped objects (given a mapped entity).
OBJECT_TERMINALS = frozenset(
    {"all", "first", "one", "one_or_none", "get", "scalar_one", "scalar_one_or_none", "fetchall"}
)
# Calls in the chain after which rows hold columns, not objects.
COLUMN_ONLY = frozenset({"with_entities", "values", "count", "exists"})


@dataclass(frozen=True)
class QuerySummary:
    roots: frozenset[str]  # qualified names of the chain's first name
    root_attr: str | None  # `query` in `Model.query....`
    entities: frozenset[str]  # qualified names of names passed as positional arguments
    methods: tuple[str, ...]  # method names along the chain, first to last

    @property
    def terminal(self) -> str | None:
        return self.methods[-1] if self.methods else None


def summarise(
    node: cst.BaseExpression, qnames: Callable[[cst.CSTNode], frozenset[str]]
) -> QuerySummary | None:
    """The query a call chain makes, or None when ``node`` is not a method-call chain."""
    if not isinstance(node, cst.Call):
        return None
    methods: list[str] = []
    entities: set[str] = set()
    current: cst.BaseExpression = node
    while True:
        if isinstance(current, cst.Call):
            for arg in current.args:
                entities |= _entities(arg.value, qnames)
            current = current.func
        elif isinstance(current, cst.Attribute):
            methods.append(current.attr.value)
            inner = current.value
            if isinstance(inner, (cst.Name, cst.Attribute)) and not isinstance(inner, cst.Call):
                if isinstance(inner, cst.Attribute) and inner.attr.value == "query":
                    return QuerySummary(
                        qnames(inner.value), "query", frozenset(entities) | qnames(inner.value),
                        tuple(reversed(methods)),
                    )
                return QuerySummary(qnames(inner), None, frozenset(entities), tuple(reversed(methods)))
            current = inner
        else:
            return None


def _entities(value: cst.BaseExpression, qnames) -> set[str]:
    """Names passed as arguments, looking inside nested calls (`select(Model)`), not inside
    attributes (`Model.id` is a column, not an entity)."""
    if isinstance(value, cst.Name):
        return set(qnames(value))
    if isinstance(value, cst.Call):
        found: set[str] = set()
        for arg in value.args:
            found |= _entities(arg.value, qnames)
        if isinstance(value.func, cst.Attribute):
            found |= _entities(value.func.value, qnames)
        return found
    return set()


@dataclass
class GlobalQuery:
    """``NAME = <query>`` at module level: run once, at import."""

    qname: str
    name: str
    query: QuerySummary
    location: Location


@dataclass
class Memo:
    """``if key not in CACHE: CACHE[key] = <query>`` then ``return CACHE[key]``."""

    function: str
    cache: frozenset[str]  # qualified names of the dict
    query: QuerySummary
    location: Location
    shape: str | None  # None for the plain shape the fix rewrites; "other" is only reported


@dataclass
class CachedFunction:
    """A function under a caching decorator, with the queries it makes."""

    qname: str
    decorator: frozenset[str]  # qualified names of the decorator (or its owner, for FS004)
    kind: str  # "lru" (functools), "flask-caching", "cachetools"
    queries: list[QuerySummary]
    location: Location


@dataclass
class OrmFacts:
    declarative_bases: set[str] = field(default_factory=set)
    flask_sqlalchemy: set[str] = field(default_factory=set)  # `db = SQLAlchemy()`
    flask_caches: set[str] = field(default_factory=set)  # `cache = Cache()`
    classes: dict[str, frozenset[str]] = field(default_factory=dict)  # class -> its bases
    local_sessions: dict[str, frozenset[str]] = field(default_factory=dict)  # f.<locals>.s -> callee
    globals: list[GlobalQuery] = field(default_factory=list)
    memos: list[Memo] = field(default_factory=list)
    cached: list[CachedFunction] = field(default_factory=list)
    import_time_refs: set[str] = field(default_factory=set)  # names read while importing
    declared_global: set[str] = field(default_factory=set)  # `global X` in a function
    cache_clear: set[str] = field(default_factory=set)  # X in X.cache_clear()/cache_info()


def _memo_shape(if_node: cst.If, following, qnames):
    """(cache qnames, query node, return node) for the plain memo shape, else None."""
    test = if_node.test
    if not (
        isinstance(test, cst.Comparison)
        and len(test.comparisons) == 1
        and isinstance(test.comparisons[0].operator, cst.NotIn)
        and isinstance(test.comparisons[0].comparator, cst.Name)
        and isinstance(test.left, cst.Name)
    ):
        return None
    key, cache = test.left.value, test.comparisons[0].comparator.value
    body = if_node.body
    if if_node.orelse is not None or not isinstance(body, cst.IndentedBlock) or len(body.body) != 1:
        return None
    store = m.SimpleStatementLine(
        body=[
            m.Assign(
                targets=[m.AssignTarget(m.Subscript(value=m.Name(cache), slice=[m.SubscriptElement(m.Index(m.Name(key)))]))],
                value=m.Call(),
            )
        ]
    )
    if not m.matches(body.body[0], store):
        return None
    returns = m.SimpleStatementLine(
        body=[m.Return(m.Subscript(value=m.Name(cache), slice=[m.SubscriptElement(m.Index(m.Name(key)))]))]
    )
    if following is None or not m.matches(following, returns):
        return None
    return qnames(test.comparisons[0].comparator), body.body[0].body[0].value, following


class CacheCollector(cst.CSTVisitor):
    """Collects `OrmFacts` and the nodes FS003 edits."""

    METADATA_DEPENDENCIES = (
        FullyQualifiedNameProvider, PositionProvider, ExpressionContextProvider, ParentNodeProvider,
    )

    def __init__(self, module_name: str) -> None:
        super().__init__()
        self.module_name = module_name
        self.facts = OrmFacts()
        self.functions: list[str] = []
        self.classes = 0
        self.global_statements: dict[str, cst.SimpleStatementLine] = {}
        self.memo_nodes: dict[Location, tuple] = {}
        self.cached_nodes: dict[str, cst.FunctionDef] = {}

    def qnames(self, node: cst.CSTNode) -> frozenset[str]:
        return frozenset(q.name for q in self.get_metadata(FullyQualifiedNameProvider, node, ()))

    def location(self, node: cst.CSTNode) -> Location:
        pos = self.get_metadata(PositionProvider, node)
        return Location(pos.start.line, pos.start.column, pos.end.line, pos.end.column)

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        qname = min(self.qnames(node.name), default=None)
        if qname:
            bases = frozenset(q for arg in node.bases for q in self.qnames(arg.value))
            self.facts.classes[qname] = bases
            if bases & DECLARATIVE_CLASS:
                self.facts.declarative_bases.add(qname)
        self.classes += 1

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self.classes -= 1

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        qname = min(self.qnames(node.name), default=node.name.value)
        self.functions.append(qname)
        for decorator in node.decorators:
            expr = decorator.decorator
            target = expr.func if isinstance(expr, cst.Call) else expr
            names = self.qnames(target)
            kind = None
            if names & LRU_CACHE:
                kind = "lru"
            elif names & CACHETOOLS:
                kind = "cachetools"
            elif isinstance(target, cst.Attribute) and target.attr.value in ("cached", "memoize"):
                kind, names = "flask-caching", self.qnames(target.value)
            if kind:
                queries = [
                    q for call in m.findall(node.body, m.Call())
                    if (q := summarise(call, self.qnames)) is not None
                ]
                self.facts.cached.append(
                    CachedFunction(qname, names, kind, queries, self.location(node.name))
                )
                self.cached_nodes[qname] = node

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.functions.pop()

    def visit_Global(self, node: cst.Global) -> None:
        for item in node.names:
            self.facts.declared_global.add(f"{self.module_name}.{item.name.value}")

    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> None:
        if not self.functions:
            return
        body = list(node.body)
        for index, stmt in enumerate(body):
            if not isinstance(stmt, cst.If):
                continue
            following = body[index + 1] if index + 1 < len(body) else None
            shape = _memo_shape(stmt, following, self.qnames)
            if shape is None:
                continue
            cache, query_node, returns = shape
            query = summarise(query_node, self.qnames)
            if query is None:
                continue
            memo = Memo(self.functions[-1], cache, query, self.location(stmt), None)
            self.facts.memos.append(memo)
            self.memo_nodes[memo.location] = (stmt, query_node, returns)

    def _other_memo(self, container: cst.BaseExpression, value: cst.BaseExpression, node) -> None:
        """A module-level container filled with a query result in a shape the fix does not
        rewrite: reported only."""
        if not self.functions or not isinstance(container, cst.Name):
            return
        names = self.qnames(container)
        if not any(q.count(".<locals>.") == 0 and "." in q for q in names):
            return
        query = summarise(value, self.qnames) if isinstance(value, cst.Call) else None
        if query is None:
            return
        location = self.location(node)
        if any(memo.cache == names and memo.function == self.functions[-1] for memo in self.facts.memos):
            return  # the plain shape, recorded by visit_IndentedBlock
        self.facts.memos.append(Memo(self.functions[-1], names, query, location, "other"))

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value in ("setdefault", "append", "add", "update"):
            if node.args:
                self._other_memo(func.value, node.args[-1].value, node)

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            if isinstance(target.target, cst.Subscript):
                self._other_memo(target.target.value, node.value, node)
        if len(node.targets) != 1 or not isinstance(node.targets[0].target, cst.Name):
            return
        target = node.targets[0].target
        if not isinstance(node.value, cst.Call):
            return
        if self.functions:
            self.facts.local_sessions[min(self.qnames(target), default="")] = self.qnames(node.value.func)
            return
        if self.classes:
            return
        callee = self.qnames(node.value.func)
        qname = f"{self.module_name}.{target.value}"
        if callee & DECLARATIVE_BASE:
            self.facts.declarative_bases.add(qname)
        if callee & FLASK_SQLALCHEMY:
            self.facts.flask_sqlalchemy.add(qname)
        if callee & FLASK_CACHING:
            self.facts.flask_caches.add(qname)
        query = summarise(node.value, self.qnames)
        if query is not None and query.methods:
            self.facts.globals.append(GlobalQuery(qname, target.value, query, self.location(target)))
            self.global_statements[qname] = self.get_metadata(ParentNodeProvider, node)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if self.functions and node.asname and isinstance(node.asname.name, cst.Name):
            item = node.item
            if isinstance(item, cst.Call):
                name = min(self.qnames(node.asname.name), default="")
                self.facts.local_sessions[name] = self.qnames(item.func)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if node.attr.value in ("cache_clear", "cache_info"):
            self.facts.cache_clear |= self.qnames(node.value)
        self._read(node)

    def visit_Name(self, node: cst.Name) -> None:
        self._read(node)

    def _read(self, node) -> None:
        if self.functions or self.classes:
            return
        if self.get_metadata(ExpressionContextProvider, node, None) == ExpressionContext.LOAD:
            self.facts.import_time_refs |= self.qnames(node)
