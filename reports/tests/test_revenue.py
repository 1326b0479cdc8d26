"""The revenue dashboard, hand-computed on a small fixed history (today: 2026-11-25)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from deals.models import Deal, DealStatus
from deals.services import update_deal
from deals.tests.factories import AccountFactory
from reports.tests.factories import deal_with_history
from stages.tests.factories import PipelineFactory, stage

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel("2026-11-25 12:00Z", tick=False):
        yield


URL = reverse("reports:revenue")


def summary(response) -> dict[str, tuple[str, str, str]]:
    """Figure → (this period, previous period, change) as the page shows them."""
    table = response.context["tables"][0]
    return {row[0].text: (row[1].text, row[2].text, row[3].text) for row in table.rows}


def table(response, key: str) -> list[list[str]]:
    found = next(t for t in response.context["tables"] if t.key == key)
    return [[cell.text for cell in row] for row in found.rows]


@pytest.fixture
def history(rep, pipeline):
    """Q4 2026 against Q3 2026, all owned by `rep`:

    A  Lead Jul 10 → Qualified Aug 1 → Won Oct 10      $10,000  Web, Acme
    B  Lead Oct 5 → Won Nov 4                          $20,000  Web, Acme
    C  Lead Jun 1 → Lost Oct 20                         $5,000  lost: Price
    D  Lead Aug 15 → Won Sep 14                         $8,000  Referral, Beta
    E  Lead Jul 1 → Lost Sep 1                          $3,000  lost: Price
    F  Lead Sep 1 → Proposal made Oct 15 (open)        $50,000
    G  Lead Oct 2 (open)                                $7,000
    H  Contacted May 1 (open)                           $4,000
    """
    acme = AccountFactory(name="Acme", owner=rep)
    beta = AccountFactory(name="Beta", owner=rep)
    make = deal_with_history
    make(
        pipeline,
        rep,
        [("Lead", "2026-07-10"), ("Qualified", "2026-08-01"), ("Won", "2026-10-10")],
        value=10_000,
        source="Web",
        account=acme,
    )
    make(
        pipeline,
        rep,
        [("Lead", "2026-10-05"), ("Won", "2026-11-04")],
        value=20_000,
        source="Web",
        account=acme,
    )
    make(
        pipeline,
        rep,
        [("Lead", "2026-06-01"), ("Lost", "2026-10-20")],
        value=5_000,
        lost_reason="Price",
    )
    make(
        pipeline,
        rep,
        [("Lead", "2026-08-15"), ("Won", "2026-09-14")],
        value=8_000,
        source="Referral",
        account=beta,
    )
    make(
        pipeline,
        rep,
        [("Lead", "2026-07-01"), ("Lost", "2026-09-01")],
        value=3_000,
        lost_reason="Price",
    )
    make(pipeline, rep, [("Lead", "2026-09-01"), ("Proposal made", "2026-10-15")], value=50_000)
    make(pipeline, rep, [("Lead", "2026-10-02")], value=7_000)
    make(pipeline, rep, [("Contacted", "2026-05-01")], value=4_000)


def test_the_worked_example_of_the_domain_brief(client, rep, pipeline):
    for _ in range(10):
        deal_with_history(pipeline, rep, [("Proposal made", "2026-10-01")], value=100_000)
    for _ in range(5):
        deal_with_history(
            pipeline, rep, [("Lead", "2026-10-01"), ("Won", "2026-10-20")], value=100_000
        )
    client.force_login(rep)

    figures = summary(client.get(URL))

    assert figures["Closed-won revenue"][0] == "$500,000"
    assert figures["Open pipeline (now)"][0] == "$1,000,000"
    assert figures["Weighted pipeline (now)"][0] == "$600,000"


def test_every_headline_figure_against_the_previous_quarter(client, rep, history):
    client.force_login(rep)

    response = client.get(URL)

    assert response.status_code == 200
    assert response.context["period"].label == "Q4 2026"
    assert summary(response) == {
        "Closed-won revenue": ("$30,000", "$8,000", "+275.0 %"),
        "Deals won": ("2", "1", "+100.0 %"),
        "Average won value": ("$15,000", "$8,000", "+87.5 %"),
        "Win rate": ("66.7 %", "50.0 %", "+16.7 pts"),
        "Average sales cycle": ("61.0 d", "30.0 d", "+103.3 %"),
        "New deals": ("2", "4", "-50.0 %"),
        "New deal value": ("$27,000", "$71,000", "-62.0 %"),
        # now: F at 60 %, G at 10 %, H at 20 %; at the end of Q3 (rebuilt from history):
        # A in Qualified (40 %), C, F in Lead (10 %), H in Contacted (20 %)
        "Open pipeline (now)": ("$61,000", "$69,000", "-11.6 %"),
        "Weighted pipeline (now)": ("$31,500", "$10,300", "+205.8 %"),
    }


def test_a_past_period_shows_its_pipeline_as_it_stood_at_its_end(client, rep, history):
    client.force_login(rep)

    figures = summary(client.get(URL, {"period": "last_quarter"}))

    assert figures["Deals won"] == ("1", "0", "—")
    # end of Q3: $69,000 / $10,300 (see above); end of Q2: C in Lead, H in Contacted
    assert figures["Open pipeline (at period end)"] == ("$69,000", "$9,000", "+666.7 %")
    assert figures["Weighted pipeline (at period end)"] == ("$10,300", "$1,300", "+692.3 %")


def test_a_past_pipeline_counts_each_deal_at_the_value_it_had_then(client, rep, history):
    deals = {deal.value: deal for deal in Deal.objects.filter(status=DealStatus.OPEN)}
    f, g, h = deals[50_000], deals[7_000], deals[4_000]
    for when, deal, value in [
        ("2026-09-10", h, 4_500),  # before the end of Q3: counts then
        ("2026-10-20", h, 6_000),
        ("2026-11-10", h, 9_000),
        ("2026-11-01", f, 40_000),  # moved since the end of Q3, and edited
        ("2026-10-20", g, 7_500),  # created after the end of Q3
    ]:
        with time_machine.travel(f"{when} 09:00Z", tick=False):
            update_deal(deal, by=rep, value=Decimal(value))
    client.force_login(rep)

    figures = summary(client.get(URL))

    # end of Q3: A 40 % of $10,000, C 10 % of $5,000, F 10 % of $50,000, H 20 % of $4,500;
    # now: F 60 % of $40,000, G 10 % of $7,500, H 20 % of $9,000.
    assert figures["Open pipeline (now)"] == ("$56,500", "$69,500", "-18.7 %")
    assert figures["Weighted pipeline (now)"] == ("$26,550", "$10,400", "+155.3 %")


def test_a_past_pipeline_weighs_each_stage_at_the_probability_configured_then(
    client, rep, pipeline, history
):
    lead = stage(pipeline, "Lead")
    lead.probability = 50  # raised today, after the end of Q3
    lead.save()
    client.force_login(rep)

    figures = summary(client.get(URL))

    # now: F 60 % of $50,000, G 50 % of $7,000, H 20 % of $4,000; at the end of Q3 still
    # $10,300: C and F in Lead counted at the 10 % of then, not at today's 50 %.
    assert figures["Weighted pipeline (now)"] == ("$34,300", "$10,300", "+233.0 %")
    assert figures["Open pipeline (now)"] == ("$61,000", "$69,000", "-11.6 %")


def test_a_custom_period_is_compared_with_as_many_days_before(client, rep, history):
    client.force_login(rep)

    # Oct 1 – Nov 14 (45 days) against Aug 17 – Sep 30
    response = client.get(URL, {"period": "custom", "start": "2026-10-01", "end": "2026-11-14"})

    figures = summary(response)
    assert figures["Closed-won revenue"][:2] == ("$30,000", "$8,000")
    assert figures["New deals"][:2] == ("2", "1")  # F (Sep 1); A and E are before Aug 17


@pytest.mark.parametrize(
    ("period", "label", "won", "new_deals"),
    [
        # Won: A Oct 10 $10,000, B Nov 4 $20,000, D Sep 14 $8,000. Created: A Jul 10, B Oct 5,
        # C Jun 1, D Aug 15, E Jul 1, F Sep 1, G Oct 2, H May 1.
        ("this_month", "November 2026", ("$20,000", "$10,000"), ("0", "2")),
        ("last_month", "October 2026", ("$10,000", "$8,000"), ("2", "1")),
        ("last_quarter", "Q3 2026", ("$8,000", "$0"), ("4", "2")),
        ("this_year", "2026", ("$38,000", "$0"), ("8", "0")),
        ("last_year", "2025", ("$0", "$0"), ("0", "0")),
    ],
)
def test_each_preset_against_the_period_before_it(
    client, rep, history, period, label, won, new_deals
):
    client.force_login(rep)

    response = client.get(URL, {"period": period})

    assert response.context["period"].label == label
    figures = summary(response)
    assert figures["Closed-won revenue"][:2] == won
    assert figures["New deals"][:2] == new_deals


def test_the_pipeline_team_and_owner_filters_narrow_every_figure(
    client, rep, other_rep, outsider, admin_user, team_a, team_b, pipeline, history
):
    renewals = PipelineFactory(name="Renewals")
    deal_with_history(renewals, rep, [("Lead", "2026-10-01"), ("Won", "2026-10-02")], value=1_000)
    deal_with_history(
        pipeline, other_rep, [("Lead", "2026-10-01"), ("Won", "2026-10-02")], value=2_000
    )
    deal_with_history(
        pipeline, outsider, [("Lead", "2026-10-01"), ("Won", "2026-10-02")], value=4_000
    )
    client.force_login(admin_user)

    def figures(**filters):
        response = client.get(URL, filters)
        return (
            summary(response)["Closed-won revenue"][0],
            summary(response)["Deals won"][0],
            table(response, "top_sources")[0][3],
        )

    # history: rep's $30,000 won this quarter in Sales, all from the source "Web"
    assert figures() == ("$37,000", "5", "$30,000")
    assert figures(pipeline=pipeline.pk) == ("$36,000", "4", "$30,000")
    assert figures(pipeline=renewals.pk) == ("$1,000", "1", "$1,000")
    assert figures(owner=rep.pk) == ("$31,000", "3", "$30,000")
    assert figures(team=team_a.pk) == ("$33,000", "4", "$30,000")
    assert figures(team=team_b.pk) == ("$4,000", "1", "$4,000")
    assert figures(team=team_a.pk, owner=other_rep.pk) == ("$2,000", "1", "$2,000")


def test_top_accounts_sources_and_lost_reasons(client, rep, history):
    client.force_login(rep)

    response = client.get(URL)

    assert table(response, "top_accounts") == [["Acme", "2", "$30,000"]]
    assert table(response, "top_sources") == [
        ["Web", "1", "2", "$30,000"],
        ["(no source)", "1", "0", "$0"],
    ]
    assert table(response, "top_lost_reasons") == [["Price", "1", "$5,000"]]


def deal_list_count(client, url: str) -> int:
    return client.get(url).context["totals"].count


def test_each_figure_links_to_the_deals_behind_it(client, rep, other_rep, pipeline, history):
    # A colleague's deal in a pipeline everyone sees: the rep may open it, but it is not
    # one of the rep's figures, so the linked list must leave it out too.
    shared = PipelineFactory(name="Shared", visibility="everyone")
    deal_with_history(shared, other_rep, [("Lead", "2026-10-01"), ("Won", "2026-10-02")])
    client.force_login(rep)

    tables = client.get(URL).context["tables"]

    rows = {row[0].text: row for row in tables[0].rows}
    assert deal_list_count(client, rows["Deals won"][1].url) == 2
    assert deal_list_count(client, rows["Deals won"][2].url) == 1
    assert deal_list_count(client, rows["Win rate"][1].url) == 3
    assert deal_list_count(client, rows["New deals"][1].url) == 2
    assert deal_list_count(client, rows["Open pipeline (now)"][1].url) == 3
    accounts, sources, reasons = tables[1:]
    assert deal_list_count(client, accounts.rows[0][2].url) == 2
    assert deal_list_count(client, sources.rows[0][1].url) == 1
    assert deal_list_count(client, reasons.rows[0][1].url) == 1


@pytest.mark.parametrize(
    ("viewer", "expected"),
    [("rep", "$30,000"), ("other_rep", "$1,000"), ("manager", "$2,000"), ("admin_user", "$33,000")],
)
def test_figures_cover_only_the_people_the_viewer_reports_on(
    client,
    request,
    rep,
    other_rep,
    outsider,
    manager,
    admin_user,
    pipeline,
    history,
    viewer,
    expected,
):
    deal_with_history(pipeline, other_rep, [("Lead", "2026-10-01"), ("Won", "2026-10-02")])
    deal_with_history(pipeline, outsider, [("Lead", "2026-10-01"), ("Won", "2026-10-02")])
    deal_with_history(pipeline, manager, [("Lead", "2026-10-01"), ("Won", "2026-10-02")])
    client.force_login(request.getfixturevalue(viewer))

    assert summary(client.get(URL))["Closed-won revenue"][0] == expected


def test_a_manager_cannot_filter_by_someone_outside_their_teams(client, manager, rep):
    client.force_login(manager)

    response = client.get(URL, {"owner": rep.pk})

    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()


def test_a_rep_gets_no_team_or_owner_filter(client, rep):
    client.force_login(rep)

    form = client.get(URL).context["form"]

    assert "team" not in form.fields
    assert "owner" not in form.fields


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"period": "custom", "start": "2026-10-01"}, "Custom dates need both"),
        ({"period": "custom", "start": "2026-10-02", "end": "2026-10-01"}, "must not be after"),
        ({"period": "custom", "start": "2020-01-01", "end": "2026-10-01"}, "at most three years"),
        ({"start": "not a date", "period": "custom", "end": "2026-10-01"}, "valid date"),
        ({"period": "fortnight"}, "Select a valid choice"),
        ({"period": "custom", "start": "0001-01-01", "end": "0001-01-02"}, "between 1900 and 2999"),
    ],
)
def test_bad_filters_are_refused_with_a_reason(client, rep, params, message):
    client.force_login(rep)

    page = client.get(URL, params)
    download = client.get(URL, params | {"format": "csv", "table": "summary"})

    assert page.status_code == 400
    assert message in page.content.decode()
    assert download.status_code == 400
    assert message in download.content.decode()


def test_an_unknown_table_is_refused(client, rep):
    client.force_login(rep)

    response = client.get(URL, {"format": "csv", "table": "nope"})

    assert response.status_code == 400
    assert "top_accounts" in response.content.decode()


@pytest.mark.parametrize("key", ["summary", "top_accounts", "top_sources", "top_lost_reasons"])
def test_each_csv_equals_its_table(client, rep, history, key):
    client.force_login(rep)
    shown = next(t for t in client.get(URL).context["tables"] if t.key == key)

    response = client.get(URL, {"format": "csv", "table": key})

    assert response.status_code == 200
    assert f"{key}-2026-10-01-2026-12-31.csv" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == [column.label for column in shown.columns]
    # Negative numbers carry the apostrophe that keeps spreadsheets from reading formulas.
    assert [[value.removeprefix("'") for value in row] for row in rows[1:]] == [
        [cell.plain for cell in row] for row in shown.rows
    ]
    assert len(rows) > 1


def test_csv_cells_cannot_start_a_formula(client, rep, pipeline):
    account = AccountFactory(name='=HYPERLINK("http://evil.example")', owner=rep)
    deal_with_history(
        pipeline, rep, [("Lead", "2026-10-01"), ("Won", "2026-10-02")], account=account
    )
    client.force_login(rep)

    response = client.get(URL, {"format": "csv", "table": "top_accounts"})

    text = b"".join(response.streaming_content).decode("utf-8-sig")
    assert "'=HYPERLINK" in text


@pytest.mark.parametrize("extra", [0, 40])
def test_the_query_count_does_not_grow_with_deals(
    client, assert_max_queries, rep, pipeline, history, extra
):
    for index in range(extra):
        deal_with_history(
            pipeline,
            rep,
            [
                ("Lead", "2026-08-01"),
                ("Qualified", "2026-10-03"),
                ("Won" if index % 2 else "Lost", "2026-11-01"),
            ],
            value=1_000,
            source=f"Source {index % 5}",
            lost_reason=f"Reason {index % 3}",
        )
    client.force_login(rep)

    # the user, the nav badge, the headline figures of both quarters (closed deals, then
    # created ones), the pipeline now, the stages' probabilities at the end of Q3 and the
    # pipeline then, top accounts, sources (won, then created) and lost reasons, the
    # pipeline choices
    with assert_max_queries(12):
        response = client.get(URL)

    assert response.status_code == 200
    assert Decimal(response.context["tables"][0].rows[0][1].plain) > 0


def test_reports_open_on_the_revenue_dashboard(client, rep):
    client.force_login(rep)

    response = client.get(reverse("reports:index"))

    assert response.status_code == 302
    assert response.url == URL


def test_changes_read_as_good_or_bad_news(client, rep, history):
    client.force_login(rep)

    rows = {row[0].text: row[3] for row in client.get(URL).context["tables"][0].rows}

    assert rows["Closed-won revenue"].tone == "good"
    assert rows["New deals"].tone == "bad"
    assert rows["Average sales cycle"].tone == "bad"  # longer
