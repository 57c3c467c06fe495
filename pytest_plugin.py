"""pytest plugin: run a test suite with the session guard on every Flask app it creates.

Off unless asked: ``pytest --fixsessions-guard``, or ``fixsessions_guard = true`` in the pytest
configuration. A test during which a request (an app context) leaked a session or a connection
fails, and the failure names the request and what leaked (see `fixsessions.guard`).
"""

from __future__ import annotations

import pytest

OPTION = "--fixsessions-guard"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("fixsessions")
    group.addoption(
        OPTION,
        action="store_true",
        default=False,
        help="fail each test during which a Flask request left a SQLAlchemy session open",
    )
    parser.addini(
        "fixsessions_guard",
        type="bool",
        default=False,
        help="as --fixsessions-guard",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("fixsessions_guard") or config.getini("fixsessions_guard"):
        config.pluginmanager.register(GuardPlugin(), "fixsessions-guard")


class GuardPlugin:
    """Watches every app; each test phase fails if a leak was seen while it ran."""

    def __init__(self) -> None:
        from .guard import SessionGuard

        self.leaks: list = []
        self.failed: list[str] = []
        self.guard = SessionGuard(on_leak=self.leaks.append)
        self.guard.watch_every_app()

    def _phase(self, item: pytest.Item):
        self.leaks.clear()
        result = yield
        if self.leaks:
            leaks = list(self.leaks)
            self.leaks.clear()
            self.failed.append(item.nodeid)
            lines = "\n".join(f"  {leak}" for leak in leaks)
            pytest.fail(f"fixsessions guard: {len(leaks)} leak(s) in this test:\n{lines}", pytrace=False)
        return result

    pytest_runtest_setup = pytest.hookimpl(wrapper=True)(_phase)
    pytest_runtest_call = pytest.hookimpl(wrapper=True)(_phase)
    pytest_runtest_teardown = pytest.hookimpl(wrapper=True)(_phase)

    def pytest_terminal_summary(self, terminalreporter) -> None:
        tests = sorted(set(self.failed))
        if tests:
            terminalreporter.write_sep("=", "fixsessions guard")
            terminalreporter.write_line(f"{len(tests)} test(s) leaked a session or a connection:")
            for nodeid in tests:
                terminalreporter.write_line(f"  {nodeid}")

    def pytest_unconfigure(self) -> None:
        self.guard.close()
