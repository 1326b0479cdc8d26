"""Nothing saved meanwhile is lost: an edit form opened before someone else saved writes
only what its user changed, and a field both changed is refused with the other's value
until its user saves again."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from deals.models import Account, Activity, ActivityKind, Contact, Deal
from deals.services import log_activity, update_account, update_contact, update_deal
from deals.tests.factories import AccountFactory, ContactFactory, DealFactory
from pipeline_crm.tests.html_forms import form_data
from tasks.models import Task
from tasks.services import update_task
from tasks.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db

MEANWHILE = "while you were editing"


@pytest.fixture
def deal(rep, pipeline):
    account = AccountFactory(name="Initech", owner=rep)
    return DealFactory(
        title="Pilot", owner=rep, account=account, pipeline=pipeline, value=Decimal("1000")
    )


def open_form(client, page_url: str, action: str) -> dict[str, str]:
    response = client.get(page_url)
    assert response.status_code == 200
    return form_data(response.content, action)


# The deal's edit page


def test_a_save_keeps_what_someone_else_changed_in_other_fields(client, rep, admin_user, deal):
    client.force_login(rep)
    url = reverse("deals:edit", args=[deal.pk])
    data = open_form(client, url, url)
    update_deal(deal, by=admin_user, value=Decimal("5000"), has_need=True)

    data["title"] = "Pilot for 50 seats"
    response = client.post(url, data)

    assert response.status_code == 302
    deal.refresh_from_db()
    assert deal.title == "Pilot for 50 seats"
    assert deal.value == Decimal("5000")  # not the 1,000 the form showed
    assert deal.has_need


def test_a_field_both_changed_is_refused_with_the_other_value_then_saved_again(
    client, rep, admin_user, deal
):
    client.force_login(rep)
    url = reverse("deals:edit", args=[deal.pk])
    data = open_form(client, url, url)
    update_deal(deal, by=admin_user, value=Decimal("5000"))

    data |= {"title": "Pilot for 50 seats", "value": "2000"}
    refused = client.post(url, data)

    assert refused.status_code == 200
    assert f"Someone else changed this to “$5,000” {MEANWHILE}" in refused.text
    deal.refresh_from_db()
    assert (deal.title, deal.value) == ("Pilot", Decimal("5000"))  # nothing half-saved

    again = form_data(refused.content, url)
    assert again["value"] == "2000"  # what the user typed stays in the box
    assert client.post(url, again).status_code == 302
    deal.refresh_from_db()
    assert (deal.title, deal.value) == ("Pilot for 50 seats", Decimal("2000"))


def test_the_same_change_by_both_is_no_conflict(client, rep, admin_user, deal):
    client.force_login(rep)
    url = reverse("deals:edit", args=[deal.pk])
    data = open_form(client, url, url)
    update_deal(deal, by=admin_user, value=Decimal("2000"))

    assert client.post(url, data | {"value": "2000.00"}).status_code == 302


def test_a_contact_follows_the_account_someone_else_changed(client, rep, admin_user, deal):
    colleague = ContactFactory(account=deal.account, name="Peter Gibbons")
    other = AccountFactory(name="Initrode", owner=rep)
    client.force_login(rep)
    url = reverse("deals:edit", args=[deal.pk])
    data = open_form(client, url, url)
    update_deal(deal, by=admin_user, account=other)

    data["contact"] = str(colleague.pk)  # a contact of the account the page showed
    refused = client.post(url, data)

    assert refused.status_code == 200
    assert f"Someone else changed this to “Initrode” {MEANWHILE}" in refused.text
    deal.refresh_from_db()
    assert (deal.account, deal.contact) == (other, None)


def test_a_scripted_post_without_the_shown_values_saves_every_field(client, rep, deal):
    client.force_login(rep)
    url = reverse("deals:edit", args=[deal.pk])
    data = {
        "title": "Renamed",
        "account": deal.account_id,
        "owner": rep.pk,
        "value": "1000",
    }
    assert client.post(url, data).status_code == 302
    deal.refresh_from_db()
    assert deal.title == "Renamed"


# The deal page: one field inline, and BANT


def test_an_inline_edit_is_refused_when_someone_else_changed_the_field(
    client, rep, admin_user, deal
):
    client.force_login(rep)
    url = reverse("deals:field", args=[deal.pk, "value"])
    data = open_form(client, url, url)
    update_deal(deal, by=admin_user, value=Decimal("5000"))

    refused = client.post(url, data | {"value": "2000"}, headers={"HX-Request": "true"})

    assert f"Someone else changed this to “$5,000” {MEANWHILE}" in refused.text
    deal.refresh_from_db()
    assert deal.value == Decimal("5000")
    again = client.post(url, form_data(refused.content, url), headers={"HX-Request": "true"})
    assert again.status_code == 200
    deal.refresh_from_db()
    assert deal.value == Decimal("2000")


def test_an_inline_edit_left_as_shown_writes_nothing(client, rep, admin_user, deal):
    client.force_login(rep)
    url = reverse("deals:field", args=[deal.pk, "title"])
    data = open_form(client, url, url)
    update_deal(deal, by=admin_user, title="Pilot, phase 2")

    client.post(url, data, headers={"HX-Request": "true"})

    deal.refresh_from_db()
    assert deal.title == "Pilot, phase 2"


def test_ticking_a_bant_box_keeps_a_box_someone_else_ticked(client, rep, admin_user, deal):
    client.force_login(rep)
    page = deal.get_absolute_url()
    action = reverse("deals:bant", args=[deal.pk])
    data = open_form(client, page, action)
    update_deal(deal, by=admin_user, has_need=True)

    data["has_budget"] = "on"
    client.post(action, data, headers={"HX-Request": "true"})

    deal.refresh_from_db()
    assert (deal.has_budget, deal.has_need) == (True, True)


# Accounts, contacts, activities, tasks


def test_an_account_save_keeps_a_website_someone_else_set(client, rep, admin_user):
    account = AccountFactory(name="Initech", owner=rep, industry="Software")
    client.force_login(rep)
    url = reverse("deals:account-edit", args=[account.pk])
    data = open_form(client, url, url)
    update_account(account, by=admin_user, website="https://initech.example")

    assert client.post(url, data | {"industry": "Printers"}).status_code == 302

    account = Account.objects.get(pk=account.pk)
    assert (account.industry, account.website) == ("Printers", "https://initech.example")


def test_a_contact_save_keeps_a_phone_someone_else_added(client, rep, admin_user):
    contact = ContactFactory(account=AccountFactory(owner=rep), name="Peter", title="Engineer")
    client.force_login(rep)
    url = reverse("deals:contact-edit", args=[contact.pk])
    data = open_form(client, url, url)
    update_contact(contact, by=admin_user, phone="+1 555 0100")

    assert client.post(url, data | {"title": "Team lead"}).status_code == 302

    contact = Contact.objects.get(pk=contact.pk)
    assert (contact.title, contact.phone) == ("Team lead", "+1 555 0100")


def test_an_activity_correction_keeps_a_subject_someone_else_fixed(client, rep, deal):
    call = log_activity(kind=ActivityKind.CALL, subject="Intro cal", user=rep, deal=deal)
    client.force_login(rep)
    url = reverse("deals:activity-edit", args=[call.pk])
    data = open_form(client, url, url)
    Activity.objects.filter(pk=call.pk).update(subject="Intro call")

    assert client.post(url, data | {"body": "Wants a pilot."}).status_code == 302

    call.refresh_from_db()
    assert (call.subject, call.body) == ("Intro call", "Wants a pilot.")


def test_a_task_save_keeps_a_due_time_someone_else_moved(client, rep, admin_user, deal):
    task = TaskFactory(title="Send pricing", assignee=rep, deal=deal)
    later = (task.due_at + timedelta(days=3)).replace(second=0, microsecond=0)
    client.force_login(rep)
    url = reverse("tasks:edit", args=[task.pk])
    data = open_form(client, url, url)
    update_task(task, by=admin_user, due_at=later)

    client.post(url, data | {"title": "Send the three-year pricing"})

    task = Task.objects.get(pk=task.pk)
    assert (task.title, task.due_at) == ("Send the three-year pricing", later)


def test_a_task_due_time_both_changed_is_refused(client, rep, admin_user, deal):
    task = TaskFactory(title="Send pricing", assignee=rep, deal=deal)
    client.force_login(rep)
    url = reverse("tasks:edit", args=[task.pk])
    data = open_form(client, url, url)
    update_task(task, by=admin_user, due_at=task.due_at + timedelta(days=3))

    mine = timezone.localtime(task.due_at + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    refused = client.post(url, data | {"due_at": mine})

    theirs = timezone.localtime(task.due_at).strftime("%b %-d, %Y · %H:%M")
    assert f"Someone else changed this to “{theirs}” {MEANWHILE}" in refused.text
    assert Task.objects.get(pk=task.pk).due_at == task.due_at  # the other's time


def test_the_pages_post_their_shown_values(client, rep, deal):
    """The forms really carry what they showed (else every save would be a blind one)."""
    client.force_login(rep)
    url = reverse("deals:edit", args=[deal.pk])
    data = open_form(client, url, url)
    assert data["initial-value"] == "1000.00"
    assert data["initial-account"] == str(deal.account_id)
    assert data["initial-has_budget"] == "False"
    assert Deal.objects.get(pk=deal.pk).value == Decimal("1000")


def test_an_overdue_task_renamed_on_a_stale_form_keeps_its_new_due_time(
    client, rep, admin_user, deal
):
    """The due time the form showed is in the past, but the user did not type it: no
    "pick a time ahead" error for a field left alone."""
    task = TaskFactory(title="Call back", assignee=rep, deal=deal)
    Task.objects.filter(pk=task.pk).update(due_at=timezone.now() - timedelta(days=2))
    client.force_login(rep)
    url = reverse("tasks:edit", args=[task.pk])
    data = open_form(client, url, url)
    rescheduled = (timezone.now() + timedelta(days=1)).replace(second=0, microsecond=0)
    update_task(Task.objects.get(pk=task.pk), by=admin_user, due_at=rescheduled)

    response = client.post(url, data | {"title": "Call back about pricing"})

    assert response.status_code == 302
    task = Task.objects.get(pk=task.pk)
    assert (task.title, task.due_at) == ("Call back about pricing", rescheduled)


def test_an_activity_kind_both_changed_is_refused_with_its_label(client, rep, deal):
    call = log_activity(kind=ActivityKind.CALL, subject="Intro", user=rep, deal=deal)
    client.force_login(rep)
    url = reverse("deals:activity-edit", args=[call.pk])
    data = open_form(client, url, url)
    Activity.objects.filter(pk=call.pk).update(kind=ActivityKind.MEETING)

    refused = client.post(url, data | {"kind": ActivityKind.EMAIL})

    assert f"Someone else changed this to “Meeting” {MEANWHILE}" in refused.text
    assert Activity.objects.get(pk=call.pk).kind == ActivityKind.MEETING
