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


# Installing fixsessions adds one import name. These run the way a user meets the clashes.

import subprocess  # noqa: E402
import sys  # noqa: E402
import zipfile  # noqa: E402

BIN = Path(sys.executable).parent


def test_the_wheel_installs_one_top_level_name(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
         "-w", str(tmp_path), str(REPO)],
        check=True, capture_output=True, timeout=300,
    )
    [wheel] = tmp_path.glob("fixsessions-*.whl")
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"fixsessions"}
    names = zipfile.ZipFile(wheel).namelist()
    assert "fixsessions/cli.py" in names and "fixsessions/codemods/engine/core.py" in names
    assert not any(n.startswith(("fixsessions/tests/", "fixsessions/examples/")) for n in names)


def test_flake8_runs_in_a_project_with_its_own_codemods_package(tmp_path):
    # LibCST's docs suggest `codemods/` for a project's own codemods; flake8 runs with the
    # project folder first on sys.path.
    (tmp_path / "codemods").mkdir()
    (tmp_path / "codemods" / "__init__.py").write_text("")
    (tmp_path / "app.py").write_text(
        "from flask import Flask\nfrom sqlalchemy.orm import scoped_session\n\n"
        "db_session = scoped_session(maker)\napp = Flask(__name__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "flake8", "--enable-extensions", "FS", "--select", "FS", "app.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert "FailedToLoadPlugin" not in result.stderr, result.stderr
    assert "FS001" in result.stdout


def test_the_command_works_beside_another_top_level_cli_package(tmp_path):
    other = tmp_path / "site"
    (other / "cli").mkdir(parents=True)
    (other / "cli" / "__init__.py").write_text("raise ImportError('this is somebody else\\'s cli')\n")
    result = subprocess.run(
        [str(BIN / "fixsessions"), "--version"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(other)},
    )
    assert result.returncode == 0, result.stderr
    assert "fixsessions" in result.stdout
