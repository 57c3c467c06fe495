"""Run-time proof that sessions end with the request.

``SessionGuard(app)`` watches every Flask app context of ``app``. When the context's teardown
handlers have run (Flask's ``appcontext_tearing_down`` signal), it looks at each SQLAlchemy
session that began a transaction during that context, and at each connection checked out of a
pool during it:

- a session that a ``scoped_session`` registry still holds for this thread (FS001: no teardown
  calls ``remove()``, so the next request on this thread reads through it);
- any other session still inside its transaction (FS005: a hand-made session not closed on
  this path, holding its connection and its snapshot);
- a connection never returned to its pool.

Each one is a `Leak`, which the guard logs (``mode="warn"``), raises as `SessionLeak` when the
context is popped (``mode="raise"``, for tests), or hands to ``on_leak``. ``guard.leaked``
counts them; ``guard.open_leaks()`` says how many leaked sessions are still in a transaction,
and with ``prometheus_client`` installed both are exported (``fixsessions_session_leaks_total``,
``fixsessions_leaked_sessions``).

Registries are found by wrapping ``scoped_session.__init__`` when the first guard is made, and
by one scan of the heap for those made before. Nothing else in SQLAlchemy or Flask is changed.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import threading
import weakref
from contextvars import ContextVar
from dataclasses import dataclass, field

from flask import (
    Flask,
    appcontext_popped,
    appcontext_pushed,
    appcontext_tearing_down,
    has_request_context,
    request,
    request_tearing_down,
)
from flask.globals import _cv_app
from sqlalchemy import event
from sqlalchemy.orm import Session, scoped_session
from sqlalchemy.pool import Pool

__all__ = ["Leak", "SessionGuard", "SessionLeak"]

logger = logging.getLogger("fixsessions.guard")

MODES = ("warn", "raise")
EXTENSION = "fixsessions.guard"


@dataclass(frozen=True)
class Leak:
    """One session or connection that outlived the app context it was used in."""

    kind: str  # "registry", "session" or "connection"
    context: str  # the request ("GET /api/x (endpoint api.x)") or the app context
    message: str
    rule: str | None  # the fixsessions rule that fixes it

    def __str__(self) -> str:
        return f"{self.context}: {self.message}"


class SessionLeak(RuntimeError):
    """Raised, in ``mode="raise"``, when an app context is popped with leaks."""

    def __init__(self, leaks: list[Leak]) -> None:
        self.leaks = leaks
        super().__init__("\n".join(str(leak) for leak in leaks))


class SessionGuard:
    """Watch the sessions of one Flask app (``SessionGuard(app)`` or ``init_app(app)``), or of
    every app (``watch_every_app()``, as the pytest plugin does)."""

    def __init__(self, app: Flask | None = None, *, mode: str = "warn", on_leak=None) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.mode = mode
        self.on_leak = on_leak
        self.leaked = 0
        self._open: weakref.WeakSet[Session] = weakref.WeakSet()
        self._lock = threading.Lock()
        _install()
        _GUARDS.add(self)
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        app.extensions.setdefault(EXTENSION, []).append(self)

    def watch_every_app(self) -> None:
        _EVERY_APP.append(self)

    def close(self) -> None:
        """Stop watching (every app, for a guard made with `watch_every_app`)."""
        if self in _EVERY_APP:
            _EVERY_APP.remove(self)

    def open_leaks(self) -> int:
        """Leaked sessions still inside a transaction now."""
        return sum(1 for session in list(self._open) if session.in_transaction())

    def _report(self, leaks: list[Leak], sessions: list[Session]) -> None:
        with self._lock:
            self.leaked += len(leaks)
            self._open.update(sessions)
        if _METRICS:
            _METRICS[0].inc(len(leaks))
        for leak in leaks:
            if self.on_leak is not None:
                self.on_leak(leak)
            elif self.mode == "warn":
                logger.warning("%s", leak)


# -- what a context did ---------------------------------------------------------------------


@dataclass
class _Frame:
    """One pushed app context: what began in it, and who watches it."""

    ctx: object
    app: Flask
    guards: list[SessionGuard]
    request: tuple | None = None  # (method, path, query string, endpoint)
    sessions: dict[int, tuple[weakref.ref, tuple | None]] = field(default_factory=dict)
    connections: dict[int, tuple | None] = field(default_factory=dict)  # id(dbapi connection) -> site
    owners: dict[int, int] = field(default_factory=dict)  # id(dbapi connection) -> id(session)
    leaks: list[Leak] = field(default_factory=list)
    leaked_sessions: list[Session] = field(default_factory=list)


_FRAMES: ContextVar[tuple[_Frame, ...]] = ContextVar("fixsessions_guard_frames", default=())
_GUARDS: weakref.WeakSet[SessionGuard] = weakref.WeakSet()
_EVERY_APP: list[SessionGuard] = []
_REGISTRIES: weakref.WeakSet[scoped_session] = weakref.WeakSet()
_NAMES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_METRICS: list = []  # [leak counter] once prometheus_client is there
_INSTALLED = threading.Lock()
_installed = False


def _install() -> None:
    """Once per process: the signals, the session and pool events, the registry tracking."""
    global _installed
    with _INSTALLED:
        if _installed:
            return
        original = scoped_session.__init__

        def tracked_init(self, *args, **kwargs):
            original(self, *args, **kwargs)
            _REGISTRIES.add(self)

        tracked_init.__wrapped__ = original
        scoped_session.__init__ = tracked_init
        _REGISTRIES.update(o for o in gc.get_objects() if isinstance(o, scoped_session))
        appcontext_pushed.connect(_pushed, weak=False)
        request_tearing_down.connect(_request_ending, weak=False)
        appcontext_tearing_down.connect(_torn_down, weak=False)
        appcontext_popped.connect(_popped, weak=False)
        event.listen(Session, "after_transaction_create", _transaction_created)
        event.listen(Session, "do_orm_execute", _executed)
        event.listen(Session, "after_begin", _connection_begun)
        event.listen(Pool, "checkout", _checked_out)
        event.listen(Pool, "checkin", _checked_in)
        _install_metrics()
        _installed = True


def _install_metrics() -> None:
    try:
        from prometheus_client import Counter, Gauge
    except ImportError:
        return
    _METRICS.append(Counter(
        "fixsessions_session_leaks", "Sessions and connections that outlived their Flask app context."
    ))
    gauge = Gauge(
        "fixsessions_leaked_sessions", "Leaked SQLAlchemy sessions still inside a transaction."
    )
    gauge.set_function(lambda: sum(guard.open_leaks() for guard in list(_GUARDS)))


def _pushed(app: Flask, **_) -> None:
    guards = [*app.extensions.get(EXTENSION, ()), *_EVERY_APP]
    if guards:
        _FRAMES.set((*_FRAMES.get(), _Frame(_cv_app.get(None), app, guards)))


def _request_ending(app: Flask, **_) -> None:
    frames = _FRAMES.get()
    if frames and frames[-1].app is app and has_request_context():
        frames[-1].request = (request.method, request.path, request.query_string, request.endpoint)


def _torn_down(app: Flask, **_) -> None:
    """The app's teardown handlers have run: whatever is still open now has leaked."""
    frames = _FRAMES.get()
    if not frames or frames[-1].ctx is not _cv_app.get(None):
        return
    frame = frames[-1]
    context = _context(frame)
    held = _held_sessions()
    for ref, site in frame.sessions.values():
        session = ref()
        if session is None:
            continue
        registry = held.get(id(session))
        if registry is not None:
            state = "with its transaction open" if session.in_transaction() else "after its commit"
            name = _name(registry)
            which, call = (
                (f"scoped_session `{name}`", f"`{name.rpartition('.')[2]}.remove()`") if name
                else ("a scoped_session registry bound to no module-level name", "its `remove()`")
            )
            frame.leaks.append(Leak("registry", context, (
                f"{which} still holds this thread's session {state} (used at {_where(site)}): "
                f"the next request on this thread reads through it. Call {call} in a "
                f"teardown_appcontext handler (fixsessions FS001)."
            ), "FS001"))
        elif session.in_transaction():
            frame.leaks.append(Leak("session", context, (
                f"a session used at {_where(site)} is still in its transaction: it keeps its "
                f"connection and its snapshot until it is garbage-collected. Close it on every "
                f"path, with `with Session() as session:` or a helper (fixsessions FS005)."
            ), "FS005"))
        else:
            continue
        frame.leaked_sessions.append(session)
    for connection, site in frame.connections.items():
        if frame.owners.get(connection) not in frame.sessions:
            frame.leaks.append(Leak("connection", context, (
                f"a connection checked out at {_where(site)} was not returned to its pool: use "
                f"`with engine.connect() as connection:`."
            ), None))


def _context(frame: _Frame) -> str:
    """The request the context served ("GET /x?a=1 (endpoint x)"), or the app's name."""
    if frame.request is None:
        return f"app context of {frame.app.name!r}"
    method, path, query, endpoint = frame.request
    query = "?" + query.decode("latin-1") if query else ""
    return f"{method} {path}{query}" + (f" (endpoint {endpoint})" if endpoint else "")


def _popped(app: Flask, **_) -> None:
    frames = _FRAMES.get()
    if not frames or frames[-1].app is not app:
        return
    frame, rest = frames[-1], frames[:-1]
    if rest and rest[-1].ctx is frame.ctx:  # the same context pushed twice: not over yet
        rest[-1].sessions.update(frame.sessions)
        rest[-1].connections.update(frame.connections)
        rest[-1].owners.update(frame.owners)
    _FRAMES.set(rest)
    if not frame.leaks:
        return
    for guard in frame.guards:
        guard._report(frame.leaks, frame.leaked_sessions)
    if any(guard.mode == "raise" and guard.on_leak is None for guard in frame.guards):
        raise SessionLeak(frame.leaks)


# -- SQLAlchemy events ------------------------------------------------------------------------


def _transaction_created(session: Session, transaction) -> None:
    if transaction.parent is None:
        _used(session)


def _executed(orm_execute_state) -> None:
    _used(orm_execute_state.session)


def _used(session: Session) -> None:
    """A session began a transaction or ran a statement in the current context."""
    frames = _FRAMES.get()
    if frames and id(session) not in frames[-1].sessions:
        frames[-1].sessions[id(session)] = (weakref.ref(session), _site())


def _connection_begun(session: Session, transaction, connection) -> None:
    frames = _FRAMES.get()
    if frames:
        _used(session)
        frames[-1].owners[id(connection.connection.dbapi_connection)] = id(session)


def _checked_out(dbapi_connection, record, proxy) -> None:
    frames = _FRAMES.get()
    if frames:
        frames[-1].connections[id(dbapi_connection)] = _site()


def _checked_in(dbapi_connection, record) -> None:
    for frame in _FRAMES.get():
        frame.connections.pop(id(dbapi_connection), None)


# -- registries and places --------------------------------------------------------------------


def _held_sessions() -> dict[int, scoped_session]:
    """id(session) -> the registry holding it for the current scope (this thread)."""
    held = {}
    for registry in list(_REGISTRIES):
        try:
            if registry.registry.has():
                held[id(registry.registry())] = registry
        except Exception:  # a scopefunc that needs what is gone (a request, a greenlet)
            continue
    return held


def _name(registry: scoped_session) -> str:
    """`package.module.name` of a module-level registry ("" if it has none)."""
    name = _NAMES.get(registry)
    if name is None:
        name = next(
            (
                f"{module_name}.{attribute}"
                for module_name, module in list(sys.modules.items())
                for attribute, value in list(getattr(module, "__dict__", {}).items())
                if value is registry
            ),
            "",
        )
        _NAMES[registry] = name
    return name


_SKIPPED = tuple(
    os.path.dirname(module.__file__) + os.sep
    for module in (sys.modules["sqlalchemy"], sys.modules["flask"])
) + (os.path.abspath(__file__),)


def _site() -> tuple | None:
    """The first frame outside SQLAlchemy, Flask and this module: (path, line, function)."""
    frame = sys._getframe(1)
    while frame is not None and _skipped(frame.f_code):
        frame = frame.f_back
    return None if frame is None else (frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name)


def _where(site: tuple | None) -> str:
    """`path:line in function`, the path relative to the working folder when under it."""
    if site is None:
        return "an unknown place"
    path, line, function = site
    relative = os.path.relpath(path) if os.path.isabs(path) else path
    shown = relative if not relative.startswith(".." + os.sep) else path
    return f"{shown}:{line} in {function}"


_SKIPPED_CODE: dict = {}


def _skipped(code) -> bool:
    answer = _SKIPPED_CODE.get(code)
    if answer is None:
        answer = _SKIPPED_CODE[code] = code.co_filename.startswith(_SKIPPED)
    return answer
