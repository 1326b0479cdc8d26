"""The deal board in a real browser: dragging cards between columns, onto the won/lost drop
zones and within a column, refusals, the "Move to…" form without JavaScript, screenshots.

Cards are dragged with real mouse events: SortableJS (in fallback mode) follows mousemove
and checks where the pointer is every 50 ms, so each drag waits until the card's
placeholder has reached its target before releasing the button.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Browser, Locator, Page, expect

from deals.models import Deal, DealStatus, StageChange
from deals.services import move_deal
from deals.tests.factories import AccountFactory, DealFactory, LostReasonFactory
from stages.tests.factories import stage
from tasks.tests.factories import TaskFactory
from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser

WIDE = {"width": 1440, "height": 900}
PHONE = {"width": 375, "height": 740}


# --- Data ----------------------------------------------------------------------------------


def add_deal(pipeline, owner, stage_name: str, title: str, value: int, **fields) -> Deal:
    """An open deal with an open task, so that its card shows no warning flag."""
    deal = DealFactory(
        title=title,
        owner=owner,
        pipeline=pipeline,
        stage=stage(pipeline, stage_name),
        value=Decimal(value),
        **fields,
    )
    TaskFactory(deal=deal, assignee=owner)
    return deal


def column_order(stage_id: int) -> list[int]:
    """The open deals of a stage in board order, as the database has them."""
    deals = Deal.objects.filter(stage_id=stage_id, status=DealStatus.OPEN)
    return list(deals.order_by("board_position", "pk").values_list("pk", flat=True))


# --- Browser -------------------------------------------------------------------------------


def open_board(page: Page, live_server, user, pipeline) -> None:
    log_in(page.context, live_server, user)
    page.goto(live_server.url + reverse("deals:board", args=[pipeline.pk]))
    expect(page.locator("#board .column-cards").first).to_be_visible()


def column(page: Page, name: str) -> Locator:
    return page.locator("#board .board-column", has=page.get_by_role("heading", name=name))


def cards(page: Page, name: str) -> Locator:
    return column(page, name).locator(".deal-card")


def card(page: Page, deal: Deal) -> Locator:
    return page.locator(f"#deal-{deal.pk}")


def figures(page: Page, name: str) -> Locator:
    return column(page, name).locator(".column-figures")


def card_ids(page: Page, name: str) -> list[int]:
    return [int(i) for i in cards(page, name).evaluate_all("els => els.map(e => e.dataset.dealId)")]


def expect_order(page: Page, name: str, ids: list[int]) -> None:
    """Wait until the column shows exactly these cards, in this order."""
    expect(cards(page, name)).to_have_count(len(ids))
    for index, deal_id in enumerate(ids):
        expect(cards(page, name).nth(index)).to_have_id(f"deal-{deal_id}")


def point(locator: Locator, *, edge: str = "center") -> tuple[float, float]:
    box = locator.bounding_box()
    assert box is not None, locator
    x = box["x"] + box["width"] / 2
    y = {"center": box["y"] + box["height"] / 2, "top": box["y"] + 6}[edge]
    return x, y


def grab(page: Page, deal_card: Locator) -> None:
    """Press on the card's account line (not a link) and move until the drag starts."""
    # SortableJS ignores a press on a card it is still sliding into place (150 ms, with
    # an inline transition), as after a cancelled drop; a person would press again.
    expect(deal_card).not_to_have_attribute("style", re.compile("transition"))
    x, y = point(deal_card.locator(".deal-account"))
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 10, y + 10, steps=4)
    expect(page.locator("body")).to_have_class(re.compile(r"\bboard-dragging\b"))


def hover_to(page: Page, target: Locator, *, edge: str = "center") -> None:
    x, y = point(target, edge=edge)
    page.mouse.move(x, y, steps=15)


def drag_to(page: Page, deal: Deal, target: Locator, *, edge: str = "center") -> None:
    """Drag the deal's card over `target` (a column's list or a drop zone) and drop it."""
    grab(page, card(page, deal))
    hover_to(page, target, edge=edge)
    expect(target.locator(f"#deal-{deal.pk}")).to_have_count(1)
    page.mouse.up()


def drop_list(page: Page, name: str) -> Locator:
    return column(page, name).locator(".column-cards")


def drop_zone(page: Page, kind: str) -> Locator:
    return page.locator(f".drop-zone[data-stage-kind={kind}]")


# --- Tests ---------------------------------------------------------------------------------


def test_dragging_a_card_to_the_next_column_moves_the_deal(page, live_server, rep, pipeline):
    acme = add_deal(pipeline, rep, "Lead", "Acme renewal", 3000)
    add_deal(pipeline, rep, "Lead", "Globex pilot", 1200)
    add_deal(pipeline, rep, "Contacted", "Initech upsell", 800)
    open_board(page, live_server, rep, pipeline)
    expect(figures(page, "Lead")).to_contain_text("2 deals $4,200")
    expect(figures(page, "Contacted")).to_contain_text("1 deal $800")

    with page.expect_response(re.compile(rf"/deals/{acme.pk}/move/")) as answer:
        drag_to(page, acme, drop_list(page, "Contacted"))

    assert answer.value.status == 200
    expect(figures(page, "Lead")).to_contain_text("1 deal $1,200")
    expect(figures(page, "Contacted")).to_contain_text("2 deals $3,800")
    expect(page.locator("[data-summary=total]")).to_have_text("$5,000")
    expect(card(page, acme)).not_to_have_class(re.compile("is-busy"))
    expect(cards(page, "Contacted").last).to_have_id(f"deal-{acme.pk}")
    page.reload()
    expect(cards(page, "Contacted")).to_have_count(2)
    expect(column(page, "Contacted").locator(f"#deal-{acme.pk}")).to_be_visible()
    acme.refresh_from_db()
    assert acme.stage == stage(pipeline, "Contacted")
    change = acme.stage_changes.get(from_stage__isnull=False)
    assert (change.from_stage.name, change.to_stage.name, change.by) == ("Lead", "Contacted", rep)


def test_a_drop_after_the_session_ended_says_so_and_puts_the_card_back(
    page, expected_failures, live_server, rep, pipeline
):
    expected_failures.append(re.compile(r"^401 .*/move/"))
    acme = add_deal(pipeline, rep, "Lead", "Acme renewal", 3000)
    open_board(page, live_server, rep, pipeline)
    # The session ends (expired, or logged out in another tab); the CSRF cookie stays.
    page.context.clear_cookies(name=settings.SESSION_COOKIE_NAME)

    drag_to(page, acme, drop_list(page, "Contacted"))

    expect(page.locator("#board-toast")).to_contain_text("Your session has ended")
    expect(column(page, "Lead").locator(f"#deal-{acme.pk}")).to_be_visible()
    acme.refresh_from_db()
    assert acme.stage == stage(pipeline, "Lead")


def test_dropping_a_card_on_lost_asks_why_and_closes_the_deal(page, live_server, rep, pipeline):
    LostReasonFactory(name="Price")
    LostReasonFactory(name="Timing")
    acme = add_deal(pipeline, rep, "Qualified", "Acme renewal", 3000)
    add_deal(pipeline, rep, "Qualified", "Globex pilot", 1200)
    open_board(page, live_server, rep, pipeline)

    drag_to(page, acme, drop_zone(page, "lost"))
    dialog = page.locator("#lost-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading")).to_have_text("Why was “Acme renewal” lost?")
    dialog.get_by_label("Lost reason").select_option(label="Price")
    with page.expect_response(re.compile(rf"/deals/{acme.pk}/move/")) as answer:
        dialog.get_by_role("button", name="Mark as lost").click()

    assert answer.value.status == 200
    expect(dialog).to_be_hidden()
    expect(card(page, acme)).to_have_count(0)
    expect(figures(page, "Qualified")).to_contain_text("1 deal $1,200")
    expect(page.locator("[data-summary=count]")).to_have_text("1")
    acme.refresh_from_db()
    assert acme.status == DealStatus.LOST
    assert acme.stage == stage(pipeline, "Lost")
    assert acme.lost_reason.name == "Price"
    assert acme.closed_at is not None


def test_dropping_a_card_on_won_closes_the_deal_at_once(page, live_server, rep, pipeline):
    acme = add_deal(pipeline, rep, "Proposal made", "Acme renewal", 3000)
    open_board(page, live_server, rep, pipeline)

    with page.expect_response(re.compile(rf"/deals/{acme.pk}/move/")) as answer:
        drag_to(page, acme, drop_zone(page, "won"))

    assert answer.value.status == 200
    expect(card(page, acme)).to_have_count(0)
    expect(page.locator("#lost-dialog")).to_be_hidden()
    expect(figures(page, "Proposal made")).to_contain_text("0 deals $0")
    acme.refresh_from_db()
    assert (acme.status, acme.stage.name, acme.lost_reason) == ("won", "Won", None)
    assert acme.closed_at is not None


def test_cancelling_the_lost_dialog_puts_the_card_back(page, live_server, rep, pipeline):
    LostReasonFactory(name="Price")
    deals = [add_deal(pipeline, rep, "Lead", f"Deal {n}", 1000 * n) for n in (1, 2, 3)]
    middle = deals[1]
    open_board(page, live_server, rep, pipeline)
    order = card_ids(page, "Lead")
    dialog = page.locator("#lost-dialog")

    drag_to(page, middle, drop_zone(page, "lost"))
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Cancel").click()

    expect(dialog).to_be_hidden()
    expect_order(page, "Lead", order)

    # Escape cancels too.
    drag_to(page, middle, drop_zone(page, "lost"))
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")

    expect(dialog).to_be_hidden()
    expect_order(page, "Lead", order)
    expect(card(page, middle)).not_to_have_class(re.compile("is-busy"))
    expect(figures(page, "Lead")).to_contain_text("3 deals $6,000")
    middle.refresh_from_db()
    assert (middle.status, middle.stage.name, middle.lost_reason) == ("open", "Lead", None)
    assert middle.stage_changes.count() == 1


def test_reordering_a_column_is_saved(page, live_server, rep, pipeline):
    first, second, third = (
        add_deal(pipeline, rep, "Lead", f"Deal {n}", 100 * n) for n in (1, 2, 3)
    )
    open_board(page, live_server, rep, pipeline)
    assert card_ids(page, "Lead") == [first.pk, second.pk, third.pk]

    with page.expect_response(re.compile(rf"/deals/{third.pk}/move/")) as answer:
        grab(page, card(page, third))
        hover_to(page, card(page, first), edge="top")
        expect(cards(page, "Lead").first).to_have_id(f"deal-{third.pk}")
        page.mouse.up()

    assert answer.value.status == 200
    expect(card(page, third)).not_to_have_class(re.compile("is-busy"))
    page.reload()
    expect_order(page, "Lead", [third.pk, first.pk, second.pk])
    assert column_order(stage(pipeline, "Lead").pk) == [third.pk, first.pk, second.pk]
    assert third.stage_changes.count() == 1


def test_a_deal_moved_meanwhile_is_refused_and_shown_where_it_is(
    page, expected_failures, live_server, rep, other_rep, pipeline
):
    expected_failures.append(re.compile(r"^409 .*/move/"))
    acme = add_deal(pipeline, rep, "Lead", "Acme renewal", 3000)
    add_deal(pipeline, rep, "Lead", "Globex pilot", 1200)
    open_board(page, live_server, rep, pipeline)
    # Someone else moves the deal after the board was loaded.
    qualified = stage(pipeline, "Qualified")
    move_deal(acme, qualified, by=other_rep)

    with page.expect_response(re.compile(rf"/deals/{acme.pk}/move/")) as answer:
        drag_to(page, acme, drop_list(page, "Contacted"))

    assert answer.value.status == 409
    toast = page.locator("#board-toast")
    expect(toast).to_be_visible()
    expect(toast).to_contain_text(
        "Someone moved “Acme renewal” to “Qualified” in the meantime; nothing was changed."
    )
    expect(column(page, "Qualified").locator(f"#deal-{acme.pk}")).to_be_visible()
    expect(card(page, acme)).to_have_attribute("data-stage-id", str(qualified.pk))
    expect(cards(page, "Contacted")).to_have_count(0)
    acme.refresh_from_db()
    assert acme.stage.name == "Qualified"
    assert not StageChange.objects.filter(deal=acme, to_stage__name="Contacted").exists()


def test_move_to_works_without_javascript(browser: Browser, live_server, rep, pipeline):
    acme = add_deal(pipeline, rep, "Lead", "Acme renewal", 3000)
    context = browser.new_context(java_script_enabled=False, locale="en-US")
    context.set_default_timeout(5_000)
    try:
        page = context.new_page()
        open_board(page, live_server, rep, pipeline)

        card(page, acme).get_by_role("link", name="Move to…").click()
        page.get_by_role("radio", name=re.compile(r"^Qualified")).check()
        page.get_by_role("button", name="Move").click()

        expect(page).to_have_url(live_server.url + reverse("deals:board", args=[pipeline.pk]))
        expect(page.locator(".alert-success")).to_contain_text(
            "Moved “Acme renewal” to “Qualified”."
        )
        expect(column(page, "Qualified").locator(f"#deal-{acme.pk}")).to_be_visible()
        expect(figures(page, "Qualified")).to_contain_text("1 deal $3,000")
    finally:
        context.close()
    acme.refresh_from_db()
    assert acme.stage.name == "Qualified"


def test_cards_loaded_with_load_more_can_be_dragged(page, live_server, rep, pipeline):
    account = AccountFactory(owner=rep, name="Bulk Ltd")
    for n in range(51):
        DealFactory(title=f"Bulk {n:02}", owner=rep, pipeline=pipeline, account=account, value=10)
    last = Deal.objects.get(title="Bulk 50")
    open_board(page, live_server, rep, pipeline)
    expect(cards(page, "Lead")).to_have_count(50)

    column(page, "Lead").get_by_role("link", name="Load more").click()
    expect(card(page, last)).to_be_visible()
    last_card = card(page, last)
    last_card.scroll_into_view_if_needed()
    with page.expect_response(re.compile(rf"/deals/{last.pk}/move/")):
        drag_to(page, last, drop_list(page, "Contacted"))

    expect(figures(page, "Contacted")).to_contain_text("1 deal $10")
    last.refresh_from_db()
    assert last.stage.name == "Contacted"


def board_for_screenshots(pipeline, rep, other_rep) -> list[Deal]:
    """About a dozen deals over the stages, some rotting, overdue or without a next step."""
    LostReasonFactory(name="Price")
    LostReasonFactory(name="Went with a competitor")
    pipeline.stages.filter(kind="open").update(rotting_days=14)
    today = timezone.localdate()
    rows = [
        ("Lead", "Website redesign", "Northwind Traders", 4800, rep, 30),
        ("Lead", "CRM onboarding", "Contoso Ltd", 12000, other_rep, 45),
        ("Lead", "Support contract", "Fabrikam", 2500, rep, None),
        ("Lead", "Data migration", "Tailspin Toys", 7300, rep, 60),
        ("Contacted", "Annual licence", "Wide World Importers", 18500, rep, 20),
        ("Contacted", "Pilot for 50 seats", "Adventure Works", 9000, other_rep, -5),
        ("Contacted", "Training package", "Litware Inc.", 3200, rep, 12),
        ("Qualified", "Enterprise upgrade", "Proseware", 42000, rep, 35),
        ("Qualified", "Analytics add-on", "Coho Winery", 6400, other_rep, -12),
        ("Qualified", "Renewal 2026", "Blue Yonder Airlines", 15000, rep, 50),
        ("Proposal made", "Global rollout", "Margie's Travel", 87000, rep, 25),
        ("Proposal made", "Security audit", "Fourth Coffee", 11200, other_rep, 8),
    ]
    deals = []
    for stage_name, title, account, value, owner, close_in in rows:
        deals.append(
            add_deal(
                pipeline,
                owner,
                stage_name,
                title,
                value,
                account=AccountFactory(name=account, owner=owner),
                expected_close_date=None if close_in is None else today + timedelta(close_in),
            )
        )
    now = timezone.now()
    by_title = {deal.title: deal for deal in deals}
    # Rotting: idle for three weeks in a stage that allows two.
    Deal.objects.filter(pk__in=[by_title["Data migration"].pk, by_title["Renewal 2026"].pk]).update(
        last_activity_at=now - timedelta(days=21), stage_changed_at=now - timedelta(days=24)
    )
    # No next step, and an overdue task.
    by_title["Training package"].tasks.all().delete()
    by_title["Security audit"].tasks.update(due_at=now - timedelta(days=2))
    Deal.objects.filter(pk=by_title["Enterprise upgrade"].pk).update(
        stage_changed_at=now - timedelta(days=9)
    )
    return deals


def test_screenshots(page, live_server, rep, other_rep, pipeline, screenshots):
    deals = board_for_screenshots(pipeline, rep, other_rep)
    page.set_viewport_size(WIDE)
    open_board(page, live_server, rep, pipeline)
    expect(page.locator(".flag-rotting")).to_have_count(2)
    expect(page.locator(".flag-warning")).to_have_count(1)
    expect(page.locator(".flag-danger")).to_have_count(1)
    expect(page.locator(".deal-close.is-past")).to_have_count(2)
    page.evaluate("document.fonts.ready")
    page.screenshot(path=screenshots / "board.png")

    moving = next(deal for deal in deals if deal.title == "Pilot for 50 seats")
    grab(page, card(page, moving))
    hover_to(page, column(page, "Qualified").locator(".deal-card").nth(1))
    expect(column(page, "Qualified").locator(f"#deal-{moving.pk}")).to_have_count(1)
    page.wait_for_timeout(200)  # Sortable's 150 ms animation
    page.screenshot(path=screenshots / "board-dragging.png")
    hover_to(page, drop_zone(page, "lost"))
    expect(drop_zone(page, "lost").locator(f"#deal-{moving.pk}")).to_have_count(1)
    page.mouse.up()
    expect(page.locator("#lost-dialog")).to_be_visible()
    page.locator("#lost-reason").select_option(label="Went with a competitor")
    page.screenshot(path=screenshots / "board-lost-dialog.png")
    page.get_by_role("button", name="Cancel").click()
    expect(column(page, "Contacted").locator(f"#deal-{moving.pk}")).to_be_visible()

    page.set_viewport_size(PHONE)
    page.reload()
    expect(page.locator("#board .deal-card").first).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.locator("#board").evaluate("el => el.scrollWidth > el.clientWidth")
    page.screenshot(path=screenshots / "board-mobile.png")
