"""The forecast report: months ahead, deals outside them, learned weighting, past accuracy.

Today is Wednesday 2026-11-25 (UTC): the window runs from October 2026 to March 2027, the
quarters checked for accuracy are Q4 2025 to Q3 2026. Every figure is computed by hand in
the comments next to the data.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from deals.models import Deal, StageChange
from deals.services import update_deal
from pipeline_crm.csv_export import safe_cell
from reports.periods import Period
from reports.scope import report_deals
from reports.selectors.forecast import accuracy_quarters, forecast, forecast_window
from reports.selectors.history import probabilities_at
from reports.tables import rounded
from reports.tests.factories import at, deal_with_history
from stages.models import Stage
from stages.tests.factories import stage

pytestmark = pytest.mark.django_db

NOW = "2026-11-25 12:00Z"
TODAY = dt.date(2026, 11, 25)
MONTHS = [
    "October 2026",
    "November 2026",
    "December 2026",
    "January 2027",
    "February 2027",
    "March 2027",
]


def open_deal(pipeline, owner, stage_name: str, value, expected: str | None) -> Deal:
    return deal_with_history(
        pipeline, owner, [(stage_name, "2026-09-01")], value=value, expected_close_date=expected
    )


def closed_deal(pipeline, owner, outcome: str, when: dt.datetime, value) -> Deal:
    """A deal created in Lead on 2026-09-01 and won or lost at the instant `when`."""
    deal = deal_with_history(
        pipeline,
        owner,
        [("Lead", "2026-09-01"), (outcome, when.date().isoformat())],
        value=value,
        expected_close_date="2026-11-15",
    )
    Deal.objects.filter(pk=deal.pk).update(closed_at=when, stage_changed_at=when)
    return deal


def show(client, user, **params):
    client.force_login(user)
    response = client.get(reverse("reports:forecast"), params)
    assert response.status_code == 200, response.content[:500]
    return {table.key: table for table in response.context["tables"]}, response


def texts(table) -> list[list[str]]:
    rows = [[cell.text for cell in row] for row in table.rows]
    if table.footer:
        rows.append([cell.text for cell in table.footer])
    return rows


def query(url: str) -> dict[str, str]:
    parts = urlsplit(url)
    assert parts.path == reverse("deals:list")
    return {name: values[0] for name, values in parse_qs(parts.query).items()}


def data_queries(context) -> int:
    return sum(
        1
        for q in context.captured_queries
        if not q["sql"].startswith(("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"))
    )


@pytest.fixture
def month_data(pipeline, rep):
    """Open deals around the window's edges, won and lost deals around month boundaries."""
    open_deal(pipeline, rep, "Lead", 1000, "2026-11-25")  # today: November, 10 % → 100
    open_deal(pipeline, rep, "Qualified", 2000, "2026-11-30")  # November, 40 % → 800
    open_deal(pipeline, rep, "Proposal made", 500, "2026-12-01")  # December, 60 % → 300
    open_deal(pipeline, rep, "Contacted", 3000, "2027-03-31")  # window's last day, 20 % → 600
    open_deal(pipeline, rep, "Lead", 700, "2027-04-01")  # later → 70
    open_deal(pipeline, rep, "Lead", 400, "2026-11-24")  # yesterday: passed → 40
    open_deal(pipeline, rep, "Qualified", 600, "2026-10-15")  # passed, in the window → 240
    open_deal(pipeline, rep, "Lead", 800, None)  # no date → 80
    archived = open_deal(pipeline, rep, "Lead", 50000, "2026-12-15")
    Deal.objects.filter(pk=archived.pk).update(is_archived=True)
    closed_deal(pipeline, rep, "Won", at("2026-11-01", 0), 5000)  # first instant of November
    closed_deal(pipeline, rep, "Won", dt.datetime(2026, 10, 31, 23, 59, 59, tzinfo=dt.UTC), 1500)
    closed_deal(pipeline, rep, "Won", dt.datetime(2026, 9, 30, 23, 59, tzinfo=dt.UTC), 700)
    closed_deal(pipeline, rep, "Lost", at("2026-11-10"), 9999)


@time_machine.travel(NOW, tick=False)
def test_months_bucket_open_deals_by_expected_close_and_stack_what_was_won(client, rep, month_data):
    tables, response = show(client, rep)
    months = tables["forecast-months"]
    assert [column.label for column in months.columns] == [
        "Month",
        "Won",
        "Weighted open",
        "Open total",
        "Deals",
    ]
    assert texts(months) == [
        ["October 2026", "$1,500", "$0", "$0", "0"],
        ["November 2026", "$5,000", "$900", "$3,000", "2"],
        ["December 2026", "$0", "$300", "$500", "1"],
        ["January 2027", "$0", "$0", "$0", "0"],
        ["February 2027", "$0", "$0", "$0", "0"],
        ["March 2027", "$0", "$600", "$3,000", "1"],
        ["Total", "$6,500", "$1,800", "$6,500", "4"],
    ]
    assert months.chart.series == (1, 2) and months.chart.stacked
    assert texts(tables["forecast-apart"]) == [
        ["No date", "$80", "$800", "1"],
        ["Passed (before Nov 25, 2026)", "$280", "$1,000", "2"],
        ["Later (from Apr 1, 2027)", "$70", "$700", "1"],
    ]
    assert "the period filter does not change this window" in months.note
    page = response.content.decode()
    assert "October 2026 to March 2027" in page
    assert 'data-chart-series="1,2" data-chart-colors="won,accent" data-chart-stacked' in page


@time_machine.travel(NOW, tick=False)
def test_the_period_filter_does_not_move_the_window(client, rep, month_data):
    shown, _ = show(client, rep)
    last_year, _ = show(client, rep, period="last_year")
    custom, _ = show(client, rep, period="custom", start="2020-01-01", end="2020-03-31")
    for tables in (last_year, custom):
        for key in ("forecast-months", "forecast-apart", "forecast-accuracy"):
            assert texts(tables[key]) == texts(shown[key])


def test_window_and_accuracy_quarters_follow_today():
    assert forecast_window(dt.date(2026, 12, 31)) == Period(
        dt.date(2026, 10, 1), dt.date(2027, 3, 31)
    )
    assert forecast_window(dt.date(2027, 1, 1)) == Period(dt.date(2027, 1, 1), dt.date(2027, 6, 30))
    assert [q.label for q in accuracy_quarters(dt.date(2026, 10, 1))] == [
        "Q4 2025",
        "Q1 2026",
        "Q2 2026",
        "Q3 2026",
    ]
    assert [q.label for q in accuracy_quarters(dt.date(2027, 1, 1))][-1] == "Q4 2026"


def test_on_the_first_day_of_a_quarter_passed_dates_move_to_the_apart_row(
    admin_user, pipeline, rep
):
    open_deal(pipeline, rep, "Lead", 1000, "2026-12-31")  # passed on Jan 1
    open_deal(pipeline, rep, "Lead", 2000, "2027-01-01")  # today
    open_deal(pipeline, rep, "Lead", 3000, "2027-07-01")  # first day after the window
    result = forecast(report_deals(admin_user), today=dt.date(2027, 1, 1))
    assert [m.month.label for m in result.months][0] == "January 2027"
    assert result.months[0].open.total == Decimal(2000)
    assert result.months[0].open.weighted == Decimal(200)
    assert (result.overdue.total, result.later.total) == (Decimal(1000), Decimal(3000))


@pytest.fixture
def learned_history(pipeline, settings, other_rep):
    """Closed in the last 12 months: 3 deals entered Lead, 1 won → 33.3 %; 1 entered
    Qualified (lost): too small a sample at a minimum of 3, so Qualified keeps 40 %."""
    settings.LEARNED_PROBABILITY_MIN_SAMPLE = 3
    deal_with_history(pipeline, other_rep, [("Lead", "2026-03-01"), ("Won", "2026-04-01")])
    deal_with_history(pipeline, other_rep, [("Lead", "2026-03-01"), ("Lost", "2026-04-01")])
    deal_with_history(
        pipeline,
        other_rep,
        [("Lead", "2026-03-01"), ("Qualified", "2026-03-15"), ("Lost", "2026-04-01")],
    )


@pytest.fixture
def december(pipeline, rep):
    open_deal(pipeline, rep, "Lead", 1000, "2026-12-10")  # configured 100, learned 333
    open_deal(pipeline, rep, "Lead", Decimal("1234.56"), "2026-12-11")  # 123.456 | 411.10848
    open_deal(pipeline, rep, "Qualified", 1000, "2026-12-20")  # 400 both ways


@time_machine.travel(NOW, tick=False)
def test_learned_probabilities_replace_configured_ones_where_the_sample_is_large_enough(
    client, rep, learned_history, december
):
    configured, response = show(client, rep)
    assert texts(configured["forecast-months"])[2] == [
        "December 2026",
        "$0",
        "$623",  # 623.456
        "$3,235",  # 3234.56
        "3",
    ]
    assert "configured probability" in configured["forecast-months"].note
    assert response.context["learned_note"] == ""

    learned, response = show(client, rep, probabilities="learned")
    assert texts(learned["forecast-months"])[2] == [
        "December 2026",
        "$0",
        "$1,144",  # 333 + 411.10848 + 400
        "$3,235",
        "3",
    ]
    assert "learned probability" in learned["forecast-months"].note
    assert response.context["learned_note"].startswith(
        "Learned probabilities: 1 of 4 open stages had at least 3 deals closed in the last 12"
    )
    assert "1 of 4 open stages" in response.content.decode()
    # The accuracy check always uses the configured probabilities of the stages then.
    assert texts(learned["forecast-accuracy"]) == texts(configured["forecast-accuracy"])


@time_machine.travel(NOW, tick=False)
def test_an_unknown_probabilities_value_reads_as_configured(client, rep, learned_history, december):
    tables, response = show(client, rep, probabilities="<bogus>")
    assert texts(tables["forecast-months"])[2][2] == "$623"
    configured, learned = response.context["probability_modes"]
    assert (configured["active"], learned["active"]) == (True, False)
    assert (configured["url"], learned["url"]) == (
        reverse("reports:forecast"),
        reverse("reports:forecast") + "?probabilities=learned",
    )


@time_machine.travel(NOW, tick=False)
def test_the_toggle_keeps_the_other_filters(client, admin_user, pipeline, learned_history):
    _, response = show(
        client, admin_user, pipeline=pipeline.pk, period="last_month", probabilities="learned"
    )
    configured, learned = response.context["probability_modes"]
    assert (configured["active"], learned["active"]) == (False, True)
    assert parse_qs(urlsplit(configured["url"]).query) == {
        "pipeline": [str(pipeline.pk)],
        "period": ["last_month"],
    }
    assert parse_qs(urlsplit(learned["url"]).query) == {
        "pipeline": [str(pipeline.pk)],
        "period": ["last_month"],
        "probabilities": ["learned"],
    }
    # With a pipeline chosen, the learned values are that pipeline's four open stages.
    assert "1 of 4 open stages" in response.context["learned_note"]
    page = response.content.decode()
    assert 'class="btn btn-primary" aria-current="page">Learned probabilities</a>' in page


@pytest.fixture
def accuracy_data(pipeline, rep):
    # Q4 2025 (from Oct 1): forecast 400, won 1000 → +600, error 60 %.
    deal_with_history(  # won before the quarter began: not in its forecast
        pipeline,
        rep,
        [("Lead", "2025-09-01"), ("Won", "2025-09-20")],
        value=5000,
        expected_close_date="2025-11-01",
    )
    deal_with_history(  # Qualified 40 % on Oct 1, won on the quarter's last day
        pipeline,
        rep,
        [("Qualified", "2025-09-15"), ("Won", "2025-12-31")],
        value=1000,
        expected_close_date="2025-12-31",
    )
    # Q1 2026 (from Jan 1): forecast 100 (still open, Lead), won 0 → no error.
    deal_with_history(
        pipeline, rep, [("Lead", "2025-09-01")], value=1000, expected_close_date="2026-01-01"
    )
    # Q2 2026 (from Apr 1): forecast 200 + 600 = 800, won 1000 → +200, error 20 %.
    deal_with_history(  # Contacted 20 % on Apr 1, lost later
        pipeline,
        rep,
        [("Contacted", "2026-02-01"), ("Lost", "2026-05-01")],
        value=1000,
        expected_close_date="2026-05-15",
    )
    deal_with_history(  # Proposal made 60 % on Apr 1, won in June
        pipeline,
        rep,
        [("Proposal made", "2026-03-01"), ("Won", "2026-06-10")],
        value=1000,
        expected_close_date="2026-06-30",
    )
    # Q3 2026 (from Jul 1): forecast 100 + 200 = 300, won 1000 + 2000 → +2700, error 90 %.
    deal_with_history(  # Lead 10 % on Jul 1; moved to Proposal made after it, then won
        pipeline,
        rep,
        [("Lead", "2026-05-01"), ("Proposal made", "2026-07-15"), ("Won", "2026-08-10")],
        value=1000,
        expected_close_date="2026-08-15",
    )
    deal_with_history(  # created after Jul 1: won in Q3 but not in its forecast
        pipeline,
        rep,
        [("Lead", "2026-07-05"), ("Won", "2026-09-01")],
        value=2000,
        expected_close_date="2026-09-10",
    )
    deal_with_history(  # Qualified 40 % on Jul 1, still open
        pipeline, rep, [("Qualified", "2026-06-01")], value=500, expected_close_date="2026-09-30"
    )


@time_machine.travel(NOW, tick=False)
def test_accuracy_compares_each_quarters_first_day_forecast_with_what_was_won(
    client, rep, accuracy_data
):
    tables, response = show(client, rep)
    accuracy = tables["forecast-accuracy"]
    assert [column.label for column in accuracy.columns] == [
        "Quarter",
        "Forecast",
        "Won",
        "Difference",
        "Error",
    ]
    assert texts(accuracy) == [
        ["Q4 2025", "$400", "$1,000", "$600", "60.0 %"],
        ["Q1 2026", "$100", "$0", "-$100", "—"],
        ["Q2 2026", "$800", "$1,000", "$200", "20.0 %"],
        ["Q3 2026", "$300", "$3,000", "$2,700", "90.0 %"],
        ["Four quarters", "$1,600", "$5,000", "$3,400", "56.7 %"],  # (60 + 20 + 90) / 3
    ]
    assert "a deal that slipped to a later quarter still counts" in accuracy.note
    won = query(accuracy.rows[3][2].url)
    assert won.pop("mine")  # a rep's list narrowed to the deals they report on
    assert won == {
        "status": "won",
        "closed_from": "2026-07-01",
        "closed_to": "2026-09-30",
    }


@time_machine.travel(NOW, tick=False)
def test_accuracy_weighs_each_quarter_at_the_probabilities_configured_on_its_first_day(
    client, rep, pipeline, accuracy_data
):
    Stage.history.update(history_date=at("2025-01-01"))  # the pipeline was set up then
    lead = stage(pipeline, "Lead")
    with time_machine.travel(at("2026-05-01"), tick=False):
        lead.probability = 30
        lead.save()

    tables, _ = show(client, rep)

    assert texts(tables["forecast-accuracy"]) == [
        ["Q4 2025", "$400", "$1,000", "$600", "60.0 %"],
        ["Q1 2026", "$100", "$0", "-$100", "—"],  # Lead was at 10 % on Jan 1
        ["Q2 2026", "$800", "$1,000", "$200", "20.0 %"],
        ["Q3 2026", "$500", "$3,000", "$2,500", "83.3 %"],  # Lead at 30 % on Jul 1
        ["Four quarters", "$1,800", "$5,000", "$3,200", "54.4 %"],  # (60 + 20 + 83.3) / 3
    ]


@time_machine.travel(NOW, tick=False)
def test_a_deal_that_slipped_counts_in_each_quarter_as_it_was_expected_then(
    client, rep, pipeline, accuracy_data
):
    slipping = deal_with_history(  # Qualified 40 %, from before Q2 until today
        pipeline, rep, [("Qualified", "2026-03-01")], value=1000, expected_close_date="2026-05-20"
    )
    with time_machine.travel(at("2026-05-10"), tick=False):  # Q2 → Q3, and grown
        update_deal(slipping, by=rep, value=Decimal(3000), expected_close_date=dt.date(2026, 8, 20))
    with time_machine.travel(at("2026-08-05"), tick=False):  # Q3 → Q4, and shrunk
        update_deal(
            slipping, by=rep, value=Decimal(2500), expected_close_date=dt.date(2026, 12, 10)
        )

    tables, _ = show(client, rep)

    assert texts(tables["forecast-accuracy"]) == [
        ["Q4 2025", "$400", "$1,000", "$600", "60.0 %"],
        ["Q1 2026", "$100", "$0", "-$100", "—"],
        ["Q2 2026", "$1,200", "$1,000", "-$200", "20.0 %"],  # + 40 % of $1,000
        ["Q3 2026", "$1,500", "$3,000", "$1,500", "50.0 %"],  # + 40 % of $3,000
        ["Four quarters", "$3,200", "$5,000", "$1,800", "43.3 %"],  # (60 + 20 + 50) / 3
    ]
    # The forecast ahead counts it as it is today: December, 40 % of $2,500.
    assert texts(tables["forecast-months"])[2] == ["December 2026", "$0", "$1,000", "$2,500", "1"]


@time_machine.travel(NOW, tick=False)
def test_only_deals_open_on_a_quarters_first_day_count_in_its_forecast(
    client, rep, pipeline, accuracy_data
):
    deal_with_history(  # lost before Q3, reopened after its first day: closed on Jul 1
        pipeline,
        rep,
        [("Qualified", "2026-05-01"), ("Lost", "2026-06-15"), ("Qualified", "2026-07-20")],
        value=1000,
        expected_close_date="2026-09-15",
    )
    deal_with_history(  # lost the day before Q3, expected in it
        pipeline,
        rep,
        [("Qualified", "2026-05-01"), ("Lost", "2026-06-30")],
        value=1000,
        expected_close_date="2026-08-01",
    )
    late = deal_with_history(  # open on Jul 1 and expected in Q3 (40 %), lost since
        pipeline,
        rep,
        [("Qualified", "2026-05-01"), ("Lost", "2026-07-02")],
        value=1000,
        expected_close_date="2026-06-01",
    )
    with time_machine.travel(at("2026-06-20"), tick=False):  # slipped into Q3 before Jul 1
        update_deal(late, by=rep, expected_close_date=dt.date(2026, 8, 1))

    tables, _ = show(client, rep)

    q3 = texts(tables["forecast-accuracy"])[3]
    assert q3 == ["Q3 2026", "$700", "$3,000", "$2,300", "76.7 %"]  # + 40 % of $1,000


@time_machine.travel(NOW, tick=False)
def test_a_deal_created_at_a_quarters_first_instant_counts_in_its_forecast(
    client, rep, pipeline, accuracy_data
):
    first_instant = Period(dt.date(2026, 7, 1), dt.date(2026, 9, 30)).start_at
    for created, value in [(first_instant, 1000), (first_instant + dt.timedelta(minutes=1), 5000)]:
        # In Qualified (40 %), expected in Q3; the second not open yet at Q3's first instant.
        deal = deal_with_history(
            pipeline,
            rep,
            [("Qualified", "2026-07-01")],
            value=value,
            expected_close_date="2026-08-01",
        )
        Deal.objects.filter(pk=deal.pk).update(created_at=created, stage_changed_at=created)
        StageChange.objects.filter(deal=deal).update(changed_at=created)

    tables, _ = show(client, rep)

    assert texts(tables["forecast-accuracy"])[3][:2] == ["Q3 2026", "$700"]  # $300 + $400


def test_probabilities_at_reads_each_stage_as_configured_then(pipeline):
    lead, contacted = stage(pipeline, "Lead"), stage(pipeline, "Contacted")
    Stage.history.update(history_date=at("2025-01-01"))
    for day, probability in [("2025-06-01", 15), ("2025-09-01", 25)]:
        with time_machine.travel(at(day), tick=False):
            lead.probability = probability
            lead.save()
    contacted.history.all().delete()  # a stage from before the history was kept

    before, between, after = probabilities_at(at("2024-06-01"), at("2025-07-01"), at("2026-01-01"))

    assert (before[lead.pk], between[lead.pk], after[lead.pk]) == (10, 15, 25)
    assert before[contacted.pk] == after[contacted.pk] == 20  # today's, lacking any row
    won = stage(pipeline, "Won")
    assert won.pk not in after  # only open stages have a probability


@time_machine.travel(NOW, tick=False)
def test_links_lead_to_the_deals_behind_each_figure(client, admin_user, pipeline, month_data):
    tables, _ = show(client, admin_user, pipeline=pipeline.pk)
    months, apart = tables["forecast-months"], tables["forecast-apart"]
    base = {"pipeline": str(pipeline.pk)}
    november, december = months.rows[1], months.rows[2]
    assert query(november[1].url) == base | {
        "status": "won",
        "closed_from": "2026-11-01",
        "closed_to": "2026-11-30",
    }
    for cell in november[2:]:
        assert query(cell.url) == base | {
            "status": "open",
            "close_from": "2026-11-25",
            "close_to": "2026-11-30",
        }
    assert [cell.url for cell in months.rows[0][2:]] == ["", "", ""]  # October has passed
    assert query(december[2].url) == base | {
        "status": "open",
        "close_from": "2026-12-01",
        "close_to": "2026-12-31",
    }
    assert query(months.footer[1].url) == base | {
        "status": "won",
        "closed_from": "2026-10-01",
        "closed_to": "2027-03-31",
    }
    assert query(months.footer[2].url) == base | {
        "status": "open",
        "close_from": "2026-11-25",
        "close_to": "2027-03-31",
    }
    assert [query(row[1].url) for row in apart.rows] == [
        base | {"status": "open", "expected": "none"},
        base | {"status": "open", "expected": "past"},
        base | {"status": "open", "close_from": "2027-04-01"},
    ]


@time_machine.travel(NOW, tick=False)
def test_each_linked_deal_list_holds_exactly_the_deals_counted(
    client, pipeline, rep, other_rep, month_data
):
    open_deal(pipeline, other_rep, "Lead", 100000, "2026-11-26")  # a colleague's: not counted
    open_deal(pipeline, other_rep, "Lead", 100000, None)
    tables, _ = show(client, rep)
    lists = {}
    checked = 0
    for key in ("forecast-months", "forecast-apart"):
        table = tables[key]
        for row in [*table.rows, table.footer or []]:
            for column, cell in zip(table.columns, row, strict=False):
                if not cell.url:
                    continue
                if cell.url not in lists:
                    response = client.get(cell.url)
                    assert response.status_code == 200
                    lists[cell.url] = response.context["totals"]
                totals = lists[cell.url]
                shown = {
                    "Won": totals.total,
                    "Open total": totals.total,
                    "Weighted open": totals.weighted,
                    "Deals": totals.count,
                }[column.label]
                assert cell.plain == str(rounded(shown, column.kind)), (row[0].text, column)
                checked += 1
    assert checked == 6 + 5 * 3 + 4 + 3 * 3  # won per month, open of the months ahead


@time_machine.travel(NOW, tick=False)
def test_each_user_reads_only_the_figures_they_report_on(
    client, pipeline, rep, other_rep, outsider, manager, admin_user
):
    for owner, value in ((rep, 1000), (other_rep, 2000), (outsider, 3000), (manager, 4000)):
        open_deal(pipeline, owner, "Lead", value, "2026-12-10")
        deal_with_history(
            pipeline,
            owner,
            [("Lead", "2026-05-01"), ("Won", "2026-08-01")],
            value=value,
            expected_close_date="2026-08-01",
        )

    def december_and_q3(user, **params):
        tables, _ = show(client, user, **params)
        return (
            tables["forecast-months"].rows[2][2].text,
            tables["forecast-accuracy"].rows[3][1].text,
            tables["forecast-accuracy"].rows[3][2].text,
        )

    assert december_and_q3(rep) == ("$100", "$100", "$1,000")
    # A rep has no owner filter: the parameter is ignored, not obeyed.
    assert december_and_q3(rep, owner=other_rep.pk) == ("$100", "$100", "$1,000")
    assert december_and_q3(other_rep) == ("$200", "$200", "$2,000")
    assert december_and_q3(manager) == ("$700", "$700", "$7,000")  # own + team B's carol
    assert december_and_q3(manager, owner=outsider.pk) == ("$300", "$300", "$3,000")
    assert december_and_q3(admin_user) == ("$1,000", "$1,000", "$10,000")
    client.force_login(manager)
    response = client.get(reverse("reports:forecast"), {"owner": rep.pk})
    assert response.status_code == 400  # not someone the manager reports on


def _more_deals(pipeline, owner, count: int) -> None:
    for index in range(count):
        open_deal(pipeline, owner, "Qualified", 100 + index, f"2026-12-{index + 1:02d}")
        deal_with_history(
            pipeline,
            owner,
            [("Lead", "2026-03-01"), ("Contacted", "2026-07-10"), ("Won", "2026-10-05")],
            value=200,
            expected_close_date="2026-08-20",
        )


@pytest.mark.parametrize("mode", ["configured", "learned"])
@time_machine.travel(NOW, tick=False)
def test_query_count_is_pinned_and_does_not_grow_with_deals(
    client, manager, outsider, pipeline, assert_max_queries, mode
):
    _more_deals(pipeline, outsider, 2)
    client.force_login(manager)
    url = reverse("reports:forecast")
    params = {"probabilities": mode, "pipeline": pipeline.pk}
    client.get(url, params)  # warm the session
    with assert_max_queries(15), CaptureQueriesContext(connection) as few:
        assert client.get(url, params).status_code == 200
    _more_deals(pipeline, outsider, 12)
    with CaptureQueriesContext(connection) as many:
        assert client.get(url, params).status_code == 200
    assert data_queries(many) == data_queries(few)


@time_machine.travel(NOW, tick=False)
def test_csv_rows_equal_the_table_rows_shown(client, rep, month_data, accuracy_data):
    tables, _ = show(client, rep)
    for key, table in tables.items():
        response = client.get(reverse("reports:forecast"), {"format": "csv", "table": key})
        assert response.status_code == 200
        body = b"".join(response.streaming_content).decode("utf-8-sig")
        header, *rows = list(csv.reader(io.StringIO(body)))
        assert header == [column.label for column in table.columns]
        assert rows == [[safe_cell(plain) for plain in row] for row in table.csv_rows()]
        assert len(rows) == len(table.rows) + (1 if table.footer else 0)
    months = tables["forecast-months"]
    assert [row[0] for row in months.csv_rows()] == [*MONTHS, "Total"]
    assert next(iter(tables["forecast-accuracy"].csv_rows()))[1:] == ["400", "1000", "600", "60.0"]
