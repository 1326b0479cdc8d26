"""Board cards built in Python (deals.cards) show what the template filters would."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from urllib.parse import quote

import pytest
from django.template.defaultfilters import date as date_filter
from django.template.defaultfilters import floatformat
from django.urls import reverse, set_script_prefix
from django.utils import timezone

from deals.cards import render_cards, render_column_header, short_date
from deals.models import Deal
from deals.selectors.board import BoardColumn, Card, card_rows, decorate_cards
from deals.tests.factories import AccountFactory, DealFactory
from pipeline_crm.money import whole_money
from pipeline_crm.tests.factories import UserFactory
from stages.tests.factories import stage
from tasks.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "value", ["0", "0.49", "0.5", "1.5", "2.5", "999.99", "1234.50", "1000000", "123456789012.5"]
)
def test_money_reads_as_the_floatformat_filter(value):
    assert whole_money(Decimal(value)) == f"${floatformat(Decimal(value), '0g')}"
    assert whole_money(-Decimal(value)) == (
        f"-${floatformat(Decimal(value), '0g')}" if Decimal(value) >= Decimal("0.5") else "$0"
    )


def test_dates_read_as_the_date_filter():
    for month in range(1, 13):
        day = date(2026, month, 5 + month)
        assert short_date(day) == date_filter(day, "M j")


def card(deal, *, board_url="/pipelines/1/board/"):
    now = timezone.now()
    (row,) = card_rows(Deal.objects.filter(pk=deal.pk), now=now)
    cards = [Card.from_row(row)]
    decorate_cards(cards, stage=deal.stage, now=now)
    return render_cards(cards, today=timezone.localdate(), board_url=board_url)


def test_a_card_links_its_deal_and_the_move_form_back_to_the_board(pipeline, rep):
    deal = DealFactory(pipeline=pipeline, owner=rep, value=Decimal("12500"))
    html = card(deal, board_url="/pipelines/1/board/?owner=3&q=a b")
    assert f'href="{reverse("deals:detail", args=[deal.pk])}"' in html
    move = reverse("deals:move-form", args=[deal.pk])
    assert f'href="{move}?next={quote("/pipelines/1/board/?owner=3&q=a b", safe="/")}"' in html
    assert "$12,500" in html
    assert 'title="Owner: Alice Archer">AA<' in html


def test_card_links_follow_the_script_prefix(pipeline, rep):
    deal = DealFactory(pipeline=pipeline, owner=rep)
    set_script_prefix("/crm/")
    try:
        html = card(deal)
        assert f'href="/crm/deals/{deal.pk}/"' in html
    finally:
        set_script_prefix("/")
    assert f'href="/deals/{deal.pk}/"' in card(deal)


def test_a_card_escapes_what_users_typed(pipeline):
    owner = UserFactory(first_name="<b>Eve", last_name="</b>")
    account = AccountFactory(owner=owner, name="<script>alert(1)</script>")
    deal = DealFactory(pipeline=pipeline, owner=owner, account=account, title='"><img src=x>')
    html = card(deal)
    assert "<script>" not in html
    assert "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&quot;&gt;&lt;img src=x&gt;" in html
    assert 'title="Owner: &lt;b&gt;Eve &lt;/b&gt;"' in html


def test_a_card_flags_a_past_close_date_rotting_and_the_next_step(pipeline, rep):
    lead = stage(pipeline, "Lead")
    lead.rotting_days = 5
    lead.save()
    long_ago = timezone.now() - timedelta(days=9)
    quiet = DealFactory(
        pipeline=pipeline,
        owner=rep,
        stage=lead,
        expected_close_date=timezone.localdate() - timedelta(days=1),
    )
    Deal.objects.filter(pk=quiet.pk).update(last_activity_at=long_ago, stage_changed_at=long_ago)
    html = card(quiet)
    assert 'class="deal-card is-rotting"' in html
    assert 'class="deal-close is-past" title="Expected close: past"' in html
    assert "9 d in stage" in html
    assert "No activity for more than 5 days" in html
    assert "No next step" in html

    busy = DealFactory(pipeline=pipeline, owner=rep, stage=lead, expected_close_date=None)
    TaskFactory(deal=busy, assignee=rep, due_at=timezone.now() - timedelta(hours=1))
    html = card(busy)
    assert 'class="deal-card"' in html
    assert "deal-close" not in html
    assert "Rotting" not in html
    assert "Task overdue" in html


def test_a_column_header_shows_its_stage_count_and_totals_escaped(pipeline):
    lead = stage(pipeline, "Lead")
    lead.name, lead.probability = "R&D <qualified>", 25
    header = render_column_header(BoardColumn(stage=lead, count=3, total=Decimal("6001.50")))
    assert '<h2 class="h6 mb-0">R&amp;D &lt;qualified&gt;</h2>' in header
    assert 'data-count="3" data-total="6001.50" data-weighted="1500.375"' in header
    assert ">3 deals<" in header
    assert ">$6,002<" in header
    assert ">≈ $1,500<" in header
    quick_add = reverse("deals:quick-add", args=[pipeline.pk])
    assert f'href="{quick_add}?stage={lead.pk}"' in header
    assert "hx-swap-oob" not in header


def test_a_moves_column_header_replaces_the_boards_and_counts_one_deal(pipeline):
    header = render_column_header(
        BoardColumn(stage=stage(pipeline, "Lead"), count=1, total=Decimal(0)), oob=True
    )
    assert 'hx-swap-oob="true"' in header
    assert ">1 deal<" in header
    assert ">$0<" in header
