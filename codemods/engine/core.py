"""The engine: discover files, read them byte-exactly, parse them with `ast`, index the
project, run the rules, apply and verify their fixes (LibCST parses only the files a fix
changes), and hand back old and new bytes. No printing, no writing: the command line (or a
test) decides what to do with a `RunResult`.
"""

from __future__ import annotations

import ast
import gc
import os
import re
import sys
import warnings
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

from ..analysis import prefilter
from ..analysis.facts import (
    CollectedModule, Where, collect_facts, is_test_code, module_name_for, reads_partly,
    set_namespace_packages,
)
from ..analysis.index import ProjectIndex, production_modules
from ..analysis.location import Positions, suppresses
from ..rules import RULES
from ..rules.base import FileContext, Finding, Fix, Rule
from .discovery import context_folders, discover, project_root, python_files_in
from .namespaces import find_namespace_packages
from .source import SourceError, SourceText, read_bytes, write_atomic

MAX_ROUNDS = 8
ANY_GROUP = "*"  # a file whose rules crashed: every cross-file fix is in doubt


@dataclass(frozen=True)
class Settings:
    select: frozenset[str] | None = None  # None: every rule
    ignore: frozenset[str] = frozenset()
    unsafe_fixes: bool = False
    exclude: tuple[str, ...] = ()
    jobs: int = 1  # processes for reading, parsing and fixing
    edits: bool = False  # keep each fix's text edits (for --format json) across processes
    cache: bool = False  # answer an unchanged run from the result cache (the CLI's default)

    def key(self) -> str:
        """What the results depend on, besides the files (not `jobs` or `cache`)."""
        select = sorted(self.select) if self.select is not None else None
        return repr((select, sorted(self.ignore), self.unsafe_fixes, self.exclude, self.edits))

    def rules(self) -> list[Rule]:
        return [
            rule()
            for rule in RULES
            if (self.select is None or rule.code in self.select) and rule.code not in self.ignore
        ]


@dataclass
class FileResult:
    path: Path
    original: bytes = b""
    fixed: bytes | None = None  # the new bytes, when fixes changed the file
    findings: list[Finding] = field(default_factory=list)  # what is left, in the new text
    initial: list[Finding] = field(default_factory=list)  # everything, in the original text
    applied: list[Finding] = field(default_factory=list)  # what the fixes took care of
    error: str | None = None  # why the file was left byte for byte
    internal_error: bool = False  # the error is a bug in fixsessions, not in the file
    notes: list[str] = field(default_factory=list)  # fixes dropped, and why
    failed_groups: set[str] = field(default_factory=set)  # cross-file fixes that failed here

    @property
    def changed(self) -> bool:
        return self.fixed is not None and self.fixed != self.original

    @property
    def found(self) -> list[Finding]:
        """Every finding, positioned in the file as it is on disk now (before fixing)."""
        return self.initial if self.changed else self.findings


@dataclass
class RunResult:
    files: list[FileResult]
    skipped: list[tuple[Path, str]]

    @property
    def changed(self) -> list[FileResult]:
        return [f for f in self.files if f.changed]

    @property
    def findings(self) -> list[Finding]:
        return [finding for f in self.files for finding in f.findings]

    @property
    def errors(self) -> list[FileResult]:
        return [f for f in self.files if f.error]


@dataclass
class _Parsed:
    result: FileResult
    source: SourceText
    root: Path
    where: Where
    tree: ast.Module
    positions: Positions
    collected: CollectedModule

    @property
    def facts(self):
        return self.collected.facts


@dataclass
class _Facts:
    """A file parsed in a worker: its facts came back, its tree did not."""

    result: FileResult
    root: Path
    facts: object


# From this many files on, or this many bytes of source, reading and parsing are spread over
# processes (`_reads_minimum`); trees are kept in memory for the fixing phase only when parsed
# in this process, for this many bytes of source at most (an `ast`, with the child lists the
# collectors keep on it, takes some 20 times its source's size). Few files are checked once
# the index is known (35 of 511 on a 629-file app), so trees kept for all the others were
# memory spent for nothing: 8 MB kept 449 MiB there.
PARALLEL_READS = 256
PARALLEL_BYTES = 256_000
FIX_IN_WORKERS = 32  # files to parse again and check, from which workers do it
KEEP_BYTES = 2_000_000


class _Workers:
    """A pool of forked processes, made on first use and only for work big enough to pay for
    it. Forked after the index exists, a worker sees the index without pickling it."""

    def __init__(self, jobs: int) -> None:
        self.jobs = max(1, jobs)

    def __enter__(self) -> "_Workers":
        return self

    def __exit__(self, *exc) -> None:
        pass

    def in_process(self, total: int, minimum: int = 2) -> bool:
        """Whether `map` of ``total`` items runs here, without workers."""
        if self.jobs == 1 or total < minimum:
            return True
        import multiprocessing  # here: a run that forks no worker does without it

        return "fork" not in multiprocessing.get_all_start_methods()

    def map(self, function, items: list[Path], shared, progress, phase: str, minimum: int = 2) -> list:
        """``[function(path, shared) for path in items]``, in that order."""
        total = len(items)
        if self.in_process(total, minimum):
            out = []
            for done, item in enumerate(items, 1):
                out.append(function(item, shared))
                if progress:
                    progress(phase, done, total)
            return out
        global _SHARED
        _SHARED = shared  # inherited by the forked workers
        import multiprocessing

        context = multiprocessing.get_context("fork")
        out: list = [None] * total
        done = 0
        with context.Pool(self.jobs) as pool:
            chunks = _chunks(items, self.jobs * CHUNKS_PER_JOB)
            jobs = [(function, [items[i] for i in chunk]) for chunk in chunks]
            for chunk, values in zip(chunks, pool.imap(_call_shared, jobs, 1)):
                for i, value in zip(chunk, values):
                    out[i] = value
                    done += 1
                    if progress:
                        progress(phase, done, total)
        return out


# Chunks handed out to each worker of a pool, about: fewer cost more waiting at the end of a
# round, more cost more messages (a fourfold count was slower on four of the largest trees).
CHUNKS_PER_JOB = 8
# What reading a file costs beyond its bytes, in bytes: the weight of a file the pre-filter
# passes over after reading it.
FILE_COST = 1_000
MAX_CHUNK = 64


def _chunks(paths: list[Path], parts: int) -> list[list[int]]:
    """The positions of ``paths`` in chunks for a pool: largest file first (in their order
    where sizes are equal), each chunk about ``1 / parts`` of their bytes (and at most
    `MAX_CHUNK` files). The last chunks are small files: no worker is left parsing a big
    module at the end while the others wait (idle cores were 10 to 20% of a round). Chunks
    of as many files each put the largest files in one: one worker read ckan's 44 largest
    for 1.19 s, the other its 669 others in 0.54 s and then waited."""
    sizes = []
    for path in paths:
        try:
            sizes.append(os.stat(path).st_size + FILE_COST)
        except OSError:
            sizes.append(FILE_COST)  # its reader says why
    order = sorted(range(len(paths)), key=lambda i: -sizes[i])
    share = sum(sizes) / max(1, parts)
    chunks: list[list[int]] = []
    chunk: list[int] = []
    weight = 0
    for i in order:
        chunk.append(i)
        weight += sizes[i]
        if weight >= share or len(chunk) == MAX_CHUNK:
            chunks.append(chunk)
            chunk, weight = [], 0
    if chunk:
        chunks.append(chunk)
    return chunks


_SHARED = None


def _call_shared(job):
    function, items = job
    return [function(item, _SHARED) for item in items]


# What `_scan` says of a file it does not select: passed over unparsed, parsed and passed over
# by the pre-filter's second look, or a seed left for a later round unparsed (see `_select`).
_PASSED, _LOOKED_AT, _DEFERRED = "passed", "looked at", "deferred"


@dataclass
class _Record:
    """A file a round parsed and did not select (`prefilter.acts` passed over it), with what
    a later round needs to decide on it without reading it again: its words (for
    `prefilter.Mentions`), what `acts` looks at (`prefilter.act_terms`), and, from the first
    round, its facts or why it cannot be indexed. A round decides on the files it has a
    record of here and hands out the others, with those it selects from a record that kept
    no facts. A seed the first round passes over was parsed again by the second (35 of
    privacyidea's modules, 1.45 MB); most are selected there, so their facts are kept,
    although none is used where the first round teaches no name (redash). A later round's
    are seldom selected (calibre-web indexed 13% more for them): they keep no facts.
    """

    marker: str  # `_PASSED` or `_LOOKED_AT`: what this round says of it
    words: set[bytes]
    acts: bool  # true with no name learned
    ids: frozenset[str]
    facts: object | None  # None: kept none (a later round's record), or cannot be indexed
    error: FileResult | None = None  # why not, when it cannot be indexed


def _scan(path: Path, shared):
    """One file of the selection: `_PASSED`, `_LOOKED_AT` or `_DEFERRED` when it is not
    selected (now); else its `FileResult` with the reason it cannot be parsed, `_Parsed` when
    the trees are kept (in this process, within `KEEP_BYTES`), or the facts of a file parsed
    in a worker, as ``(path, facts)``, and a file parsed and not selected as a `_Record`.
    Each file is parsed once here."""
    words, learned, budget = shared
    result = FileResult(path)
    try:
        data = _read(path)
    except SourceError as exc:
        result.error = str(exc)
        return result
    if words is None:
        if not prefilter.is_seed(data):
            return _PASSED
        seen = prefilter.words_of(data)
        if not prefilter.may_act(data, seen):
            return _DEFERRED
    else:
        seen = prefilter.words_of(data)
        if not words(data, module_name_for(path)[1].name.split(".")[0], seen):
            return _PASSED
    parsed = _tree(result, data)
    if parsed is None:
        return result
    source, tree = parsed
    if prefilter.acts(tree, learned):
        parsed = _collect(result, source, tree)
        if parsed is None:
            return result
        if budget is not None and budget[0] >= len(data):
            budget[0] -= len(data)
            return parsed
        result.original = b""  # read again by the worker that fixes it
        return path, parsed.collected.facts
    acts, ids = prefilter.act_terms(tree)
    if words is not None:
        return _Record(_LOOKED_AT, seen, acts, ids, None)  # parsed again if ever selected
    parsed = _collect(result, source, tree)
    return _Record(
        _LOOKED_AT, seen, acts, ids,
        parsed.collected.facts if parsed is not None else None,
        _failed(result) if parsed is None else None,
    )


def _failed(result: FileResult) -> FileResult:
    """What a `_Record` keeps of a file that cannot be indexed: what `_scan` would have
    answered for it."""
    out = FileResult(result.path, error=result.error, internal_error=result.internal_error)
    out.original = result.original
    out.failed_groups = set(result.failed_groups)
    return out


def _decide(result: FileResult, record: _Record, shared):
    """What `_scan` would answer for ``result`` in this round, from its `_Record`: the record
    itself while the file is still not selected (with this round's marker), else the
    `FileResult` with the reason it cannot be indexed, ``(path, facts)``, or `_HAND_OUT`
    when the record kept no facts."""
    words, learned = shared[0], shared[1]
    path = result.path
    data = None
    if words.needs_text:
        try:
            data = _read(path)
        except SourceError as exc:
            out = FileResult(path)
            out.error = str(exc)
            return out
    top = module_name_for(path)[1].name.split(".")[0]
    if not words(data, top, record.words):
        return replace(record, marker=_PASSED)
    if not (record.acts or not record.ids.isdisjoint(learned)):
        return replace(record, marker=_LOOKED_AT)
    if record.error is not None:
        return record.error
    if record.facts is None:
        return _HAND_OUT
    return path, record.facts


_HAND_OUT = "hand out"  # `_decide`: selected now, to be parsed (its record kept no facts)


def _fix_in_worker(path: Path, shared) -> FileResult:
    index, settings = shared
    result = FileResult(path)
    parsed = _parse(result)
    if parsed is not None:
        _fix_file(parsed, index, settings.rules(), settings)
    _detach(result, settings)
    return result


def _detach(result: FileResult, settings: Settings) -> None:
    """Make a result picklable: findings keep their data and their fixes' text edits, not the
    tree nodes and functions of the edits."""
    from .formats import edits

    for finding in {id(f): f for f in result.initial + result.findings + result.applied}.values():
        if finding.fix is not None:
            if settings.edits:
                finding.text_edits = edits(finding)
            finding.fix = Fix(finding.fix.applicability, group=finding.fix.group)
        finding.preview = None
        finding.source = ""


def _select(files: list[FileResult], workers: _Workers, progress) -> list:
    """Parse what the pre-filter selects, learning names until no new file turns up."""
    set_namespace_packages({})  # what a previous run in this process found
    _WHOLE.clear()
    is_test_code.cache_clear()  # its answer rests on the marker files on disk
    minimum = _reads_minimum([f.path for f in files])
    budget = [KEEP_BYTES] if workers.in_process(len(files), minimum) else None
    records: dict[int, _Record] = {}  # files parsed and not selected yet (see `_Record`)
    selected, remaining, unselected = _scan_all(
        files, (None, frozenset(), budget), workers, progress, minimum, records
    )
    deferred = {key for key, answer in unselected.items() if answer == _DEFERRED}
    learned: dict[str, set[str]] = {}  # name -> top-level packages that define it
    known: set[str] = set()  # the names of `learned` and of this round's `new`
    taught: set[int] = set()  # the modules whose names are learned: asked no more
    pending = selected
    while pending:
        # A module production code imports is read whole before it teaches (a session helper
        # in the app's own `testing` package): with its new facts it is asked again.
        whole, failed = _read_production_imports(selected)
        taught -= whole
        selected = [item for item in selected if id(item) not in failed]
        new: dict[str, set[str]] = {}
        grew = True
        while grew:  # a module may use a name another module of this round teaches
            grew = False
            for item in selected:
                if id(item) in taught:
                    continue
                facts = item.facts
                if prefilter.defines_something(facts) or prefilter.uses_learned(facts, known):
                    taught.add(id(item))
                    top = facts.name.split(".")[0]
                    for name in prefilter.names_to_learn(facts):
                        if top not in learned.get(name, ()) and top not in new.get(name, ()):
                            new.setdefault(name, set()).add(top)
                            known.add(name)
                            grew = True
        for name, tops in new.items():
            learned.setdefault(name, set()).update(tops)
        if not new or not remaining:
            break
        todo = [r.path for r in remaining if id(r) not in records]
        minimum = _reads_minimum(todo)
        if budget is not None and not workers.in_process(len(todo), minimum):
            budget = None
        shared = (prefilter.Mentions(new), frozenset(new), budget)
        pending, remaining, looked_at = _scan_all(remaining, shared, workers, progress, minimum, records)
        selected += pending
        deferred -= looked_at.keys()
    _report_unreadable([r for r in remaining if id(r) in deferred], workers, progress)
    selected = _named_in_namespace_packages(selected)
    _, failed = _read_production_imports(selected)  # under their namespace packages' names
    return [item for item in selected if id(item) not in failed]


# Test modules read whole although `reads_partly` says they could be read partly, by absolute
# path: production code needs them (`_read_production_imports`, `_naming_caches`). Set for one
# run; forked workers inherit it.
_WHOLE: set[str] = set()


def _read_production_imports(selected: list) -> tuple[set[int], set[int]]:
    """Read whole again the test modules read partly that production code imports, directly
    or not (`index.production_modules`): what they define is production code's. Returns the
    ids of those read whole, and of those that could not be (to drop)."""
    whole: set[int] = set()
    failed: set[int] = set()
    while True:
        by_root: dict[Path, list] = defaultdict(list)  # module names are a root's own
        for item in selected:
            by_root[item.root].append(item)
        reached = _reached_through_sys_path(by_root)  # and those of roots it reaches
        needed = {}
        for root, group in by_root.items():
            members = reached[root] + group
            names = production_modules(_by_name(members))
            needed.update((id(i), i) for i in members if i.facts.partly and i.facts.name in names)
        if not needed:
            return whole, failed
        needed = list(needed.values())
        failed |= _read_whole(needed)
        whole |= {id(item) for item in needed}
        selected = [item for item in selected if id(item) not in failed]


def _read_whole(items: list) -> set[int]:
    """Parse ``items`` (read partly) again and collect all their facts, in place. Returns
    the ids of those whose file could not be parsed again (its result says why): to drop."""
    _WHOLE.update(os.path.abspath(item.result.path) for item in items)
    failed = set()
    for item in items:
        parsed = _parse(item.result, item.result.original or None)
        if parsed is None:
            failed.add(id(item))
        elif isinstance(item, _Parsed):
            item.__dict__.update(parsed.__dict__)
        else:
            item.facts = parsed.facts
    return failed


def _naming_caches(index: ProjectIndex, items: list) -> list:
    """The test modules of ``items`` read partly that reach a cache of ORM objects FS003 or
    FS004 report: FS003 rewrites each use of it (the test's too), and withholds its fix where
    a test reads it at import or calls its `cache_clear()`. A module reaches one when it
    imports it, under any name and at any depth (`from app import assets as fetch`, or from a
    module that re-exports it), or when it imports the cache's module as a module (`import
    app`, `from app import *`) and spells the cache's name."""
    partly = [item for item in items if item.facts.partly]
    if not partly or not index.models:
        return []
    caches = set(index.global_caches)
    for facts in index.modules.values():
        for memo in facts.orm.memos:
            if index.returns_orm_objects(memo.query):
                caches |= {*memo.cache, memo.function}
        for cached in facts.orm.cached:
            if any(index.returns_orm_objects(q) for q in cached.queries):
                caches.add(cached.qname)
    if not caches:
        return []
    # Where each is reached as an attribute, and as what: its module (or class), and every
    # module that imports it under some name (`fetch = assets` in a helper, an `__init__`).
    homes: dict[str, set[bytes]] = {}
    for qname in caches:
        home, _, name = qname.rpartition(".")
        homes.setdefault(home, set()).add(name.encode())
    for facts in index.modules.values():
        for local, target in facts.bindings.items():
            if index.resolve(target) in caches:
                homes.setdefault(facts.name, set()).add(local.encode())
    needed = []
    for item in partly:
        facts = item.facts
        if any(index.resolve(name) in caches for name in facts.imported):
            needed.append(item)
            continue
        # `import myapp` reaches myapp.models.Repo.assets; `import myapp.models` binds myapp.
        # (`from app import app` imports no module app.app: the project has none.)
        modules = [m for m in facts.module_imports if m in index.modules]
        spelled = set().union(*(
            names for home, names in homes.items() if any(_within(home, m) or _within(m, home) for m in modules)
        ))
        if spelled:
            try:
                data = _read(item.result.path)
            except SourceError:
                continue
            if not spelled.isdisjoint(prefilter.words_of(data)):
                needed.append(item)
    return needed


def _within(name: str, package: str) -> bool:
    """Whether the dotted ``name`` is ``package`` or inside it."""
    return name == package or name.startswith(package + ".")


def _report_unreadable(seeds: list[FileResult], workers: _Workers, progress) -> None:
    """Seeds that no round parsed: the first round leaves a seed that cannot act with no
    name learned (`prefilter.may_act`) for the rounds that learn names, which parse most of
    them (172 of 214 on privacyidea). Those left are read and parsed here only to report
    why one cannot be (its encoding, its syntax), as for every seed."""
    paths = [r.path for r in seeds]
    answers = workers.map(_error_of, paths, None, progress, "reading", _reads_minimum(paths))
    for result, answer in zip(seeds, answers):
        if answer is not None:
            result.error, result.original = answer.error, answer.original


def _error_of(path: Path, shared) -> FileResult | None:
    result = FileResult(path)
    return result if _tree(result) is None else None


def _named_in_namespace_packages(selected: list) -> list:
    """The modules of namespace packages (see `codemods.engine.namespaces`) read again under
    their dotted names; the others as they are."""
    found = find_namespace_packages([(i.result.path, i.root, i.facts.imported) for i in selected])
    if not found:
        return selected
    set_namespace_packages(found)
    out = []
    for item in selected:
        if item.root not in found:
            out.append(item)
            continue
        parsed = _parse(item.result, item.result.original or None)
        if parsed is not None:
            out.append(parsed if isinstance(item, _Parsed) else _Facts(parsed.result, parsed.root, parsed.facts))
    return out


def _reads_minimum(paths: list[Path]) -> int:
    """`_Workers.map`'s ``minimum`` for reading and parsing ``paths``: spread over workers
    from `PARALLEL_READS` files, or from `PARALLEL_BYTES` of source in fewer (calibre-web's
    101 files hold 1.4 MB, and its first round took 0.68 s of one core), else done here."""
    if len(paths) >= PARALLEL_READS:
        return 2
    total = 0
    for path in paths:
        try:
            total += os.stat(path).st_size
        except OSError:
            continue  # its reader says why
        if total >= PARALLEL_BYTES:
            return 2
    return len(paths) + 1


def _scan_all(files: list[FileResult], shared, workers: _Workers, progress, minimum: int,
              records: dict[int, _Record]) -> tuple[list, list, dict]:
    """What `_scan` makes of ``files``: the selected ones, those not selected, and what `_scan`
    said of those of them it did not simply pass over, by their id. The files with a record
    (by id, in ``records``, which this keeps up to date) are decided here (`_decide`), the
    others handed out. ``minimum``: see `_Workers.map`."""
    decided, todo = {}, []
    for result in files:
        record = records.pop(id(result), None)
        answer = _HAND_OUT if record is None else _decide(result, record, shared)
        if answer is _HAND_OUT:
            todo.append(result)
        else:
            decided[id(result)] = answer
    answers = workers.map(_scan, [f.path for f in todo], shared, progress, "reading", minimum)
    decided.update(zip(map(id, todo), answers))
    selected, passed, marked = [], [], {}
    for result in files:
        answer = decided[id(result)]
        if answer.__class__ is _Record:
            records[id(result)] = answer
            answer = answer.marker
        if answer.__class__ is str:
            passed.append(result)
            if answer != _PASSED:
                marked[id(result)] = answer
        elif isinstance(answer, FileResult):
            result.error, result.original = answer.error, answer.original
            result.internal_error = answer.internal_error  # a collector's bug: exit 2
            result.failed_groups |= answer.failed_groups
        elif isinstance(answer, _Parsed):  # made in this process
            result.original = answer.result.original
            answer.result = result
            selected.append(answer)
        else:
            selected.append(_Facts(result, module_name_for(result.path)[0], answer[1]))
    return selected, passed, marked


# Files whose text is not on disk (an editor's buffer, given on standard input): absolute path
# -> bytes. Set for one run; forked workers inherit it.
_BUFFERS: dict[str, bytes] = {}


def _read(path: Path) -> bytes:
    buffered = _BUFFERS.get(os.path.abspath(path))
    return buffered if buffered is not None else read_bytes(path)


def run_buffer(data: bytes, path: Path, settings: Settings = Settings()) -> RunResult:
    """Check and fix ``data`` as the text of ``path`` (which exists), with its project as
    context, as `run([path])` would with that text on disk (ruff's `--stdin-filename`)."""
    _BUFFERS[os.path.abspath(path)] = data
    try:
        result = run([path], replace(settings, cache=False))
    finally:
        _BUFFERS.clear()
    for file in result.files:
        if file.fixed is None and not file.original:
            # Read and parsed, its bytes not kept (a file no rule is asked about, one parsed
            # in a worker, or one the pre-filter passes over): the text is the buffer's.
            file.original = data
    return result


def _with_context(paths: list[Path], settings: Settings):
    """The files under ``paths``, as results, and the other files of their import roots
    (excluded files included), as context: (found, results, context)."""
    found = discover(paths, list(settings.exclude))
    results = [FileResult(path) for path in found.files]
    seen = {os.path.abspath(path) for path in found.files}
    walked = [os.path.abspath(p) + os.sep for p in paths if p.is_dir() and not p.is_symlink()]
    context = []
    walk, shallow = set(), set()
    asked: set = set()
    marked: dict = {}
    for path in found.files:  # the answer depends on the folder and import root only
        key = (os.path.dirname(os.path.abspath(path)), module_name_for(path)[0])
        if key in asked:
            continue
        asked.add(key)
        folders, files_of = context_folders(path, key[1], marked)
        walk.update(folders)
        shallow.update(files_of)
    # Excluded files are context like any file not named: never written, but read, so that a
    # fix whose other half would have to change one (a cache that becomes a function, and an
    # excluded module that iterates it) is not made.
    extra = []
    if settings.exclude:
        extra += discover([p for p in paths if p.is_dir()], []).files
    for folder in sorted(walk):
        if settings.exclude or not any((str(folder) + os.sep).startswith(w) for w in walked):
            extra += discover([folder], []).files
    for folder in sorted(shallow):
        extra += python_files_in(folder)
    for path in extra:
        if os.path.abspath(path) not in seen:
            seen.add(os.path.abspath(path))
            context.append(FileResult(path))
    return found, results, context


def run(paths: list[Path], settings: Settings = Settings(), progress=None) -> RunResult:
    """Fix the Python files under ``paths``. The other files of their import roots are read
    too, as context: the index needs them (the registry may live in a file not named), and a
    fix that would have to change one of them as well is not made.

    Only the files the pre-filter selects are parsed (see `codemods.prefilter`); with
    ``settings.jobs`` > 1, reading, parsing and fixing are spread over processes.
    ``progress(phase, done, total)``, when given, is told how far each phase got."""
    found, results, context = _with_context(paths, settings)
    everything = results + context
    cached = _Cached(paths, everything, settings) if settings.cache else None
    if cached is not None and cached.answer(results):
        return RunResult(results, found.skipped)
    with _Workers(settings.jobs) as workers, _no_cycle_collection():
        selected = _select(everything, workers, progress)
        _fix_all(selected, settings, [r for r in everything if r.error], workers, progress)
    unwritten: dict[str, list[Path]] = {}  # group -> the files not named that it needs
    for result in context:  # never written: what it would share with a target cannot be made
        groups = {f.fix.group for f in result.applied if f.fix and f.fix.group}
        result.failed_groups |= groups
        for group in groups:
            unwritten.setdefault(group, []).append(result.path)
    _revert_failed_groups(everything, unwritten)
    if cached is not None:
        cached.store(results, settings)
    return RunResult(results, found.skipped)


def project_indexes(paths: list[Path], settings: Settings = Settings()) -> list[tuple[Path, ProjectIndex]]:
    """The project index of each import root under ``paths`` (with its context), fixing
    nothing: what `fixsessions lifecycle-test` reads."""
    _, results, context = _with_context(paths, settings)
    with _Workers(settings.jobs) as workers, _no_cycle_collection():
        selected = _select(results + context, workers, None)
    by_root: dict[Path, list] = defaultdict(list)
    for item in selected:
        by_root[item.root].append(item)
    reached = _reached_through_sys_path(by_root)
    return [
        (root, ProjectIndex(_by_name(reached[root] + group)))
        for root, group in sorted(by_root.items())
    ]


def _contents(path: Path) -> tuple[str, bytes]:
    try:
        data = _read(path)
    except SourceError as exc:
        data = f"\0unreadable: {exc}".encode()
    return os.path.abspath(path), data


@contextmanager
def _no_cycle_collection():
    """Python's cycle collector off while trees are made: every `ast` node counts as an
    allocation, and with the facts of hundreds of modules alive each collection walks them
    all (half the run's time on a 600-file app). Trees and facts hold no reference cycles;
    reference counting frees them as before."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        # What the run allocated goes to the oldest generation unexamined: enabled as it is,
        # the collector would walk millions of young objects at the next allocation.
        gc.freeze()
        gc.unfreeze()
        if enabled:
            gc.enable()


class _Cached:
    """The result cache's entry for this run (see `codemods.engine.cache`, imported here: a
    `--no-cache` run does without it)."""

    def __init__(self, paths: list[Path], files: list[FileResult], settings: Settings) -> None:
        from . import cache

        self.cache = cache
        self.settings_key = settings.key()
        # The working directory too: messages name other files relative to it.
        self.paths_key = "\0".join([os.getcwd(), *sorted(os.path.abspath(p) for p in paths)])
        # Each file is read, hashed and let go: a 13,000-file tree is 200 MB of source.
        self.key = cache.digest(self.settings_key, (_contents(result.path) for result in files))
        self.folder = cache.folder_for(project_root(paths[0]) if paths else None)

    def answer(self, results: list[FileResult]) -> bool:
        entry = self.cache.load(self.folder, self.settings_key, self.paths_key, self.key)
        if entry is None or set(entry) != {os.path.abspath(r.path) for r in results}:
            return False
        for result in results:
            data = entry[os.path.abspath(result.path)]
            result.fixed = self.cache.decode_bytes(data["fixed"])
            if result.fixed is not None:  # its diff is shown: the bytes hashed a moment ago
                result.original = _contents(result.path)[1]
            result.error, result.internal_error = data["error"], data["internal_error"]
            result.notes = data["notes"]
            for name in ("findings", "initial", "applied"):
                setattr(result, name, [self.cache.finding_from_json(f) for f in data[name]])
        return True

    def store(self, results: list[FileResult], settings: Settings) -> None:
        if any(r.internal_error for r in results):
            return
        entry = {}
        for result in results:
            _detach(result, settings)
            entry[os.path.abspath(result.path)] = {
                "fixed": self.cache.encode_bytes(result.fixed),
                "error": result.error, "internal_error": result.internal_error,
                "notes": result.notes,
                **{name: [self.cache.finding_to_json(f) for f in getattr(result, name)]
                   for name in ("findings", "initial", "applied")},
            }
        self.cache.store(self.folder, self.settings_key, self.paths_key, self.key, entry)


def run_source(data: bytes, path: Path, settings: Settings = Settings()) -> FileResult:
    """Fix one file's bytes on their own (standard input): the index is that file alone."""
    result = FileResult(path, original=data)
    parsed = _parse(result, data)
    if parsed is not None:
        _fix_all([parsed], settings, [], _Workers(1), None)
        _revert_failed_groups([result])
    return result


def write(result: RunResult) -> None:
    for file in result.changed:
        write_atomic(file.path, file.fixed)


def _parse(result: FileResult, data: bytes | None = None, acts=None) -> _Parsed | None:
    """The file parsed and its facts collected, or None with ``result.error`` saying why
    not. With ``acts`` (names learned so far), also None, with no error, for a module the
    pre-filter's second look passes over (see `prefilter.acts`)."""
    parsed = _tree(result, data)
    if parsed is None:
        return None
    source, tree = parsed
    if acts is not None and not prefilter.acts(tree, acts):
        return None
    return _collect(result, source, tree)


def _collect(result: FileResult, source: SourceText, tree: ast.Module) -> _Parsed | None:
    """`_parse`, once the file is parsed."""
    root, where = module_name_for(result.path)
    positions = Positions(source.text)
    partly = os.path.abspath(result.path) not in _WHOLE and reads_partly(result.path, source.text)
    try:
        collected = collect_facts(tree, positions, result.path, where, partly)
    except ImportError as exc:  # `from .. import x` above the top package: names cannot resolve
        result.error = f"cannot resolve its imports: {exc}"
        return None
    except RecursionError:
        result.error = "cannot parse: nested too deeply"
        return None
    except Exception as exc:
        result.error, result.internal_error = f"internal error while indexing ({exc!r})", True
        result.failed_groups.add(ANY_GROUP)
        return None
    return _Parsed(result, source, root, where, tree, positions, collected)


def _tree(result: FileResult, data: bytes | None = None) -> tuple[SourceText, ast.Module] | None:
    """The file's text and `ast`, or None with ``result.error`` saying why not."""
    try:
        if data is None:
            data = _read(result.path)
        result.original = data
        source = SourceText.decode(data)
        return source, parse_ast(source.text, result.path)
    except SourceError as exc:
        result.error = str(exc)
    except SyntaxError as exc:
        result.error = _syntax_error(exc) + _newer_python_hint(exc, data)
    except ValueError as exc:  # source code string cannot contain null bytes
        result.error = f"cannot parse: {exc}"
    except (RecursionError, MemoryError):
        result.error = "cannot parse: nested too deeply"
    return None


def _syntax_error(exc: SyntaxError) -> str:
    """Python's own wording, and its position where it gives one."""
    where = []
    if exc.lineno is not None:
        where.append(f"line {exc.lineno}")
        if exc.offset is not None:
            where.append(f"column {exc.offset}")
    message = exc.msg or "invalid syntax"
    return f"cannot parse: {', '.join(where)}: {message}" if where else f"cannot parse: {message}"


# Python 3.12's type parameters and `type` aliases (PEP 695), on the line Python 3.11 rejects.
NEWER_SYNTAX = re.compile(rb"^\s*(?:(?:async\s+)?def\s+\w+\s*\[|class\s+\w+\s*\[|type\s+\w+\s*(?:\[.*\])?\s*=)")


def _newer_python_hint(exc: SyntaxError, data: bytes) -> str:
    """Python parses only its own grammar: a file written for a newer Python says so."""
    if sys.version_info >= (3, 12) or exc.lineno is None:
        return ""
    lines = data.splitlines()
    line = lines[exc.lineno - 1] if exc.lineno <= len(lines) else b""
    if NEWER_SYNTAX.match(line):
        return (
            f" (this line is Python 3.12 syntax, and fixsessions runs on Python "
            f"{sys.version_info[0]}.{sys.version_info[1]}: run it with the project's Python)"
        )
    return ""


def parse_ast(text: str, path: Path) -> ast.Module:
    """Python's own parser, quietly: a file's invalid escape sequences are not ours to warn of."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(text, str(path))


def _fix_all(selected: list, settings: Settings, unparsed, workers: "_Workers", progress) -> None:
    """Index each import root, then fix every selected file against its root's index.
    ``selected`` holds `_Parsed` (trees kept) or `_Facts` (to be parsed again, in a worker)."""
    by_root: dict[Path, list] = defaultdict(list)
    for item in selected:
        by_root[item.root].append(item)
    unparsed_by_root = defaultdict(list)
    for result in unparsed:
        unparsed_by_root[module_name_for(result.path)[0]].append(
            (result.path, result.original.decode("utf-8", "replace"))
        )
    rules = settings.rules()
    reached = _reached_through_sys_path(by_root)
    # Test modules read partly that a root's caches need whole are read whole before any
    # root is fixed: a root's index may hold another root's modules (`reached`).
    # Until none is left: one read whole may hold a new name for a cache (`fetch = assets`).
    failed: set[int] = set()
    while True:
        needed = {}
        for root, group in by_root.items():
            if any(item.facts.partly for item in reached[root] + group):
                index = ProjectIndex(_by_name(reached[root] + group), unparsed_by_root.get(root, []))
                needed.update((id(item), item) for item in _naming_caches(index, reached[root] + group))
        if not needed:
            break
        now_failed = _read_whole(list(needed.values()))
        failed |= now_failed
        for item in needed.values():
            if id(item) in now_failed:  # as if never parsed: a cache it mentions still counts
                by_root[item.root] = [i for i in by_root[item.root] if i is not item]
                unparsed_by_root[item.root].append((item.result.path, item.result.original.decode("utf-8", "replace")))
        reached = {root: [item for item in members if id(item) not in failed] for root, members in reached.items()}
    for root, group in by_root.items():
        index = ProjectIndex(_by_name(reached[root] + group), unparsed_by_root.get(root, []))
        # Asked of the index `_fix_file` checks the file against: where `x.py` and
        # `x/__init__.py` share a name, the package's facts stand for `x` in `index`.
        group = [p for p in group if _may_apply(rules, p.facts, index.replacing(p.facts))]
        kept = [p for p in group if isinstance(p, _Parsed)]
        for done, item in enumerate(kept, 1):
            _fix_file(item, index, rules, settings)
            if progress:
                progress("fixing", done, len(kept))
        again = [p for p in group if not isinstance(p, _Parsed)]
        if again:
            # Few files: parsing them again here costs less than forking workers that each
            # map the parent's memory (a 146 MiB parent showed as 427 MiB of summed RSS).
            fixed = workers.map(_fix_in_worker, [p.result.path for p in again], (index, settings),
                                progress, "fixing", FIX_IN_WORKERS)
            for item, result in zip(again, fixed):
                item.result.__dict__.update(result.__dict__)


def _reached_through_sys_path(by_root: dict[Path, list]) -> dict[Path, list]:
    """For each import root, the modules of other import roots of its project that it reaches
    through ``sys.path``: when a module of the root extends ``sys.path`` (`sys.path.insert(0,
    "lib")`) and the root imports a top-level name that only another root of the same project
    defines (`import db.conn`, `lib/db/` in the tree), that root's modules join its index,
    as long as no module name clashes. They are context there, fixed in their own root."""
    marked: dict = {}
    projects = {root: project_root(root, marked) for root in by_root}
    reached: dict[Path, list] = {root: [] for root in by_root}
    # Each root's top-level names, once: asked of every other root by each root that extends
    # sys.path, once a round of the pre-filter (`_read_production_imports`).
    tops_of: dict[Path, set[str]] = {}
    for root, group in by_root.items():
        if projects[root] is None or not any(item.facts.extends_sys_path for item in group):
            continue
        mine = {item.facts.name.split(".")[0] for item in group}
        wanted = {name.split(".")[0] for item in group for name in item.facts.imported} - mine
        for other, members in sorted(by_root.items()):
            if other == root or projects[other] != projects[root]:
                continue
            tops = tops_of.get(other)
            if tops is None:
                tops = tops_of[other] = {item.facts.name.split(".")[0] for item in members}
            if tops & wanted and not tops & mine:
                reached[root] += members
                mine |= tops
    return reached


def _by_name(group: list) -> dict:
    """Module name -> facts. Where `cps.py` and `cps/__init__.py` share a folder, `import cps`
    finds the package (Python looks for the package first), so the package's facts win."""
    ordered = sorted(group, key=lambda item: item.facts.path.name == "__init__.py")
    return {item.facts.name: item.facts for item in ordered}


def _may_apply(rules: list[Rule], facts, index: ProjectIndex) -> bool:
    """Whether any rule can find something in this module."""
    return any(_finds_in(rule, facts, index) for rule in rules)


def _rules_for(rules: list[Rule], facts, index: ProjectIndex) -> list[Rule]:
    """The rules that can find something in this module, in their order. The others' checks
    would find nothing, and would ask the index project-wide questions to find it (0.1 to
    0.3 s for each import root of privacyidea or zou, where no check finds anything)."""
    return [rule for rule in rules if _finds_in(rule, facts, index)]


def _finds_in(rule: Rule, facts, index: ProjectIndex) -> bool:
    """`Rule.finds_in`; a crash there is the rule's check's to report, so it counts as yes."""
    try:
        return rule.finds_in(facts, index)
    except Exception:
        return True


def _revert_failed_groups(results: list[FileResult], unwritten: dict | None = None) -> None:
    """A fix that spans files is made everywhere or nowhere."""
    failed = set().union(*(r.failed_groups for r in results))
    while failed:
        newly: set[str] = set()
        for result in results:
            groups = {f.fix.group for f in result.applied if f.fix and f.fix.group}
            hit = groups if ANY_GROUP in failed else groups & failed
            if not hit:
                continue
            shared = ", ".join(sorted(hit))
            others = sorted(
                {os.path.relpath(p) for g in hit for p in (unwritten or {}).get(g, ()) if p != result.path}
            )
            if others:  # under pre-commit, say what one run over the project would do
                result.notes.append(
                    f"not fixed: its fix ({shared}) must also change {', '.join(others)}, which "
                    f"this run does not write (not named, or excluded); one `fixsessions .` "
                    f"over the project fixes both"
                )
            else:
                result.notes.append(
                    f"reverting all changes: a fix it shares with another file ({shared}) could "
                    f"not be made there"
                )
            result.findings = result.initial
            result.applied, result.fixed = [], None
            newly |= groups - failed
        failed |= newly
        if not newly:
            break


def _fix_file(item: _Parsed, index: ProjectIndex, rules: list[Rule], settings: Settings) -> None:
    result, collected = item.result, item.collected
    tree, positions = item.tree, item.positions
    applied: list[Finding] = []
    attempted: set[str] = set()
    for _ in range(MAX_ROUNDS):
        ctx = FileContext(
            result.path, positions, tree, collected, index.replacing(collected.facts),
            settings.unsafe_fixes,
        )
        try:
            findings = _check(_rules_for(rules, collected.facts, ctx.index), ctx)
            for finding in findings:
                finding.source = positions.text
                if finding.fix is not None:
                    finding.preview = partial(_preview, positions, finding.fix, item.where)
            if not result.initial:
                result.initial = findings
        except _RuleCrashed as crash:
            result.error, result.internal_error = str(crash), True
            result.findings, result.applied, result.fixed = [], [], None
            result.failed_groups.add(ANY_GROUP)  # its part of a cross-file fix is unknown
            return
        fixable = [
            f for f in findings
            if f.fix and (f.fix.applicability == "safe" or settings.unsafe_fixes)
        ]
        if not fixable:
            break
        attempted |= {f.fix.group for f in fixable if f.fix.group}
        codes = ", ".join(sorted({f.code for f in fixable}))
        from . import fixer  # LibCST: only for files that get a fix

        try:
            text = fixer.fixed_text(positions, [f.fix for f in fixable], item.where)
            tree = parse_ast(text, result.path)
        except SyntaxError:
            result.notes.append(f"fix ({codes}) introduced a syntax error; reverting all changes")
            _report_unfixed(result, attempted)
            return
        except fixer.CannotFix as exc:  # the file is named with the reason, its findings kept
            result.error = str(exc)
            _report_unfixed(result, attempted)
            return
        except Exception as exc:  # a rule's edit failed: keep the file, say which rule
            result.notes.append(f"fix ({codes}) failed ({exc!r}); reverting all changes")
            _report_unfixed(result, attempted)
            return
        applied.extend(fixable)
        positions = Positions(text)
        collected = collect_facts(tree, positions, result.path, item.where)
    else:
        result.notes.append("fixes did not converge; reverting all changes")
        _report_unfixed(result, attempted)
        return
    result.findings = findings
    result.applied = applied
    if applied:
        try:
            result.fixed = item.source.encode(positions.text)
        except SourceError as exc:
            result.notes.append(f"{exc}; reverting all changes")
            _report_unfixed(result, attempted)


def _preview(positions: Positions, fix: Fix, where: Where) -> str:
    from . import fixer

    return fixer.fixed_text(positions, [fix], where)


class _RuleCrashed(Exception):
    pass


def _check(rules: list[Rule], ctx: FileContext) -> list[Finding]:
    findings = []
    for rule in rules:
        try:
            findings.extend(rule.check(ctx))
        except Exception as exc:
            raise _RuleCrashed(f"internal error in {rule.code} ({exc!r})") from exc
    if not findings:
        return findings
    lines = ctx.text.split("\n")
    return [f for f in findings if not _suppressed(f, lines)]


def _suppressed(finding: Finding, lines: list[str]) -> bool:
    """`# fixsessions: ignore[FS003]` (or a bare `ignore`) on the reported line."""
    line = lines[finding.location.line - 1] if finding.location.line <= len(lines) else ""
    return suppresses(line, finding.code)


def _report_unfixed(result: FileResult, attempted: set[str]) -> None:
    result.findings = result.initial
    result.applied = []
    result.fixed = None
    result.failed_groups |= attempted
