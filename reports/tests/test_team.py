"""The team report, hand-computed on a small fixed data set.

The period is Q1 2026 (custom dates, 2026-01-01 – 2026-03-31), "now" is 2026-03-31 noon UTC.
Stage rotting days: Lead 5, Qualified 30 (the others none); follow-up threshold: the
setting, 10 days.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.test import override_settings
from django.urls import reverse

from deals.models import Activity, ActivityKind, Deal
from pipeline_crm.tests.factories import UserFactory
from reports.periods import Period
from reports.selectors.team import team_figures
from reports.tests.factories import at, deal_with_history
from stages.models import Pipeline
from stages.tests.factories import PipelineFactory

NOW = at("2026-03-31")
Q1 = Period(dt.date(2026, 1, 1), dt.date(2026, 3, 31))
TRANSACTION = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")
Q1_QUERY = {"period": "custom", "start": "2026-01-01", "end": "2026-03-31"}
HEADER = [
    "Rep",
    "Emails",
    "Calls",
    "Meetings",
    "Notes",
    "Created",
    "Won",
    "Won revenue",
    "Win rate",
    "Open pipeline",
    "Weighted",
    "Avg cycle (days)",
    "Stale",
]
#            emails calls meetings notes created won  revenue  rate      open     weighted cycle   stale
ALICE = [
    "Alice Archer",
    "2",
    "3",
    "1",
    "1",
    "4",
    "2",
    "$4,000",
    "66.7 %",
    "$7,000",
    "$2,400",
    "85.0 d",
    "2",
]  # noqa: E501
BOB = ["Bob Baker", "0", "1", "0", "0", "3", "1", "$2,000", "50.0 %", "$500", "$100", "10.0 d", "0"]
TEAM_A = [
    "Team A subtotal",
    "2",
    "4",
    "1",
    "1",
    "7",
    "3",
    "$6,000",
    "60.0 %",
    "$7,500",
    "$2,500",
    "60.0 d",
    "2",
]  # noqa: E501
CAROL = [
    "Carol Clark",
    "0",
    "0",
    "2",
    "0",
    "2",
    "1",
    "$5,000",
    "100.0 %",
    "$2,500",
    "$250",
    "30.0 d",
    "1",
]  # noqa: E501
TEAM_B = ["Team B subtotal", *CAROL[1:]]
# Dave manages Team B without being on a team: he counts in it.
DAVE = ["Dave Dunn (manager)", "0", "0", "0", "0", "0", "0", "$0", "—", "$0", "$0", "—", "0"]
ERIN = ["Erin Evans", "0", "1", "0", "0", "0", "0", "$0", "—", "$0", "$0", "—", "0"]
NO_TEAM = ["No team subtotal", *ERIN[1:]]
TOTAL = [
    "Total",
    "2",
    "5",
    "3",
    "1",
    "9",
    "4",
    "$11,000",
    "66.7 %",
    "$10,000",
    "$2,750",
    "52.5 d",
    "3",
]  # noqa: E501


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False), override_settings(FOLLOWUP_INACTIVE_DAYS=10):
        yield


@pytest.fixture
def rotting(pipeline):
    pipeline.stages.filter(name="Lead").update(rotting_days=5)
    pipeline.stages.filter(name="Qualified").update(rotting_days=30)
    return pipeline


def log(user, kind: str, when: dt.datetime, *, deal: Deal | None = None, account=None) -> Activity:
    return Activity.objects.create(
        kind=kind,
        subject=kind,
        user=user,
        deal=deal,
        account=account or deal.account,
        occurred_at=when,
    )


@pytest.fixture
def data(rotting, rep, other_rep, outsider, manager, admin_user):
    """Alice and Bob in Team A, Carol in Team B (managed by Dave, who has no team), Erin an
    admin. Cycles: Alice 64 and 106 days, Bob 10, Carol 30."""
    p = rotting
    won_alice = deal_with_history(
        p, rep, [("Lead", "2026-01-05"), ("Qualified", "2026-02-01"), ("Won", "2026-03-10")]
    )
    deal_with_history(p, rep, [("Lead", "2025-11-01"), ("Won", "2026-02-15")], value=3000)
    deal_with_history(p, rep, [("Lead", "2026-01-20"), ("Lost", "2026-02-20")], value=500)
    deal_with_history(p, rep, [("Lead", "2025-12-01"), ("Lost", "2025-12-20")], value=800)
    deal_with_history(p, rep, [("Lead", "2025-10-01"), ("Won", "2025-12-15")], value=9000)
    # Open: quiet 11 days in Lead (rots after 5): stale.
    deal_with_history(p, rep, [("Lead", "2026-03-20")], value=2000)
    # Open: quiet 6 days in Qualified (rots after 30, follow-up after 10): not stale.
    deal_with_history(p, rep, [("Qualified", "2026-03-25")], value=4000)
    # Open: quiet 16 days in Proposal made (no rotting; follow-up after 10): stale.
    deal_with_history(
        p,
        rep,
        [("Lead", "2025-10-01"), ("Proposal made", "2026-01-10")],
        last_activity="2026-03-15",
    )

    bob_won = deal_with_history(p, other_rep, [("Contacted", "2026-02-01"), ("Won", "2026-02-11")])
    bob_won.value = Decimal(2000)
    bob_won.save(update_fields=["value"])
    deal_with_history(p, other_rep, [("Lead", "2026-01-10"), ("Lost", "2026-01-31")], value=700)
    deal_with_history(
        p, other_rep, [("Contacted", "2026-03-01")], value=500, last_activity="2026-03-22"
    )

    carol_won = deal_with_history(
        p, outsider, [("Lead", "2026-02-01"), ("Won", "2026-03-03")], value=5000
    )
    deal_with_history(p, outsider, [("Lead", "2026-03-29")], value=1000)
    deal_with_history(p, outsider, [("Lead", "2025-12-01")], value=1500, last_activity="2026-03-25")

    for kind, count in [("email", 2), ("call", 3), ("meeting", 1), ("note", 1)]:
        for _ in range(count):
            log(rep, kind, at("2026-02-10"), deal=won_alice)
    # Outside the period, to the second.
    log(
        rep,
        ActivityKind.EMAIL,
        at("2025-12-31", hour=23) + dt.timedelta(minutes=59, seconds=59),
        deal=won_alice,
    )
    log(rep, ActivityKind.CALL, at("2026-04-01", hour=0), deal=won_alice)
    # On Alice's deal, by someone else: Erin's figure.
    log(admin_user, ActivityKind.CALL, at("2026-01-01", hour=0), deal=won_alice)
    log(other_rep, ActivityKind.CALL, at("2026-03-01"), deal=bob_won)
    log(outsider, ActivityKind.MEETING, at("2026-03-02"), deal=carol_won)
    log(outsider, ActivityKind.MEETING, at("2026-03-31", hour=23), deal=carol_won)
    return p


def get_team(client, user, **params):
    client.force_login(user)
    response = client.get(reverse("reports:team"), Q1_QUERY | params)
    assert response.status_code == 200
    return response


def texts(table) -> list[list[str]]:
    rows = [[c.text for c in row] for row in table.rows]
    return rows + ([[c.text for c in table.footer]] if table.footer else [])


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


# --- Every column, subtotals and total ------------------------------------------------------


def test_admin_sees_every_rep_grouped_by_team_with_subtotals(client, frozen, data, admin_user):
    response = get_team(client, admin_user)
    table = response.context["team_table"]
    assert [c.label for c in table.columns] == HEADER
    assert texts(table) == [ALICE, BOB, TEAM_A, CAROL, DAVE, TEAM_B, ERIN, NO_TEAM, TOTAL]


def test_subtotal_rows_are_marked_on_the_page(client, frozen, data, admin_user):
    response = get_team(client, admin_user)
    table = response.context["team_table"]
    assert table.subtotals == {2, 5, 7}
    html = response.content.decode()
    assert html.count('class="report-subtotal"') == 3
    assert '<th scope="row" data-value="Team A subtotal">Team A subtotal</th>' in html


def test_rates_of_a_team_are_its_own_not_an_average_of_its_reps(frozen, data, admin_user):
    team_a = team_figures(admin_user, period=Q1, now=NOW)[0]
    alice, bob = (row.figures for row in team_a.people)
    assert (alice.won, alice.lost, bob.won, bob.lost) == (2, 1, 1, 1)
    assert team_a.figures.win_rate == Decimal(60)  # 3 ÷ 5, not (66.7 + 50) ÷ 2
    assert team_a.figures.average_cycle == Decimal(60)  # (64 + 106 + 10) ÷ 3, not (85 + 10) ÷ 2


# --- Who is listed --------------------------------------------------------------------------


def test_a_rep_sees_only_their_own_row(client, frozen, data, rep):
    table = get_team(client, rep).context["team_table"]
    assert texts(table) == [ALICE, ["Total", *ALICE[1:]]]
    assert table.subtotals == set()


def test_a_manager_sees_their_teams_and_themselves(client, frozen, data, manager):
    table = get_team(client, manager).context["team_table"]
    assert texts(table) == [CAROL, DAVE, ["Total", *CAROL[1:]]]


def test_a_manager_on_no_team_counts_in_the_team_they_manage_and_its_filter(
    client, frozen, data, admin_user, manager, team_b
):
    deal = deal_with_history(
        data, manager, [("Lead", "2026-02-01"), ("Won", "2026-03-01")], value=700
    )
    log(manager, ActivityKind.MEETING, at("2026-03-05"), deal=deal)
    dave = ["Dave Dunn (manager)", "0", "0", "1", "0", "1", "1", "$700", "100.0 %", "$0", "$0"]

    table = get_team(client, admin_user, team=team_b.pk).context["team_table"]

    assert [row[:11] for row in texts(table)[1:]] == [dave, ["Total", *TEAM_B_WITH_DAVE]]
    assert listed(client, table.footer[7].url) == (2, Decimal(5700))  # won revenue: both


TEAM_B_WITH_DAVE = ["0", "0", "3", "0", "3", "2", "$5,700", "100.0 %", "$2,500", "$250"]


def test_team_and_owner_filters_narrow_the_rows(
    client, frozen, data, admin_user, team_a, other_rep
):
    table = get_team(client, admin_user, team=team_a.pk).context["team_table"]
    assert texts(table) == [ALICE, BOB, ["Total", *TEAM_A[1:]]]
    table = get_team(client, admin_user, owner=other_rep.pk).context["team_table"]
    assert texts(table) == [BOB, ["Total", *BOB[1:]]]


def test_inactive_people_are_listed_only_with_figures(client, frozen, data, admin_user, team_a):
    gone = UserFactory(
        username="frank", first_name="Frank", last_name="Fox", team=team_a, is_active=False
    )
    UserFactory(username="gail", first_name="Gail", last_name="Gone", team=team_a, is_active=False)
    deal_with_history(data, gone, [("Lead", "2025-06-01"), ("Won", "2026-01-11")], value=100)
    table = get_team(client, admin_user).context["team_table"]
    labels = [row[0].text for row in table.rows]
    assert labels[:4] == ["Alice Archer", "Bob Baker", "Frank Fox (inactive)", "Team A subtotal"]
    frank = table.rows[2]
    assert [c.text for c in frank[6:8]] == ["1", "$100"]
    assert not any(c.url for c in frank)  # the deal list filters by active people only
    assert table.rows[3][7].text == "$6,100"


def test_someone_without_figures_gets_a_row_of_zeros(client, frozen, rep):
    table = get_team(client, rep).context["team_table"]
    zeros = ["0", "0", "0", "0", "0", "0", "$0", "—", "$0", "$0", "—", "0"]
    assert texts(table) == [["Alice Archer", *zeros], ["Total", *zeros]]


# --- Stale deals ----------------------------------------------------------------------------


@override_settings(FOLLOWUP_INACTIVE_DAYS=10)
def test_stale_is_beyond_the_rotting_days_or_the_follow_up_threshold(rotting, rep, admin_user):
    renewals = PipelineFactory(name="Renewals", followup_days=3)

    def quiet(pipeline: Pipeline, name: str, idle: dt.timedelta, *, then=(), **changes) -> None:
        deal = deal_with_history(pipeline, rep, [(name, "2026-01-02"), *then])
        Deal.objects.filter(pk=deal.pk).update(last_activity_at=NOW - idle, **changes)

    days = dt.timedelta(days=1)
    quiet(rotting, "Lead", 6 * days)  # rots after 5: stale
    quiet(rotting, "Lead", 4 * days)
    quiet(rotting, "Qualified", 12 * days)  # rots after 30, but follow-up after 10: stale
    quiet(rotting, "Qualified", 9 * days)
    quiet(rotting, "Contacted", 11 * days)  # no rotting; follow-up after 10: stale
    quiet(rotting, "Contacted", 10 * days)  # exactly the threshold: not yet
    quiet(renewals, "Lead", 4 * days)  # the pipeline follows up after 3: stale
    quiet(renewals, "Lead", 2 * days)
    quiet(rotting, "Lead", 100 * days, then=[("Won", "2026-01-05")])  # closed
    quiet(rotting, "Lead", 100 * days, is_archived=True)

    groups = team_figures(admin_user, period=Q1, now=NOW)
    assert groups[0].people[0].figures.stale == 4
    groups = team_figures(admin_user, period=Q1, now=NOW, pipeline=renewals)
    assert groups[0].people[0].figures.stale == 1


def test_a_pipeline_without_open_stages_has_no_stale_deals(frozen, data, admin_user):
    closing = PipelineFactory(name="Closing")
    closing.stages.filter(kind="open").delete()
    groups = team_figures(admin_user, period=Q1, now=NOW, pipeline=closing)
    assert all(not row.figures for group in groups for row in group.people)


# --- Pipeline filter ------------------------------------------------------------------------


def test_the_pipeline_filter_keeps_its_deals_and_their_activities(
    client, frozen, data, rep, admin_user
):
    renewals = PipelineFactory(name="Renewals")
    renewal = deal_with_history(
        renewals, rep, [("Lead", "2026-01-03"), ("Won", "2026-03-01")], value=7000
    )
    log(rep, ActivityKind.EMAIL, at("2026-03-01"), deal=renewal)
    log(rep, ActivityKind.NOTE, at("2026-03-01"), account=renewal.account)  # no deal

    everything = texts(get_team(client, admin_user).context["team_table"])
    assert everything[0][1:8] == ["3", "3", "1", "2", "5", "3", "$11,000"]

    sales = texts(get_team(client, admin_user, pipeline=data.pk).context["team_table"])
    assert sales[0] == ALICE
    assert sales[-1] == TOTAL

    only = texts(get_team(client, admin_user, pipeline=renewals.pk).context["team_table"])
    assert only[0] == [
        "Alice Archer",
        "1",
        "0",
        "0",
        "0",
        "1",
        "1",
        "$7,000",
        "100.0 %",
        "$0",
        "$0",
        "57.0 d",
        "0",
    ]  # noqa: E501


# --- Links, charts, CSV ---------------------------------------------------------------------


def listed(client, url: str) -> tuple[int, Decimal]:
    """How many deals the deal list behind a link holds, and their total value."""
    totals = client.get(url).context["totals"]
    return totals.count, totals.total


def test_figures_link_to_the_deals_behind_them(client, frozen, data, rep, admin_user, team_a):
    table = get_team(client, admin_user).context["team_table"]
    alice, team_row, total = table.rows[0], table.rows[2], table.footer
    assert query_of(alice[5].url) == {
        "owner": [str(rep.pk)],
        "created_from": ["2026-01-01"],
        "created_to": ["2026-03-31"],
    }
    assert listed(client, alice[5].url)[0] == 4  # created
    assert alice[6].url == alice[7].url
    assert listed(client, alice[7].url) == (2, 4000)  # won
    assert alice[9].url == alice[10].url
    assert listed(client, alice[9].url) == (3, 7000)  # open
    assert query_of(team_row[7].url)["team"] == [str(team_a.pk)]
    assert listed(client, team_row[5].url)[0] == 7
    assert listed(client, team_row[7].url) == (3, 6000)
    assert listed(client, team_row[9].url) == (4, 7500)
    assert listed(client, total[5].url)[0] == 9
    assert listed(client, total[7].url) == (4, 11000)
    assert listed(client, total[9].url) == (6, 10000)
    assert [c.url for c in alice[1:5]] == [""] * 4  # activities have no list
    assert query_of(alice[12].url) == {"owner": [str(rep.pk)], "status": ["open"], "stale": ["1"]}
    assert listed(client, alice[12].url) == (2, 3000)  # stale: Lead $2,000, Proposal $1,000
    assert listed(client, team_row[12].url) == (2, 3000)
    assert (
        "Stale: no activity for longer than their stage allows"
        in client.get(alice[12].url).content.decode()
    )


def test_a_reps_links_keep_to_their_own_deals(client, frozen, data, rep):
    table = get_team(client, rep).context["team_table"]
    assert listed(client, table.footer[7].url) == (2, 4000)
    assert listed(client, table.footer[9].url) == (3, 7000)


def test_charts_of_activity_and_won_revenue_by_rep(client, frozen, data, admin_user):
    response = get_team(client, admin_user)
    activity, revenue = response.context["activity_table"], response.context["revenue_table"]
    assert texts(activity) == [
        ["Alice Archer", "2", "3", "1", "1"],
        ["Carol Clark", "0", "0", "2", "0"],
        ["Bob Baker", "0", "1", "0", "0"],
        ["Erin Evans", "0", "1", "0", "0"],
        ["Dave Dunn (manager)", "0", "0", "0", "0"],
    ]
    assert texts(revenue) == [
        ["Carol Clark", "$5,000", "1"],
        ["Alice Archer", "$4,000", "2"],
        ["Bob Baker", "$2,000", "1"],
        ["Dave Dunn (manager)", "$0", "0"],
        ["Erin Evans", "$0", "0"],
    ]
    html = response.content.decode()
    assert 'id="activity-chart"' in html and "data-chart-stacked" in html
    assert 'id="won-revenue-chart"' in html and "data-chart-horizontal" in html


def read_csv(response) -> list[list[str]]:
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def test_the_csv_equals_the_table_subtotals_included(client, frozen, data, admin_user):
    table = get_team(client, admin_user).context["team_table"]
    response = client.get(reverse("reports:team"), Q1_QUERY | {"format": "csv", "table": "team"})
    rows = read_csv(response)
    assert rows[0] == HEADER
    assert rows[1:] == [[c.plain for c in row] for row in [*table.rows, table.footer]]
    assert rows[3] == [
        "Team A subtotal",
        "2",
        "4",
        "1",
        "1",
        "7",
        "3",
        "6000",
        "60.0",
        "7500",
        "2500",
        "60.0",
        "2",
    ]  # noqa: E501
    assert len(rows) == 1 + 9


# --- Query count ----------------------------------------------------------------------------


def count_page_queries(client, user, assert_max_queries) -> int:
    client.force_login(user)
    with assert_max_queries(15) as context:
        response = client.get(reverse("reports:team"), Q1_QUERY)
    assert response.status_code == 200
    return len([q for q in context.captured_queries if not q["sql"].startswith(TRANSACTION)])


def test_query_count_is_pinned_and_constant(
    client, frozen, data, admin_user, team_a, assert_max_queries
):
    before = count_page_queries(client, admin_user, assert_max_queries)
    for n in range(4):
        person = UserFactory(username=f"extra{n}", team=team_a)
        for day in ("2026-01-15", "2026-02-15"):
            deal = deal_with_history(data, person, [("Lead", day), ("Won", "2026-03-01")])
            log(person, ActivityKind.CALL, at(day), deal=deal)
            deal_with_history(data, person, [("Qualified", day)], last_activity="2026-01-20")
    after = count_page_queries(client, admin_user, assert_max_queries)
    assert after == before
