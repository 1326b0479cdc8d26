"""Queueing Celery work from web requests without ever failing the request.

Work is queued after the transaction commits, so a worker never looks for rows that are not
there yet. When the broker is unreachable the request goes on: the work is already recorded
in the database (a Notification row, a task's unsent reminder) and the next periodic run
sends it. The user is told that the email will go out later.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from celery import Task as CeleryTask
from celery.exceptions import Retry
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django_htmx.http import trigger_client_event
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from pipeline_crm.errors import wants_fragment

logger = logging.getLogger(__name__)

JOB_DEFERRED = "The email will go out later: the job queue cannot be reached right now."
# The event (HX-Trigger) that carries those words to a page changed in place.
JOB_DEFERRED_EVENT = "job-deferred"
# What the user reads when a job other than an email could not be queued; the catch-up beat
# run starts it within five minutes.
DEFERRED_MESSAGES = {
    "deals.tasks.run_flush_task": (
        "The flush will start within five minutes: the job queue cannot be reached right now."
    ),
    "deals.tasks.undo_flush_task": (
        "The undo will start within five minutes: the job queue cannot be reached right now."
    ),
}

# What an unreachable broker raises on publish: kombu wraps most connection errors in
# OperationalError; a refused socket may surface as ConnectionError/OSError directly.
BROKER_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    ConnectionError,
    OSError,
    RedisError,
)

# Names of the jobs that could not be queued during the current request (see the middleware).
_deferred: ContextVar[list[str] | None] = ContextVar("deferred_jobs", default=None)


def enqueue(task: CeleryTask, *args: Any) -> bool:
    """Queue `task(*args)` once the current transaction commits.

    Returns False when the broker could not be reached and the job was not queued. Inside a
    transaction the outcome is known only at commit: the call returns True then, and a
    failure at commit is reported to the request by `DeferredJobsMiddleware`. Never raises
    for a broker problem.
    """
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(lambda: _publish(task, args))
        return True
    return _publish(task, args)


def _publish(task: CeleryTask, args: tuple[Any, ...]) -> bool:
    try:
        task.apply_async(args=args)
    except Retry as exc:
        # Eager mode only (no broker, as in development): the job failed and asked for a
        # retry that eager mode cannot schedule. Its record waits for the catch-up run.
        logger.warning("%s%r failed and will be retried later: %s", task.name, args, exc)
        return False
    except BROKER_ERRORS as exc:
        logger.warning(
            "Could not queue %s%r (%s); the next periodic run will catch up.", task.name, args, exc
        )
        deferred = _deferred.get()
        if deferred is not None:
            deferred.append(task.name)
        return False
    return True


class DeferredJobsMiddleware:
    """Tells the user when work their request queued will run later (broker unreachable).

    A change made in place (htmx, the board's script) hears it at once: the answer carries
    a JOB_DEFERRED_EVENT (HX-Trigger) that the page shows in its toast (static/js/app.js).
    Other requests store a message (this sits after MessageMiddleware), which shows on the
    next page (the usual POST → redirect) or on this one if it renders messages later.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _deferred.set([])
        try:
            response = self.get_response(request)
            texts = dict.fromkeys(
                DEFERRED_MESSAGES.get(name, JOB_DEFERRED) for name in _deferred.get()
            )
            if texts and _shown_in_place(request, response):
                trigger_client_event(response, JOB_DEFERRED_EVENT, {"text": " ".join(texts)})
            else:
                for text in texts:
                    messages.warning(request, text, fail_silently=True)
        finally:
            _deferred.reset(token)
        return response


def _shown_in_place(request: HttpRequest, response: HttpResponse) -> bool:
    """Whether the answer replaces a piece of a page that stays open (not a redirect, not
    a page the browser goes to next)."""
    return (
        wants_fragment(request)
        and response.status_code < 300
        and not any(name in response for name in ("HX-Redirect", "HX-Location", "HX-Refresh"))
    )
