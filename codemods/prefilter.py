"""Which files are worth parsing: a text pre-filter, so that a monorepo's thousands of modules
that never touch a session cost a read and a byte search, not a parse.

Seeds are files that import SQLAlchemy, Flask (or a Flask extension), gevent or greenlet. A
file that only uses the project's own names (``from .database import db_session``) imports
none of those, so the pre-filter learns names: every parsed module that defines or uses
something the rules look at contributes its module-level names and its module name, and any
file mentioning one of them is parsed in the next round, until no new file turns up.
"""

from __future__ import annotations

import ast
import re

from codemods.facts import ModuleFacts

SEED_WORDS = (b"sqlalchemy", b"flask", b"gevent", b"greenlet")
# Where another module uses an app in a way the rules care about, it says one of these.
HOOK_WORDS = (b"teardown_appcontext", b"teardown_request", b"teardown_app_request", b"after_request", b"app_context()")
SEED = re.compile(
    rb"^[ \t]*(?:from[ \t]+(?:sqlalchemy|flask\w*|gevent|greenlet)\b"
    rb"|import[ \t]+[^\n#]*\b(?:sqlalchemy|flask\w*|gevent|greenlet)\b)",
    re.M,
)


def is_seed(data: bytes) -> bool:
    if any(word in data for word in HOOK_WORDS):
        return True
    return any(word in data for word in SEED_WORDS) and SEED.search(data) is not None


def mentions(names: frozenset[str]):
    """A test for `data` naming any of ``names`` as a whole word, or None when there is none."""
    if not names:
        return None
    words = sorted(names, key=len, reverse=True)
    pattern = re.compile(rb"\b(?:" + b"|".join(re.escape(w.encode()) for w in words) + rb")\b")
    return pattern.search


# Second stage, on Python's own (C) parser: does the module *do* any of it, rather than
# define or document it? Flask's own app.py names teardown_appcontext and makes no session.
MAKERS = frozenset(
    {"scoped_session", "sessionmaker", "Session", "Flask", "Blueprint", "declarative_base",
     "SQLAlchemy", "Cache", "patch_all"}
)
HOOK_ATTRS = frozenset(
    {"teardown_appcontext", "teardown_request", "teardown_app_request", "after_request",
     "app_context", "query_property"}
)
BASES = frozenset({"DeclarativeBase", "DeclarativeBaseNoMeta"})


def _last_name(node) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def acts(data: bytes, learned: frozenset[str] = frozenset()) -> bool:
    """Whether the module calls a session or app maker, uses a Flask hook, or uses a learned
    name as code (not in a comment or a string). A file Python cannot parse passes, so that
    LibCST reports it with its reason."""
    try:
        tree = ast.parse(data)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return True
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if _last_name(node.func) in MAKERS:
                return True
        elif isinstance(node, ast.Attribute):
            if node.attr in HOOK_ATTRS or node.attr in learned:
                return True
        elif isinstance(node, ast.Name):
            if node.id in learned:
                return True
        elif isinstance(node, ast.ClassDef):
            if any(_last_name(base) in BASES for base in node.bases):
                return True
        elif isinstance(node, (ast.ImportFrom, ast.Import)):
            if learned and (
                any(alias.name.rpartition(".")[2] in learned for alias in node.names)
                or (isinstance(node, ast.ImportFrom) and node.module
                    and any(part in learned for part in node.module.split(".")))
            ):
                return True
    return False


def defines_something(facts: ModuleFacts) -> bool:
    """Whether the module makes sessions or mapped classes that other modules may use by
    name. An app does not count: where another module uses it in a way that matters, the
    hook words find that module (an app's name, `app`, would match half a monorepo)."""
    return bool(
        facts.registries or facts.sessions.factories or facts.sessions.helpers
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
