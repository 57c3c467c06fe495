"""FS013 worker-without-remove: a scoped_session registry used by Celery tasks (or APScheduler
jobs) with nothing calling `remove()` after a task. No-op cases first, then the fix, then what
is only reported."""

from textwrap import dedent

from fixsessions.codemods.engine import Settings
from helpers import check_noop, check_transformed, findings

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
