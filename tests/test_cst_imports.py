"""The import edits of fixed files: the same text as LibCST's AddImportsVisitor and
RemoveImportsVisitor write, which fixsessions no longer runs (they cost a scope analysis of the
whole module and a fifth of a second of start-up)."""

from __future__ import annotations

from dataclasses import dataclass

import isort
import libcst as cst
import pytest
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor, ImportItem, RemoveImportsVisitor

from fixsessions.codemods.engine.cst_imports import add_imports, remove_unused_imports


@dataclass(frozen=True)
class Item:
    module: str
    name: str
    relative: int = 0


HEADS = {
    "plain": "import os\nfrom flask import Flask\n\napp = Flask(__name__)\n",
    "docstring": '"""Views."""\nimport os\nfrom flask import Flask\n\n\ndef f():\n    pass\n',
    "docstring only": '"""Views."""\n',
    "no imports": "x = 1\n",
    "comment before code": "from flask import Flask\n# the app\napp = Flask(__name__)\n",
    "no blank line": "from flask import Flask\napp = Flask(__name__)\n",
    "empty": "",
    "same module": "from app.database import engine\n\nx = engine\n",
    "same module twice": "from app.database import engine\nfrom app.database import Base\n",
    "aliased": "from app.database import db_session as s\n\nx = s\n",
    "star": "from app.database import *\n",
    "relative": "from .database import engine\nfrom . import models\n",
    "parenthesized": "from app.database import (\n    engine,  # the engine\n    Base,\n)\n",
    "strict": "__strict__ = True\nimport os\n",
    "import later": "import os\nx = 1\nfrom app.database import engine\n",
    "two on a line": "import os; import sys\nx = 1\n",
    "future": "from __future__ import annotations\n\nimport os\n",
}

ITEMS = {
    "absolute": [Item("app.database", "db_session")],
    "two modules": [Item("flask", "g"), Item("app.database", "db_session")],
    "two names": [Item("app.database", "db_session"), Item("app.database", "Session")],
    "already there": [Item("app.database", "engine")],
    "relative": [Item("database", "db_session", 1)],
    "parent": [Item("", "database", 2)],
}


# A standard-library import is placed where isort and ruff want it, not where LibCST's
# visitor puts it (after every other import, which ruff's I001 flags): tested on its own below.
def libcst_add(module: cst.Module, items, package):
    absolute = [ImportItem(i.module, i.name, None, i.relative) for i in items]
    return AddImportsVisitor(CodemodContext(full_package_name=package), absolute).transform_module(module)


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("items", ITEMS)
@pytest.mark.parametrize("package", ["app", "app.views", None])
def test_adding_writes_what_libcst_writes(head, items, package):
    module = cst.parse_module(HEADS[head])
    expected = libcst_add(module, ITEMS[items], package).code
    got = add_imports(module, ITEMS[items], package).code
    if got != expected:
        # The one difference allowed: in a block isort accepts, a new line goes where isort
        # wants it, a blank line above the project's own section (LibCST appends it, which
        # ruff's I001 then flags). The same lines otherwise.
        assert isort.check_code(HEADS[head], quiet=True)
        assert isort.check_code(got, quiet=True), got
        assert sorted(filter(None, got.splitlines())) == sorted(filter(None, expected.splitlines()))


USES = {
    "unused": "\nx = 1\n",
    "used": "\nx = db_session\n",
    "used in a function": "\ndef f():\n    return db_session.query()\n",
    "shadowed by a parameter": "\ndef f(db_session):\n    return db_session.query()\n",
    "shadowed by a local import": (
        "\ndef f():\n    from app.database import db_session\n    return db_session\n"
    ),
    "a local of a class body": "\nclass C:\n    db_session = 1\n    x = db_session\n",
    "a class body read of the module's": "\nclass C:\n    x = db_session\n",
    "in __all__": '\n__all__ = ["db_session"]\n',
    "in a string annotation": '\ndef f(x: "db_session"):\n    pass\n',
    "global in a function": "\ndef f():\n    global db_session\n    db_session = 1\n",
}

IMPORT_LINES = {
    "alone": "from app.database import db_session\n",
    "first of two": "from app.database import db_session, engine\n",
    "last of two": "from app.database import engine, db_session\n",
    "aliased": "from app.database import db_session as db_session\n",
    "parenthesized with comments": (
        "from app.database import (\n    engine,  # e\n    db_session,  # the registry\n    Base,\n)\n"
    ),
    "first parenthesized": "from app.database import (  # x\n    db_session,  # s\n    engine,\n)\n",
    "relative": "from .database import db_session\n",
    "module import": "import functools\n",
    "in a function": "def g():\n    from app.database import db_session\n    return 1\n",
    "with a comment above": "import os\n\n# the registry\nfrom app.database import db_session\n",
}


def libcst_remove(module: cst.Module, unused, package):
    context = CodemodContext(full_package_name=package)
    removals = [(name_module, name, None) for name_module, name in unused]
    return RemoveImportsVisitor(context, removals).transform_module(module)


@pytest.mark.parametrize("lines", IMPORT_LINES)
@pytest.mark.parametrize("use", USES)
def test_dropping_writes_what_libcst_writes(lines, use):
    module = cst.parse_module(IMPORT_LINES[lines] + USES[use])
    unused = [("app.database", "db_session"), ("functools", None)]
    expected = libcst_remove(module, unused, "app").code
    assert remove_unused_imports(module, unused, "app").code == expected


def test_dropping_keeps_an_import_named_in_any_string():
    # The one deliberate difference: any string naming the import keeps it (it may be read
    # by `getattr`, a template or a string annotation LibCST does not recognise).
    module = cst.parse_module(
        'from app.database import db_session\n\nlog = "db_session is gone"\n'
    )
    unused = [("app.database", "db_session")]
    assert "import db_session" not in libcst_remove(module, unused, "app").code
    assert remove_unused_imports(module, unused, "app").code == module.code


CONTEXTMANAGER = [Item("contextlib", "contextmanager")]


@pytest.mark.parametrize(
    "before, after",
    [
        pytest.param(
            "import os\n\nfrom sqlalchemy import create_engine\n\nengine = 1\n",
            "import os\nfrom contextlib import contextmanager\n\nfrom sqlalchemy import create_engine\n\nengine = 1\n",
            id="after-the-stdlib-import-lines",
        ),
        pytest.param(
            "from collections import OrderedDict\nfrom functools import wraps\n\nimport flask\n",
            "from collections import OrderedDict\nfrom contextlib import contextmanager\nfrom functools import wraps\n\nimport flask\n",
            id="among-the-from-lines-by-module",
        ),
        pytest.param(
            '"""Views."""\n\nfrom flask import Flask\n\napp = Flask(__name__)\n',
            '"""Views."""\n\nfrom contextlib import contextmanager\n\nfrom flask import Flask\n\napp = Flask(__name__)\n',
            id="a-new-section-above-third-party",
        ),
        pytest.param(
            "from __future__ import annotations\n\nfrom flask import Flask\n",
            "from __future__ import annotations\n\nfrom contextlib import contextmanager\n\nfrom flask import Flask\n",
            id="after-future-imports",
        ),
        pytest.param(
            '"""Views."""\n\n# the web framework\nfrom flask import Flask\n\napp = 1\n',
            '"""Views."""\n\n# the web framework\nfrom flask import Flask\nfrom contextlib import contextmanager\n\napp = 1\n',
            id="a-comment-above-the-first-line-stays-with-it",  # and the line goes below, as LibCST's
        ),
        pytest.param(
            "x = 1\n",
            "from contextlib import contextmanager\n\nx = 1\n",
            id="no-imports",
        ),
    ],
)
def test_a_standard_library_import_goes_where_isort_puts_it(before, after):
    # Issue 12: `from contextlib import contextmanager` after third-party imports is I001.
    module = cst.parse_module(before)
    assert add_imports(module, CONTEXTMANAGER, "app").code == after
    compile(after, "after", "exec")
