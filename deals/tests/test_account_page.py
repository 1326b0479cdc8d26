"""The account page: header and links, contacts, deals by status, the timeline of the
account and its deals (only those the user may see), tasks, logging, and its query count."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from deals.models import Account, Activity, Contact, Deal
from deals.selectors import ACCOUNT_DEALS_SHOWN, timeline
from deals.services import log_activity, move_deal, update_deal
from deals.tests.factories import AccountFactory, ContactFactory, DealFactory, LostReasonFactory
from stages.tests.factories import stage
from tasks.forms import DUE_IN_THE_PAST
from tasks.models import Task, TaskStatus
from tasks.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
NOW = timezone.now()


def at(hours_ago: float) -> datetime:
    return NOW - timedelta(hours=hours_ago)


@pytest.fixture
def account(rep):
    return AccountFactory(
        name="Northwind",
        industry="Logistics",
        owner=rep,
        website="https://www.northwind.example/",
        linkedin_url="https://www.linkedin.com/company/northwind",
    )


@pytest.fixture
def deals(rep, outsider, account, pipeline):
    """Alice's open and won deals on the account, and Carol's (team B, so hidden from
    Alice in this team-visible pipeline), each with some history."""
    mine = DealFactory(
        title="Rollout",
        account=account,
        owner=rep,
        pipeline=pipeline,
        value=Decimal("4000"),
        created_at=at(100),
    )
    won = DealFactory(
        title="Pilot",
        account=account,
        owner=rep,
        pipeline=pipeline,
        value=Decimal("1500"),
        created_at=at(95),
    )
    move_deal(won, stage(pipeline, "Won"), by=rep, at=at(70))
    hidden = DealFactory(
        title="Secret",
        account=account,
        owner=outsider,
        pipeline=pipeline,
        value=Decimal("99000"),
        created_at=at(90),
    )
    log_activity(kind="call", subject="Rollout call", user=rep, deal=mine, occurred_at=at(80))
    log_activity(kind="call", subject="Secret call", user=outsider, deal=hidden, occurred_at=at(60))
    move_deal(hidden, stage(pipeline, "Contacted"), by=outsider, at=at(55))
    TaskFactory(
        deal=hidden,
        account=account,
        assignee=outsider,
        title="Secret task",
        status=TaskStatus.DONE,
        completed_at=at(50),
    )
    TaskFactory(deal=hidden, account=account, assignee=outsider, title="Secret next step")
    log_activity(
        kind="email", subject="Account email", user=rep, account=account, occurred_at=at(40)
    )
    TaskFactory(
        deal=mine,
        account=account,
        assignee=rep,
        title="Rollout task",
        status=TaskStatus.DONE,
        completed_at=at(30),
    )
    return {"mine": mine, "won": won, "hidden": hidden}


def page(client, account) -> str:
    response = client.get(reverse("deals:account-detail", args=[account.pk]))
    assert response.status_code == 200
    return response.content.decode()


def text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def section(html: str, heading_id: str) -> str:
    return html.split(f'id="{heading_id}"')[1].split("</section>")[0]


def entry_titles(html: str) -> list[str]:
    return re.findall(r'<span class="timeline-title">([^<]+)</span>', html)


# Header, contacts, deals


def test_the_header_shows_name_industry_owner_and_social_links(client, rep, account):
    Account.objects.filter(pk=account.pk).update(twitter_url="javascript:alert(1)")
    client.force_login(rep)
    html = page(client, account)
    header = html.split('class="card shadow-sm record-header"')[1].split("</header>")[0]
    assert "Northwind" in header and "Logistics" in header and "Alice Archer" in header
    links = re.findall(
        r'<a class="social-link[^"]*" href="([^"]+)" target="_blank" rel="noopener noreferrer"',
        header,
    )
    assert links == ["https://www.northwind.example/", "https://www.linkedin.com/company/northwind"]
    assert "northwind.example" in text(header)
    assert "javascript:" not in html


def test_contacts_show_name_title_email_and_phone_but_not_archived_ones(client, rep, account):
    ContactFactory(
        account=account, name="Nora Quist", title="COO", email="nora@example.com", phone="555-0100"
    )
    ContactFactory(account=account, name="Gone Person", is_archived=True)
    client.force_login(rep)
    contacts = section(page(client, account), "contacts-heading")
    assert "Nora Quist" in contacts and "COO" in contacts
    assert "nora@example.com" in contacts and "555-0100" in contacts
    assert "Gone Person" not in contacts


def test_deals_are_grouped_with_counts_and_totals_of_the_deals_the_user_sees(
    client, rep, account, deals, pipeline
):
    lost = DealFactory(
        title="Old", account=account, owner=rep, pipeline=pipeline, value=Decimal("700")
    )
    move_deal(lost, stage(pipeline, "Lost"), by=rep, lost_reason=LostReasonFactory())
    archived = DealFactory(title="Shelved", account=account, owner=rep, pipeline=pipeline)
    Deal.objects.filter(pk=archived.pk).update(is_archived=True)
    client.force_login(rep)

    groups = [
        text(group)
        for group in re.findall(
            r'<div class="deal-group deal-group-\w+">(.*?)</div>\s*(?=<div class="deal-group|</section>)',
            page(client, account),
            re.S,
        )
    ]

    assert groups == [
        "Open 1 deal $4,000 Rollout Lead · Alice Archer $4,000",
        "Won 1 deal $1,500 Pilot Won · Alice Archer $1,500",
        "Lost 1 deal $700 Old Lost · Alice Archer $700",
    ]


def test_a_group_shows_its_newest_deals_and_says_how_many_more(rep, account, pipeline):
    from deals.selectors import account_deal_groups

    for index in range(ACCOUNT_DEALS_SHOWN + 2):
        DealFactory(
            title=f"D{index}", account=account, owner=rep, pipeline=pipeline, created_at=at(index)
        )
    [open_group, won, lost] = account_deal_groups(account=account, user=rep)
    assert (open_group.count, len(open_group.deals), open_group.more) == (27, 25, 2)
    assert open_group.deals[0].title == "D0"
    assert open_group.total == Decimal("27000")
    assert (won.count, won.total, won.deals) == (0, Decimal(0), [])


# Timeline and tasks


def test_the_account_timeline_covers_the_account_and_its_visible_deals_newest_first(
    client, rep, account, deals
):
    client.force_login(rep)
    html = page(client, account)
    assert entry_titles(html) == [
        "Completed: Rollout task",
        "Account email",
        "Moved from Lead to Won",
        "Rollout call",
        "Created in Lead",
        "Created in Lead",
    ]
    rollout_call = html.split("Rollout call")[1].split("</li>")[0]
    assert f'href="{deals["mine"].get_absolute_url()}"' in rollout_call
    assert "Secret" not in html and "99,000" not in html


def test_someone_who_sees_the_other_deal_gets_its_entries_and_not_ours(outsider, account, deals):
    entries = timeline(account=account, user=outsider).entries
    assert [entry.title for entry in entries] == [
        "Account email",
        "Completed: Secret task",
        "Moved from Lead to Contacted",
        "Secret call",
        "Created in Lead",
    ]
    assert {entry.deal for entry in entries} == {None, deals["hidden"]}


def test_the_account_timeline_needs_a_user():
    with pytest.raises(ValueError, match="timeline needs a deal, or an account and a user."):
        timeline(account=Account())


def test_open_tasks_cover_the_account_and_its_visible_deals(client, rep, account, deals):
    TaskFactory(account=account, assignee=rep, title="Quarterly review", due_at=at(-48))
    TaskFactory(
        deal=deals["mine"], account=account, assignee=rep, title="Send contract", due_at=at(-24)
    )
    client.force_login(rep)
    tasks = section(page(client, account), "tasks-heading")
    assert re.findall(r'class="task-title">([^<]+)<', tasks) == [
        "Send contract",
        "Quarterly review",
    ]
    assert "Secret" not in tasks
    assert f'href="{deals["mine"].get_absolute_url()}"' in tasks


def test_an_account_outside_visibility_is_404(client, outsider, account):
    client.force_login(outsider)
    assert client.get(reverse("deals:account-detail", args=[account.pk])).status_code == 404


def test_a_read_only_viewer_gets_no_logging_nor_quick_add(client, other_rep, account):
    client.force_login(other_rep)
    html = page(client, account)
    assert reverse("deals:account-log-activity", args=[account.pk]) not in html
    assert reverse("deals:account-add-task", args=[account.pk]) not in html


# Logging on the account


def log_url(account, kind: str = "meeting") -> str:
    return reverse("deals:account-log-activity", args=[account.pk]) + f"?kind={kind}"


def test_a_logged_meeting_tops_the_account_timeline(client, rep, account, deals):
    client.force_login(rep)
    response = client.post(log_url(account), {"subject": "Kick-off", "body": "All hands"}, **HTMX)
    assert response["HX-Retarget"] == "#timeline"
    assert entry_titles(response.content.decode())[:2] == ["Kick-off", "Completed: Rollout task"]
    activity = Activity.objects.get(subject="Kick-off")
    assert (activity.kind, activity.deal, activity.account, activity.user) == (
        "meeting",
        None,
        account,
        rep,
    )


def test_without_javascript_logging_on_the_account_goes_back(client, rep, account):
    client.force_login(rep)
    assert "Log meeting: Northwind" in client.get(log_url(account)).content.decode()
    response = client.post(log_url(account, "note"), {"subject": "Met at the fair"})
    assert response.status_code == 302 and response["Location"] == account.get_absolute_url()
    assert "Logged the note “Met at the fair”." in page(client, account)


def test_a_bad_account_activity_saves_nothing(client, rep, account):
    client.force_login(rep)
    response = client.post(log_url(account), {"subject": ""}, **HTMX)
    assert response.status_code == 200 and "This field is required." in response.content.decode()
    response = client.post(log_url(account, "telex"), {"subject": "x"})
    assert response.status_code == 400
    assert not Activity.objects.exists()


def test_logging_on_an_account_is_403_for_read_only_and_404_outside(
    client, other_rep, outsider, account
):
    for user, status in [(other_rep, 403), (outsider, 404)]:
        client.force_login(user)
        assert client.get(log_url(account)).status_code == status
        assert client.post(log_url(account), {"subject": "x"}).status_code == status
    assert not Activity.objects.exists()


# Tasks on the account


def task_url(account) -> str:
    return reverse("deals:account-add-task", args=[account.pk])


def test_adding_a_task_to_the_account(client, rep, account):
    client.force_login(rep)
    tomorrow = timezone.localdate() + timedelta(days=1)
    response = client.post(
        task_url(account), {"title": "Renewal talk", "due": tomorrow, "assignee": rep.pk}, **HTMX
    )
    assert response.content.decode().strip().startswith('<section id="tasks"')
    task = Task.objects.get()
    assert (task.title, task.account, task.deal, task.assignee) == (
        "Renewal talk",
        account,
        None,
        rep,
    )
    response = client.post(
        task_url(account), {"title": "Again", "due": tomorrow, "assignee": rep.pk}
    )
    assert response.status_code == 302 and response["Location"] == account.get_absolute_url()


def test_a_bad_account_task_saves_nothing(client, rep, other_rep, account):
    client.force_login(rep)
    yesterday = timezone.localdate() - timedelta(days=1)
    response = client.post(task_url(account), {"title": "x", "due": yesterday, "assignee": rep.pk})
    assert DUE_IN_THE_PAST in response.content.decode()
    response = client.post(
        task_url(account), {"title": "x", "due": "2999-01-01", "assignee": other_rep.pk}
    )
    assert "Select a valid choice." in response.content.decode()
    assert not Task.objects.exists()


def test_account_tasks_are_403_for_read_only_and_404_outside(client, other_rep, outsider, account):
    for user, status in [(other_rep, 403), (outsider, 404)]:
        client.force_login(user)
        assert client.get(task_url(account)).status_code == status
        data = {"title": "x", "due": "2999-01-01", "assignee": user.pk}
        assert client.post(task_url(account), data).status_code == status
    assert not Task.objects.exists()


# Query count


@pytest.mark.parametrize("size", [1, 20])
def test_the_account_page_query_count_is_constant(
    client, rep, other_rep, account, pipeline, assert_max_queries, size
):
    for index in range(size):
        deal = DealFactory(
            account=account, owner=rep if index % 2 else other_rep, pipeline=pipeline
        )
        update_deal(deal, by=rep, expected_close_date=date(2026, 12, 1))
        move_deal(deal, stage(pipeline, "Won" if index % 3 else "Contacted"), by=rep)
        log_activity(kind="call", subject=f"Call {index}", user=rep, deal=deal)
        log_activity(kind="note", subject=f"Note {index}", user=rep, account=account)
        TaskFactory(deal=deal, account=account, assignee=rep)
        TaskFactory(
            account=account, assignee=rep, status=TaskStatus.DONE, completed_at=timezone.now()
        )
        ContactFactory(account=account)
    client.force_login(rep)
    # user; the account with owner and team; the timeline's activities, stage changes,
    # edits and completed tasks (each with its deal); the open tasks (with what their rows and rights
    # need); the people they may be reassigned to; the assignees offered twice (Django's
    # Select reads its first choice for `required`, then all); the contacts; the deal
    # totals per status; the newest deals per status; the overdue-tasks badge
    with assert_max_queries(14):
        response = client.get(reverse("deals:account-detail", args=[account.pk]))
    assert response.status_code == 200
    assert Contact.objects.filter(account=account).count() == size
