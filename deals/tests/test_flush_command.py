"""`manage.py flush_stale_deals`: the preview figures, the dry run, the run with its progress,
and the refusals. The command uses the real date: the stale deals here date from 2023."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from deals.models import Deal, DealStatus, Flush, FlushStatus, StageChange
from deals.services.flush import (
    DATE_IN_FUTURE,
    DAYS_NOT_POSITIVE,
    FLUSH_FORBIDDEN,
    NO_CRITERION,
    NOTHING_TO_FLUSH,
)
from deals.tests.factories import DealFactory
from reports.tests.factories import deal_with_history
from stages.models import Pipeline, StageKind
from stages.tests.factories import PipelineFactory

pytestmark = pytest.mark.django_db

PREVIEW = """\
Pipeline “Sales”, no activity for more than 90 days:
  Deals: 5
  Total value: $9,300.00
  Weighted value: $3,130.00
  Lost stage: “Lost”, lost reason “Stale (flushed)”
"""


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def small_batches(settings):
    settings.FLUSH_BATCH_SIZE = 2


@pytest.fixture
def stale(pipeline, rep):
    """Five of alice's deals, quiet since 2023: 9,300 in all, weighted 3,130."""
    return [
        deal_with_history(pipeline, rep, [("Lead", "2023-06-01")], value=1000),
        deal_with_history(
            pipeline, rep, [("Lead", "2023-05-01"), ("Contacted", "2023-06-01")], value=2500
        ),
        deal_with_history(
            pipeline, rep, [("Lead", "2023-05-01"), ("Qualified", "2023-06-01")], value=4000
        ),
        deal_with_history(
            pipeline, rep, [("Lead", "2023-05-01"), ("Proposal made", "2023-06-01")], value=1500
        ),
        deal_with_history(pipeline, rep, [("Lead", "2022-11-05")], value=300),
    ]


@pytest.fixture
def fresh(pipeline, rep):
    """Alice's deals the flush leaves alone: active today, won, lost."""
    return [
        DealFactory(pipeline=pipeline, owner=rep, value=99),
        deal_with_history(pipeline, rep, [("Lead", "2023-01-01"), ("Won", "2023-02-01")]),
        deal_with_history(
            pipeline, rep, [("Lead", "2023-01-01"), ("Lost", "2023-02-01")], lost_reason="Price"
        ),
    ]


def flush_stale_deals(*args: str, stdout: io.StringIO | None = None) -> str:
    out = stdout or io.StringIO()
    call_command("flush_stale_deals", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_a_dry_run_prints_the_figures_and_moves_nothing(stale, fresh):
    out = flush_stale_deals("--pipeline", "Sales", "--inactive-days", "90", "--dry-run")

    assert out == PREVIEW + "Dry run: nothing was moved.\n"
    assert not Flush.objects.exists()
    assert not Deal.objects.filter(pk__in=[d.pk for d in stale], status=DealStatus.LOST).exists()


def test_the_flush_runs_in_the_foreground_with_a_line_per_batch(stale, fresh):
    out = flush_stale_deals("--pipeline", "sales", "--inactive-days", "90")

    flush = Flush.objects.get()
    assert out == PREVIEW + (
        "2/5 deals processed\n"
        "4/5 deals processed\n"
        "5/5 deals processed\n"
        "Flushed: 5 deals moved to “Lost”, 0 skipped (changed since the confirmation).\n"
        f"Job page (undo there for 30 days): /deals/flush/{flush.pk}/\n"
    )
    assert (flush.status, flush.moved, flush.total_value, flush.weighted_value) == (
        FlushStatus.DONE,
        5,
        9300,
        3130,
    )
    assert (flush.requested_by, flush.is_scheduled, flush.inactive_days) == (None, False, 90)
    changes = StageChange.objects.filter(flush=flush)
    assert sorted(changes.values_list("deal", flat=True)) == sorted(d.pk for d in stale)
    assert set(changes.values_list("by", flat=True)) == {None}
    assert (
        Deal.objects.filter(status=DealStatus.LOST, lost_reason__name="Stale (flushed)").count()
        == 5
    )
    assert Deal.objects.filter(pk=fresh[0].pk, status=DealStatus.OPEN).exists()


def test_on_a_terminal_a_progress_bar_redraws_itself(stale):
    out = flush_stale_deals("--pipeline", "Sales", "--inactive-days", "90", stdout=Terminal())

    assert (
        "\r[############------------------] 2/5"
        "\r[########################------] 4/5"
        "\r[##############################] 5/5\n"
        "Flushed: 5 deals moved"
    ) in out


def test_the_history_is_attributed_to_the_user_and_limited_to_their_teams_deals(
    pipeline, stale, outsider, manager
):
    carols = deal_with_history(pipeline, outsider, [("Lead", "2023-01-01")], value=10)

    out = flush_stale_deals("--pipeline", "Sales", "--inactive-days", "90", "--user", "dave")

    assert "  Deals: 1\n" in out  # carol's, of dave's team; not alice's five
    flush = Flush.objects.get()
    assert flush.requested_by == manager
    assert list(StageChange.objects.filter(flush=flush).values_list("deal", "by")) == [
        (carols.pk, manager.pk)
    ]
    assert (
        Deal.objects.filter(pk__in=[deal.pk for deal in stale], status=DealStatus.OPEN).count() == 5
    )


def test_created_before_and_owner_narrow_the_selection(pipeline, stale, other_rep):
    bobs = deal_with_history(pipeline, other_rep, [("Lead", "2022-01-01")], value=10)

    out = flush_stale_deals(
        "--pipeline", "Sales", "--created-before", "2023-01-01", "--owner", "alice", "--dry-run"
    )

    assert out.startswith(
        "Pipeline “Sales”, created before 2023-01-01, owned by alice:\n"
        "  Deals: 1\n"
        "  Total value: $300.00\n"
        "  Weighted value: $30.00\n"
    )
    out = flush_stale_deals(
        "--pipeline", "Sales", "--inactive-days", "90", "--created-before", "2023-01-01"
    )
    assert "Flushed: 2 deals moved" in out
    assert set(Deal.objects.filter(status=DealStatus.LOST).values_list("pk", flat=True)) == {
        stale[4].pk,
        bobs.pk,
    }


def test_nothing_to_flush_is_said_and_starts_nothing(fresh):
    out = flush_stale_deals("--pipeline", "Sales", "--inactive-days", "90")

    assert out.endswith(
        "  Deals: 0\n  Total value: $0.00\n  Weighted value: $0.00\n"
        "  Lost stage: “Lost”, lost reason “Stale (flushed)”\n"
        f"{NOTHING_TO_FLUSH}\n"
    )
    assert not Flush.objects.exists()


def test_the_job_queued_on_commit_finds_the_work_done(stale, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        flush_stale_deals("--pipeline", "Sales", "--inactive-days", "90")

    # The Celery job, run after the command here; from it, the owners' job; from that, the
    # owner's email.
    assert len(callbacks) == 3
    flush = Flush.objects.get()
    assert (flush.status, flush.moved) == (FlushStatus.DONE, 5)
    assert StageChange.objects.filter(flush=flush).count() == 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--pipeline", "Nope", "--inactive-days", "90"],
            "No pipeline is called “Nope”. Pipelines: Other, Sales.",
        ),
        (["--pipeline", "Sales", "--inactive-days", "0"], DAYS_NOT_POSITIVE),
        (["--pipeline", "Sales", "--inactive-days", "-3"], DAYS_NOT_POSITIVE),
        (["--pipeline", "Sales"], NO_CRITERION),
        (["--pipeline", "Sales", "--created-before", "2999-01-01"], DATE_IN_FUTURE),
        (
            ["--pipeline", "Sales", "--created-before", "31/01/2024"],
            "“31/01/2024” is not a date: write it as YYYY-MM-DD, for example 2024-01-31.",
        ),
        (
            ["--pipeline", "Sales", "--inactive-days", "90", "--user", "zed"],
            "No user has the username “zed”.",
        ),
        (
            ["--pipeline", "Sales", "--inactive-days", "90", "--owner", "zed"],
            "No user has the username “zed”.",
        ),
        # alice is a rep: the page refuses her, and so does the command.
        (["--pipeline", "Sales", "--inactive-days", "90", "--user", "alice"], FLUSH_FORBIDDEN),
    ],
)
def test_bad_arguments_are_refused_with_a_message(
    stale, django_capture_on_commit_callbacks, args, message
):
    PipelineFactory(name="Other")

    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(CommandError) as refused:
        flush_stale_deals(*args)

    assert str(refused.value) == message
    assert callbacks == []
    assert not Flush.objects.exists()


def test_a_pipeline_without_a_lost_stage_is_refused(rep):
    pipeline = PipelineFactory(name="Hopeful")
    pipeline.stages.filter(kind=StageKind.LOST).update(kind=StageKind.OPEN, probability=5)
    Pipeline.objects.filter(pk=pipeline.pk).update(default_lost_stage=None)
    deal_with_history(pipeline, rep, [("Lead", "2023-05-01")])

    with pytest.raises(CommandError, match="The pipeline “Hopeful” has no lost stage"):
        flush_stale_deals("--pipeline", "Hopeful", "--inactive-days", "90")

    assert not Flush.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_without_a_broker_the_job_runs_inline_and_the_output_is_the_same(pipeline, rep, settings):
    """Eager Celery, as in development: the job runs when `start_flush` commits, before the
    command's own loop, which then finds it done."""
    for day in ("2023-01-01", "2023-02-01", "2023-03-01"):
        deal_with_history(pipeline, rep, [("Lead", day)], value=100)

    out = flush_stale_deals("--pipeline", "Sales", "--inactive-days", "90")

    flush = Flush.objects.get()
    assert out.endswith(
        "3/3 deals processed\n"
        "Flushed: 3 deals moved to “Lost”, 0 skipped (changed since the confirmation).\n"
        f"Job page (undo there for 30 days): /deals/flush/{flush.pk}/\n"
    )
    assert [line for line in out.splitlines() if "processed" in line] == ["3/3 deals processed"]
    assert StageChange.objects.filter(flush=flush).count() == 3
