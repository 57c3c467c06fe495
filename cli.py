"""The ``fixsessions`` command: parse arguments, call the engine, print. Nothing else."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from codemods import __version__
from codemods.diff import unified_diff
from codemods.engine import RunResult, Settings, run, run_source, write
from codemods.registry import BY_CODE, RULES
from codemods.source import SourceError

SECTIONS = (
    ("What it finds", "what"),
    ("Why it causes stale or lost data", "why"),
    ("Example", "example"),
    ("Use instead", "use_instead"),
    ("Fix safety", "fix_safety"),
)


def _codes(value: str | None) -> frozenset[str] | None:
    if value is None:
        return None
    codes = frozenset(c.strip().upper() for c in value.split(",") if c.strip())
    unknown = sorted(c for c in codes if c not in BY_CODE)
    if unknown:
        raise click.BadParameter(f"unknown rule code(s): {', '.join(unknown)}")
    return codes


def _display(path: Path) -> str:
    if str(path) == "-":
        return "-"
    return os.path.relpath(path).replace(os.sep, "/")


def _echo_finding(finding) -> None:
    loc = finding.location
    click.echo(
        f"{_display(finding.path)}:{loc.line}:{loc.column + 1}: {finding.code} {finding.message}",
        err=True,
    )


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path, allow_dash=True))
@click.option("--dry-run", "--diff", "dry_run", is_flag=True, help="Write nothing; print a unified diff.")
@click.option("--check", is_flag=True, help="Write nothing; print findings; exit 1 if any.")
@click.option("--unsafe-fixes", is_flag=True, help="Also apply fixes marked unsafe.")
@click.option("--select", metavar="CODES", help="Comma-separated rule codes to run.")
@click.option("--ignore", metavar="CODES", help="Comma-separated rule codes to skip.")
@click.option("--exclude", metavar="GLOB", multiple=True, help="Skip paths matching GLOB.")
@click.option("--quiet", "-q", is_flag=True, help="Print findings and errors only.")
@click.version_option(__version__, prog_name="fixsessions")
def fix(paths, dry_run, check, unsafe_fixes, select, ignore, exclude, quiet) -> None:
    """Find and fix SQLAlchemy session-lifecycle bugs in Flask apps (PATHS default to .).

    Subcommands: `fixsessions explain CODE`, `fixsessions rules`.
    """
    try:
        settings = Settings(
            select=_codes(select),
            ignore=_codes(ignore) or frozenset(),
            unsafe_fixes=unsafe_fixes,
            exclude=tuple(exclude),
        )
    except click.BadParameter as exc:
        raise click.UsageError(str(exc)) from None
    paths = list(paths) or [Path(".")]
    if Path("-") in paths:
        if len(paths) > 1:
            raise click.UsageError("`-` (standard input) cannot be combined with other paths")
        data = click.get_binary_stream("stdin").read()
        file = run_source(data, Path("-"), settings)
        result = RunResult([file], [])
    else:
        result = run(paths, settings)
    sys.exit(_report(result, dry_run, check, quiet))


def _report(result: RunResult, dry_run: bool, check: bool, quiet: bool) -> int:
    stdout = click.get_binary_stream("stdout")
    for path, reason in result.skipped:
        click.echo(f"warning: {_display(path)}: skipped: {reason}", err=True)
    for file in result.files:
        if file.error:
            click.echo(f"error: {_display(file.path)}: {file.error} (left unchanged)", err=True)
        for note in file.notes:
            click.echo(f"warning: {_display(file.path)}: {note}", err=True)

    stdin = len(result.files) == 1 and str(result.files[0].path) == "-"
    changed = result.changed
    if dry_run:
        for file in changed:
            stdout.write(unified_diff(file.original, file.fixed, _display(file.path)))
    elif check:
        for file in result.files:
            for finding in file.applied:
                _echo_finding(finding)
    elif stdin:
        file = result.files[0]
        stdout.write(file.fixed if file.changed else file.original)
    else:
        try:
            write(result)
        except (OSError, SourceError) as exc:
            click.echo(f"error: writing failed: {exc}", err=True)
            return 2
    stdout.flush()

    for finding in result.findings:
        _echo_finding(finding)
    fixes = sum(len(f.applied) for f in changed)
    left = len(result.findings)
    unsafe = sum(1 for f in result.findings if f.applicability == "unsafe")
    if not quiet:
        verb = "Would fix" if (dry_run or check) else "Fixed"
        if fixes:
            click.echo(f"{verb} {fixes} finding(s) in {len(changed)} file(s).", err=True)
        if unsafe:
            click.echo(f"{unsafe} finding(s) have an unsafe fix (review, then --unsafe-fixes).", err=True)
        if left - unsafe:
            click.echo(f"{left - unsafe} finding(s) need a person (no automatic fix).", err=True)
        if not fixes and not left and not result.errors:
            click.echo("No session-lifecycle problems found.", err=True)
    wrote = not (dry_run or check)  # stdin: the fixed text went to stdout
    if any(f.internal_error for f in result.files):
        return 2
    if left or result.errors or (changed and not wrote):
        return 1
    return 0


@click.command()
@click.argument("code")
def explain(code: str) -> None:
    """Explain rule CODE: what it finds, why it matters, the fix and its safety."""
    rule = BY_CODE.get(code.upper())
    if rule is None:
        raise click.UsageError(f"unknown rule code: {code}")
    click.echo(explanation(rule))


def explanation(rule) -> str:
    parts = [f"# {rule.name} ({rule.code})", ""]
    for title, attribute in SECTIONS:
        text = getattr(rule, attribute).rstrip("\n")
        if attribute in ("example", "use_instead"):
            text = "```python\n" + text + "\n```"
        parts += [f"## {title}", text, ""]
    return "\n".join(parts).rstrip("\n")


@click.command()
def rules() -> None:
    """List every rule with its code, name and fix."""
    for rule in RULES:
        click.echo(f"{rule.code}  {rule.name}")


SUBCOMMANDS = {"explain": explain, "rules": rules}


def main() -> None:
    argv = sys.argv[1:]
    if argv and argv[0] in SUBCOMMANDS:
        SUBCOMMANDS[argv[0]].main(argv[1:], prog_name=f"fixsessions {argv[0]}")
    fix.main(argv, prog_name="fixsessions")


if __name__ == "__main__":
    main()
