"""FS013 finds `scoped_session` registries used by Celery tasks or APScheduler jobs with nothing
calling `remove()` after a task: a worker process (or a scheduler's pool thread) keeps one
session, its identity map and its transaction from one task to the next. Where the project
defines its Celery app, the fix connects a `task_postrun` handler that removes the registry.
"""

from __future__ import annotations

from typing import Iterator

from ..analysis.facts import is_test_module
from .base import FileContext, Finding, Fix, ImportItem, Rule
from .edits import insert_after
from .imports import import_code
from .teardown import registry_references, unused_name, where_defined

HANDLER = "remove_session"  # `_2`, `_3`... when the module already uses the name
WHO = {"celery": "Celery tasks", "apscheduler": "APScheduler jobs"}


class WorkerWithoutRemove(Rule):
    code = "FS013"
    name = "worker-without-remove"
    what = (
        "A `scoped_session` registry used by Celery tasks or APScheduler jobs, with no "
        "`task_prerun`/`task_postrun` handler (or Flask app context around each task) reaching "
        "`REGISTRY.remove()`."
    )
    why = (
        "Outside a request nothing ends the thread's session. A prefork Celery worker runs task "
        "after task in the same process and thread, and an APScheduler pool reuses its threads: "
        "each keeps the session of its first job, with its identity map and its open transaction, "
        "so later jobs read a snapshot from the past and stale objects, with no error."
    )
    example = (
        "celery = Celery(__name__, broker=BROKER_URL)\n\n\n"
        "@celery.task\n"
        "def deactivate(user_id):\n"
        "    db_session.get(User, user_id).active = False\n"
        "    db_session.commit()\n"
    )
    use_instead = (
        "celery = Celery(__name__, broker=BROKER_URL)\n\n\n"
        "@task_postrun.connect\n"
        "def remove_session(*args, **kwargs):\n"
        "    db_session.remove()\n"
    )
    fix_safety = (
        "Safe: a handler connected to `task_postrun` runs after every task of the worker process, "
        "whatever its outcome, and `remove()` only closes the thread's session (rolling back what "
        "a task left uncommitted, which the next task would otherwise have committed or read "
        "through). Made where the project creates its Celery app; with `shared_task` and no "
        "Celery app in the project, and for APScheduler jobs, it is reported. A configuration-"
        "only Flask app made beside the Celery app is reported too: a teardown on it never runs."
    )

    @classmethod
    def may_apply(cls, facts, index) -> bool:
        if not index.registries:
            return False
        homes = {f.name for f in index.celery_apps.values()}  # where findings and fixes go
        if not (facts.name in homes or (facts.apps and index.celery_factories) or any(
            index.function_module(job) == facts.name
            for jobs in index.worker_jobs.values() for job in jobs
        )):
            return False
        # `check`'s two parts, run on the facts (timesketch's app and tasks modules: their
        # tasks run in an app context, and the app serves requests).
        return any(
            next(found, None) is not None
            for found in (cls._worker_apps_in(facts, index), cls._jobs_in(facts, index))
        )

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        yield from self._worker_apps(ctx)
        yield from self._jobs(ctx)

    def _worker_apps(self, ctx: FileContext) -> Iterator[Finding]:
        """A configuration-only Flask app made beside the Celery app: FS001 adds no teardown
        to it (it would never run), so this says where the sessions are left."""
        index = ctx.index
        for app, celery, used in self._worker_apps_in(ctx.facts, index):
            names = ", ".join(f"`{index.registries[q][0].name}`" for q in used)
            yield self.finding(ctx, app.location, (
                f"Flask app `{app.var}` serves no request: it is made for the workers of Celery "
                f"app `{celery.rpartition('.')[2]}`, and no task pushes its app context, so a "
                f"teardown on it would never run; scoped_session {names} must be removed after "
                f"each task instead (a `task_postrun` handler)"
            ))

    @staticmethod
    def _worker_apps_in(facts, index) -> Iterator[tuple]:
        used = index.registries_used_by(facts.name)
        if not used:
            return
        for app in index.apps_of(facts):
            celery = index.made_for_workers(app, facts)
            if celery is not None:
                yield app, celery, used

    def _jobs(self, ctx: FileContext) -> Iterator[Finding]:
        index, facts = ctx.index, ctx.facts
        for kind, jobs, missing, location in self._jobs_in(facts, index):
            names = ", ".join(f"`{j.rpartition('.')[2]}`" for j in jobs[:3]) + (", ..." if len(jobs) > 3 else "")
            registries = ", ".join(
                f"`{index.registries[q][0].name}` ({where_defined(index, q)})" for q in missing
            )
            message = (
                f"{WHO[kind]} ({names}) use scoped_session {registries} but nothing calls "
                f"`remove()` after a task: a worker process keeps one session and its transaction "
                f"from task to task"
            )
            fix, reason = (None, None)
            if kind == "celery" and facts.name not in index.production_names:
                reason = "the tasks' Celery app is made in test code"  # its handler would not count
            elif kind == "celery" and any(m == facts for m in index.celery_apps.values()):
                fix, reason = self._fix(ctx, missing, jobs)
            elif kind == "celery":
                reason = "no Celery app in the project to connect a `task_postrun` handler to"
            else:
                reason = "remove the registry at the end of each job (`try: ... finally: db_session.remove()`)"
            if reason:
                message += f" (not fixed: {reason})"
            yield self.finding(ctx, location, message, fix)

    @classmethod
    def _jobs_in(cls, facts, index) -> Iterator[tuple]:
        """(kind, jobs, registries they leave without `remove()`, where) for each kind of
        job whose finding goes in this module."""
        cleanup = None
        for kind, jobs in sorted(index.worker_jobs.items()):
            jobs = [j for j in jobs if not is_test_module(index.function_path(j))]
            if not jobs:
                continue
            if cleanup is None:
                cleanup = index.task_cleanup
                if cleanup.unknown_remove:
                    return  # a handler removes something we cannot name: trust it
            used = cls._registries(index, jobs)
            missing = [q for q in used if q not in cleanup.removes]
            if not missing or cls._in_app_context(index, jobs):
                continue
            home = cls._home(index, kind, jobs)
            if home is not None and home[0] == facts.name:
                yield kind, jobs, missing, home[1]

    @staticmethod
    def _registries(index, jobs: list[str]) -> list[str]:
        modules = {index.function_module(j) for j in jobs}
        return sorted({
            q for m in modules for q in index.registries_used_by(m)
            if len(index.registries[q]) == 1 and not index.registries[q][0].rebound
        })

    @staticmethod
    def _in_app_context(index, jobs: list[str]) -> bool:
        """Tasks run inside a Flask app context (a Task class pushing `app.app_context()`):
        the app's teardown is what removes the registry (FS001's business)."""
        modules = {index.function_module(j) for j in jobs} | {f.name for f in index.celery_apps.values()}
        modules |= {f.name for f in index.celery_factories.values()}
        # A context a test pushes (a fixture beside the tests' own Celery app) is no task's.
        return any(index.modules[m].reports.app_contexts for m in modules & index.production_names)

    @staticmethod
    def _home(index, kind: str, jobs: list[str]):
        """(module, location) where the finding goes: the Celery app, else the first job."""
        if kind == "celery" and index.celery_apps:
            qname = _tasks_app(index, jobs)
            return index.celery_apps[qname].name, index.celery_app_location(qname)
        first = jobs[0]
        module = index.function_module(first)
        return module, index.function_location(first)

    def _fix(self, ctx: FileContext, missing: list[str], jobs: list[str]):
        app = _tasks_app(ctx.index, jobs)
        statement = ctx.collected.worker_statements.get(app)
        if statement is None:
            return None, "the Celery app is not assigned at module level"
        reached = registry_references(ctx, missing)
        if isinstance(reached, str):
            return None, reached
        references, imports, local_imports = reached
        imports = [ImportItem("celery.signals", "task_postrun"), *imports]
        handler = unused_name(ctx.tree, HANDLER)
        lines = ["@task_postrun.connect", f"def {handler}(*args, **kwargs):"]
        lines += [f"    {import_code(i)}" for i in local_imports]
        lines += [f"    {ref}.remove()" for ref in references]
        edits = insert_after(ctx, statement, "\n".join(lines) + "\n", blank_lines=2)
        if edits is None:
            return None, "the Celery app is created in a one-line block"
        return Fix("safe", edits, imports), None


def _tasks_app(index, jobs: list[str]) -> str:
    """The Celery app the tasks are registered on (`@celery.task`), the first such; else (only
    `shared_task`s) the project's first Celery app, of production code if it has one. A project
    may make a Celery app it never uses: the handler goes where the tasks run."""
    used = sorted(
        app for job in jobs for app in index.celery_apps
        if f"{app}.task" in index.resolve_all(index.functions[job].decorators)
    )
    production = [app for app, facts in index.celery_apps.items() if facts.name in index.production_names]
    return used[0] if used else min(production or index.celery_apps)  # not the tests' own app
