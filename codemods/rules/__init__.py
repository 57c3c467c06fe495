"""Every rule fixsessions runs, in code order. Adding a rule is one module and one line here."""

from __future__ import annotations

from .base import Rule
from .caches import GlobalOrmCache, MemoizedOrm
from .handmade_sessions import HandMadeSession
from .reports import (
    BandAidRefresh,
    EnginePerRequest,
    LateCleanup,
    LegacyScopefunc,
    LongTransaction,
    PushedAppContext,
    SharedSession,
    UncommittedWrite,
)
from .teardown import MissingTeardown, TeardownClose
from .workers import WorkerWithoutRemove

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
    WorkerWithoutRemove,
    EnginePerRequest,
)

BY_CODE: dict[str, type[Rule]] = {rule.code: rule for rule in RULES}
