"""FS013 worker-without-remove: a scoped_session registry used by Celery tasks (or APScheduler
jobs) with nothing calling `remove()` after a task. No-op cases first, then the fix, then what
is only reported."""

from textwrap import dedent

from fixsessions.codemods.engine import Settings, run
from helpers import check_noop, check_transformed, findings, make_project

FS013 = Settings(select=frozenset({"FS013"}))

DATABASE = """\
from sqlalchemy import create_engine
from sqlalchemy.orm import scoped_session, sessionmaker

engine = create_engine("sqlite://")
db_session = scoped_session(sessionmaker(bind=engine))
"""

WORKER = """\
from celery import Celery

celery = Celery(__name__, broker="redis://localhost")
"""

TASKS = """\
from pkg.database import db_session
from pkg.worker import celery


@celery.task
def deactivate(user_id):
    db_session.execute("UPDATE users SET active = 0 WHERE id = :id", {"id": user_id})
    db_session.commit()
"""


def project(worker: str = WORKER, tasks: str = TASKS, **extra) -> dict:
    return {
        "pkg/__init__.py": "",
        "pkg/database.py": DATABASE,
        "pkg/worker.py": worker,
        "pkg/tasks.py": tasks,
        **{f"pkg/{k}.py": dedent(v) for k, v in extra.items()},
    }


# -- no-op ------------------------------------------------------------------------------------------


def test_noop_task_postrun_handler_removes_the_registry(tmp_path):
    worker = WORKER + dedent("""\


        @task_postrun.connect
        def cleanup(*args, **kwargs):
            db_session.remove()
        """)
    worker = worker.replace(
        "from celery import Celery\n",
        "from celery import Celery\nfrom celery.signals import task_postrun\n\nfrom pkg.database import db_session\n",
    )
    check_noop(tmp_path, project(worker=worker), FS013)


def test_noop_handler_connected_by_a_call_in_another_module(tmp_path):
    check_noop(tmp_path, project(signals="""\
        from celery.signals import task_prerun

        from pkg.database import db_session


        def fresh_session(**kwargs):
            db_session.remove()


        task_prerun.connect(fresh_session)
        """), FS013)


def test_noop_tasks_run_in_a_flask_app_context(tmp_path):
    # Flask's documented integration: each task runs inside `app.app_context()`, whose
    # teardown (FS001's business) removes the registry.
    worker = WORKER + dedent("""\


        class ContextTask(celery.Task):
            def __call__(self, *args, **kwargs):
                with flask_app.app_context():
                    return self.run(*args, **kwargs)
        """)
    check_noop(tmp_path, project(worker=worker), FS013)


def test_noop_tasks_that_use_no_registry(tmp_path):
    tasks = "from pkg.worker import celery\n\n\n@celery.task\ndef ping():\n    return 'pong'\n"
    check_noop(tmp_path, project(tasks=tasks), FS013)


def test_noop_a_task_base_class_that_closes_the_session_after_each_task(tmp_path):
    # pycroft's DBTask: `after_return` closes the session whatever the task did.
    worker = WORKER + dedent("""\


        class DBTask(celery.Task):
            def after_return(self, status, retval, task_id, args, kwargs, einfo=None):
                db_session.close()
        """).replace("", "")
    worker = worker.replace("from celery import Celery\n", "from celery import Celery\n\nfrom pkg.database import db_session\n")
    check_noop(tmp_path, project(worker=worker), FS013)


# -- the fix ----------------------------------------------------------------------------------------


FIXED_WORKER = """\
from celery import Celery
from celery.signals import task_postrun

from pkg.database import db_session

celery = Celery(__name__, broker="redis://localhost")


@task_postrun.connect
def remove_session(*args, **kwargs):
    db_session.remove()
"""


def test_celery_app_gets_a_task_postrun_handler(tmp_path):
    result = check_transformed(tmp_path, project(), {"pkg/worker.py": FIXED_WORKER}, FS013)
    [finding] = [f for file in result.files for f in file.applied]
    assert finding.message.startswith(
        "Celery tasks (`deactivate`) use scoped_session `db_session` (")
    assert finding.message.endswith(
        "but nothing calls `remove()` after a task: a worker process keeps one session and its "
        "transaction from task to task")


def test_shared_tasks_count_too(tmp_path):
    tasks = TASKS.replace("from pkg.worker import celery\n", "from celery import shared_task\n").replace(
        "@celery.task", "@shared_task")
    result = check_transformed(tmp_path, project(tasks=tasks), {"pkg/worker.py": FIXED_WORKER}, FS013)
    assert [f.path.name for file in result.files for f in file.applied] == ["worker.py"]


# -- reported only ----------------------------------------------------------------------------------


def test_shared_tasks_without_a_celery_app_are_reported(tmp_path):
    tasks = TASKS.replace("from pkg.worker import celery\n", "from celery import shared_task\n").replace(
        "@celery.task", "@shared_task")
    files = project(tasks=tasks)
    del files["pkg/worker.py"]
    result = check_noop(tmp_path, files, FS013)
    [finding] = findings(result)
    assert (finding.path.name, finding.fix) == ("tasks.py", None)
    assert finding.message.endswith(
        "(not fixed: no Celery app in the project to connect a `task_postrun` handler to)")


def test_apscheduler_jobs_are_reported(tmp_path):
    jobs = """\
        from apscheduler.schedulers.background import BackgroundScheduler

        from pkg.database import db_session

        scheduler = BackgroundScheduler()


        @scheduler.scheduled_job("interval", minutes=5)
        def expire_tokens():
            db_session.execute("DELETE FROM tokens WHERE expired")
            db_session.commit()
        """
    files = project(jobs=jobs)
    del files["pkg/tasks.py"], files["pkg/worker.py"]
    result = check_noop(tmp_path, files, FS013)
    [finding] = findings(result)
    assert finding.path.name == "jobs.py" and finding.fix is None
    assert finding.message.startswith("APScheduler jobs (`expire_tokens`) use scoped_session `db_session`")


def test_apscheduler_jobs_added_by_add_job_are_reported(tmp_path):
    jobs = """\
        from apscheduler.schedulers.background import BackgroundScheduler

        from pkg.database import db_session


        def expire_tokens():
            db_session.execute("DELETE FROM tokens WHERE expired")
            db_session.commit()


        def start():
            scheduler = BackgroundScheduler()
            scheduler.add_job(expire_tokens, "interval", minutes=5)
            scheduler.start()
        """
    files = project(jobs=jobs)
    del files["pkg/tasks.py"], files["pkg/worker.py"]
    result = check_noop(tmp_path, files, FS013)
    [finding] = findings(result)
    assert (finding.path.name, finding.location.line, finding.fix) == ("jobs.py", 6, None)
    assert finding.message.startswith("APScheduler jobs (`expire_tokens`) use scoped_session `db_session`")
    keyword = files["pkg/jobs.py"].replace("add_job(expire_tokens,", "add_job(func=expire_tokens, trigger=")
    result = check_noop(tmp_path / "keyword", {**files, "pkg/jobs.py": keyword}, FS013)
    assert [f.location.line for f in findings(result)] == [6]


# -- a Celery app made by a function ----------------------------------------------------------------

MADE_WORKER = """\
from celery import Celery


def make_celery():
    return Celery(__name__, broker="redis://localhost")


celery = make_celery()
"""


def test_a_celery_app_made_by_a_function_gets_the_handler(tmp_path):
    check_transformed(tmp_path, project(worker=MADE_WORKER), {"pkg/worker.py": """\
        from celery import Celery
        from celery.signals import task_postrun

        from pkg.database import db_session


        def make_celery():
            return Celery(__name__, broker="redis://localhost")


        celery = make_celery()


        @task_postrun.connect
        def remove_session(*args, **kwargs):
            db_session.remove()
        """}, FS013)


def test_noop_flasks_make_celery_pattern_runs_tasks_in_an_app_context(tmp_path):
    # Flask's documented `make_celery(app)`: a Task subclass pushing the app context.
    worker = """\
        from celery import Celery, Task
        from flask import Flask

        flask_app = Flask(__name__)


        def make_celery(app):
            class FlaskTask(Task):
                def __call__(self, *args, **kwargs):
                    with app.app_context():
                        return self.run(*args, **kwargs)

            celery = Celery(app.import_name, task_cls=FlaskTask)
            return celery


        celery = make_celery(flask_app)
        """
    check_noop(tmp_path, project(worker=dedent(worker)), FS013)


# -- a configuration-only Flask app made for workers ------------------------------------------------

CONFIG_ONLY_WORKER = """\
from celery import Celery
from flask import Flask

from pkg.database import db_session

flask_app = Flask(__name__)
flask_app.config.from_object("pkg.settings")
celery = Celery(__name__, broker=flask_app.config["BROKER_URL"])
"""


def test_a_config_only_app_for_workers_gets_no_teardown_but_a_report(tmp_path):
    # FS001 would add a teardown that never runs; the tasks get the task_postrun handler.
    result = check_transformed(tmp_path, project(worker=CONFIG_ONLY_WORKER), {"pkg/worker.py": """\
        from celery import Celery
        from celery.signals import task_postrun
        from flask import Flask

        from pkg.database import db_session

        flask_app = Flask(__name__)
        flask_app.config.from_object("pkg.settings")
        celery = Celery(__name__, broker=flask_app.config["BROKER_URL"])


        @task_postrun.connect
        def remove_session(*args, **kwargs):
            db_session.remove()
        """}, Settings(select=frozenset({"FS001", "FS013"})))
    initial = [f for file in result.files for f in file.initial]
    assert [(f.code, f.location.line, f.fix is None) for f in initial] == [("FS013", 6, True), ("FS013", 8, False)]
    assert initial[0].message.startswith(
        "Flask app `flask_app` serves no request: it is made for the workers of Celery app `celery`")


def test_an_app_beside_the_celery_app_that_serves_views_gets_its_teardown(tmp_path):
    worker = CONFIG_ONLY_WORKER + dedent("""\


        @flask_app.route("/")
        def index():
            return str(db_session.execute("SELECT 1").scalar())
        """)
    root = make_project(tmp_path, project(worker=worker))
    result = run([root], Settings(select=frozenset({"FS001", "FS013"})))
    applied = [(f.code, f.location.line) for file in result.files for f in file.applied]
    assert ("FS001", 6) in applied and ("FS013", 6) not in applied
    assert not [f for file in result.files for f in file.initial if f.code == "FS013" and f.location.line == 6]


def test_the_handler_goes_beside_the_celery_app_the_tasks_use(tmp_path):
    # alpha-i/service-prediction-api made a Celery app in its package it never used, and the
    # tasks' app in celery_worker.py: the handler belongs with the tasks' app.
    unused = "from celery import Celery\n\ncelery = Celery(__name__)\n"
    tasks = TASKS.replace("from pkg.worker import celery", "from pkg.z_worker import celery")
    result = check_transformed(
        tmp_path,
        {**project(worker=unused, tasks=tasks), "pkg/z_worker.py": WORKER},
        {"pkg/z_worker.py": FIXED_WORKER},
        FS013,
    )
    assert [f.path.name for file in result.files for f in file.applied] == ["z_worker.py"]
