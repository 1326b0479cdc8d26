"""The deal-list filters that reports link to: closed range, team, "in my reports",
account, lost reason, reached stage and expected close date."""

from __future__ import annotations

import pytest
import time_machine
from django.urls import reverse

from deals.tests.factories import AccountFactory
from reports.tests.factories import deal_with_history
from stages.models import Visibility
from stages.tests.factories import PipelineFactory, stage

pytestmark = pytest.mark.django_db


def titles(client, **params) -> list[str]:
    response = client.get(reverse("deals:list"), params)
    assert response.status_code == 200
    return sorted(deal.title for deal in response.context["page_obj"])


def test_the_closed_range_includes_both_days(client, rep, pipeline):
    for title, day in [
        ("Before", "2026-09-30"),
        ("First", "2026-10-01"),
        ("Last", "2026-10-31"),
        ("After", "2026-11-01"),
    ]:
        deal_with_history(pipeline, rep, [("Lead", "2026-09-01"), ("Won", day)], title=title)
    deal_with_history(pipeline, rep, [("Lead", "2026-10-05")], title="Open")
    client.force_login(rep)

    assert titles(client, closed_from="2026-10-01", closed_to="2026-10-31") == ["First", "Last"]


def test_the_team_filter_keeps_the_deals_of_a_teams_members(
    client, admin_user, rep, outsider, pipeline, team_b
):
    deal_with_history(pipeline, rep, [("Lead", "2026-10-01")], title="Team A's")
    deal_with_history(pipeline, outsider, [("Lead", "2026-10-01")], title="Team B's")
    client.force_login(admin_user)

    assert titles(client, team=team_b.pk) == ["Team B's"]


def test_in_my_reports_leaves_out_colleagues_deals_the_rep_may_open(
    client, rep, other_rep, pipeline
):
    shared = PipelineFactory(name="Shared", visibility=Visibility.EVERYONE)
    deal_with_history(pipeline, rep, [("Lead", "2026-10-01")], title="Mine")
    deal_with_history(shared, other_rep, [("Lead", "2026-10-01")], title="Colleague's")
    client.force_login(rep)

    assert titles(client) == ["Colleague's", "Mine"]
    assert titles(client, mine="1") == ["Mine"]


def test_in_my_reports_for_a_manager_covers_their_teams(client, manager, outsider, rep, pipeline):
    shared = PipelineFactory(name="Shared", visibility=Visibility.EVERYONE)
    deal_with_history(shared, outsider, [("Lead", "2026-10-01")], title="Team member's")
    deal_with_history(shared, rep, [("Lead", "2026-10-01")], title="Other team's")
    client.force_login(manager)

    assert titles(client, mine="1") == ["Team member's"]


def test_account_and_lost_reason_filters_are_described_above_the_results(client, rep, pipeline):
    acme = AccountFactory(name="Acme <b>", owner=rep)
    deal_with_history(
        pipeline,
        rep,
        [("Lead", "2026-10-01"), ("Lost", "2026-10-02")],
        title="Lost on price",
        account=acme,
        lost_reason="Price",
    )
    deal_with_history(
        pipeline,
        rep,
        [("Lead", "2026-10-01"), ("Lost", "2026-10-02")],
        title="Lost on timing",
        account=acme,
        lost_reason="Timing",
    )
    deal_with_history(pipeline, rep, [("Lead", "2026-10-01")], title="Elsewhere")
    price = stage(pipeline, "Lost").deals.get(title="Lost on price").lost_reason
    client.force_login(rep)

    response = client.get(reverse("deals:list"), {"account": acme.pk, "lost_reason": price.pk})

    assert [deal.title for deal in response.context["page_obj"]] == ["Lost on price"]
    html = response.content.decode()
    assert "Account: Acme &lt;b&gt; · Lost reason: Price" in html
    # kept as hidden fields, so that changing another filter keeps them
    assert f'name="account" value="{acme.pk}"' in html


def test_reached_counts_deals_that_passed_a_stage_even_when_they_skipped_it(client, rep, pipeline):
    path = [("Lead", "2026-10-01")]
    deal_with_history(pipeline, rep, path, title="Stayed in Lead")
    deal_with_history(pipeline, rep, [*path, ("Qualified", "2026-10-02")], title="Qualified")
    deal_with_history(pipeline, rep, [*path, ("Proposal made", "2026-10-02")], title="Skipped")
    deal_with_history(pipeline, rep, [*path, ("Won", "2026-10-03")], title="Won")
    deal_with_history(
        pipeline,
        rep,
        [*path, ("Contacted", "2026-10-02"), ("Lost", "2026-10-03")],
        title="Lost after Contacted",
    )
    client.force_login(rep)

    reached = titles(client, reached=stage(pipeline, "Qualified").pk)

    assert reached == ["Qualified", "Skipped", "Won"]
    assert titles(client, reached=stage(pipeline, "Won").pk) == []  # open stages only


@time_machine.travel("2026-11-25 12:00Z", tick=False)
def test_expected_close_none_or_past(client, rep, pipeline):
    deal_with_history(pipeline, rep, [("Lead", "2026-10-01")], title="Undated")
    deal_with_history(
        pipeline, rep, [("Lead", "2026-10-01")], title="Overdue", expected_close_date="2026-11-24"
    )
    deal_with_history(
        pipeline, rep, [("Lead", "2026-10-01")], title="Ahead", expected_close_date="2026-11-25"
    )
    client.force_login(rep)

    assert titles(client, expected="none") == ["Undated"]
    assert titles(client, expected="past") == ["Overdue"]
    response = client.get(reverse("deals:list"), {"expected": "someday"})
    assert response.context["totals"].count == 0
    assert "Select a valid choice" in response.content.decode()
