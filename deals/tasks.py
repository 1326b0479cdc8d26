"""Celery tasks of the deals app: thin adapters around deals/services/flush.py."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import DatabaseError

# A flush moves its deals batch by batch and can run again at any point: a retry after a
# database error carries on with the deals still pending.
FLUSH_RETRIES = 5
FLUSH_JOB = {
    "bind": True,
    "autoretry_for": (DatabaseError,),
    "retry_backoff": True,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": FLUSH_RETRIES,
}


@contextmanager
def _recorded_when_given_up(task: Task, record: Callable[[int, str], None], flush_id: int):
    """`record` that the job gave up, after the last retry's database error or at once
    after any other error (a fault that running again would only repeat): left running,
    the five-minute catch-up would queue it again forever. A job stopped by its time limit
    is left to the catch-up, which carries on with the deals still to do."""
    try:
        yield
    except DatabaseError as exc:
        if task.request.retries >= FLUSH_RETRIES:
            record(flush_id, str(exc))
        raise
    except SoftTimeLimitExceeded:
        raise
    except Exception as exc:
        record(flush_id, f"{type(exc).__name__}: {exc}")
        raise


@shared_task(**FLUSH_JOB)
def run_flush_task(self, flush_id: int) -> int:
    """Move a confirmed flush's deals to lost; returns how many it moved in all."""
    from deals.services.flush import fail_flush, run_flush

    with _recorded_when_given_up(self, fail_flush, flush_id):
        return run_flush(flush_id).moved


@shared_task(**FLUSH_JOB)
def undo_flush_task(self, flush_id: int) -> int:
    """Move a flush's deals back where nobody moved them since; returns how many."""
    from deals.services.flush import fail_undo, run_undo

    with _recorded_when_given_up(self, fail_undo, flush_id):
        return run_undo(flush_id).restored


@shared_task(**FLUSH_JOB)
def notify_flush_owners_task(self, flush_id: int) -> int:
    """Email the owners of the deals a finished flush moved; returns how many, 0 when done
    already."""
    from deals.services.flush import fail_notify_owners, notify_flush_owners

    with _recorded_when_given_up(self, fail_notify_owners, flush_id):
        return notify_flush_owners(flush_id)


@shared_task
def resume_flushes_task() -> int:
    """Every five minutes (beat): carry on with the flushes and undos that stalled."""
    from deals.services.flush import resume_stalled_flushes

    return resume_stalled_flushes()


@shared_task
def scheduled_flushes_task() -> int:
    """Monthly (beat): the automatic flush of the pipelines that have one."""
    from deals.services.flush import start_scheduled_flushes

    return len(start_scheduled_flushes())
