"""The engine's promises: bytes kept, bad files named and left alone, fixes verified."""

import os
import stat
from pathlib import Path

import libcst as cst
import pytest
from hypothesis import given, settings, strategies as st

from fixsessions.codemods.engine import core as engine
from fixsessions.codemods.engine.discovery import discover
from fixsessions.codemods.engine import Settings, run, write
from fixsessions.codemods.rules.base import Fix, Rule
from fixsessions.codemods.engine.source import SourceError, SourceText, write_atomic
from helpers import make_project

BROKEN_APP = b"""\
from flask import Flask
from sqlalchemy.orm import scoped_session

db_session = scoped_session(maker)
app = Flask(__name__)
"""


@pytest.mark.parametrize(
    "data",
    [
        b"x = 1\n",
        b"x = 1",
        b"x = 1\r\ny = 2\r\n",
        b"\xef\xbb\xbfx = 1\n",
        b"# -*- coding: latin-1 -*-\nname = '\xe9'\n",
        b"x = 1\n\x0c\ny = '\xe2\x80\xa8'\n",
    ],
)
def test_source_text_round_trips(data):
    source = SourceText.decode(data)
    assert source.encode(source.text) == data


def test_invalid_utf8_is_rejected_with_reason():
    with pytest.raises(SourceError, match="not valid utf-8"):
        SourceText.decode(b"x = '\xff'\n")


def test_bad_files_are_named_left_alone_and_the_run_goes_on(tmp_path):
    root = make_project(tmp_path, {
        "bad_encoding.py": b"import sqlalchemy\nx = '\xff\xfe'\n",
        "bad_syntax.py": b"from flask import Flask\ndef f(:\n    pass\n",
        "app.py": BROKEN_APP,
    })
    result = run([root])
    errors = {f.path.name: f.error for f in result.errors}
    assert errors["bad_encoding.py"].startswith("not valid utf-8")
    assert errors["bad_syntax.py"].startswith("cannot parse: line 2")
    write(result)
    assert (root / "bad_encoding.py").read_bytes() == b"import sqlalchemy\nx = '\xff\xfe'\n"
    assert (root / "bad_syntax.py").read_bytes() == b"from flask import Flask\ndef f(:\n    pass\n"
    assert b"db_session.remove()" in (root / "app.py").read_bytes()


def test_files_the_prefilter_passes_over_are_not_parsed(tmp_path):
    # A broken file that mentions nothing fixsessions looks for is never parsed, so it is
    # not reported either; one that imports Flask is.
    root = make_project(tmp_path, {
        "unrelated.py": b"def f(:\n",
        "related.py": b"import flask\ndef f(:\n",
        "app.py": BROKEN_APP,
    })
    result = run([root])
    assert {f.path.name for f in result.errors} == {"related.py"}


def test_latin1_file_stays_latin1(tmp_path):
    source = b"# -*- coding: latin-1 -*-\n" + BROKEN_APP + b"GREETING = 'h\xe9'\n"
    root = make_project(tmp_path, {"app.py": source})
    result = run([root])
    [file] = result.changed
    assert file.fixed.startswith(b"# -*- coding: latin-1 -*-\n")
    assert file.fixed.endswith(b"GREETING = 'h\xe9'\n")
    assert b"db_session.remove()" in file.fixed


def test_atomic_write_keeps_mode_and_leaves_no_temp_file(tmp_path):
    path = tmp_path / "script.py"
    path.write_bytes(b"old\n")
    path.chmod(0o751)
    write_atomic(path, b"new\n")
    assert path.read_bytes() == b"new\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o751
    assert sorted(os.listdir(tmp_path)) == ["script.py"]


def test_discovery_skips_what_ruff_skips_and_gitignore(tmp_path):
    root = make_project(tmp_path, {
        "keep.py": "",
        "pkg/mod.py": "",
        ".venv/lib/x.py": "",
        "node_modules/x.py": "",
        "lib/site-packages/x.py": "",
        "env2/pyvenv.cfg": "",
        "env2/x.py": "",
        "build/x.py": "",
        "generated/x.py": "",
        "logs/keep_me.py": "",
        "logs/drop.py": "",
        "notes.txt": "",
        ".gitignore": "generated/\nlogs/*.py\n!logs/keep_me.py\n",
    })
    (root / ".git").mkdir()
    found = discover([root])
    names = sorted(p.relative_to(root).as_posix() for p in found.files)
    assert names == ["keep.py", "logs/keep_me.py", "pkg/mod.py"]
    # A file named on the command line is looked at even when ignored.
    assert discover([root / "generated" / "x.py"]).files == [root / "generated" / "x.py"]
    assert discover([root], exclude=["pkg/*"]).files == [root / "keep.py", root / "logs/keep_me.py"]


def test_nested_gitignores_apply_below_their_folder_as_git_reads_them(tmp_path):
    """What `git status --ignored` says of this tree: a nested .gitignore re-includes a file
    the root's excludes, and its folder pattern applies at any depth below it, not beside."""
    root = make_project(tmp_path, {
        ".gitignore": "*_gen.py\n",
        "pkg/.gitignore": "!kept_gen.py\nlocal/\n",
        "a_gen.py": "", "keep.py": "", "pkg/kept_gen.py": "", "pkg/other_gen.py": "", "pkg/mod.py": "",
        "pkg/local/x.py": "", "pkg/sub/local/y.py": "", "other/local/z.py": "",
    })
    (root / ".git").mkdir()
    names = sorted(p.relative_to(root).as_posix() for p in discover([root]).files)
    assert names == ["keep.py", "other/local/z.py", "pkg/kept_gen.py", "pkg/mod.py"]
    # Walked from inside the repository, the root's .gitignore still applies.
    names = sorted(p.relative_to(root).as_posix() for p in discover([root / "pkg"]).files)
    assert names == ["pkg/kept_gen.py", "pkg/mod.py"]


def test_a_nested_repository_walked_after_its_superproject_has_its_own_gitignores(tmp_path):
    """A submodule given after the repository that holds it is walked from its own root:
    the superproject's .gitignore, which ignores `f.py`, does not apply inside it."""
    root = make_project(tmp_path, {".gitignore": "f.py\n", "f.py": "", "inner/f.py": "", "inner/g.py": ""})
    (root / ".git").mkdir()
    (root / "inner" / ".git").write_text("gitdir: ../.git/modules/inner\n")
    for paths in ([root, root / "inner"], [root / "inner", root]):
        names = sorted(p.relative_to(root).as_posix() for p in discover(paths).files)
        assert names == ["inner/f.py", "inner/g.py"], paths


def test_symlinks_are_not_followed(tmp_path):
    outside = make_project(tmp_path / "outside", {"app.py": BROKEN_APP})
    root = make_project(tmp_path / "tree", {"real.py": ""})
    (root / "linked.py").symlink_to(outside / "app.py")
    (root / "linked_dir").symlink_to(outside, target_is_directory=True)
    found = discover([root])
    assert found.files == [root / "real.py"]
    assert found.skipped == [(root / "linked.py", "symlink (not followed)")]


class _BreaksSyntax(Rule):
    code, name = "FS001", "breaks-syntax"

    def check(self, ctx):
        for node in ctx.collected.app_statements.values():
            edit = lambda n, tree: n.with_changes(body=[cst.Expr(cst.Name("class"))])  # noqa: E731
            yield self.finding(ctx, ctx.facts.apps[0].location, "x", Fix("safe", [(node, edit)]))


class _NeverConverges(Rule):
    code, name = "FS001", "never-converges"

    def check(self, ctx):
        edit = lambda n, tree: n.with_changes(header=[*n.header, cst.EmptyLine(comment=cst.Comment("# x"))])  # noqa: E731
        yield self.finding(ctx, ctx.facts.apps[0].location, "x", Fix("safe", [(ctx.tree, edit)]))


class _EditRaises(Rule):
    code, name = "FS001", "edit-raises"

    def check(self, ctx):
        def edit(node, tree):
            raise KeyError("boom")

        yield self.finding(ctx, ctx.facts.apps[0].location, "x", Fix("safe", [(ctx.tree, edit)]))


@pytest.mark.parametrize(
    "rule, note",
    [
        (_BreaksSyntax, "fix (FS001) introduced a syntax error; reverting all changes"),
        (_NeverConverges, "fixes did not converge; reverting all changes"),
        (_EditRaises, "fix (FS001) failed (KeyError('boom')); reverting all changes"),
    ],
)
def test_a_bad_fix_is_reverted_and_said(tmp_path, monkeypatch, rule, note):
    monkeypatch.setattr(engine, "RULES", (rule,))
    root = make_project(tmp_path, {"app.py": BROKEN_APP})
    result = run([root], Settings())
    [file] = result.files
    assert file.notes == [note]
    assert not file.changed and file.applied == []
    assert [f.message for f in file.findings] == ["x"]  # still reported, for a person


class _CheckRaises(Rule):
    code, name = "FS001", "check-raises"

    def check(self, ctx):
        raise ValueError("bug")


def test_a_crashing_rule_is_an_internal_error_naming_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "RULES", (_CheckRaises,))
    root = make_project(tmp_path, {"app.py": BROKEN_APP, "views.py": "import flask\n\nbp = flask.Blueprint('v', __name__)\n", "other.py": "x = 1\n"})
    result = run([root], Settings())
    crashed = {f.path.name: f.error for f in result.files if f.internal_error}
    assert crashed == {  # other.py mentions nothing the rules look at: it is never parsed
        "app.py": "internal error in FS001 (ValueError('bug'))",
        "views.py": "internal error in FS001 (ValueError('bug'))",
    }
    assert result.changed == []


def test_a_crash_while_indexing_is_an_internal_error(tmp_path, monkeypatch):
    """A bug in the collectors while the pre-filter's rounds read a file: the file is named
    as an internal error (the command exits 2), and no fix spanning files is made with it."""
    real = engine.collect_facts

    def collect(tree, positions, path, where, partly=False):
        if Path(path).name == "views.py":
            raise ValueError("collector bug")
        return real(tree, positions, path, where, partly)

    monkeypatch.setattr(engine, "collect_facts", collect)
    root = make_project(tmp_path, {"app.py": BROKEN_APP, "views.py": "import flask\n\nbp = flask.Blueprint('v', __name__)\n"})
    files = {f.path.name: f for f in run([root], Settings(jobs=1)).files}
    assert files["views.py"].internal_error
    assert files["views.py"].error == "internal error while indexing (ValueError('collector bug'))"
    assert engine.ANY_GROUP in files["views.py"].failed_groups


class _TestRaises(_CheckRaises):
    @classmethod
    def may_apply(cls, facts, index):
        raise ValueError("bug in the test")


def test_a_rule_whose_cheap_test_crashes_checks_the_file_and_reports_its_crash(tmp_path, monkeypatch):
    # Counted as "may find something", not as "nothing here": the file is read again and
    # checked, and the check's crash named, rather than the rule silently skipped.
    monkeypatch.setattr(engine, "RULES", (_TestRaises,))
    root = make_project(tmp_path, {"app.py": BROKEN_APP})
    [file] = run([root], Settings()).files
    assert file.internal_error
    assert file.error == "internal error in FS001 (ValueError('bug'))"


CACHE_PROJECT = {
    "pkg/__init__.py": "",
    "pkg/db.py": (
        "from sqlalchemy.orm import declarative_base, scoped_session\n\n"
        "db_session = scoped_session(maker)\nBase = declarative_base()\n\n\n"
        "class Asset(Base):\n    pass\n"
    ),
    "pkg/assets.py": "from .db import Asset, db_session\n\nALL = db_session.query(Asset).all()\n",
    "pkg/views.py": "from .assets import ALL\n\n\ndef count():\n    return len(ALL)\n",
}


class _BreaksViews(Rule):
    code, name = "FS004", "breaks-views"

    def check(self, ctx):
        if ctx.path.name == "views.py":
            stmt = ctx.tree.body[-1]
            edit = lambda n, tree: n.with_changes(name=cst.Name("class"))  # noqa: E731
            loc = ctx.location(stmt)
            yield self.finding(ctx, loc, "x", Fix("safe", [(stmt, edit)]))


def test_a_cross_file_fix_is_made_everywhere_or_nowhere(tmp_path, monkeypatch):
    from fixsessions.codemods.rules.caches import GlobalOrmCache

    root = make_project(tmp_path, CACHE_PROJECT)
    assert {f.path.name for f in run([root]).changed} == {"assets.py", "views.py"}

    monkeypatch.setattr(engine, "RULES", (GlobalOrmCache, _BreaksViews))
    result = run([root])
    assert result.changed == []  # not `def ALL()` with `len(ALL)` left behind
    notes = {f.path.name: f.notes for f in result.files if f.notes}
    assert notes["views.py"] == ["fix (FS003, FS004) introduced a syntax error; reverting all changes"]
    assert notes["assets.py"] == [
        "reverting all changes: a fix it shares with another file (FS003:pkg.assets.ALL) "
        "could not be made there"
    ]
    assert [f.code for f in result.findings if f.path.name == "assets.py"] == ["FS003"]


def test_a_name_mentioned_in_an_unparseable_file_is_not_rewritten(tmp_path, monkeypatch):
    root = make_project(tmp_path, {**CACHE_PROJECT, "pkg/broken.py": "from .assets import ALL\ndef f(:\n"})
    monkeypatch.chdir(root)
    result = run([Path(".")])
    assert result.changed == []
    [finding] = [f for f in result.findings if f.code == "FS003"]
    assert finding.message.endswith("(not fixed: pkg/broken.py, which could not be parsed, mentions it)")


def test_the_may_apply_shortcut_never_changes_a_result(tmp_path, monkeypatch):
    """Rule.may_apply lets the engine skip files; with it forced to True everywhere, every
    project the rule tests use gives the same findings and the same fixes."""
    import test_caches
    import test_handmade_sessions
    import test_missing_teardown
    import test_reports
    from fixsessions.codemods.rules import RULES

    projects = [Path(__file__).resolve().parent.parent / "examples" / "before"]
    for module in (test_missing_teardown, test_handmade_sessions, test_caches, test_reports):
        for name, value in vars(module).items():
            if isinstance(value, str) and ("import" in value) and name.isupper():
                root = make_project(tmp_path / f"{module.__name__}-{name}", {"mod.py": value})
                projects.append(root)
    projects.append(make_project(tmp_path / "cache-project", CACHE_PROJECT))
    import test_workers

    for name in ("WORKER", "MADE_WORKER", "CONFIG_ONLY_WORKER"):  # tasks, apps and their homes
        files = test_workers.project(worker=getattr(test_workers, name))
        projects.append(make_project(tmp_path / f"workers-{name}", files))

    def outcome(settings):
        out = []
        for root in projects:
            result = run([root], settings)
            out.append(sorted(
                (f.path.name, f.code, f.location.line, f.message, f.applicability)
                for file in result.files for f in file.found
            ))
            out.append(sorted((f.path.name, f.fixed) for f in result.changed))
        return out

    for settings in (Settings(), Settings(unsafe_fixes=True)):
        fast = outcome(settings)
        with monkeypatch.context() as patch:
            for rule in RULES:
                patch.setattr(rule, "may_apply", classmethod(lambda cls, facts, index: True))
            slow = outcome(settings)
        assert fast == slow
    assert any(fast), "the projects must give findings for the comparison to mean anything"


def test_a_file_read_again_is_checked_only_by_the_rules_that_may_find_something_there(tmp_path, monkeypatch):
    """A file that one rule may find something in is read again and checked; a rule whose
    `finds_in` says it cannot find anything there is not asked to check it (its check would
    find nothing, and some ask project-wide questions to find it)."""
    from fixsessions.codemods.rules import RULES

    late = next(rule for rule in RULES if rule.code == "FS010")
    asked = []

    def check(self, ctx):
        asked.append(ctx.path.name)
        return iter(())

    monkeypatch.setattr(late, "check", check)
    root = make_project(tmp_path, {"app.py": BROKEN_APP})
    for may_apply, expected in ((True, {"app.py"}), (False, set())):  # asked once a round
        asked.clear()
        monkeypatch.setattr(late, "may_apply", classmethod(lambda cls, facts, index: may_apply))
        [file] = run([root]).files
        assert [f.code for f in file.initial] == ["FS001"]  # read again, and checked
        assert set(asked) == expected


def test_a_file_libcst_cannot_reproduce_is_left_alone(tmp_path):
    # LibCST 1.9 drops the blank lines before a last, indented comment without a newline.
    data = BROKEN_APP + b"\n\n\n\t# trailing"
    root = make_project(tmp_path, {"app.py": data})
    result = run([root])
    [file] = result.files
    assert file.error == "LibCST cannot reproduce this file byte for byte, so no fix is safe"
    assert not file.changed


def test_a_package_wins_over_a_module_of_the_same_name():
    # calibre-web has cps.py (a launcher) beside cps/__init__.py (the app): `import cps` finds
    # the package, whatever order the files were read in.
    from pathlib import Path
    from types import SimpleNamespace

    from fixsessions.codemods.engine.core import _by_name

    launcher = SimpleNamespace(facts=SimpleNamespace(name="cps", path=Path("cps.py")))
    package = SimpleNamespace(facts=SimpleNamespace(name="cps", path=Path("cps/__init__.py")))
    for group in ([launcher, package], [package, launcher]):
        assert _by_name(group)["cps"] is package.facts


MODULE_NAMES = ["app", "app.db", "app.views", "app.views.api", "jobs", "tests.test_app"]
IMPORTED_NAMES = [*MODULE_NAMES, "app.db.Session", "app.views.api.bp", "flask", "flask.Flask", "app.missing.x"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(MODULE_NAMES), st.sampled_from(IMPORTED_NAMES)), max_size=30))
def test_the_import_graph_answers_as_its_definitions_do(edges):
    """`ProjectIndex.importers` walks the imports backwards from one module, and
    `imported_modules` reads `_imports`; each answers as its definition says: the modules
    whose `closure` holds the module, and every package prefix of every imported name that
    is a project module."""
    from types import SimpleNamespace

    from fixsessions.codemods.analysis.index import ProjectIndex

    imported = {name: set() for name in MODULE_NAMES}
    for importer, name in edges:
        imported[importer].add(name)
    index = ProjectIndex({name: SimpleNamespace(name=name, imported=names) for name, names in imported.items()})
    for module in MODULE_NAMES:
        assert index.importers(module) == {m for m in MODULE_NAMES if module in index.closure(m)}
    prefixes = {
        ".".join(parts[:i]) for names in imported.values() for name in names
        for parts in [name.split(".")] for i in range(1, len(parts) + 1)
    }
    assert index.imported_modules == prefixes & set(MODULE_NAMES)


PRODUCTION_TEST_NAMES = ["app", "app.db", "app.views", "tests", "tests.helpers", "tests.test_app", "jobs"]
PRODUCTION_TEST_IMPORTS = [
    *PRODUCTION_TEST_NAMES, "app.db.Session", "tests.helpers.make_app", "tests.helpers.x.y", "flask.Flask",
    "appx", "app.missing.x",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(PRODUCTION_TEST_NAMES), st.sampled_from(PRODUCTION_TEST_IMPORTS)), max_size=25))
def test_production_modules_are_what_production_code_imports(tmp_path_factory, edges):
    """`production_modules`, which passes over other projects' names and the names it has
    looked at, answers as its definition says: the modules that are not test code, and,
    until none is added, every module named by a leading part of a name one of them
    imports (`tests.helpers.make_app` makes `tests` and `tests.helpers` production code)."""
    from types import SimpleNamespace

    from fixsessions.codemods.analysis.index import production_modules

    root = tmp_path_factory.getbasetemp() / "production-modules"
    (root / "tests").mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").touch()  # a project: its tests are test code
    paths = {
        name: root.joinpath(*name.split(".")).with_suffix(".py") if name not in ("app", "tests")
        else root / name / "__init__.py"
        for name in PRODUCTION_TEST_NAMES
    }
    imported = {name: set() for name in PRODUCTION_TEST_NAMES}
    for importer, name in edges:
        imported[importer].add(name)
    modules = {name: SimpleNamespace(name=name, path=paths[name], imported=names) for name, names in imported.items()}
    from fixsessions.codemods.analysis.facts import is_test_code

    expected = {"app", "app.db", "app.views", "jobs"}  # by the folders: tests/ is test code
    assert {name for name in PRODUCTION_TEST_NAMES if not is_test_code(paths[name])} == expected
    while True:
        reached = {
            ".".join(parts[:i]) for module in expected for name in imported[module]
            for parts in [name.split(".")] for i in range(1, len(parts) + 1)
        } & set(PRODUCTION_TEST_NAMES)
        if reached <= expected:
            break
        expected |= reached
    assert production_modules(modules) == expected


def test_the_prefilters_word_sets_agree_with_word_boundary_patterns():
    """`Mentions` looks learned names up in a file's set of words; the answer is the one
    `\\b(?:names)\\b` patterns give, non-ASCII names included."""
    import re

    from fixsessions.codemods.analysis.prefilter import Mentions

    learned = {"db_session": {"pkg"}, "Asset": {"pkg"}, "café": {"pkg"}, "helper": {"other"}}

    def reference(data: bytes, top: str) -> bool:
        for package in {"pkg", "other"}:
            names = [n for n, tops in learned.items() if package in tops]
            pattern = rb"\b(?:" + b"|".join(re.escape(n.encode()) for n in names) + rb")\b"
            if re.search(pattern, data) and (package == top or re.search(rb"\b" + package.encode() + rb"\b", data)):
                return True
        return False

    mentions = Mentions(learned)
    texts = [
        b"from pkg.db import db_session\n", b"x = db_session_factory()\n", b"db_session.remove()\n",
        b"import pkg\npkg.Asset\n", b"Assets = 1\n", b"# caf\xc3\xa9\n", b"import pkg  # caf\xc3\xa9\n",
        b"from other import helper\n", b"helper()\n", b"pkg2.helper\n", b"other.helpers\n", b"",
    ]
    for data in texts:
        for top in ("pkg", "other", "unrelated"):
            assert mentions(data, top) == reference(data, top), (data, top)


def test_a_seed_that_may_act_is_never_one_acts_would_pass_over():
    """The first round parses a seed only if its words say `acts` may be true of it; on
    modules that act (the example app, the tool's own test projects) and on modules that do
    not (the standard library's), `acts` is never true where `may_act` said no."""
    import ast
    import sysconfig

    from fixsessions.codemods.analysis.prefilter import acts, may_act

    repo = Path(__file__).resolve().parents[1]
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = [*sorted((repo / "examples").rglob("*.py")), *sorted((repo / "tests").glob("*.py")),
             *sorted(stdlib.glob("*.py"))[:200], *sorted((stdlib / "asyncio").glob("*.py"))]
    snippets = [
        b"app.teardown_appcontext(f)\n", b"class S(Session): pass\n", b"import gevent.monkey\n",
        b"x = orm.scoped_session(m)\n", b"with app.app_context():\n    pass\n",
        b"class A(flask.Flask): pass\n", b"@app.cli.command()\ndef f(): pass\n",
    ]
    acting = 0
    for data in [*(path.read_bytes() for path in files), *snippets]:
        try:
            tree = ast.parse(data)
        except SyntaxError:
            continue
        if acts(tree):
            acting += 1
            assert may_act(data), data[:200]
    assert acting >= len(snippets) + 5  # the check ran on modules that act
    assert not may_act(b"from flask import g\nimport sqlalchemy as sa\n")


def test_act_terms_answer_as_acts_does():
    """A later round decides on a file an earlier one parsed from `act_terms`, without its
    tree: for any names learned, ``found or ids & learned`` is `acts`' answer. Checked on
    modules that act and modules that do not, with learned names each spells and does not."""
    import ast
    import sysconfig

    from fixsessions.codemods.analysis.prefilter import act_terms, acts

    repo = Path(__file__).resolve().parents[1]
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = [*sorted((repo / "examples").rglob("*.py")), *sorted(stdlib.glob("*.py"))[:120]]
    snippets = [
        "import gevent.monkey\n", "from pkg.db import Session as make\n", "from a.b import c\n",
        "x.teardown_request(f)\n", "class S(orm.Session): pass\n", "y = db_session.query\n",
    ]
    learned_sets = [frozenset(), frozenset({"db_session"}), frozenset({"Session", "b"}), frozenset({"make", "c"})]
    seen = {True: 0, False: 0}
    for text in [*(path.read_text(encoding="utf-8") for path in files), *snippets]:
        tree = ast.parse(text)
        found, ids = act_terms(tree)
        words = [w for w in sorted(ids) if w != "*"][:3]
        for learned in [*learned_sets, frozenset(words), frozenset(w + "_not" for w in words)]:
            answer = acts(tree, learned)
            assert (found or not ids.isdisjoint(learned)) == answer, (text[:120], learned)
            seen[answer] += 1
    assert seen[True] > 100 and seen[False] > 100  # both answers were put to the test


def _rounds_project(tmp_path):
    """Names learned over three rounds: db.py acts and teaches `Session`; views.py is a seed
    that does not act until `Session` is learned (its alias call is no maker by name), and
    helpers.py uses it; jobs.py spells only what helpers.py teaches. Two files that cannot be
    read whole are reached in the third round, two others never, and one that spells `Maker`
    only in a comment is passed over (parsed, it does not act). Two seeds that cannot be
    indexed are parsed by the first round and passed over there (their words say they may
    act, `Flask`); the second round selects the one that uses `Session`, not the one that
    only names it in a comment. late_actor.py names `Session` in a comment too: the second
    round parses it and passes over it, the third selects it for `Maker`."""
    return make_project(tmp_path, {
        "pyproject.toml": "",
        "shop/__init__.py": "",
        "shop/db.py": """\
            from sqlalchemy.orm import scoped_session, sessionmaker

            Session = sessionmaker()
            db_session = scoped_session(Session)
            """,
        "shop/views.py": """\
            from flask import jsonify  # each view answers for the Flask app

            from shop.db import Session as make


            def view():
                s = make()
                s.add(1)
                s.commit()
                s.close()
                return jsonify([])
            """,
        "shop/helpers.py": "from shop.db import Session as Maker\n",
        "shop/jobs.py": """\
            from shop.helpers import Maker


            def work():
                s = Maker()
                s.add(1)
                s.commit()
                s.close()
            """,
        "shop/broken_late.py": "from shop.helpers import Maker\n\ndef f(:\n    pass\n",
        "shop/broken_never.py": "x = 1\n\ndef f(:\n    pass\n",
        "shop/late_import_error.py": "from .... import far\nfrom shop.helpers import Maker\n",
        "shop/never_import_error.py": "from .... import far\n",
        "shop/comment_import_error.py": "from .... import far  # not the Maker of helpers.py\n",
        "shop/late_actor.py": """\
            from shop.helpers import Maker  # the Session of db.py


            def work():
                s = Maker()
                s.add(1)
                s.commit()
                s.close()
            """,
        "shop/seed_passed_over.py": "from flask import g  # the Flask app's; db.py makes Session\nfrom .... import far\n",
        "shop/seed_selected.py": "from flask import g  # the Flask app's\nfrom .... import far\nfrom shop.db import Session\n",
    })


@pytest.mark.parametrize("jobs", [1, 2])
def test_later_rounds_select_and_report_what_they_reach(tmp_path, jobs):
    """A file a round parsed and did not select is decided on by the later rounds from what
    was kept of it (`core._Record`): it is selected in the round whose names it uses, and
    its reason for not being parsed or indexed is given only once a round reaches it."""
    root = _rounds_project(tmp_path)
    result = run([root], Settings(jobs=jobs))
    found = sorted(
        (file.path.relative_to(root).as_posix(), f.code, f.location.line) for file in result.files for f in file.found
    )
    assert found == [
        ("shop/db.py", "FS005", 3), ("shop/jobs.py", "FS005", 5), ("shop/late_actor.py", "FS005", 5),
        ("shop/views.py", "FS005", 7),
    ]
    errors = {f.path.name: f.error for f in result.errors}
    assert errors.keys() == {"broken_late.py", "late_import_error.py", "seed_selected.py"}
    assert errors["broken_late.py"].startswith("cannot parse: line 3")
    assert errors["late_import_error.py"].startswith("cannot resolve its imports")


def test_a_file_is_parsed_once_while_the_rounds_select(tmp_path, monkeypatch):
    """views.py is parsed by the first round (a seed whose words say it may act) and passed
    over there; the second round, which selects it, does not parse it again. (A file a later
    round passes over, late_actor.py, keeps no facts and is parsed again if selected: most
    are never selected.)"""
    root = _rounds_project(tmp_path)
    parsed = []
    selecting = []
    real_parse, real_select = engine.parse_ast, engine._select

    def parse(text, path):
        if selecting:
            parsed.append(Path(path).name)
        return real_parse(text, path)

    def select(*args):
        selecting.append(True)
        try:
            return real_select(*args)
        finally:
            selecting.clear()

    monkeypatch.setattr(engine, "parse_ast", parse)
    monkeypatch.setattr(engine, "_select", select)
    run([root], Settings(jobs=1))
    assert parsed.count("views.py") == 1 and parsed.count("jobs.py") == 1
    assert parsed.count("late_actor.py") == 2


def test_a_module_whose_report_candidates_find_nothing_is_not_checked_again(tmp_path, monkeypatch):
    """A report rule that reads only facts (`Rule.facts_only`) runs on them first: a module
    where it finds nothing is not read and checked again for it. Here `create_engine()` in a
    function that is no view is FS014's candidate, and no finding."""
    root = make_project(tmp_path, {
        "app.py": b"""\
from flask import Flask
from sqlalchemy import create_engine

app = Flask(__name__)


@app.get("/")
def index():
    return "ok"


def cli_import():
    engine = create_engine("sqlite://")
""",
    })
    checked = []
    fix_file = engine._fix_file
    monkeypatch.setattr(engine, "_fix_file", lambda item, *rest: (checked.append(item.result.path.name), fix_file(item, *rest)))
    assert run([root], Settings(jobs=1, cache=False)).findings == []
    assert checked == []
    # Made a view, the same call is found: the module is checked.
    (root / "app.py").write_bytes((root / "app.py").read_bytes().replace(b"def cli_import", b"@app.get('/import')\ndef cli_import"))
    [finding] = run([root], Settings(jobs=1, cache=False)).findings
    assert (finding.code, checked) == ("FS014", ["app.py"])


def test_a_module_closing_or_removing_outside_teardowns_is_not_checked_again(tmp_path, monkeypatch):
    """FS002 and FS010 look at this module's teardown handlers only: a job that calls
    `close()` and `remove()` has none, and is not read again for them. The app's teardown,
    which closes and removes, is read again (FS002 cannot tell from the facts that it also
    removes what it closes)."""
    root = make_project(tmp_path, {
        "db.py": b"from sqlalchemy.orm import scoped_session, sessionmaker\n\ndb_session = scoped_session(sessionmaker())\n",
        "app.py": b"""\
from flask import Flask

from db import db_session

app = Flask(__name__)


@app.teardown_appcontext
def shutdown(exception=None):
    db_session.close()
    db_session.remove()
""",
        "jobs.py": b"""\
from db import db_session


def cleanup():
    db_session.close()
    db_session.remove()
""",
    })
    checked = []
    fix_file = engine._fix_file
    monkeypatch.setattr(engine, "_fix_file", lambda item, *rest: (checked.append(item.result.path.name), fix_file(item, *rest)))
    assert run([root], Settings(jobs=1, cache=False)).findings == []
    assert "jobs.py" not in checked and "app.py" in checked


def test_a_module_the_rules_find_nothing_in_from_its_facts_is_not_read_again(tmp_path, monkeypatch):
    """FS001, FS005 and FS013 run their checks on the facts first: a file none of them
    would find anything in is not parsed again to check it. Here: an app whose teardown
    removes the registry (FS001), the module of a sessionmaker no hand-made session needs a
    helper for (FS005), a one-shot script's hand-made session (FS005), and a Celery app
    whose `task_postrun` handler removes the registry (FS013). Before, each was read again
    and checked, to find nothing (privacyidea: 7 modules of 7; ckan: 6 of 7)."""
    root = make_project(tmp_path, {
        "pkg/__init__.py": b"",
        "pkg/database.py": b"""\
from sqlalchemy import create_engine
from sqlalchemy.orm import scoped_session, sessionmaker

engine = create_engine("sqlite://")
Session = sessionmaker(bind=engine)
db_session = scoped_session(Session)
""",
        "pkg/app.py": b"""\
from flask import Flask

from pkg.database import db_session

app = Flask(__name__)


@app.teardown_appcontext
def shutdown(exception=None):
    db_session.remove()
""",
        "pkg/worker.py": b"""\
from celery import Celery
from celery.signals import task_postrun

from pkg.database import db_session

celery = Celery(__name__)


@task_postrun.connect
def cleanup(*args, **kwargs):
    db_session.remove()
""",
        "pkg/tasks.py": b"""\
from pkg.database import db_session
from pkg.worker import celery


@celery.task
def deactivate(user_id):
    db_session.execute("UPDATE users SET active = 0")
    db_session.commit()
""",
        "pkg/script.py": b"""\
from pkg.database import Session


def main():
    session = Session()
    session.execute("DELETE FROM logs")
    session.commit()


if __name__ == "__main__":
    main()
""",
        "pkg/admin.py": b"""\
from flask import Flask

from pkg.database import db_session

admin = Flask(__name__)
""",
    })
    checked = []
    fix_file = engine._fix_file
    monkeypatch.setattr(engine, "_fix_file", lambda item, *rest: (checked.append(item.result.path.name), fix_file(item, *rest)))
    for jobs in (1, 2):
        checked.clear()
        result = run([root], Settings(jobs=jobs, cache=False, unsafe_fixes=True))
        assert [(f.path.name, f.code) for file in result.files for f in file.found] == [("admin.py", "FS001")]
        assert checked == ["admin.py"]


REGISTRY_MODULE = b"from sqlalchemy.orm import scoped_session, sessionmaker\ndb_session = scoped_session(sessionmaker())\n"


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_module_beside_a_package_of_its_name_is_asked_about_with_its_own_facts(tmp_path, monkeypatch, jobs):
    """`app.py` beside `app/__init__.py`: in the project's index the package stands for
    `app` (`_by_name`); the rules are asked whether they find anything in `app.py` with
    `app.py`'s own facts, as its check then sees them. Asked with the package's, FS001 and
    FS013 found nothing to check there, and their findings were lost (a blind review of
    523aa1f); FS005's coarser answer already missed `work.py`'s hand-made session."""
    monkeypatch.setattr(engine, "PARALLEL_BYTES", 1)  # with 2 jobs, read in workers
    root = make_project(tmp_path, {
        "db.py": REGISTRY_MODULE,
        "app.py": b"from flask import Flask\nfrom db import db_session\napp = Flask(__name__)\n",
        "app/__init__.py": b"from sqlalchemy.orm import sessionmaker\nMaker = sessionmaker()\n",
        "tasks.py": b"""\
from celery import Celery
from db import db_session
celery = Celery(__name__)


@celery.task
def job():
    db_session.query(1).all()
""",
        "tasks/__init__.py": b"from celery import Celery\ncelery = Celery(__name__)\n",
        # Found on 1e47397 by neither: asked with the package's facts, `make_session` was
        # no known session source, and FS005 said no.
        "work.py": b"""\
from sqlalchemy.orm import Session


def make_session():
    return Session(engine)


def job():
    s = make_session()
    s.add(1)
    s.commit()
    s.close()
""",
        "work/__init__.py": b"from sqlalchemy.orm import sessionmaker\nOther = sessionmaker()\n",
    })
    result = run([root], Settings(jobs=jobs, cache=False))
    found = sorted((f.path.name, f.code) for file in result.files for f in file.found)
    assert found == [("app.py", "FS001"), ("tasks.py", "FS013"), ("work.py", "FS005")]


@pytest.mark.parametrize("select", [None, frozenset({"FS001"})])
def test_a_flask_app_made_for_celery_workers_is_told_apart_in_a_module_read_in_a_worker(tmp_path, monkeypatch, select):
    """A Flask app made beside a Celery app, serving no request, gets FS013's report, not
    FS001's teardown (it would never run): also when its module was parsed in a worker and
    is parsed again to be checked (a different object with the same facts). Compared by
    identity, `-j2` added the teardown that `-j1` withheld."""
    monkeypatch.setattr(engine, "PARALLEL_BYTES", 1)
    root = make_project(tmp_path, {
        "db.py": REGISTRY_MODULE,
        "worker.py": b"""\
from celery import Celery
from flask import Flask
from db import db_session
flask_app = Flask(__name__)
celery = Celery(__name__)
""",
    })
    outcomes = []
    for jobs in (1, 2):
        settings = Settings(jobs=jobs, cache=False, **({"select": select} if select else {}))
        result = run([root], settings)
        outcomes.append((sorted((f.path.name, f.code) for file in result.files for f in file.found), result.changed))
    assert outcomes[0] == outcomes[1]
    assert outcomes[1] == ([] if select else [("worker.py", "FS013")], [])


def test_a_celery_apps_module_read_in_a_worker_gets_its_task_postrun_fix(tmp_path, monkeypatch):
    """FS013 makes its fix in the module of the Celery app the tasks use: the same with
    `-j2`, where that module was parsed in a worker and is parsed again to be fixed."""
    monkeypatch.setattr(engine, "PARALLEL_BYTES", 1)
    files = {
        "db.py": REGISTRY_MODULE,
        "worker.py": b"from celery import Celery\ncelery = Celery(__name__)\n",
        "tasks.py": b"""\
from db import db_session
from worker import celery


@celery.task
def job():
    db_session.query(1).all()
""",
    }
    fixed = []
    for jobs in (1, 2):
        root = make_project(tmp_path / f"j{jobs}", files)
        result = run([root], Settings(jobs=jobs, cache=False))
        assert [(f.path.name, f.code) for file in result.files for f in file.found] == [("worker.py", "FS013")]
        fixed.append([(f.path.name, f.fixed) for f in result.changed])
    assert fixed[0] == fixed[1]
    assert b"task_postrun" in fixed[1][0][1]


def test_child_listings_written_from_signatures_match_the_fields():
    """`walk.children` lists a node's children with a function written out from its kind's
    ASDL signature: on the standard library (dict unpacking, keyword-only arguments without
    defaults, match statements, f-strings), the same nodes in the same order as reading
    every field."""
    import ast
    import sysconfig
    import warnings

    from fixsessions.codemods.analysis import walk

    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = [*sorted(stdlib.glob("*.py")), *sorted((stdlib / "test").glob("test_patma.py"))]
    kinds = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trees = [ast.parse(path.read_bytes()) for path in files]
    for tree in trees:
        for node in ast.walk(tree):
            kind = type(node)
            if kind in walk._LEAVES:
                continue
            kinds.add(kind)
            assert list(walk.children(node)) == walk._any_children(walk._fields(kind), node), ast.dump(node)[:300]
    generic = {kind.__name__ for kind, listing in walk._LISTINGS.items() if isinstance(listing, walk.partial)}
    assert generic == set() and len(kinds) > 60  # every kind met was written out


def test_fill_gives_every_node_its_children_even_after_a_walk_stopped_half_way():
    """The collectors read `_fs_children` straight (see `walk.fill`): a tree that
    `prefilter.acts` walked only in part (it stops at the first thing that acts) must still get
    every node's children, leaves included, and the same facts as a fresh tree."""
    import ast
    import itertools

    from fixsessions.codemods.analysis import walk
    from fixsessions.codemods.analysis.facts import collect_facts, module_name_for
    from fixsessions.codemods.analysis.location import Positions

    path = Path(__file__).resolve().parent.parent / "examples" / "before" / "cryptowallet" / "views.py"
    text = path.read_text()
    half, fresh = ast.parse(text), ast.parse(text)
    list(itertools.islice(walk.walk(half), 40))  # some nodes listed, most not
    assert "_fs_children" not in ast.parse(text).body[0].__dict__
    walk.fill(half)
    for node in ast.walk(half):
        kind = type(node)
        if isinstance(node, ast.expr_context):
            continue  # `Load`/`Store`: no child of anything `children` lists
        expected = [] if kind in walk._LEAVES else walk._any_children(walk._fields(kind), node)
        assert list(node._fs_children) == expected, ast.dump(node)[:200]
    where = module_name_for(path)[1]
    assert collect_facts(half, Positions(text), path, where).facts == collect_facts(fresh, Positions(text), path, where).facts


@pytest.mark.parametrize("limit, spread", [(100, True), (10**9, False)])
def test_few_files_holding_much_source_are_read_by_workers(tmp_path, monkeypatch, limit, spread):
    """Fewer files than `PARALLEL_READS` are read in workers when they hold `PARALLEL_BYTES`
    of source or more (calibre-web: 101 files, 1.4 MB), and here otherwise."""
    root = make_project(tmp_path, {f"mod{i}.py": BROKEN_APP for i in range(3)})
    monkeypatch.setattr(engine, "PARALLEL_BYTES", limit)
    spreads = []
    mapped = engine._Workers.map

    def spy(self, function, items, shared, progress, phase, minimum=2):
        if function is engine._scan:
            spreads.append(not self.in_process(len(items), minimum))
        return mapped(self, function, items, shared, progress, phase, minimum)

    monkeypatch.setattr(engine._Workers, "map", spy)
    result = run([root], Settings(jobs=2, cache=False))
    assert spreads[0] is spread
    assert [f.code for file in result.files for f in file.found] == ["FS001"] * 3  # the same either way
    assert len(result.changed) == 3


def _name_of(path, shared):
    return f"{shared}:{path.name}"


def test_workers_take_the_largest_files_first_and_answer_in_the_order_asked(tmp_path):
    """A round's last chunks are its smallest files (gramps-web-api waited on one worker's
    big module); the answers still come back in the order of the files given."""
    sizes = [10, 500, 20, 500, None, 300]  # None: a file that vanished
    paths = []
    for i, size in enumerate(sizes):
        paths.append(tmp_path / f"m{i}.py")
        if size is not None:
            paths[-1].write_bytes(b"#" * size)
    chunks = engine._chunks(paths, 16)
    assert [i for chunk in chunks for i in chunk] == [1, 3, 5, 2, 0, 4]
    workers = engine._Workers(2)
    assert not workers.in_process(len(paths))
    assert workers.map(_name_of, paths, "x", None, "reading") == [f"x:m{i}.py" for i in range(6)]


def test_a_pools_chunks_share_the_bytes_not_the_file_count(tmp_path):
    """ckan's first round: chunks of as many files each gave one worker the 44 largest
    files (1.19 s) and the other the 669 others (0.54 s, then waiting). Each chunk now
    holds about its share of the bytes: big files alone or few together, small files many
    together (at most `MAX_CHUNK`), every file once, largest first."""
    sizes = [40_000] * 20 + [2_000] * 300 + [0] * 200
    paths = []
    for i, size in enumerate(sizes):
        paths.append(tmp_path / f"m{i:03}.py")
        paths[-1].write_bytes(b"#" * size)
    parts = 16
    chunks = engine._chunks(paths, parts)
    assert sorted(i for chunk in chunks for i in chunk) == list(range(len(paths)))
    weights = [size + engine.FILE_COST for size in sizes]
    share = sum(weights) / parts
    for chunk in chunks:
        assert len(chunk) <= engine.MAX_CHUNK
        # A chunk closes on the file that reaches its share: less that file, it is below it.
        assert sum(weights[i] for i in chunk[:-1]) < share
    assert len(chunks[0]) < len(chunks[-2]) <= engine.MAX_CHUNK
    assert parts <= len(chunks) <= parts + len(paths) // engine.MAX_CHUNK + 1
    workers = engine._Workers(2)
    assert workers.map(_name_of, paths, "y", None, "reading") == [f"y:{p.name}" for p in paths]


def test_the_report_collector_visits_a_calls_parts_in_source_order():
    """LibCST's order: `f(x=1, *rest)` visits the keyword before `*rest`, although `ast`
    keeps arguments before keywords; `f(a, b=1)` is in order as it is."""
    import ast

    from fixsessions.codemods.analysis.reports import _children

    for source, order in [
        ("f(x=1, *rest)", ["Name", "keyword", "Starred"]),
        ("f(a, b=1)", ["Name", "Name", "keyword"]),
        ("f(a, *b, c=1, **d)", ["Name", "Name", "Starred", "keyword", "keyword"]),
        ("f(c=1, *b, **d)", ["Name", "keyword", "Starred", "keyword"]),
    ]:
        call = ast.parse(source).body[0].value
        assert [type(n).__name__ for n in _children(call)] == order, source


def test_a_module_whose_caches_keep_no_orm_object_is_not_checked_again(tmp_path, monkeypatch):
    """FS003 reports a memo or an `lru_cache` only where it keeps ORM objects: a module whose
    cached function returns a setting is not read again for it; once it returns a query's
    objects, it is (and reported)."""
    root = make_project(tmp_path, {
        "models.py": b"""\
from sqlalchemy import Column, Integer
from sqlalchemy.orm import declarative_base

Base = declarative_base()


class Contact(Base):
    __tablename__ = "contacts"
    id = Column(Integer, primary_key=True)
""",
        "lookups.py": b"""\
import os
from functools import lru_cache

from models import Contact


@lru_cache()
def region():
    return os.environ.get("REGION", Contact.__tablename__)
""",
    })
    checked = []
    fix_file = engine._fix_file
    monkeypatch.setattr(engine, "_fix_file", lambda item, *rest: (checked.append(item.result.path.name), fix_file(item, *rest)))
    assert run([root], Settings(jobs=1, cache=False)).findings == []
    assert "lookups.py" not in checked
    (root / "lookups.py").write_bytes((root / "lookups.py").read_bytes().replace(
        b'return os.environ.get("REGION", Contact.__tablename__)', b"return Contact.query.all()"))
    result = run([root], Settings(jobs=1, cache=False))
    assert "lookups.py" in checked
    assert [f.code for file in result.files for f in file.found] == ["FS003"]


def test_a_cached_answer_is_the_one_the_directory_it_is_asked_from_would_get(tmp_path, monkeypatch):
    # Messages name other files relative to the working directory ("(db.py:2)" from the
    # project, "(project/db.py:2)" from above it): the cache answers only from where it was
    # filled.
    root = make_project(tmp_path / "project", {
        "pyproject.toml": "",
        "db.py": "from sqlalchemy.orm import scoped_session, sessionmaker\ndb_session = scoped_session(sessionmaker())\n",
        "app.py": "from flask import Flask\nfrom db import db_session\n\napp = Flask(__name__)\n",
    })
    analysed = []
    select = engine._select
    monkeypatch.setattr(engine, "_select", lambda *args: analysed.append(1) or select(*args))

    def messages(cwd, cache):
        monkeypatch.chdir(cwd)
        return sorted(f.message for file in run([root], Settings(cache=cache)).files for f in file.found)

    here = messages(root, cache=False)
    assert any("(db.py:2)" in message for message in here)
    assert messages(root, cache=True) == here  # filled
    before = len(analysed)
    assert messages(root, cache=True) == here  # answered from the cache
    assert len(analysed) == before
    above = messages(tmp_path, cache=False)
    assert any("(project/db.py:2)" in message for message in above)
    assert messages(tmp_path, cache=True) == above


def test_a_run_under_another_python_is_not_answered_from_the_cache(tmp_path, monkeypatch):
    # A file in Python 3.12 syntax cannot be parsed under 3.11 and can under 3.12: an answer
    # kept under one interpreter is no answer under another.
    root = make_project(tmp_path, {"pyproject.toml": "", "app.py": BROKEN_APP})
    monkeypatch.chdir(root)
    analysed = []
    select = engine._select
    monkeypatch.setattr(engine, "_select", lambda *args: analysed.append(1) or select(*args))
    run([root], Settings(cache=True))
    run([root], Settings(cache=True))
    assert len(analysed) == 1  # the second run was answered from the cache
    monkeypatch.setattr("sys.version", "3.99.0 (another interpreter)")
    run([root], Settings(cache=True))
    assert len(analysed) == 2


def test_the_cache_folder_keeps_the_entries_last_written_or_used(tmp_path, monkeypatch):
    # One entry per set of paths named: an editor naming one file a save makes one a file.
    from fixsessions.codemods.engine import cache

    monkeypatch.setattr(cache, "MAX_ENTRIES", 3)

    def entry(n):
        return cache._entry_path(tmp_path, "settings", f"paths {n}")

    for n in range(3):
        cache.store(tmp_path, "settings", f"paths {n}", "key", {"n": n})
        os.utime(entry(n), ns=(n * 10**9, n * 10**9))  # written in this order, a second apart
    assert cache.load(tmp_path, "settings", "paths 0", "key") == {"n": 0}  # the oldest, used now
    cache.store(tmp_path, "settings", "paths 3", "key", {"n": 3})
    assert sorted(p.name for p in tmp_path.glob("*.json")) == sorted(entry(n).name for n in (0, 2, 3))
    assert cache.load(tmp_path, "settings", "paths 1", "key") is None


def test_the_cache_folder_loses_what_a_killed_run_left(tmp_path):
    # A run killed while writing leaves its temporary file; one being written now is kept.
    from fixsessions.codemods.engine import cache

    left, writing = tmp_path / ".entry.left.tmp", tmp_path / ".entry.writing.tmp"
    left.write_text("{")
    writing.write_text("{")
    os.utime(left, (0, 0))
    cache.store(tmp_path, "settings", "paths", "key", {})
    assert not left.exists() and writing.exists()
    assert cache.load(tmp_path, "settings", "paths", "key") == {}
