"""Every rule fixsessions runs, in code order. Adding a rule is one line here."""

from __future__ import annotations

from codemods.caches import GlobalOrmCache, MemoizedOrm
from codemods.handmade_sessions import HandMadeSession
from codemods.reports import (
    BandAidRefresh,
    LateCleanup,
    LegacyScopefunc,
    LongTransaction,
    PushedAppContext,
    SharedSession,
    UncommittedWrite,
)
from codemods.rule import Rule
from codemods.teardown import MissingTeardown, TeardownClose

RULES: tuple[type[Rule], ...] = (
    MissingTeardown,
    TeardownClose,
    GlobalOrmCache,
    MemoizedOrm,
    HandMadeSession,
    SharedSession,
    UncommittedWrite,
    LongTransaction,
    BandAidRefresh,
    LateCleanup,
    PushedAppContext,
    LegacyScopefunc,
)

BY_CODE: dict[str, type[Rule]] = {rule.code: rule for rule in RULES}
