"""The ``fixsessions`` command: parse arguments, call the engine, print. Nothing else."""

from __future__ import annotations

import os
import stat
import sys
import time
from pathlib import Path

import click

from .codemods import __version__

# The engine and the rules are imported where they are used, so that `--version` and `-h`
# start as fast as click does.


def _codes(values, source: str) -> frozenset[str] | None:
    if values is None:
        return None
    from .codemods.rules import BY_CODE

    if isinstance(values, str):
        values = values.split(",")
    codes = frozenset(c.strip().upper() for v in values for c in v.split(",") if c.strip())
    unknown = sorted(c for c in codes if c not in BY_CODE)
    if unknown:
        raise click.UsageError(f"{source}: unknown rule code(s): {', '.join(unknown)}")
    return codes


def _display(path: Path) -> str:
    if str(path) == "-":
        return "-"
    return os.path.relpath(path).replace(os.sep, "/")


def _settings(paths, select, ignore, exclude, unsafe_fixes, jobs=1, edits=False, cache=False):
    """Flags win over [tool.fixsessions] in the nearest pyproject.toml."""
    from .codemods.engine import Settings, config

    start = next((p for p in paths if str(p) != "-"), Path("."))
    try:
        file = config.load(start)
    except config.ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    where = f"{file.path}: [tool.fixsessions]" if file.path else "config"
    selected = _codes(select, "--select") if select is not None else _codes(file.select, where)
    if ignore is not None:
        ignored = _codes(ignore, "--ignore") or frozenset()
    else:
        ignored = _codes(file.ignore, where) or frozenset()
        if select is not None:  # a rule asked for on the command line beats the file's ignore
            ignored -= selected
    return Settings(
        select=selected,
        ignore=ignored,
        unsafe_fixes=unsafe_fixes if unsafe_fixes is not None else bool(file.unsafe_fixes),
        exclude=tuple(exclude) if exclude else tuple(file.exclude or ()),
        jobs=jobs,
        edits=edits,
        cache=cache,
    )


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path, allow_dash=True))
@click.option("--dry-run", "--diff", "dry_run", is_flag=True, help="Write nothing; print a unified diff.")
@click.option("--check", is_flag=True, help="Write nothing; print findings; exit 1 if any.")
@click.option("--unsafe-fixes/--no-unsafe-fixes", default=None, help="Also apply fixes marked unsafe.")
@click.option("--select", metavar="CODES", help="Comma-separated rule codes to run.")
@click.option("--ignore", metavar="CODES", help="Comma-separated rule codes to skip.")
@click.option("--exclude", metavar="GLOB", multiple=True, help="Skip paths matching GLOB (repeatable).")
@click.option(
    "--format", "output_format", type=click.Choice(["text", "json", "sarif", "github"]),
    default="text", show_default=True,
    help="How findings are printed (machine formats on stdout; they never write, as --check).",
)
@click.option("--color/--no-color", default=None, help="Colour output (default: only on a terminal).")
@click.option("--branch", metavar="NAME", help="Apply the fixes on a new git branch and commit them.")
@click.option("--allow-dirty", is_flag=True, help="Rewrite files that have uncommitted changes.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Processes to use (default: every core).")
@click.option("--no-cache", is_flag=True,
              help="Analyse everything again instead of answering an unchanged run from .fixsessions_cache/.")
@click.option("--stdin-filename", type=click.Path(path_type=Path, dir_okay=False),
              help="The path of the text read from standard input (`-`): its project is context.")
@click.option("--quiet", "-q", is_flag=True, help="Print findings and errors only.")
@click.version_option(__version__, prog_name="fixsessions")
def fix(paths, dry_run, check, unsafe_fixes, select, ignore, exclude, output_format, color,
        branch, allow_dirty, jobs, no_cache, stdin_filename, quiet) -> None:
    """Find and fix SQLAlchemy session-lifecycle bugs in Flask apps (PATHS default to .).

    Subcommands: `fixsessions explain CODE`, `fixsessions rules`.
    """
    from .codemods.engine import RunResult, run, run_buffer, run_source

    if branch and (dry_run or check):
        raise click.UsageError("--branch applies fixes; it cannot be combined with --dry-run or --check")
    if output_format != "text":
        # A report format reports: it never writes (ruff's `check --output-format` neither).
        if branch:
            raise click.UsageError(f"--format {output_format} reports; it cannot be combined with --branch")
        check = check or not dry_run
    missing = [p for p in paths if str(p) != "-" and not os.path.exists(p)]
    if missing:  # a typo in CI must not pass as a clean run
        for path in missing:
            what = "a symlink to nothing (broken, or a loop)" if os.path.lexists(path) else "no such file or directory"
            click.echo(f"error: {path}: {what}", err=True)
        sys.exit(2)
    if stdin_filename is not None and not paths:
        paths = (Path("-"),)
    paths = list(paths) or [Path(".")]
    if stdin_filename is not None and paths != [Path("-")]:
        raise click.UsageError("--stdin-filename names the text read from standard input: pass `-` or no path")
    settings = _settings(
        [stdin_filename] if stdin_filename else paths, select, ignore, exclude, unsafe_fixes,
        jobs=jobs or os.cpu_count() or 1, edits=output_format == "json", cache=not no_cache,
    )
    if Path("-") in paths:
        if len(paths) > 1 or branch:
            raise click.UsageError("`-` (standard input) cannot be combined with other paths or --branch")
        data = click.get_binary_stream("stdin").read()
        if stdin_filename is not None and stdin_filename.is_file():
            # An editor's buffer of a file of the project: the rest of the project is context.
            result = run_buffer(data, stdin_filename, settings)
        else:
            result = RunResult([run_source(data, stdin_filename or Path("-"), settings)], [])
        # --check reports, --dry-run prints a diff; otherwise the (fixed) text goes to stdout.
        mode = "check" if check else "dry-run" if dry_run else "stdin"
        sys.exit(_report(result, settings, mode, output_format, color, quiet))
    progress = Progress() if output_format == "text" and not quiet and sys.stderr.isatty() else None
    try:
        result = run(paths, settings, progress)
    finally:
        if progress:
            progress.close()
    mode = "dry-run" if dry_run else "check" if check else "write"
    if mode == "write":
        status = _write(result, paths, branch, allow_dirty)
        if status is not None:
            sys.exit(status)
    sys.exit(_report(result, settings, mode, output_format, color, quiet, branch))


class Progress:
    """One line on stderr, only on a terminal and only once a run has taken a second."""

    def __init__(self, stream=None, delay: float = 1.0) -> None:
        self.stream = stream or sys.stderr
        self.start = time.monotonic()
        self.delay = delay
        self.shown = False
        self.last = 0.0

    def __call__(self, phase: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.start < self.delay or (now - self.last < 0.1 and done != total):
            return
        self.last = now
        width = 30
        filled = width * done // max(total, 1)
        self.stream.write(f"\r{phase:<8} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}\x1b[K")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def _write(result, paths, branch: str | None, allow_dirty: bool) -> int | None:
    from .codemods.engine import gitops, write
    from .codemods.engine.source import SourceError

    changed = [f.path for f in result.changed]
    if not changed:
        return None
    # Refuse before writing anything: nothing half-written.
    read_only = [p for p in changed if not os.stat(p).st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)]
    if read_only:
        click.echo("error: these files are read-only; fixsessions does not write them:", err=True)
        for path in read_only:
            click.echo(f"  {_display(path)}", err=True)
        return 2
    root = gitops.repo_root(paths[0])
    try:
        dirty = gitops.uncommitted(changed) if root else []
    except gitops.GitError as exc:
        click.echo(f"error: {exc}", err=True)
        return 2
    if dirty and not allow_dirty:
        click.echo("error: these files have uncommitted changes; commit or stash them, or pass --allow-dirty:", err=True)
        for path in dirty:
            click.echo(f"  {_display(path)}", err=True)
        return 2
    if branch:
        if root is None:
            click.echo("error: --branch needs a git repository", err=True)
            return 2
        try:
            gitops.create_branch(branch, root)
        except gitops.GitError as exc:
            click.echo(f"error: {exc}", err=True)
            return 2
    try:
        write(result)
    except (OSError, SourceError) as exc:
        click.echo(f"error: writing failed: {exc}", err=True)
        return 2
    if branch:
        applied = [f for file in result.changed for f in file.applied]
        from .codemods.engine.formats import text_line
        from .codemods.rules import BY_CODE

        reasons = {code: rule.reason() for code, rule in BY_CODE.items()}
        message = gitops.commit_message(applied, lambda f: text_line(f, _display), reasons)
        try:
            sha = gitops.commit(changed, message, root)
        except gitops.GitError as exc:
            click.echo(f"error: the fixes are written but could not be committed: {exc}", err=True)
            return 2
        click.echo(f"Committed {len(applied)} fix(es) in {len(changed)} file(s) to branch {branch} ({sha}).", err=True)
    return None


def _report(result, settings, mode: str, output_format: str, color,
            quiet: bool, branch: str | None = None) -> int:
    from .codemods.engine import formats
    from .codemods.engine.diff import unified_diff
    from .codemods.rules import RULES

    stdout = click.get_binary_stream("stdout")
    use_color = color if color is not None else sys.stderr.isatty()
    for path, reason in result.skipped:
        click.echo(f"warning: {_display(path)}: skipped: {reason}", err=True)
    for file in result.files:
        if file.error:
            click.echo(f"error: {_display(file.path)}: {file.error} (left unchanged)", err=True)
        for note in file.notes:
            click.echo(f"warning: {_display(file.path)}: {note}", err=True)

    changed = result.changed
    wrote = mode in ("write", "stdin")

    def applied(f) -> bool:  # a fix this run makes (or, without writing, would make)
        return f.fix is not None and (f.applicability == "safe" or settings.unsafe_fixes)

    if wrote:
        shown = result.findings  # what is left in the files as they are now
    else:
        shown = [
            f for file in result.files for f in file.found
            if mode == "check" or not (file.changed and applied(f))
        ]
    # `--check`: what a run would fix is not left; a fix this run had to give up (its group
    # needs a file it does not write, it did not converge) is.
    # Compared by value: an answer from the result cache holds copies, not the same objects.
    def key(f):
        return (str(f.path), f.code, f.location, f.message)

    made = {key(f) for file in changed for f in file.applied}
    left = [f for f in shown if mode != "check" or key(f) not in made]

    if output_format == "json":
        stdout.write(formats.json_findings(shown, _display, RULES).encode())
    elif output_format == "sarif":
        stdout.write(formats.sarif(shown, _display, RULES).encode())
    elif output_format == "github":
        stdout.write("".join(formats.github_line(f, _display) + "\n" for f in shown).encode())
    else:
        if mode == "dry-run":
            for file in changed:
                diff = unified_diff(file.original, file.fixed, _display(file.path))
                if use_color and sys.stdout.isatty():
                    click.echo(_colour_diff(diff), nl=False, color=True)
                else:
                    stdout.write(diff)
                stdout.flush()
                # Why the hunks are there: the findings this file's diff fixes, on stderr.
                for finding in file.applied:
                    click.echo(f"{formats.text_line(finding, _display)} [fixed in the diff above]", err=True)
        for finding in shown:
            line = formats.text_line(finding, _display)
            if use_color:
                line = line.replace(f" {finding.code} ", " " + click.style(finding.code, fg="red", bold=True) + " ", 1)
            click.echo(line, err=True, color=use_color)
    if mode == "stdin":
        file = result.files[0]
        if output_format == "text":
            stdout.write(file.fixed if file.changed else file.original)
    stdout.flush()

    fixes = sum(len(f.applied) for f in changed)
    given_up = sum(1 for f in left if mode == "check" and applied(f))  # its warning says why
    unsafe = sum(1 for f in left if f.applicability == "unsafe" and not (mode == "check" and applied(f)))
    if not quiet:
        verb = "Fixed" if wrote else "Would fix"
        if fixes and not branch:
            click.echo(f"{verb} {fixes} finding(s) in {len(changed)} file(s).", err=True)
        if unsafe:
            click.echo(f"{unsafe} finding(s) have an unsafe fix (review, then --unsafe-fixes).", err=True)
        if given_up:
            click.echo(f"{given_up} finding(s) have a fix this run could not make (see the warnings).", err=True)
        if len(left) - unsafe - given_up:
            click.echo(f"{len(left) - unsafe - given_up} finding(s) need a person (no automatic fix).", err=True)
        if not fixes and not left and not result.errors:
            click.echo("No session-lifecycle problems found.", err=True)
    if any(f.internal_error for f in result.files):
        return 2
    if left or result.errors or (changed and not wrote):
        return 1
    return 0


def _colour_diff(diff: bytes) -> str:
    out = []
    for line in diff.decode("utf-8", "replace").splitlines(keepends=True):
        if line.startswith(("+++", "---")):
            out.append(click.style(line, bold=True))
        elif line.startswith("+"):
            out.append(click.style(line, fg="green"))
        elif line.startswith("-"):
            out.append(click.style(line, fg="red"))
        elif line.startswith("@@"):
            out.append(click.style(line, fg="cyan"))
        else:
            out.append(line)
    return "".join(out)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("rule")
def explain(rule: str) -> None:
    """Explain RULE (a code, FS001, or a name, missing-teardown): what it finds, why it
    matters, the fix and its safety."""
    from .codemods.engine import formats
    from .codemods.rules import BY_CODE, RULES

    found = BY_CODE.get(rule.upper()) or next((r for r in RULES if r.name == rule.lower()), None)
    if found is None:
        raise click.UsageError(f"unknown rule: {rule} (`fixsessions rules` lists them)")
    click.echo(formats.explanation(found))


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--markdown", is_flag=True, help="Every rule's full explanation, as docs/rules.md.")
def rules(markdown: bool) -> None:
    """List every rule: code, name, what its fix is, and what it finds."""
    from .codemods.engine import formats
    from .codemods.rules import RULES

    if markdown:
        click.echo(formats.rules_markdown(RULES), nl=False)
        return
    width = max(len(rule.name) for rule in RULES)
    for rule in RULES:
        click.echo(f"{rule.code}  {rule.name:<{width}}  {rule.fix_kind():<13}  {rule.summary()}")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False, allow_dash=True),
              default=Path("tests/test_session_lifecycle.py"), show_default=True,
              help="Where to write the test module (- for standard output).")
@click.option("--force", is_flag=True, help="Replace the output file if it exists.")
@click.option("--exclude", metavar="GLOB", multiple=True, help="Skip paths matching GLOB (repeatable).")
def lifecycle_test(paths, output: Path, force: bool, exclude) -> None:
    """Write a pytest module proving that each request of the apps under PATHS ends its
    session: for each Flask app and scoped_session registry found, a request leaves the
    registry empty, and a new request reads what another connection committed."""
    from .codemods.engine import core, lifecycle
    from .codemods.engine.source import write_atomic

    settings = _settings(paths, None, None, exclude, None)
    projects = [lifecycle.find(root, index) for root, index in core.project_indexes(list(paths), settings)]
    projects = [p for p in projects if p.targets]
    if not projects:
        click.echo("fixsessions: found no Flask app using a scoped_session registry: nothing written", err=True)
        sys.exit(1)
    destination = Path(".") / "-" if str(output) == "-" else output
    text = lifecycle.render(projects, destination.resolve())
    if str(output) == "-":
        click.echo(text, nl=False)
        return
    if output.exists() and not force:
        raise click.UsageError(f"{_display(output)} exists: pass --force to replace it")
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.exists():
        write_atomic(output, text.encode())
    else:
        with open(output, "xb") as handle:
            handle.write(text.encode())
    for project in projects:
        for target in project.targets:
            names = ", ".join(name for _, name in target.registries)
            made = f"{target.name}()" if target.factory is not None else target.name
            note = f" (not callable as is: {target.factory})" if target.factory else ""
            click.echo(f"{_display(target.path)}: app {made} with {names}{note}", err=True)
    click.echo(f"wrote {_display(output)}: run it with `python -m pytest {_display(output)}`", err=True)


SUBCOMMANDS = {"explain": explain, "rules": rules, "lifecycle-test": lifecycle_test}


def main() -> None:
    argv = sys.argv[1:]
    if argv and argv[0] in SUBCOMMANDS:
        SUBCOMMANDS[argv[0]].main(argv[1:], prog_name=f"fixsessions {argv[0]}")
    fix.main(argv, prog_name="fixsessions")


if __name__ == "__main__":
    main()
