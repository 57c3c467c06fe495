"""Which files are worth parsing: a text pre-filter, so that a monorepo's thousands of modules
that never touch a session cost a read and a byte search, not a parse.

Seeds are files that import SQLAlchemy, Flask (or a Flask extension), gevent, greenlet or
Celery. A
file that only uses the project's own names (``from .database import db_session``) imports
none of those, so the pre-filter learns names: every parsed module that defines or uses
something the rules look at contributes its module-level names and its module name, and any
file mentioning one of them is parsed in the next round, until no new file turns up.
"""

from __future__ import annotations

import ast
import re

from .walk import fill
from .facts import SCOPED_SESSION, ModuleFacts

SEED_WORDS = (b"sqlalchemy", b"flask", b"gevent", b"greenlet", b"celery")
# Where another module uses an app in a way the rules care about, it says one of these.
HOOK_WORDS = (b"teardown_appcontext", b"teardown_request", b"teardown_app_request", b"after_request", b"app_context()")
SEED = re.compile(
    rb"^[ \t]*(?:from[ \t]+(?:sqlalchemy|flask\w*|gevent|greenlet|celery)\b"
    rb"|import[ \t]+[^\n#]*\b(?:sqlalchemy|flask\w*|gevent|greenlet|celery)\b)",
    re.M,
)


def is_seed(data: bytes) -> bool:
    if any(word in data for word in HOOK_WORDS):
        return True
    return any(word in data for word in SEED_WORDS) and SEED.search(data) is not None


def _words(names) -> re.Pattern:
    words = sorted(names, key=len, reverse=True)
    return re.compile(rb"\b(?:" + b"|".join(re.escape(w.encode()) for w in words) + rb")\b")


# Every byte that is not an ASCII word character, as a space: `data.translate(...).split()`
# gives the words a regex `\b...\b` would see, five to ten times faster than a pattern
# naming thousands of learned names.
_WORD = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_TO_SPACE = bytes(b if b in _WORD else 32 for b in range(256))


def words_of(data: bytes) -> set[bytes]:
    return set(data.translate(_TO_SPACE).split())


class Mentions:
    """Whether a file may use names learned from other modules.

    A name defined in package P can only be used by P's own modules or by modules importing
    from P, which spell P's top-level name; so a file outside P must mention that name too.
    (Without this, a module of SQLAlchemy's test fixtures that teaches `base` and `orm` would
    send half of site-packages to the parser.)"""

    def __init__(self, learned: dict[str, set[str]]) -> None:
        by_top: dict[str, set[str]] = {}
        for name, tops in learned.items():
            for top in tops:
                by_top.setdefault(top, set()).add(name)
        self.groups = []
        for top, names in by_top.items():
            ascii_names = {n.encode() for n in names if _ascii_word(n)}
            others = {n for n in names if not _ascii_word(n)}  # `café`: the regex decides
            self.groups.append((
                top, top.encode() if _ascii_word(top) else None, ascii_names,
                _words(others).search if others else None,
            ))
        # Whether `__call__` reads the text, not only its words (a name or package `café`).
        self.needs_text = any(spelled is None or others is not None for _, spelled, _, others in self.groups)

    def __call__(self, data: bytes, top: str, words: set[bytes] | None = None) -> bool:
        """``words``: `words_of(data)`, where the caller has it already."""
        for package, spelled, names, others in self.groups:
            if words is None:
                words = words_of(data)
            if package != top and not (
                spelled in words if spelled is not None else _words({package}).search(data)
            ):
                continue
            if not names.isdisjoint(words) or (others is not None and others(data)):
                return True
        return False


def _ascii_word(name: str) -> bool:
    return bool(name) and name.isascii() and all(ord(c) in _WORD for c in name)


# Second stage, on Python's own (C) parser: does the module *do* any of it, rather than
# define or document it? Flask's own app.py names teardown_appcontext and makes no session.
MAKERS = frozenset(
    {"scoped_session", "sessionmaker", "Session", "Flask", "Blueprint", "declarative_base",
     "SQLAlchemy", "Cache", "patch_all", "Celery"}
)
HOOK_ATTRS = frozenset(
    {"teardown_appcontext", "teardown_request", "teardown_app_request", "after_request",
     "app_context", "query_property", "command"}  # `@app.cli.command()`: runs without a request
)
# `class ContextSession(Session)`: whether its `__exit__` commits decides FS005's helper.
BASES = frozenset({"DeclarativeBase", "DeclarativeBaseNoMeta", "Flask", "Session"})


def _last_name(node) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def acts(tree: ast.Module, learned: frozenset[str] = frozenset()) -> bool:
    """Whether the module calls a session or app maker, uses a Flask hook, or uses a learned
    name as code (not in a comment or a string)."""
    fill(tree)  # what collect_facts would do next: done once, and read here as there
    todo = [tree]
    while todo:
        node = todo.pop()  # depth first: the order does not change the answer
        todo.extend(node._fs_children)
        kind = type(node)  # parsed trees hold no subclasses of the node classes
        if kind is ast.Name:
            if node.id in learned:
                return True
        elif kind is ast.Attribute:
            if node.attr in HOOK_ATTRS or node.attr in learned:
                return True
        elif kind is ast.Call:
            if _last_name(node.func) in MAKERS:
                return True
        elif kind is ast.ClassDef:
            if any(_last_name(base) in BASES for base in node.bases):
                return True
        elif kind is ast.ImportFrom or kind is ast.Import:
            if _imports_gevent(node):
                return True  # whether gevent serves, and whether it is patched, matters
            if learned and (
                any(alias.name.rpartition(".")[2] in learned for alias in node.names)
                or (isinstance(node, ast.ImportFrom) and node.module
                    and any(part in learned for part in node.module.split(".")))
            ):
                return True
    return False


def act_terms(tree: ast.Module) -> tuple[bool, frozenset[str]]:
    """What `acts` looks at, for any names learned later: whether the module acts with no
    name learned, and the names it spells as code (its names, attributes, and imported
    names and module parts). ``acts(tree, learned)`` is ``found or not ids.isdisjoint(
    learned)``, without parsing the module again."""
    fill(tree)
    found = False
    ids: set[str] = set()
    todo = [tree]
    while todo:
        node = todo.pop()
        todo.extend(node._fs_children)
        kind = type(node)
        if kind is ast.Name:
            ids.add(node.id)
        elif kind is ast.Attribute:
            found = found or node.attr in HOOK_ATTRS
            ids.add(node.attr)
        elif kind is ast.Call:
            found = found or _last_name(node.func) in MAKERS
        elif kind is ast.ClassDef:
            found = found or any(_last_name(base) in BASES for base in node.bases)
        elif kind is ast.ImportFrom or kind is ast.Import:
            found = found or _imports_gevent(node)
            ids.update(alias.name.rpartition(".")[2] for alias in node.names)
            if kind is ast.ImportFrom and node.module:
                ids.update(node.module.split("."))
    return found, frozenset(ids)


def _imports_gevent(node) -> bool:
    if isinstance(node, ast.ImportFrom):
        return not node.level and (node.module or "").split(".")[0] == "gevent"
    return any(alias.name.split(".")[0] == "gevent" for alias in node.names)


def defines_something(facts: ModuleFacts) -> bool:
    """Whether the module makes sessions or mapped classes that other modules may use by
    name. An app does not count: where another module uses it in a way that matters, the
    hook words find that module (an app's name, `app`, would match half a monorepo)."""
    return bool(
        facts.registries or facts.sessions.factories or facts.sessions.helpers
        or any(f.returns_call & SCOPED_SESSION for f in facts.functions.values())  # `get_scoped_session()`
        or facts.orm.flask_sqlalchemy or facts.orm.flask_caches or facts.orm.declarative_bases
        or any(reg.function and _cleans_up(facts, reg) for reg in facts.registrations)
    )


def _cleans_up(facts: ModuleFacts, registration) -> bool:
    """An init_app(app)-style registrar whose handler ends a session (flask_cors's, which
    sets headers, does not)."""
    for handler in registration.handler:
        function = facts.functions.get(handler)
        if function is not None and (function.removes or function.closes or function.unresolved_remove):
            return True
    return False  # a handler defined in another module teaches from there, if it ends a session


def uses_learned(facts: ModuleFacts, learned: set[str]) -> bool:
    """Whether the module imports, or derives classes from, a name learned so far."""
    for target in facts.bindings.values():
        parts = target.split(".")
        if parts[-1] in learned or any(p in learned for p in parts[:-1]):
            return True
    return any(
        q.rpartition(".")[2] in learned for bases in facts.orm.classes.values() for q in bases
    )


def names_to_learn(facts: ModuleFacts) -> set[str]:
    names = set(facts.module_names)
    if facts.name:
        names.add(facts.name.rpartition(".")[2])
    return {n for n in names if n and not n.startswith("__")}


# The words `acts` looks for while no name is learned yet: a seed whose text has none of them
# cannot act then, and waits for the rounds that learn names instead of being parsed twice.
ACT_WORDS = frozenset(word.encode() for word in MAKERS | HOOK_ATTRS | BASES | {"gevent"})


def may_act(data: bytes, words: set[bytes] | None = None) -> bool:
    """Whether `acts(tree)`, with no name learned, may be true of the module ``data`` is
    (``words``: its `words_of`, where the caller has them)."""
    return not ACT_WORDS.isdisjoint(words_of(data) if words is None else words)
