"""The README's two set-up commands are the ones CI and users run."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def setup_commands() -> list[str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```(?:sh|bash|console)?\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip() and not line.startswith("#")]


def test_readme_has_two_setup_commands_install_first():
    install, tests = setup_commands()
    assert "pip install -e '.[test]'" in install
    assert install.endswith("fixsessions --dry-run examples/before")
    assert "pytest" in tests


def test_ci_runs_exactly_the_readme_test_command():
    _, tests = setup_commands()
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert tests in ci
