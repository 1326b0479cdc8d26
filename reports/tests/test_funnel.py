"""The funnel report: reached counts with skipped stages, conversions, days in stage, the
learned probabilities beside the configured ones, who sees what, and its query budget."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.core.cache import cache
from django.urls import reverse

from deals.models import Deal, StageChange
from reports.selectors.funnel import days, stage_funnel
from reports.tests.factories import at, deal_with_history
from stages.tests.factories import PipelineFactory, stage

pytestmark = pytest.mark.django_db

URL = reverse("reports:funnel")
Q1 = {"period": "custom", "start": "2026-01-01", "end": "2026-03-31"}
OPEN_STAGES = ["Lead", "Contacted", "Qualified", "Proposal made"]
COLUMNS = [
    "Stage",
    "Reached",
    "Conversion to next stage",
    "Conversion to won",
    "Avg days in stage",
    "Configured probability",
    "Learned probability",
    "Sample (closed deals)",
]


@pytest.fixture(autouse=True)
def _today():
    """Learned probabilities look back 12 months from now: April 15, 2026."""
    with time_machine.travel(at("2026-04-15"), tick=False):
        yield


@pytest.fixture
def deals(pipeline, rep, other_rep):
    """Alice's five deals created in Q1 2026, Bob's one, and two created before Q1.

    Alice's, all at noon:
      D1 Lead 01-05 → Proposal made 01-15 → Won 02-04 (skips Contacted and Qualified)
      D2 Lead 01-10 → Contacted 01-13 → Lost 01-20
      D3 Lead 02-01 → Contacted 02-03 → Qualified 02-10 (still there)
      D4 Lead 02-05 (still there)
      D5 Lead 03-01 → Qualified 03-04 → Lost 03-20 (skips Contacted)
      D6 Lead 2025-12-20 → Won 2026-01-10 (created before Q1)
      D7 Lead 2025-01-05 → Won 2025-03-01 (closed before the learning window)
    Bob's: D8 Lead 01-20 → Contacted 01-25 → Won 02-15
    """
    path = {
        "D1": [("Lead", "2026-01-05"), ("Proposal made", "2026-01-15"), ("Won", "2026-02-04")],
        "D2": [("Lead", "2026-01-10"), ("Contacted", "2026-01-13"), ("Lost", "2026-01-20")],
        "D3": [("Lead", "2026-02-01"), ("Contacted", "2026-02-03"), ("Qualified", "2026-02-10")],
        "D4": [("Lead", "2026-02-05")],
        "D5": [("Lead", "2026-03-01"), ("Qualified", "2026-03-04"), ("Lost", "2026-03-20")],
        "D6": [("Lead", "2025-12-20"), ("Won", "2026-01-10")],
        "D7": [("Lead", "2025-01-05"), ("Won", "2025-03-01")],
    }
    made = {
        name: deal_with_history(pipeline, rep, steps, title=name) for name, steps in path.items()
    }
    made["D8"] = deal_with_history(
        pipeline,
        other_rep,
        [("Lead", "2026-01-20"), ("Contacted", "2026-01-25"), ("Won", "2026-02-15")],
        title="D8",
    )
    return made


def table_of(response) -> list[list[str]]:
    (table,) = response.context["tables"]
    assert [c.label for c in table.columns] == COLUMNS
    return [[c.plain for c in row] for row in table.rows]


def reached(response) -> dict[str, str]:
    return {row[0]: row[1] for row in table_of(response)}


# The funnel


def test_the_funnel_counts_skipped_stages_as_reached_and_converts_stage_to_stage(
    client, rep, deals
):
    client.force_login(rep)
    response = client.get(URL, Q1)

    assert response.status_code == 200
    # Lead: D1-D5. Contacted: D1 (won), D2, D3, D5 (went further, to Qualified).
    # Qualified: D1 (won), D3, D5. Proposal made: D1. Won: D1.
    # Days: Lead (10 + 3 + 2 + 3) / 4 stays that ended; Contacted (7 + 7) / 2;
    # Qualified 16 (D5; D3 is still there); Proposal made 20 (D1).
    # Configured: the Simple template. Learned (closed in the 12 months before April 15,
    # everyone's): Lead D1, D2, D5, D6, D8 → 3 won of 5; Contacted D2, D8 → 1 of 2;
    # Qualified D5 → 0 of 1; Proposal made D1 → 1 of 1.
    assert table_of(response) == [
        ["Lead", "5", "80.0", "20.0", "4.5", "10.0", "60.0", "5"],
        ["Contacted", "4", "75.0", "25.0", "7.0", "20.0", "50.0", "2"],
        ["Qualified", "3", "33.3", "33.3", "16.0", "40.0", "0.0", "1"],
        ["Proposal made", "1", "100.0", "100.0", "20.0", "60.0", "100.0", "1"],
        ["Won", "1", "", "", "", "", "", ""],
    ]


def test_deals_created_outside_the_period_are_left_out(client, rep, deals):
    client.force_login(rep)
    february = {"period": "custom", "start": "2026-02-01", "end": "2026-02-28"}

    response = client.get(URL, february)

    # D3 and D4 only; D3 is still in Qualified, so the Lead row has one ended stay (2 days).
    assert table_of(response)[:2] == [
        ["Lead", "2", "50.0", "0.0", "2.0", "10.0", "60.0", "5"],
        ["Contacted", "1", "100.0", "0.0", "7.0", "20.0", "50.0", "2"],
    ]
    assert reached(response) == {
        "Lead": "2",
        "Contacted": "1",
        "Qualified": "1",
        "Proposal made": "0",
        "Won": "0",
    }


def test_a_stage_nobody_reached_shows_no_conversion(client, rep, pipeline):
    deal_with_history(pipeline, rep, [("Lead", "2026-02-01")])
    client.force_login(rep)

    rows = table_of(client.get(URL, Q1))

    assert rows[0] == ["Lead", "1", "0.0", "0.0", "", "10.0", "", "0"]
    assert rows[1] == ["Contacted", "0", "", "", "", "20.0", "", "0"]


def test_the_page_shows_the_table_chart_and_learned_probability_note(client, rep, deals):
    client.force_login(rep)
    response = client.get(URL, Q1)

    content = response.content.decode()
    assert "Funnel of Sales" in content
    assert 'data-chart-series="1"' in content
    assert "deals closed in the last 12 months that entered the stage" in content
    assert "at least 20 closed deals entered the stage" in content
    assert "4.5 d" in content
    assert "80.0 %" in content


def test_each_reached_count_links_to_the_deals_behind_it(client, rep, deals, pipeline):
    client.force_login(rep)
    (table,) = client.get(URL, Q1).context["tables"]
    lead, contacted = table.rows[0][1], table.rows[1][1]

    query = parse_qs(urlsplit(contacted.url).query)
    assert query.pop("mine")
    assert query == {
        "pipeline": [str(pipeline.pk)],
        "reached": [str(stage(pipeline, "Contacted").pk)],
        "created_from": ["2026-01-01"],
        "created_to": ["2026-03-31"],
    }
    listed = client.get(contacted.url).context["page_obj"]
    assert sorted(d.title for d in listed) == ["D1", "D2", "D3", "D5"]
    assert client.get(lead.url).context["page_obj"].paginator.count == 5
    won = table.rows[-1][1]
    assert [d.title for d in client.get(won.url).context["page_obj"]] == ["D1"]


# Which pipeline


def test_without_a_chosen_pipeline_the_first_active_one_is_shown_and_named(client, rep, deals):
    PipelineFactory(name="Archive", position=0, is_active=False)
    PipelineFactory(name="Renewals", position=5)
    client.force_login(rep)

    response = client.get(URL, Q1)

    assert response.context["pipeline"].name == "Sales"
    assert (
        "No pipeline chosen: this is the funnel of Sales, the first active pipeline."
        in response.content.decode()
    )


def test_a_chosen_pipeline_shows_its_own_stages(client, rep, deals):
    renewals = PipelineFactory(name="Renewals", template="financial-services")
    deal_with_history(renewals, rep, [("First meeting", "2026-02-01")])
    client.force_login(rep)

    response = client.get(URL, Q1 | {"pipeline": renewals.pk})

    assert reached(response) == {
        "First meeting": "1",
        "Proposal submitted": "0",
        "Fee negotiation": "0",
        "Won": "0",
    }
    assert "No pipeline chosen" not in response.content.decode()


def test_without_any_active_pipeline_the_page_says_so(client, rep):
    client.force_login(rep)
    response = client.get(URL, Q1)
    assert response.status_code == 200
    assert "There is no active pipeline to show a funnel for." in response.content.decode()


# Who sees what


def test_a_rep_sees_only_their_own_deals_in_the_funnel(client, other_rep, deals):
    client.force_login(other_rep)
    # Bob's D8 only; the learned columns stay company-wide.
    assert table_of(client.get(URL, Q1))[:2] == [
        ["Lead", "1", "100.0", "100.0", "5.0", "10.0", "60.0", "5"],
        ["Contacted", "1", "100.0", "100.0", "21.0", "20.0", "50.0", "2"],
    ]


def test_a_manager_sees_only_their_teams_deals(client, manager, outsider, deals, pipeline):
    deal_with_history(pipeline, outsider, [("Lead", "2026-01-07"), ("Contacted", "2026-01-09")])
    deal_with_history(pipeline, manager, [("Lead", "2026-01-08")])
    client.force_login(manager)

    assert reached(client.get(URL, Q1)) == {
        "Lead": "2",
        "Contacted": "1",
        "Qualified": "0",
        "Proposal made": "0",
        "Won": "0",
    }


def test_an_admin_sees_everyones_deals(client, admin_user, deals):
    client.force_login(admin_user)
    assert reached(client.get(URL, Q1)) == {
        "Lead": "6",
        "Contacted": "5",
        "Qualified": "4",
        "Proposal made": "2",
        "Won": "2",
    }


# CSV and query budget


def test_the_csv_equals_the_table(client, rep, deals):
    client.force_login(rep)
    page = client.get(URL, Q1)

    response = client.get(URL, Q1 | {"format": "csv", "table": "funnel"})

    assert response.status_code == 200
    assert response["Content-Disposition"].endswith('funnel-2026-01-01-2026-03-31.csv"')
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[0] == COLUMNS
    assert rows[1:] == table_of(page)


def test_the_query_count_is_small_and_does_not_grow_with_deals(
    client, manager, outsider, pipeline, assert_max_queries
):
    def add_deals(count: int) -> None:
        for index in range(count):
            deal_with_history(
                pipeline,
                outsider,
                [("Lead", "2026-01-05"), ("Contacted", f"2026-01-{index + 6:02d}")]
                + [("Won" if index % 2 else "Lost", "2026-03-01")],
            )

    def data_queries() -> int:
        # the session and the user, the first active pipeline, its open stages, the learned
        # probabilities (stages and counts; cached, but cleared here: the worst case), the
        # reached counts, the average stays, the nav badge, the filters' pipeline, team and
        # owner choices
        cache.clear()
        with assert_max_queries(12) as captured:
            response = client.get(URL, Q1)
        assert response.status_code == 200
        return sum(
            not q["sql"].startswith(("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"))
            for q in captured.captured_queries
        )

    client.force_login(manager)
    add_deals(2)
    few = data_queries()
    add_deals(20)
    many = data_queries()

    assert many == few, (few, many)
    assert reached(client.get(URL, Q1))["Contacted"] == "22"


# The selector


def test_days_in_stage_are_fractional_days(rep, pipeline):
    deal = deal_with_history(pipeline, rep, [("Lead", "2026-01-05")])
    lead, contacted = stage(pipeline, "Lead"), stage(pipeline, "Contacted")
    StageChange.objects.create(
        deal=deal,
        from_stage=lead,
        to_stage=contacted,
        changed_at=at("2026-01-06", hour=0),  # 12 hours after entering Lead
    )
    # Two changes at the same moment: the later row ends the earlier one's stay (0 days).
    StageChange.objects.create(
        deal=deal, from_stage=contacted, to_stage=lead, changed_at=at("2026-01-07", hour=0)
    )
    StageChange.objects.create(
        deal=deal, from_stage=lead, to_stage=contacted, changed_at=at("2026-01-07", hour=0)
    )
    stages = list(pipeline.stages.open().order_by("position"))

    funnel = stage_funnel(Deal.objects.all(), stages=stages)

    lead_row, contacted_row = funnel.stages[:2]
    # Lead: 0.5 day, then 0 days → 0.25; Contacted: 1 day (01-06 00:00 → 01-07 00:00).
    assert lead_row.avg_days == Decimal("0.25")
    assert contacted_row.avg_days == Decimal(1)
    assert isinstance(lead_row.avg_days, Decimal)


def test_days_converts_durations_to_decimal_days():
    assert days(dt.timedelta(days=1, hours=6)) == Decimal("1.25")
    assert days(None) is None
