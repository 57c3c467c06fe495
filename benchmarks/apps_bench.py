"""Time fixsessions on real Flask apps and on a few generated edge cases, side by side with ruff
(which parses every file), with the peak memory of fixsessions' process tree.

    python benchmarks/apps_bench.py [--fixsessions PATH] [--repeat N] [--timeout S] [--only NAME]

Per app folder built by benchmarks/corpus.py: `FIXSESSIONS --dry-run --jobs 2 .` and
`ruff check --no-cache --select E9 --exit-zero .`, the median of --repeat runs each (of at least
7 for ruff), timed with nothing sampling them; fixsessions' peak memory comes from one more run,
sampled every 20 ms. Then, made
here in a temporary folder: (a) a ~3,400-line Flask views module with one FS001 bug and a few
small modules, (b) one ~48,000-line module, (c) an 18-line buggy app in a folder with no
pyproject.toml or .git, (d) `fixsessions --version` (against `ruff --version`), (e) a second,
warm `--check` of the largest app of 250 to 400 files (copied, so that no cache lands in the
corpus). A run past --timeout is killed and shown as `> S`. fixsessions exits 0 or 1 normally;
any other exit is an error, shown in the last column. Prints a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from benchmarks.corpus import app_trees, count_py, default_dest  # noqa: E402
from benchmarks.run import byte_compile, measure  # noqa: E402

RUFF_ARGS = ["check", "--no-cache", "--select", "E9", "--exit-zero", "."]
# ruff runs take tenths of a second and vary by a third: at least this many are timed.
RUFF_REPEAT = 7


# --- generated trees: no third-party code, only what is written here --------------------------

DATABASE = '''\
from sqlalchemy import create_engine
from sqlalchemy.orm import scoped_session, sessionmaker

engine = create_engine("sqlite:///bench.db")
db_session = scoped_session(sessionmaker(bind=engine))
'''

MODELS = '''\
from sqlalchemy import Column, ForeignKey, Integer, Numeric, String
from sqlalchemy.orm import declarative_base, relationship

Base = declarative_base()


class Customer(Base):
    __tablename__ = "customers"
    id = Column(Integer, primary_key=True)
    name = Column(String(80), nullable=False)
    orders = relationship("Order", back_populates="customer")


class Order(Base):
    __tablename__ = "orders"
    id = Column(Integer, primary_key=True)
    customer_id = Column(ForeignKey("customers.id"))
    total = Column(Numeric(10, 2), default=0)
    status = Column(String(20), default="new")
    customer = relationship("Customer", back_populates="orders")
'''

APP = '''\
from flask import Flask

app = Flask(__name__)
app.config["JSON_SORT_KEYS"] = False

import views  # noqa: E402,F401  (registers the routes)
'''

HELPERS = '''\
from decimal import Decimal


def money(value):
    return str(Decimal(value or 0).quantize(Decimal("0.01")))


def page_args(args, default=20):
    page = max(int(args.get("page", 1)), 1)
    size = min(max(int(args.get("size", default)), 1), 100)
    return page, size
'''

VIEW = '''\

@app.route("/orders/{i}/<int:order_id>")
def order_{i}(order_id):
    """Order view number {i}."""
    order = db_session.get(Order, order_id)
    if order is None:
        return jsonify(error="no such order"), 404
    return jsonify(id=order.id, customer=order.customer.name, total=money(order.total))


@app.route("/customers/{i}", methods=["GET", "POST"])
def customers_{i}():
    if request.method == "POST":
        customer = Customer(name=request.form["name"])
        db_session.add(customer)
        db_session.commit()
        return jsonify(id=customer.id), 201
    page, size = page_args(request.args)
    query = db_session.query(Customer).order_by(Customer.name)
    rows = query.offset((page - 1) * size).limit(size).all()
    return jsonify(customers=[{{"id": c.id, "name": c.name}} for c in rows], page=page)


@app.route("/orders/{i}/<int:order_id>/status", methods=["POST"])
def set_status_{i}(order_id):
    order = db_session.get(Order, order_id)
    if order is None:
        return jsonify(error="no such order"), 404
    order.status = request.form.get("status", "new")
    db_session.commit()
    return jsonify(id=order.id, status=order.status)
'''

BIG_UNIT = '''\

class Record{i}(Base):
    __tablename__ = "record_{i}"
    id = Column(Integer, primary_key=True)
    name = Column(String(80), nullable=False)
    score = Column(Integer, default={i})

    def describe(self):
        return f"{{self.name}} ({{self.score}})"

    @classmethod
    def top(cls, limit=10):
        return db_session.query(cls).order_by(cls.score.desc()).limit(limit).all()


@app.route("/records/{i}")
def list_records_{i}():
    rows = Record{i}.top(int(request.args.get("limit", 10)))
    return jsonify([row.describe() for row in rows])


def bump_{i}(record_id, by=1):
    row = db_session.get(Record{i}, record_id)
    row.score += by
    db_session.commit()
    return row.score
'''

BIG_HEAD = '''\
from flask import Flask, jsonify, request
from sqlalchemy import Column, Integer, String, create_engine
from sqlalchemy.orm import declarative_base, scoped_session, sessionmaker

engine = create_engine("sqlite:///big.db")
db_session = scoped_session(sessionmaker(bind=engine))
Base = declarative_base()
app = Flask(__name__)


@app.teardown_appcontext
def remove_session(exception=None):
    db_session.remove()
'''

TINY = '''\
"""A tiny app whose scoped_session is never removed."""
from flask import Flask, jsonify
from sqlalchemy import create_engine, text
from sqlalchemy.orm import scoped_session, sessionmaker

engine = create_engine("sqlite:///tiny.db")
db_session = scoped_session(sessionmaker(bind=engine))
app = Flask(__name__)


@app.route("/ping")
def ping():
    value = db_session.execute(text("SELECT 1")).scalar()
    return jsonify(ok=value == 1)


if __name__ == "__main__":
    app.run()
'''


def make_views_app(folder: Path) -> Path:
    """(a) database.py with a module-level scoped_session, app.py importing views, no teardown."""
    folder.mkdir(parents=True)
    (folder / "database.py").write_text(DATABASE)
    (folder / "models.py").write_text(MODELS)
    (folder / "app.py").write_text(APP)
    (folder / "helpers.py").write_text(HELPERS)
    head = ("from flask import jsonify, request\n\nfrom app import app\nfrom database import db_session\n"
            "from helpers import money, page_args\nfrom models import Customer, Order\n\n")
    units = []
    while len((head + "".join(units)).splitlines()) < 3400:
        units.append(VIEW.format(i=len(units)))
    (folder / "views.py").write_text(head + "".join(units))
    return folder


def make_big_module(folder: Path) -> Path:
    """(b) one ~48,000-line module of models, routes and helpers."""
    folder.mkdir(parents=True)
    units = [BIG_HEAD]
    lines = BIG_HEAD.count("\n")
    while lines < 48000:
        units.append(BIG_UNIT.format(i=len(units)))
        lines += units[-1].count("\n")
    (folder / "big.py").write_text("".join(units))
    return folder


def make_tiny(folder: Path) -> Path:
    """(c) 18 lines, a scoped_session with no teardown, no pyproject.toml or .git around it."""
    folder.mkdir(parents=True)
    (folder / "app.py").write_text(TINY)
    return folder


def lines_of(path: Path) -> int:
    """Lines of a .py file, or of every .py file in a folder."""
    files = [path] if path.is_file() else path.rglob("*.py")
    return sum(file.read_text().count("\n") for file in files)


# --- timing ----------------------------------------------------------------------------------

def timed(command: list[str], cwd: Path, repeat: int, timeout: float,
          memory: bool = True) -> tuple[float, int, int | None, bool, int, float]:
    """(median wall, peak RSS MiB, exit code of a failed run or of the last, timed out?, peak
    PSS MiB, median CPU seconds). The times come from runs with no memory sampler beside them
    (sampling /proc every 20 ms took enough CPU on 2 cores that ruff's 0.09 s on privacyidea
    showed as 0.12-0.17 s); the memory, with ``memory``, from one more run, sampled."""
    runs = []
    for _ in range(repeat):
        runs.append(measure(command, cwd, timeout=timeout, sample=False))
        if runs[-1][2] is None:  # killed at the time-out: the other runs would be too
            return runs[-1][0], 0, None, True, 0, runs[-1][4]
    codes = [run[2] for run in runs]
    bad = [code for code in codes if code not in (0, 1)]
    peak = pss = 0
    if memory:
        sampled = measure(command, cwd, timeout=timeout)
        peak, pss = sampled[1], sampled[3]
    return (statistics.median(run[0] for run in runs), peak, (bad or codes)[-1], False, pss,
            statistics.median(run[4] for run in runs))


def fmt_wall(wall: float, out: bool, timeout: float, digits: int = 2) -> str:
    return f"> {timeout:g}" if out else f"{wall:.{digits}f}"


def row(label: str, files: int | str, ours, theirs, timeout: float) -> str:
    wall, peak, code, out, pss, cpu = ours
    r_wall, _, _, r_out, _, r_cpu = theirs
    if out or r_out:
        ratio = f"> {wall / r_wall:.1f}x" if out and not r_out else "?"
    else:
        ratio = f"{wall / r_wall:.1f}x" if r_wall > 0 else "?"
    cpu_ratio = f"{cpu / r_cpu:.1f}x" if r_cpu > 0 and not (out or r_out) else "?"
    shown = "timeout" if out else f"{code}" if code in (0, 1) else f"{code} (error)"
    # ruff takes 0.01 to 0.13 s a tree: three decimals, so that each ratio can be checked.
    return (f"| {label} | {files} | {fmt_wall(wall, out, timeout)} | {peak} | {pss} | "
            f"{fmt_wall(r_wall, r_out, timeout, 3)} | {ratio} | {cpu:.2f} | {r_cpu:.2f} | "
            f"{cpu_ratio} | {shown} |")


def version(binary: str) -> str:
    try:
        done = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=60)
        return (done.stdout or done.stderr).strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return "?"


def find_ruff(fixsessions: str, given: str | None) -> str | None:
    if given:
        return given
    for folder in (Path(sys.executable).parent, Path(fixsessions).parent):
        if (folder / "ruff").is_file():
            return str(folder / "ruff")
    return shutil.which("ruff")


def tree_options(doc: str, only: str) -> argparse.ArgumentParser:
    """The options of the scripts that time fixsessions and ruff over the corpus."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--fixsessions", default=str(Path(sys.executable).parent / "fixsessions"))
    parser.add_argument("--ruff", help="ruff binary (default: next to python or fixsessions, or on PATH)")
    parser.add_argument("--dest", type=Path, default=default_dest(), help="where corpus.py built the apps")
    parser.add_argument("--repeat", type=int, default=3, help="runs per command and tree (median shown)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds before a run is killed")
    parser.add_argument("--only", metavar="NAME", help=only)
    parser.add_argument("--jobs", type=int, default=2)
    return parser


def main() -> int:
    args = tree_options(
        __doc__, "only apps whose owner/name contains NAME (and no generated case)"
    ).parse_args()
    ruff = find_ruff(args.fixsessions, args.ruff)
    if not Path(args.fixsessions).is_file() or ruff is None:
        print(f"need fixsessions ({args.fixsessions}) and ruff (pip install ruff)", file=sys.stderr)
        return 2

    byte_compile(args.fixsessions)
    # Cold runs: a version with a result cache must not answer repeats from it.
    helptext = subprocess.run([args.fixsessions, "--help"], capture_output=True, text=True).stdout
    cold = ["--no-cache"] if "--no-cache" in helptext else []
    ours = [args.fixsessions, "--dry-run", *cold, "--jobs", str(args.jobs), "."]
    theirs = [ruff, *RUFF_ARGS]
    apps = app_trees(args.dest, args.only)
    # The table is printed row by row, so that a run stopped half-way keeps its rows. Other work
    # on the machine skews every number: the load average says how much.
    print(f"\n{version(args.fixsessions)}; {version(ruff)}; {os.cpu_count()} cores; "
          f"--jobs {args.jobs}; median of {args.repeat} run(s); time-out {args.timeout:g} s; "
          f"load average {os.getloadavg()[0]:.1f} at the start; "
          "peak RSS and PSS are sums over fixsessions' whole process tree (RSS counts the "
          "pages forked workers share with the parent once per process, PSS divides them).\n")
    print("| tree | .py files | fixsessions wall (s) | peak RSS (MiB) | peak PSS (MiB) | "
          "ruff wall (s) | fixsessions/ruff | fixsessions CPU (s) | ruff CPU (s) | CPU ratio | "
          "exit code |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|", flush=True)

    def bench(label, files, tree, ours_cmd=ours, theirs_cmd=theirs):
        print(f"{label}: fixsessions ...", file=sys.stderr, flush=True)
        a = timed(ours_cmd, tree, args.repeat, args.timeout)
        print(f"{label}: ruff ...", file=sys.stderr, flush=True)
        b = timed(theirs_cmd, tree, max(args.repeat, RUFF_REPEAT), args.timeout, memory=False)
        print(row(label, files, a, b, args.timeout), flush=True)

    for app, tree in apps:
        bench(app["repo"], count_py(tree), tree)

    if not args.only:
        with tempfile.TemporaryDirectory(prefix="fixsessions-apps-bench-") as scratch:
            scratch = Path(scratch)
            views = make_views_app(scratch / "views-app")
            bench(f"(a) generated views module, {lines_of(views / 'views.py')} lines, one FS001",
                  count_py(views), views)
            big = make_big_module(scratch / "big-module")
            bench(f"(b) generated module, {lines_of(big)} lines", 1, big)
            tiny = make_tiny(scratch / "tiny")
            bench(f"(c) {lines_of(tiny)}-line app, no pyproject or .git", 1, tiny)
            bench("(d) --version", "-", tiny, [args.fixsessions, "--version"], [ruff, "--version"])
            mid = [(app, tree) for app, tree in app_trees(args.dest) if 250 <= count_py(tree) <= 400]
            if mid:
                app, tree = max(mid, key=lambda pair: count_py(pair[1]))
                copy = scratch / "warm"
                shutil.copytree(tree, copy, symlinks=True)
                check = [args.fixsessions, "--check", "--jobs", str(args.jobs), "."]
                print(f"(e) warming up: {' '.join(check)} in a copy of {app['repo']}", file=sys.stderr)
                measure(check, copy, timeout=args.timeout)
                bench(f"(e) second --check of {app['repo']} (unchanged)", count_py(copy), copy, check)
            else:
                print("(e) skipped: no app of 250 to 400 .py files in the corpus", file=sys.stderr)

    print(f"\nLoad average {os.getloadavg()[0]:.1f} at the end.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
