"""The app shell in a real browser: login, navigation, every section, logout, phone layout."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from pipeline_crm.context_processors import NAVIGATION

pytestmark = pytest.mark.browser

PASSWORD = "secret-pass-123"  # set by UserFactory
PHONE = {"width": 375, "height": 740}


def log_in(page: Page, live_server, *, password: str = PASSWORD) -> None:
    page.goto(live_server.url + reverse("home"))
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_a_rep_logs_in_visits_every_section_and_logs_out(page, live_server, rep, screenshots):
    page.goto(live_server.url + reverse("home"))
    expect(page.get_by_role("heading", name="Log in to Pipeline CRM")).to_be_visible()
    page.screenshot(path=screenshots / "login.png")

    log_in(page, live_server)

    expect(page).to_have_url(live_server.url + reverse("home"))
    page.wait_for_load_state("load")  # the scripts are deferred
    nav = page.get_by_role("navigation", name="Main")
    for label, _, _ in NAVIGATION:
        expect(nav.get_by_role("link", name=label, exact=True)).to_be_visible()
    expect(nav.get_by_role("link", name="Admin")).to_have_count(0)
    # Bootstrap, app.css, the icon font and both scripts were served by the live server.
    assert nav.evaluate("element => getComputedStyle(element).display") == "flex"
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(244, 246, 250)"
    assert page.evaluate(
        "document.fonts.ready.then(fonts => [...fonts].some("
        "font => font.family.includes('bootstrap-icons') && font.status === 'loaded'))"
    )
    assert page.evaluate("[typeof bootstrap, typeof htmx]") == ["object", "object"]
    page.screenshot(path=screenshots / "home.png")

    for label, url_name, _ in NAVIGATION:
        nav.get_by_role("link", name=label, exact=True).click()
        expect(page).to_have_url(live_server.url + reverse(url_name))
        expect(page.get_by_role("heading", level=1)).to_have_text(label)
        expect(nav.locator("[aria-current=page]")).to_have_text(label)

    nav.get_by_role("button", name=re.compile("Alice Archer")).click()
    nav.get_by_role("button", name="Log out").click()

    expect(page).to_have_url(live_server.url + reverse("login"))
    page.goto(live_server.url + reverse("tasks:list"))
    expect(page).to_have_url(re.compile(r"/login/\?next=/tasks/$"))


def test_a_wrong_password_shows_the_error_on_the_login_page(page, live_server, rep):
    log_in(page, live_server, password="not-it")

    expect(page.locator(".alert-danger")).to_contain_text(
        "Please enter a correct username and password"
    )
    expect(page.get_by_label("Username")).to_have_value("alice")


def test_on_a_phone_the_navigation_collapses_behind_a_toggler(page, live_server, rep, screenshots):
    page.set_viewport_size(PHONE)
    log_in(page, live_server)

    toggler = page.get_by_role("button", name="Toggle navigation")
    deals = page.get_by_role("link", name="Deals", exact=True)
    expect(toggler).to_be_visible()
    expect(deals).to_be_hidden()
    expect(page.get_by_role("heading", level=1)).to_have_text("Board")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=screenshots / "home-mobile.png")

    toggler.click()

    expect(deals).to_be_visible()


def test_a_second_click_on_save_while_the_page_loads_posts_nothing(
    page, live_server, rep, pipeline
):
    """A plain form posts once: a second click while the answer is on its way (an
    impatient double click, a slow network) would create the deal twice."""
    from deals.models import Deal
    from deals.tests.factories import AccountFactory

    AccountFactory(name="Initech", owner=rep)
    log_in(page, live_server)
    page.goto(live_server.url + reverse("deals:create"))
    page.get_by_label("Title").fill("Pilot")
    page.get_by_label("Account", exact=True).select_option(label="Initech")
    held = []  # the posts, kept from the server until the second click
    page.route(
        "**/deals/new/",
        lambda route: held.append(route) if route.request.method == "POST" else route.continue_(),
    )

    # Two clicks 200 ms apart, from the page itself: Playwright would wait for the
    # navigation the first one starts.
    page.get_by_role("button", name="Create deal").evaluate(
        "button => { button.click(); setTimeout(() => button.click(), 200); }"
    )
    page.wait_for_timeout(600)

    assert len(held) == 1
    held[0].continue_()
    expect(page.locator("h1")).to_contain_text("Pilot")
    assert Deal.objects.filter(title="Pilot").count() == 1
