"""Which files are worth parsing: a text pre-filter, so that a monorepo's thousands of modules
that never touch a session cost a read and a byte search, not a parse.

Seeds are files that import SQLAlchemy, Flask (or a Flask extension), gevent or greenlet. A
file that only uses the project's own names (``from .database import db_session``) imports
none of those, so the pre-filter learns names: every parsed module that defines or uses
something the rules look at contributes its module-level names and its module name, and any
file mentioning one of them is parsed in the next round, until no new file turns up.
"""

from __future__ import annotations

import re

from codemods.facts import ModuleFacts

SEED_WORDS = (b"sqlalchemy", b"flask", b"gevent", b"greenlet")
SEED = re.compile(
    rb"^[ \t]*(?:from[ \t]+(?:sqlalchemy|flask\w*|gevent|greenlet)\b"
    rb"|import[ \t]+[^\n#]*\b(?:sqlalchemy|flask\w*|gevent|greenlet)\b)",
    re.M,
)


def is_seed(data: bytes) -> bool:
    return any(word in data for word in SEED_WORDS) and SEED.search(data) is not None


def mentions(names: frozenset[str]):
    """A test for `data` naming any of ``names`` as a whole word, or None when there is none."""
    if not names:
        return None
    words = sorted(names, key=len, reverse=True)
    pattern = re.compile(rb"\b(?:" + b"|".join(re.escape(w.encode()) for w in words) + rb")\b")
    return pattern.search


def defines_something(facts: ModuleFacts) -> bool:
    """Whether the module itself makes what the rules look at."""
    return bool(
        facts.registries or facts.sessions.factories or facts.apps or facts.registrations
        or facts.sessions.helpers or facts.reports.blueprints or facts.orm.flask_sqlalchemy
        or facts.orm.flask_caches or facts.orm.declarative_bases or facts.reports.scopefuncs
        or facts.gevent_patched
    )


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
    names = set(facts.module_names) | set(facts.registries and [r.name for r in facts.registries])
    if facts.name:
        names.add(facts.name.rpartition(".")[2])
    return {n for n in names if n and not n.startswith("__")}
