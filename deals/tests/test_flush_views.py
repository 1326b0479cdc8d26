"""The flush pages: who reaches them, the criteria and their preview, the confirmation, the
job's page with its progress, and the undo."""

from __future__ import annotations

import datetime as dt
import html
import re
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from deals.forms.records import STAGE_OF_OTHER_PIPELINE
from deals.models import Deal, DealStatus, Flush, FlushStatus
from deals.services import move_deal
from deals.services.flush import (
    ALREADY_UNDONE,
    DATE_IN_FUTURE,
    DAYS_NOT_POSITIVE,
    FLUSH_FORBIDDEN,
    NO_CRITERION,
    NOTHING_TO_FLUSH,
    UNDO_TOO_LATE,
    FlushCriteria,
    run_flush,
    start_flush,
    undo_deadline,
)
from pipeline_crm.jobs import DEFERRED_MESSAGES
from pipeline_crm.models import Role
from pipeline_crm.tests.factories import UserFactory
from reports.tests.factories import deal_with_history
from stages.tests.factories import PipelineFactory, stage

pytestmark = pytest.mark.django_db

PAGE = reverse("deals:flush")
START = reverse("deals:flush-start")
CHOICE_NOT_OFFERED = "Select a valid choice. That choice is not one of the available choices."
SELECT_A_VALID_CHOICE = "Select a valid choice."
# A flush's preview sentence, as the page reads once tags are stripped.
WOULD_MOVE = "{count} worth ${total} (weighted ${weighted}) would move to Lost"


def text(response) -> str:
    """The page's words: tags stripped, entities decoded, whitespace collapsed."""
    words = re.sub(r"<[^>]+>", " ", response.content.decode())
    return " ".join(html.unescape(words).split())


def shown_messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def criteria(pipeline, **values) -> dict[str, object]:
    return {
        "pipeline": pipeline.pk,
        "inactive_days": "90",
        "created_before": "",
        "owner": "",
        "stage": "",
    } | values


@pytest.fixture
def stale(pipeline, outsider, rep):
    """Carol (team B, managed by Dave) has two stale open deals, a fresh one and an old won
    one; Alice (team A, no manager) has a stale one that only an admin may flush."""
    today = timezone.localdate().isoformat()
    return {
        "lead": deal_with_history(
            pipeline, outsider, [("Lead", "2024-01-10")], value=1000, title="Old lead"
        ),
        "proposal": deal_with_history(
            pipeline,
            outsider,
            [("Lead", "2023-11-02"), ("Proposal made", "2024-02-01")],
            value=3000,
            title="Old proposal",
        ),
        "fresh": deal_with_history(
            pipeline,
            outsider,
            [("Lead", "2024-01-05")],
            value=7000,
            last_activity=today,
            title="Busy deal",
        ),
        "won": deal_with_history(
            pipeline, outsider, [("Lead", "2023-01-05"), ("Won", "2023-03-01")], title="Old win"
        ),
        "alice": deal_with_history(
            pipeline, rep, [("Lead", "2023-06-01")], value=5000, title="Alice's stale deal"
        ),
    }


def confirm_fields(response) -> dict[str, str]:
    """What the preview's Confirm button sends: its form's hidden fields."""
    form = response.content.decode().split('class="flush-confirm"')[1].split("</form>")[0]
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))


def confirm(client, capture, data) -> object:
    """POST "Confirm" and run the queued job, as the worker would."""
    with capture(execute=True):
        return client.post(START, data)


# Who reaches the pages


def test_reps_are_refused_every_flush_page_with_a_reason(client, rep, manager, pipeline, stale):
    flush = start_flush(FlushCriteria(pipeline, inactive_days=90), by=manager)
    client.force_login(rep)

    responses = [
        client.get(PAGE),
        client.get(PAGE, criteria(pipeline)),
        client.post(START, criteria(pipeline)),
        client.get(reverse("deals:flush-job", args=[flush.pk])),
        client.post(reverse("deals:flush-undo", args=[flush.pk])),
    ]

    assert [response.status_code for response in responses] == [403] * 5
    assert FLUSH_FORBIDDEN in text(responses[0])
    assert Flush.objects.count() == 1


def test_the_deal_list_offers_the_flush_to_managers_and_admins_only(
    client, rep, manager, admin_user
):
    link = f'href="{PAGE}"'
    for user, offered in [(rep, False), (manager, True), (admin_user, True)]:
        client.force_login(user)
        assert (link in client.get(reverse("deals:list")).content.decode()) is offered


def test_the_board_offers_managers_and_admins_the_flush_of_its_pipeline(
    client, rep, manager, admin_user, pipeline
):
    link = f'href="{PAGE}?pipeline={pipeline.pk}"'
    for user, offered in [(rep, False), (manager, True), (admin_user, True)]:
        client.force_login(user)
        board = client.get(reverse("deals:board", args=[pipeline.pk])).content.decode()
        assert (link in board) is offered

    form = client.get(f"{PAGE}?pipeline={pipeline.pk}").content.decode()
    assert re.search(rf'<option value="{pipeline.pk}" selected>', form)


def test_the_form_starts_at_90_days_and_offers_a_manager_their_teams_people(
    client, manager, outsider, rep, pipeline
):
    client.force_login(manager)

    response = client.get(PAGE, {"pipeline": pipeline.pk})

    form = response.context["form"]
    assert not form.is_bound
    assert form["inactive_days"].value() == 90
    assert str(form["pipeline"].value()) == str(pipeline.pk)
    assert set(form.fields["owner"].queryset) == {manager, outsider}
    assert "would move" not in text(response)
    # The criteria form is a GET: no CSRF token in the shareable URL.
    criteria_form = response.content.decode().split('aria-label="Flush criteria"')[1]
    assert "csrfmiddlewaretoken" not in criteria_form.split("</form>")[0]


# The preview


def test_a_manager_previews_only_their_teams_stale_open_deals(client, manager, pipeline, stale):
    client.force_login(manager)

    response = client.get(PAGE, criteria(pipeline))

    assert response.status_code == 200
    page = text(response)
    # 1,000 × 10 % + 3,000 × 60 %
    expected = WOULD_MOVE.format(count="2 deals", total="4,000", weighted="1,900")
    assert f"{expected} with the lost reason “Stale (flushed)”" in page
    # Least recently active first
    assert [deal.title for deal in response.context["preview"].sample] == [
        "Old lead",
        "Old proposal",
    ]
    assert "Old lead" in page and "Old proposal" in page
    for untouched in ("Busy deal", "Old win", "Alice's stale deal"):
        assert untouched not in page
    assert "more deal" not in page


def test_an_admin_previews_everyones_stale_deals(client, admin_user, pipeline, stale):
    client.force_login(admin_user)

    response = client.get(PAGE, criteria(pipeline))

    # + Alice's 5,000 in Lead (10 %)
    assert WOULD_MOVE.format(count="3 deals", total="9,000", weighted="2,400") in text(response)


def test_the_preview_narrows_by_owner_stage_and_creation_date(client, manager, pipeline, stale):
    client.force_login(manager)
    lead = stage(pipeline, "Lead")

    by_stage = client.get(PAGE, criteria(pipeline, stage=lead.pk))
    by_date = client.get(PAGE, criteria(pipeline, inactive_days="", created_before="2023-12-01"))
    by_owner = client.get(PAGE, criteria(pipeline, owner=manager.pk))

    assert WOULD_MOVE.format(count="1 deal", total="1,000", weighted="100") in text(by_stage)
    # Only the proposal was opened before December 2023.
    assert WOULD_MOVE.format(count="1 deal", total="3,000", weighted="1,800") in text(by_date)
    assert NOTHING_TO_FLUSH in text(by_owner)
    assert "Confirm" not in text(by_owner)


def test_the_preview_shows_the_first_50_deals_and_counts_the_others(client, admin_user, pipeline):
    for number in range(52):
        deal_with_history(pipeline, admin_user, [("Lead", "2024-01-01")], title=f"Stale {number}")
    client.force_login(admin_user)

    response = client.get(PAGE, criteria(pipeline))

    assert response.content.decode().count('class="list-primary-link" href="/deals/') == 50
    assert "and 2 more deals" in text(response)


BAD_INPUT = [
    pytest.param({"inactive_days": "0"}, DAYS_NOT_POSITIVE, id="zero-days"),
    pytest.param({"inactive_days": "-3"}, DAYS_NOT_POSITIVE, id="negative-days"),
    pytest.param({"inactive_days": "soon"}, "Enter a whole number.", id="not-a-number"),
    pytest.param({"inactive_days": "", "created_before": ""}, NO_CRITERION, id="no-criterion"),
    pytest.param({"created_before": "tomorrow"}, DATE_IN_FUTURE, id="future-date"),
    pytest.param({"owner": "alice"}, CHOICE_NOT_OFFERED, id="owner-of-another-team"),
    pytest.param({"stage": "won"}, SELECT_A_VALID_CHOICE, id="closed-stage"),
    pytest.param({"stage": "other"}, STAGE_OF_OTHER_PIPELINE, id="stage-of-another-pipeline"),
    pytest.param({"pipeline": "inactive"}, SELECT_A_VALID_CHOICE, id="inactive-pipeline"),
]


def _bad_values(values: dict[str, str], pipeline, rep) -> tuple[dict[str, object], dict]:
    """Turn the placeholders of BAD_INPUT into ids and dates; the message's arguments."""
    other = PipelineFactory(name="Renewals")
    resolved = {
        "tomorrow": (timezone.localdate() + dt.timedelta(days=1)).isoformat(),
        "alice": rep.pk,
        "won": stage(pipeline, "Won").pk,
        "other": stage(other, "Lead").pk,
        "inactive": PipelineFactory(name="Old", is_active=False).pk,
    }
    return {key: resolved.get(value, value) for key, value in values.items()}, {
        "pipeline": pipeline.name
    }


@pytest.mark.parametrize(("values", "message"), BAD_INPUT)
def test_bad_criteria_are_refused_with_a_message_and_nothing_is_flushed(
    client, django_capture_on_commit_callbacks, manager, rep, pipeline, stale, values, message
):
    values, arguments = _bad_values(values, pipeline, rep)
    message = message.format(**arguments)
    client.force_login(manager)

    preview = client.get(PAGE, criteria(pipeline) | values)
    with django_capture_on_commit_callbacks() as queued:
        confirmed = client.post(START, criteria(pipeline) | values)

    for response in (preview, confirmed):
        assert response.status_code == 200
        assert message in text(response)
        assert "would move" not in text(response)
    assert queued == []
    assert not Flush.objects.exists()
    assert Deal.objects.filter(status=DealStatus.LOST).count() == 0


def test_confirming_when_nothing_matches_says_so_and_queues_nothing(
    client, django_capture_on_commit_callbacks, manager, pipeline, stale
):
    client.force_login(manager)

    with django_capture_on_commit_callbacks() as queued:
        response = client.post(
            START, criteria(pipeline, inactive_days="", created_before="2000-01-01")
        )

    assert response.status_code == 200
    assert NOTHING_TO_FLUSH in text(response)
    assert queued == []
    assert not Flush.objects.exists()


# Confirmation and the job


def test_confirming_moves_exactly_what_the_preview_showed(
    client, django_capture_on_commit_callbacks, manager, pipeline, stale
):
    client.force_login(manager)
    page = client.get(PAGE, criteria(pipeline, created_before="2024-06-01"))
    preview = page.context["preview"]

    response = confirm(client, django_capture_on_commit_callbacks, confirm_fields(page))

    flush = Flush.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("deals:flush-job", args=[flush.pk])
    assert (flush.inactive_days, flush.created_before) == (90, dt.date(2024, 6, 1))
    assert (flush.status, flush.requested_by, flush.moved, flush.skipped) == (
        FlushStatus.DONE,
        manager,
        preview.count,
        0,
    )
    assert (flush.total_value, flush.weighted_value) == (preview.total, preview.weighted)
    assert (preview.count, preview.total, preview.weighted) == (2, Decimal(4000), Decimal(1900))
    lost = Deal.objects.filter(status=DealStatus.LOST, lost_reason__name="Stale (flushed)")
    assert set(lost) == set(preview.sample) == {stale["lead"], stale["proposal"]}
    # The other team's stale deal is never touched by a manager's flush.
    assert Deal.objects.get(pk=stale["alice"].pk).status == DealStatus.OPEN

    page = text(client.get(response["Location"]))
    assert "2 of 2 deals processed" in page
    assert "2 deals moved to Lost with the lost reason “Stale (flushed)”" in page
    assert "Undo this flush" in page


def test_the_job_page_polls_while_the_flush_runs_and_stops_when_done(
    client, manager, pipeline, stale
):
    flush = start_flush(FlushCriteria(pipeline, inactive_days=90), by=manager)
    url = reverse("deals:flush-job", args=[flush.pk])
    client.force_login(manager)

    queued = client.get(url)
    fragment = client.get(url, HTTP_HX_REQUEST="true")
    run_flush(flush.pk)
    done = client.get(url, HTTP_HX_REQUEST="true")

    assert 'hx-trigger="every 1s"' in queued.content.decode()
    assert "0 of 2 deals processed: waiting for a worker" in text(queued)
    assert '<progress class="flush-bar" id="flush-bar" value="0" max="2"' in queued.content.decode()
    assert "<nav" not in fragment.content.decode()
    assert 'hx-trigger="every 1s"' in fragment.content.decode()
    assert 'hx-trigger="every 1s"' not in done.content.decode()
    assert 'value="2" max="2"' in done.content.decode()
    assert "2 of 2 deals processed" in text(done)


def test_a_manager_sees_only_their_own_flushes(client, manager, admin_user, pipeline, stale):
    theirs = start_flush(FlushCriteria(pipeline, inactive_days=90), by=manager)
    scheduled = start_flush(FlushCriteria(pipeline, created_before=dt.date(2024, 1, 1)), by=None)
    other_manager = UserFactory(username="frank", role=Role.MANAGER)

    def status(user, flush) -> int:
        client.force_login(user)
        return client.get(reverse("deals:flush-job", args=[flush.pk])).status_code

    assert [status(manager, theirs), status(manager, scheduled)] == [200, 404]
    assert [status(other_manager, theirs), status(other_manager, scheduled)] == [404, 404]
    assert [status(admin_user, theirs), status(admin_user, scheduled)] == [200, 200]
    client.force_login(other_manager)
    undo = client.post(reverse("deals:flush-undo", args=[theirs.pk]))
    assert undo.status_code == 404
    client.force_login(manager)
    assert list(client.get(PAGE).context["recent"]) == [theirs]
    client.force_login(admin_user)
    assert set(client.get(PAGE).context["recent"]) == {theirs, scheduled}


# The undo


def test_undo_from_the_job_page_restores_the_deals_and_lists_those_left_alone(
    client, django_capture_on_commit_callbacks, manager, pipeline, stale
):
    client.force_login(manager)
    confirm(client, django_capture_on_commit_callbacks, criteria(pipeline))
    flush = Flush.objects.get()
    moved_since = Deal.objects.get(pk=stale["lead"].pk)
    move_deal(moved_since, stage(pipeline, "Contacted"), by=manager)
    url = reverse("deals:flush-job", args=[flush.pk])
    deadline = date_format(timezone.localtime(undo_deadline(flush)), "M j, Y, H:i")
    assert f"Can be undone until {deadline}." in text(client.get(url))

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("deals:flush-undo", args=[flush.pk]))

    assert response.status_code == 302 and response["Location"] == url
    flush.refresh_from_db()
    assert (flush.undo_status, flush.restored, flush.kept) == (FlushStatus.DONE, 1, 1)
    proposal = Deal.objects.get(pk=stale["proposal"].pk)
    assert (proposal.status, proposal.stage.name, proposal.lost_reason) == (
        DealStatus.OPEN,
        "Proposal made",
        None,
    )
    page = client.get(url)
    words = text(page)
    assert "1 deal moved back" in words
    assert "1 left alone: they moved since the flush" in words
    assert "Left alone: moved since the flush Title" in words
    assert f'href="{reverse("deals:detail", args=[moved_since.pk])}">Old lead</a>' in (
        page.content.decode()
    )
    assert "Undo this flush" not in words
    assert 'hx-trigger="every 1s"' not in page.content.decode()


def test_an_undo_asked_too_late_or_twice_is_refused_with_a_message(
    client, django_capture_on_commit_callbacks, manager, pipeline, stale, settings
):
    client.force_login(manager)
    confirm(client, django_capture_on_commit_callbacks, criteria(pipeline))
    flush = Flush.objects.get()
    undo = reverse("deals:flush-undo", args=[flush.pk])
    Flush.objects.filter(pk=flush.pk).update(
        finished_at=timezone.now() - dt.timedelta(days=settings.FLUSH_UNDO_DAYS + 1)
    )
    too_late = UNDO_TOO_LATE.format(days=settings.FLUSH_UNDO_DAYS)

    response = client.post(undo, follow=True)
    htmx = client.post(undo, HTTP_HX_REQUEST="true")

    assert shown_messages(response) == [too_late]
    assert "can no longer be undone: the 30-day window closed" in text(response)
    assert (htmx.status_code, htmx.content.decode()) == (409, too_late)
    Flush.objects.filter(pk=flush.pk).update(finished_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        client.post(undo)
    again = client.post(undo, HTTP_HX_REQUEST="true")
    assert (again.status_code, again.content.decode()) == (409, ALREADY_UNDONE)
    assert Flush.objects.get().restored == 2


def test_the_job_page_says_when_the_owners_could_not_be_emailed(
    client, django_capture_on_commit_callbacks, manager, pipeline, stale
):
    client.force_login(manager)
    confirm(client, django_capture_on_commit_callbacks, criteria(pipeline))
    flush = Flush.objects.get()
    url = reverse("deals:flush-job", args=[flush.pk])
    assert "were not emailed" not in text(client.get(url))
    # As the owners' emails job leaves it when it gives up (deals/tasks.py).
    Flush.objects.filter(pk=flush.pk).update(
        owners_notified_at=None, owners_notify_error="could not connect to <db1>"
    )

    page = client.get(url)

    assert "The deals' owners were not emailed. could not connect to <db1>" in text(page)
    assert "&lt;db1&gt;" in page.content.decode()


def test_a_failed_undo_says_why_and_offers_to_carry_on(
    client, django_capture_on_commit_callbacks, manager, pipeline, stale
):
    client.force_login(manager)
    confirm(client, django_capture_on_commit_callbacks, criteria(pipeline))
    flush = Flush.objects.get()
    url = reverse("deals:flush-job", args=[flush.pk])
    # As the undo job leaves it when it gives up after its retries (deals/tasks.py).
    Flush.objects.filter(pk=flush.pk).update(
        undo_status=FlushStatus.FAILED,
        undo_requested_at=timezone.now(),
        undo_error="could not connect to server",
    )

    page = client.get(url)

    words = text(page)
    assert (
        "The undo stopped. The 0 deals it moved back stay back; the others are still lost. "
        "could not connect to server Carry on with the undo"
    ) in words
    assert 'hx-trigger="every 1s"' not in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("deals:flush-undo", args=[flush.pk]))
    assert response.status_code == 302
    flush.refresh_from_db()
    assert (flush.undo_status, flush.restored, flush.undo_error) == (FlushStatus.DONE, 2, "")
    assert "2 deals moved back" in text(client.get(url))


# The broker down


# `broker_down` (conftest.py): a broker address nothing listens on.


def test_confirming_with_the_broker_down_keeps_the_flush_queued_and_says_when_it_starts(
    transactional_db, client, broker_down, manager, pipeline, stale
):
    client.force_login(manager)

    response = client.post(START, criteria(pipeline), follow=True)

    flush = Flush.objects.get()
    assert response.status_code == 200
    assert response.redirect_chain == [(reverse("deals:flush-job", args=[flush.pk]), 302)]
    assert DEFERRED_MESSAGES["deals.tasks.run_flush_task"] in shown_messages(response)
    assert "The flush will start within five minutes" in text(response)
    assert (flush.status, flush.total, flush.moved) == (FlushStatus.QUEUED, 2, 0)
    assert 'hx-trigger="every 1s"' in response.content.decode()
    assert not Deal.objects.filter(status=DealStatus.LOST).exists()


# Query counts


def _data_queries(context: CaptureQueriesContext) -> int:
    return len([q for q in context.captured_queries if not q["sql"].startswith(("BEGIN", "SAVE"))])


def test_the_preview_page_runs_a_constant_number_of_queries(
    client, assert_max_queries, admin_user, pipeline, stale
):
    client.force_login(admin_user)
    start_flush(FlushCriteria(pipeline, inactive_days=90), by=admin_user)
    query = criteria(pipeline, owner=admin_user.pk, stage=stage(pipeline, "Qualified").pk)
    counts = []
    for extra, expected in [(3, 3), (30, 33)]:
        for number in range(extra):
            deal_with_history(
                pipeline, admin_user, [("Qualified", "2024-01-01")], title=f"{number}"
            )
        # session, user, nav badge; the form's pipelines, owners and stages, and its checks
        # of the chosen pipeline (with its lost stage), owner and stage; the preview's
        # sums and first deals; the recent flushes.
        with assert_max_queries(11) as context:
            response = client.get(PAGE, query)
        assert response.context["preview"].count == expected
        counts.append(_data_queries(context))
    assert counts[0] == counts[1]


def test_the_job_page_runs_a_constant_number_of_queries(
    client, django_capture_on_commit_callbacks, assert_max_queries, admin_user, pipeline
):
    client.force_login(admin_user)
    counts = []
    for size in (2, 30):
        deals = [
            deal_with_history(pipeline, admin_user, [("Lead", "2024-01-01")], title=f"D{n}")
            for n in range(size)
        ]
        with django_capture_on_commit_callbacks(execute=True):
            flush = start_flush(FlushCriteria(pipeline, inactive_days=90), by=admin_user)
        for deal in deals[: size // 2]:
            move_deal(Deal.objects.get(pk=deal.pk), stage(pipeline, "Lead"), by=admin_user)
        with django_capture_on_commit_callbacks(execute=True):
            client.post(reverse("deals:flush-undo", args=[flush.pk]))
        # session, user, nav badge, the flush with its criteria, the deals left alone
        with assert_max_queries(5) as context:
            response = client.get(reverse("deals:flush-job", args=[flush.pk]))
        assert len(response.context["kept"]) == size // 2
        counts.append(_data_queries(context))
    assert counts[0] == counts[1]
