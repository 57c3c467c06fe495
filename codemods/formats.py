"""Findings as text, JSON, SARIF 2.1.0 or GitHub Actions annotations. Pure functions: the
command line decides where the strings go."""

from __future__ import annotations

import difflib
import json
from typing import Callable, Iterable

from codemods import __version__
from codemods.rule import Finding

SECTIONS = (
    ("What it finds", "what"),
    ("Why it causes stale or lost data", "why"),
    ("Example", "example"),
    ("Use instead", "use_instead"),
    ("Fix safety", "fix_safety"),
)
RULES_DOC = "docs/rules.md"


def explanation(rule) -> str:
    """`fixsessions explain CODE`: ruff's rule documentation layout, from the rule itself."""
    parts = [f"# {rule.name} ({rule.code})", ""]
    for title, attribute in SECTIONS:
        text = getattr(rule, attribute).rstrip("\n")
        if attribute in ("example", "use_instead"):
            text = "```python\n" + text + "\n```"
        parts += [f"## {title}", text, ""]
    return "\n".join(parts).rstrip("\n")


def rule_url(rule) -> str:
    """Where the rule's explanation lives in this project's documentation."""
    return f"{RULES_DOC}#{rule.code.lower()}-{rule.name}"


def text_line(finding: Finding, display: Callable) -> str:
    loc = finding.location
    return f"{display(finding.path)}:{loc.line}:{loc.column + 1}: {finding.code} {finding.message}"


def github_line(finding: Finding, display: Callable) -> str:
    loc = finding.location
    message = finding.message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    path = display(finding.path).replace(",", "%2C").replace(":", "%3A")
    return (
        f"::warning file={path},line={loc.line},col={loc.column + 1},"
        f"endLine={loc.end_line},endColumn={loc.end_column + 1},title={finding.code}::{message}"
    )


def edits(finding: Finding) -> list[dict]:
    """The text edits of a finding's fix alone, as ruff's JSON gives them: replace the lines
    from `location` up to (not including) `end_location` by `content`."""
    if finding.fix is None or finding.preview is None:
        return []
    old = finding.source.splitlines(keepends=True)
    new = finding.preview().splitlines(keepends=True)
    result = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        result.append(
            {
                "content": "".join(new[j1:j2]),
                "location": {"line": i1 + 1, "column": 1},
                "end_location": {"line": i2 + 1, "column": 1},
            }
        )
    return result


def json_findings(findings: Iterable[Finding], display: Callable, rules) -> str:
    by_code = {rule.code: rule for rule in rules}
    out = []
    for f in findings:
        loc = f.location
        out.append(
            {
                "code": f.code,
                "name": f.name,
                "message": f.message,
                "path": display(f.path),
                "line": loc.line,
                "column": loc.column + 1,
                "end_line": loc.end_line,
                "end_column": loc.end_column + 1,
                "fix": {"applicability": f.applicability, "edits": edits(f)},
                "url": rule_url(by_code[f.code]) if f.code in by_code else None,
            }
        )
    return json.dumps(out, indent=2) + "\n"


def sarif(findings: Iterable[Finding], display: Callable, rules) -> str:
    rules = list(rules)
    index = {rule.code: i for i, rule in enumerate(rules)}
    driver_rules = [
        {
            "id": rule.code,
            "name": rule.name,
            "shortDescription": {"text": rule.what},
            "fullDescription": {"text": rule.why},
            "help": {"text": explanation(rule), "markdown": explanation(rule)},
            "helpUri": rule_url(rule),
            "defaultConfiguration": {"level": "warning"},
        }
        for rule in rules
    ]
    results = []
    for f in findings:
        loc = f.location
        result = {
            "ruleId": f.code,
            "level": "warning",
            "message": {"text": f.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": display(f.path), "uriBaseId": "%SRCROOT%"},
                        "region": {
                            "startLine": loc.line,
                            "startColumn": loc.column + 1,
                            "endLine": loc.end_line,
                            "endColumn": loc.end_column + 1,
                        },
                    }
                }
            ],
        }
        if f.code in index:
            result["ruleIndex"] = index[f.code]
        results.append(result)
    document = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "fixsessions",
                        "version": __version__,
                        "rules": driver_rules,
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(document, indent=2) + "\n"
