from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from deals.models import Deal, StageChange
from deals.selectors import BOARD_PAGE_SIZE
from deals.services import move_deal
from deals.tests.factories import AccountFactory, DealFactory, LostReasonFactory
from stages.tests.factories import PipelineFactory, stage
from tasks.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db


def board_url(pipeline, **params) -> str:
    url = reverse("deals:board", args=[pipeline.pk])
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return f"{url}?{query}" if query else url


def card_ids(response) -> list[int]:
    html = response.content.decode()
    return [int(deal_id) for deal_id in re.findall(r'<article id="deal-(\d+)"', html)]


def make_deals(pipeline, owner, count: int, stage_name: str = "Lead", **kwargs):
    account = AccountFactory(owner=owner)
    return [
        DealFactory(
            pipeline=pipeline,
            owner=owner,
            account=account,
            stage=stage(pipeline, stage_name),
            **kwargs,
        )
        for _ in range(count)
    ]


# The board page


def test_home_opens_the_board_of_the_first_active_pipeline(client, rep, pipeline):
    PipelineFactory(name="Zeta", position=5)
    client.force_login(rep)
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"] == board_url(pipeline)


def test_home_without_pipelines_says_so(client, rep):
    client.force_login(rep)
    response = client.get(reverse("home"))
    assert "No pipeline yet" in response.content.decode()


def test_board_shows_open_stages_as_columns_and_closed_ones_as_drop_zones(client, rep, pipeline):
    client.force_login(rep)
    html = client.get(board_url(pipeline)).content.decode()

    for name in ("Lead", "Contacted", "Qualified", "Proposal made"):
        assert f'<section class="board-column" data-stage-id="{stage(pipeline, name).pk}"' in html
    for name in ("Won", "Lost"):
        assert f'data-stage-id="{stage(pipeline, name).pk}" data-stage-kind="' in html
        assert (
            f'<section class="board-column" data-stage-id="{stage(pipeline, name).pk}"' not in html
        )


def test_column_headers_total_count_value_and_weighted_value(client, rep, pipeline):
    make_deals(pipeline, rep, 3, "Qualified", value=Decimal("25000"))  # 40 %
    client.force_login(rep)
    response = client.get(board_url(pipeline))

    column = next(c for c in response.context["board"].columns if c.stage.name == "Qualified")
    assert (column.count, column.total, column.weighted) == (3, Decimal("75000"), Decimal("30000"))
    html = response.content.decode()
    assert "3 deals" in html and "$75,000" in html and "≈ $30,000" in html
    assert response.context["board"].weighted == Decimal("30000")


def test_cards_carry_their_hooks_and_details(client, rep, pipeline):
    [deal] = make_deals(pipeline, rep, 1, value=Decimal("1234.56"))
    Deal.objects.filter(pk=deal.pk).update(
        expected_close_date=timezone.localdate() - timedelta(days=1)
    )
    client.force_login(rep)
    html = client.get(board_url(pipeline)).content.decode()

    assert f'data-deal-id="{deal.pk}" data-stage-id="{deal.stage_id}"' in html
    assert deal.title in html and deal.account.name in html and rep.initials in html
    assert "$1,235" in html
    assert "deal-close is-past" in html
    assert "No next step" in html
    assert reverse("deals:move-form", args=[deal.pk]) in html


def test_cards_flag_rotting_deals_and_overdue_tasks(client, rep, pipeline):
    lead = stage(pipeline, "Lead")
    lead.rotting_days = 7
    lead.save()
    stale, fresh = make_deals(pipeline, rep, 2)
    Deal.objects.filter(pk=stale.pk).update(last_activity_at=timezone.now() - timedelta(days=8))
    TaskFactory(deal=fresh, assignee=rep, due_at=timezone.now() - timedelta(hours=1))
    client.force_login(rep)

    board = client.get(board_url(pipeline)).context["board"]
    cards = {deal.pk: deal for deal in board.column(lead.pk).cards}
    assert cards[stale.pk].is_rotting and not cards[fresh.pk].is_rotting
    assert cards[fresh.pk].has_overdue_task and not cards[stale.pk].has_open_task


def test_board_hides_deals_of_other_teams(client, rep, other_rep, outsider, pipeline):
    mine, teammates = make_deals(pipeline, rep, 1) + make_deals(pipeline, other_rep, 1)
    [theirs] = make_deals(pipeline, outsider, 1)
    client.force_login(rep)
    assert sorted(card_ids(client.get(board_url(pipeline)))) == sorted([mine.pk, teammates.pk])


@pytest.mark.parametrize("deals", [10, 2000])
def test_board_query_count_does_not_grow_with_deals(
    client, rep, pipeline, django_assert_max_num_queries, deals
):
    stages = ["Lead", "Contacted", "Qualified", "Proposal made"]
    account = AccountFactory(owner=rep)
    Deal.objects.bulk_create(
        [
            Deal(
                title=f"D{index}",
                account=account,
                owner=rep,
                pipeline=pipeline,
                stage=stage(pipeline, stages[index % 4]),
                value=Decimal(index),
                board_position=index,
            )
            for index in range(deals)
        ]
    )
    client.force_login(rep)
    # user (the session is cached), pipelines, their stages, owners for the filter,
    # column totals, the first cards of every column (one window query), lost reasons,
    # the overdue-tasks badge of the navigation
    with django_assert_max_num_queries(8):
        response = client.get(board_url(pipeline))
    assert len(card_ids(response)) == min(deals, 4 * BOARD_PAGE_SIZE)


# Filters


def test_filter_by_owner_keeps_only_their_deals(client, rep, other_rep, pipeline):
    [mine] = make_deals(pipeline, rep, 1)
    [theirs] = make_deals(pipeline, other_rep, 1)
    client.force_login(rep)
    assert card_ids(client.get(board_url(pipeline, owner=rep.pk))) == [mine.pk]
    assert card_ids(client.get(board_url(pipeline, owner=other_rep.pk))) == [theirs.pk]


def test_filter_by_text_searches_titles_and_accounts(client, rep, pipeline):
    acme = DealFactory(
        pipeline=pipeline,
        owner=rep,
        title="Rollout",
        account=AccountFactory(name="Acme", owner=rep),
    )
    globex = DealFactory(pipeline=pipeline, owner=rep, title="Acme-like pilot")
    DealFactory(pipeline=pipeline, owner=rep, title="Other")
    client.force_login(rep)
    assert sorted(card_ids(client.get(board_url(pipeline, q="acme")))) == sorted(
        [acme.pk, globex.pk]
    )


def test_filter_by_expected_close_range(client, rep, pipeline):
    early, late, undated = make_deals(pipeline, rep, 3)
    Deal.objects.filter(pk=early.pk).update(expected_close_date="2026-01-10")
    Deal.objects.filter(pk=late.pk).update(expected_close_date="2026-03-10")
    client.force_login(rep)
    response = client.get(board_url(pipeline, close_from="2026-02-01", close_to="2026-03-31"))
    assert card_ids(response) == [late.pk]


def test_filter_rotting_only(client, rep, pipeline):
    lead = stage(pipeline, "Lead")
    lead.rotting_days = 7
    lead.save()
    stale, _fresh = make_deals(pipeline, rep, 2)
    Deal.objects.filter(pk=stale.pk).update(last_activity_at=timezone.now() - timedelta(days=30))
    client.force_login(rep)
    response = client.get(board_url(pipeline, rotting="on"))
    assert card_ids(response) == [stale.pk]
    assert response.context["board"].count == 1


def test_rotting_only_on_a_pipeline_where_no_stage_rots_shows_an_empty_board(client, rep, pipeline):
    pipeline.stages.update(rotting_days=0)
    make_deals(pipeline, rep, 2)
    client.force_login(rep)

    response = client.get(board_url(pipeline, rotting="on"))

    assert response.status_code == 200
    assert card_ids(response) == []
    assert response.context["board"].count == 0


def test_filtered_headers_total_only_the_matching_deals(client, rep, other_rep, pipeline):
    make_deals(pipeline, rep, 2, value=Decimal("100"))
    make_deals(pipeline, other_rep, 3, value=Decimal("1000"))
    client.force_login(rep)
    board = client.get(board_url(pipeline, owner=rep.pk)).context["board"]
    assert (board.count, board.total) == (2, Decimal("200"))


def test_bad_filter_values_are_ignored(client, rep, pipeline):
    make_deals(pipeline, rep, 2)
    client.force_login(rep)
    response = client.get(board_url(pipeline, owner="x", close_from="yesterday"))
    assert response.status_code == 200
    assert len(card_ids(response)) == 2


# Load more


def test_columns_show_the_first_cards_and_load_more_on_demand(
    client, rep, pipeline, django_assert_max_num_queries
):
    deals = make_deals(pipeline, rep, BOARD_PAGE_SIZE + 3)
    client.force_login(rep)
    board = client.get(board_url(pipeline))
    assert card_ids(board) == [deal.pk for deal in deals[:BOARD_PAGE_SIZE]]
    more = reverse("deals:column", args=[pipeline.pk, stage(pipeline, "Lead").pk])
    assert f"{more}?offset={BOARD_PAGE_SIZE}" in board.content.decode()

    # session, user, the stage with its pipeline, the cards
    with django_assert_max_num_queries(5):
        response = client.get(more, {"offset": BOARD_PAGE_SIZE})
    assert card_ids(response) == [deal.pk for deal in deals[BOARD_PAGE_SIZE:]]
    assert "Load more" not in response.content.decode()


def test_load_more_refuses_a_bad_offset(client, rep, pipeline):
    client.force_login(rep)
    url = reverse("deals:column", args=[pipeline.pk, stage(pipeline, "Lead").pk])
    assert client.get(url, {"offset": "-1"}).status_code == 400
    assert client.get(url, {"offset": "ten"}).status_code == 400
    # Beyond a 64-bit integer: PostgreSQL refused the query ("bigint out of range").
    assert client.get(url, {"offset": "9" * 20}).status_code == 400
    far = client.get(url, {"offset": "9" * 18})
    assert far.status_code == 200
    assert card_ids(far) == []
    won = reverse("deals:column", args=[pipeline.pk, stage(pipeline, "Won").pk])
    assert client.get(won).status_code == 404


# Moves


def move(client, deal, to_stage, *, htmx=True, **data):
    payload = {"stage": to_stage.pk, "from_stage": deal.stage_id, **data}
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    return client.post(reverse("deals:move", args=[deal.pk]), payload, **headers)


def header_figures(html: str) -> dict[int, tuple[int, float, float]]:
    """Count, total and weighted value of each column header swapped in by a move."""
    headers = re.finditer(
        r'id="column-header-(\d+)"[^>]* data-count="(\d+)" data-total="([\d.]+)"'
        r' data-weighted="([\d.]+)" hx-swap-oob="true"',
        html,
    )
    return {int(h[1]): (int(h[2]), float(h[3]), float(h[4])) for h in headers}


def test_a_drop_moves_the_deal_and_rerenders_card_and_headers(client, rep, pipeline):
    [deal] = make_deals(pipeline, rep, 1, value=Decimal("5000"))
    client.force_login(rep)
    response = move(client, deal, stage(pipeline, "Contacted"), position=0)

    assert response.status_code == 200
    html = response.content.decode()
    contacted = stage(pipeline, "Contacted").pk
    assert (
        f'<article id="deal-{deal.pk}" class="deal-card" data-deal-id="{deal.pk}" data-stage-id="{contacted}"'
        in html
    )
    # The headers of both columns, with the figures the board's script adds up.
    assert header_figures(html) == {
        stage(pipeline, "Lead").pk: (0, 0, 0),
        contacted: (1, 5000, 1000),  # 20 %
    }
    assert "board-summary" not in html
    deal.refresh_from_db()
    assert deal.stage_id == contacted
    assert StageChange.objects.filter(deal=deal, to_stage_id=contacted, by=rep).exists()


def test_a_drop_on_won_closes_the_deal_and_removes_the_card(client, rep, pipeline):
    [deal] = make_deals(pipeline, rep, 1)
    client.force_login(rep)
    response = move(client, deal, stage(pipeline, "Won"))
    assert response.status_code == 200
    assert "<article" not in response.content.decode()
    deal.refresh_from_db()
    assert deal.status == "won" and deal.closed_at is not None


def test_a_drop_on_lost_with_a_reason_closes_the_deal(client, rep, pipeline):
    [deal] = make_deals(pipeline, rep, 1)
    price = LostReasonFactory(name="Price")
    client.force_login(rep)
    assert move(client, deal, stage(pipeline, "Lost"), lost_reason=price.pk).status_code == 200
    deal.refresh_from_db()
    assert (deal.status, deal.lost_reason) == ("lost", price)


def test_the_move_to_form_works_without_javascript(client, rep, pipeline):
    [deal] = make_deals(pipeline, rep, 1)
    client.force_login(rep)
    form = client.get(reverse("deals:move-form", args=[deal.pk]), {"next": board_url(pipeline)})
    assert form.status_code == 200
    assert f'action="{reverse("deals:move", args=[deal.pk])}"' in form.content.decode()

    response = move(
        client, deal, stage(pipeline, "Qualified"), htmx=False, next=board_url(pipeline)
    )
    assert response.status_code == 302 and response["Location"] == board_url(pipeline)
    followed = client.get(response["Location"])
    assert f"Moved “{deal.title}” to “Qualified”." in followed.content.decode()


@pytest.mark.parametrize("target", ["-1", "board", "https://evil.example/", "//evil.example/"])
def test_the_move_to_form_goes_back_only_to_a_page_of_this_site(client, rep, pipeline, target):
    """A bare word was taken for the name of a view (a 500), another site for a redirect."""
    [deal] = make_deals(pipeline, rep, 1)
    client.force_login(rep)

    response = move(client, deal, stage(pipeline, "Qualified"), htmx=False, next=target)

    assert response.status_code == 302 and response["Location"] == board_url(pipeline)
    assert Deal.objects.get(pk=deal.pk).stage == stage(pipeline, "Qualified")


def test_a_drop_within_a_column_reorders_it(client, rep, pipeline):
    a, b, c = make_deals(pipeline, rep, 3)
    client.force_login(rep)
    assert move(client, c, stage(pipeline, "Lead"), position=0).status_code == 200
    assert card_ids(client.get(board_url(pipeline))) == [c.pk, a.pk, b.pk]
    assert StageChange.objects.filter(deal=c).count() == 1


def test_a_filtered_drop_lands_next_to_the_card_the_user_saw(client, rep, other_rep, pipeline):
    qualified = stage(pipeline, "Qualified")
    hidden = make_deals(pipeline, other_rep, 2, "Qualified")
    shown = make_deals(pipeline, rep, 2, "Qualified")
    [dragged] = make_deals(pipeline, rep, 1)
    client.force_login(rep)
    url = reverse("deals:move", args=[dragged.pk]) + f"?owner={rep.pk}"
    payload = {"stage": qualified.pk, "from_stage": dragged.stage_id, "position": 1}
    assert client.post(url, payload, HTTP_HX_REQUEST="true").status_code == 200

    order = list(
        Deal.objects.filter(stage=qualified)
        .order_by("board_position", "pk")
        .values_list("pk", flat=True)
    )
    assert order == [hidden[0].pk, hidden[1].pk, shown[0].pk, dragged.pk, shown[1].pk]


@pytest.mark.parametrize("column_size", [5, 300])
def test_a_move_takes_six_queries_however_full_the_column(
    client, rep, pipeline, assert_max_queries, column_size
):
    make_deals(pipeline, rep, column_size, "Contacted")
    [deal] = make_deals(pipeline, rep, 1)
    contacted = stage(pipeline, "Contacted")
    client.force_login(rep)
    # user (the session is cached), the deal locked with its card's joins and task flags,
    # the target stage locked with its neighbours' positions, the history row, the deal
    # update, the totals of the board and of both columns
    with assert_max_queries(6):
        response = move(client, deal, contacted, position=3)
    assert response.status_code == 200
    order = Deal.objects.filter(stage=stage(pipeline, "Contacted")).order_by("board_position", "pk")
    assert list(order.values_list("pk", flat=True))[3] == deal.pk


def test_a_column_without_room_between_two_cards_is_renumbered(client, rep, pipeline):
    a, b, c = make_deals(pipeline, rep, 3)
    Deal.objects.filter(pk=a.pk).update(board_position=10)
    Deal.objects.filter(pk=b.pk).update(board_position=11)
    client.force_login(rep)
    assert move(client, c, stage(pipeline, "Lead"), position=1).status_code == 200
    order = Deal.objects.filter(stage=stage(pipeline, "Lead")).order_by("board_position")
    assert list(order.values_list("pk", flat=True)) == [a.pk, c.pk, b.pk]
    assert len(set(order.values_list("board_position", flat=True))) == 3


# Refusals: a reason, a 4xx, and nothing changed


def assert_unchanged(deal):
    before = (deal.stage_id, deal.board_position, deal.stage_changes.count())
    deal.refresh_from_db()
    assert (deal.stage_id, deal.board_position, deal.stage_changes.count()) == before


def test_an_unknown_deal_is_404(client, rep, pipeline):
    client.force_login(rep)
    response = client.post(
        reverse("deals:move", args=[999999]), {"stage": stage(pipeline, "Won").pk}
    )
    assert response.status_code == 404


def test_a_deal_outside_visibility_is_404(client, rep, outsider, pipeline):
    [deal] = make_deals(pipeline, outsider, 1)
    client.force_login(rep)
    assert move(client, deal, stage(pipeline, "Contacted")).status_code == 404
    assert_unchanged(deal)


def test_a_teammates_deal_is_visible_but_read_only(client, rep, other_rep, pipeline):
    [deal] = make_deals(pipeline, other_rep, 1)
    client.force_login(rep)
    response = move(client, deal, stage(pipeline, "Contacted"))
    assert response.status_code == 403
    assert response.json()["error"] == f"You may look at “{deal.title}” but not change it."
    assert_unchanged(deal)
    assert client.get(reverse("deals:move-form", args=[deal.pk])).status_code == 403


def test_a_stage_of_another_pipeline_is_refused(client, rep, pipeline):
    [deal] = make_deals(pipeline, rep, 1)
    other = PipelineFactory(name="Renewals")
    client.force_login(rep)
    response = move(client, deal, stage(other, "Contacted"))
    assert response.status_code == 400
    assert response.json()["error"] == "Stage “Contacted” is not part of the pipeline “Sales”."
    assert_unchanged(deal)


def test_a_lost_stage_without_reason_is_refused(client, rep, pipeline):
    [deal] = make_deals(pipeline, rep, 1)
    client.force_login(rep)
    response = move(client, deal, stage(pipeline, "Lost"))
    assert response.status_code == 400
    assert response.json()["error"] == f"Choose a lost reason to move “{deal.title}” to “Lost”."
    assert_unchanged(deal)


def test_a_position_out_of_range_is_refused(client, rep, pipeline):
    a, b = make_deals(pipeline, rep, 2)
    client.force_login(rep)
    response = move(client, a, stage(pipeline, "Lead"), position=5)
    assert response.status_code == 400
    assert response.json()["error"] == "Position 5 is outside the column (0 to 1)."
    assert_unchanged(a)
    assert move(client, a, stage(pipeline, "Lead"), position=-1).status_code == 400


def test_the_move_endpoint_refuses_get(client, rep, pipeline):
    [deal] = make_deals(pipeline, rep, 1)
    client.force_login(rep)
    assert client.get(reverse("deals:move", args=[deal.pk])).status_code == 405


def test_the_move_endpoint_requires_a_csrf_token(rep, pipeline):
    from django.test import Client

    [deal] = make_deals(pipeline, rep, 1)
    client = Client(enforce_csrf_checks=True)
    client.force_login(rep)
    response = move(client, deal, stage(pipeline, "Contacted"))
    assert response.status_code == 403
    assert_unchanged(deal)


def test_a_refusal_without_javascript_explains_itself(client, rep, pipeline):
    [deal] = make_deals(pipeline, rep, 1)
    client.force_login(rep)
    response = move(client, deal, stage(pipeline, "Lost"), htmx=False)
    assert response.status_code == 400
    assert f"Choose a lost reason to move “{deal.title}” to “Lost”." in response.content.decode()


def test_a_stale_drop_gets_409_and_the_current_stage(client, rep, pipeline):
    [deal] = make_deals(pipeline, rep, 1)
    lead = stage(pipeline, "Lead")
    client.force_login(rep)
    first = move(client, deal, stage(pipeline, "Contacted"))
    second = client.post(
        reverse("deals:move", args=[deal.pk]),
        {"stage": stage(pipeline, "Qualified").pk, "from_stage": lead.pk},
        HTTP_HX_REQUEST="true",
    )

    assert first.status_code == 200 and second.status_code == 409
    assert second.json() == {
        "error": f"Someone moved “{deal.title}” to “Contacted” in the meantime; nothing was changed.",
        "stage_id": stage(pipeline, "Contacted").pk,
        "status": "open",
    }
    history = deal.stage_changes.values_list("to_stage__name", flat=True)
    assert list(history) == ["Lead", "Contacted"]


# Quick add


def test_quick_add_creates_a_deal_in_the_column(client, rep, pipeline):
    qualified = stage(pipeline, "Qualified")
    client.force_login(rep)
    url = reverse("deals:quick-add", args=[pipeline.pk]) + f"?stage={qualified.pk}"
    form = client.get(url)
    assert form.status_code == 200

    response = client.post(
        url, {"title": "Pilot", "new_account": "Initech", "value": "1500", "owner": rep.pk}
    )
    assert response.status_code == 302
    deal = Deal.objects.get(title="Pilot")
    assert (deal.stage, deal.account.name, deal.owner, deal.value) == (
        qualified,
        "Initech",
        rep,
        Decimal("1500"),
    )
    assert deal.stage_changes.get().by == rep


def test_quick_add_needs_an_account_and_saves_nothing_otherwise(client, rep, pipeline):
    client.force_login(rep)
    url = reverse("deals:quick-add", args=[pipeline.pk])
    response = client.post(url, {"title": "Pilot", "value": "-5", "owner": rep.pk})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Choose an account or name a new one." in html
    assert "Ensure this value is greater than or equal to 0." in html
    assert not Deal.objects.exists()


def test_quick_add_refuses_an_owner_outside_the_team(client, rep, outsider, pipeline):
    client.force_login(rep)
    url = reverse("deals:quick-add", args=[pipeline.pk])
    response = client.post(
        url, {"title": "Pilot", "new_account": "Initech", "value": "1", "owner": outsider.pk}
    )
    assert response.status_code == 200
    assert not Deal.objects.exists()


def test_a_move_that_takes_a_deal_out_of_the_filter_drops_its_card(client, rep, pipeline):
    lead = stage(pipeline, "Lead")
    lead.rotting_days = 14
    lead.save()
    [deal] = make_deals(pipeline, rep, 1)
    Deal.objects.filter(pk=deal.pk).update(last_activity_at=timezone.now() - timedelta(days=30))
    client.force_login(rep)
    url = reverse("deals:move", args=[deal.pk]) + "?rotting=on"
    payload = {"stage": stage(pipeline, "Contacted").pk, "from_stage": lead.pk, "position": 0}

    response = client.post(url, payload, HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    html = response.content.decode()
    assert "<article" not in html
    assert "0 deals" in html


def test_quick_add_ignores_a_stage_that_is_not_a_number(client, rep, pipeline):
    client.force_login(rep)
    url = reverse("deals:quick-add", args=[pipeline.pk])
    response = client.get(url + "?stage=abc")
    assert response.status_code == 200
    assert response.context["stage"] == stage(pipeline, "Lead")


@pytest.mark.parametrize("moves", [1, 30])
def test_deal_pages_keep_their_query_counts(
    client, rep, pipeline, django_assert_max_num_queries, moves
):
    [deal] = make_deals(pipeline, rep, 1)
    names = ["Contacted", "Qualified"]
    for index in range(moves):
        move_deal(deal, stage(pipeline, names[index % 2]), by=rep)
    make_deals(pipeline, rep, moves)
    client.force_login(rep)
    # (The deal page's own count is pinned in test_deal_page.py.)
    # user, the deal, the pipeline's stages, the lost reasons, the overdue-tasks badge
    with django_assert_max_num_queries(5):
        assert client.get(reverse("deals:move-form", args=[deal.pk])).status_code == 200
    # user, pipeline, stage, the accounts offered, the owners offered twice (Django's
    # Select reads its first choice for the `required` attribute, then renders them all),
    # the overdue-tasks badge
    with django_assert_max_num_queries(7):
        assert client.get(reverse("deals:quick-add", args=[pipeline.pk])).status_code == 200
