"""Moves racing each other on real row locks: PostgreSQL only (SQLite has no row locks)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from conftest import require_or_skip
from deals.models import Deal
from deals.tests.factories import AccountFactory, DealFactory
from stages.tests.factories import stage

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        require_or_skip("needs PostgreSQL row locks: set DATABASE_URL (CI does)")


def race(user, requests: list[tuple[str, dict]]) -> list:
    """POST every request at once, each from its own client and connection."""
    barrier = threading.Barrier(len(requests))
    responses: list = [None] * len(requests)

    def post(index: int, url: str, data: dict) -> None:
        client = Client()
        client.force_login(user)
        barrier.wait()
        try:
            responses[index] = client.post(url, data, HTTP_HX_REQUEST="true")
        finally:
            connection.close()

    threads = [
        threading.Thread(target=post, args=(index, url, data))
        for index, (url, data) in enumerate(requests)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return responses


def test_two_people_moving_the_same_deal_at_once_one_wins_one_gets_409(rep, pipeline):
    deal = DealFactory(pipeline=pipeline, owner=rep)
    lead, contacted, qualified = (stage(pipeline, n) for n in ("Lead", "Contacted", "Qualified"))
    url = reverse("deals:move", args=[deal.pk])

    first, second = race(
        rep,
        [
            (url, {"stage": contacted.pk, "from_stage": lead.pk}),
            (url, {"stage": qualified.pk, "from_stage": lead.pk}),
        ],
    )

    assert sorted([first.status_code, second.status_code]) == [200, 409]
    winner, loser = (first, second) if first.status_code == 200 else (second, first)
    deal.refresh_from_db()
    assert loser.json()["stage_id"] == deal.stage_id
    assert "in the meantime; nothing was changed." in loser.json()["error"]
    history = list(deal.stage_changes.values_list("to_stage__name", flat=True))
    assert history == ["Lead", deal.stage.name]


def test_cards_dropped_into_one_column_at_once_keep_distinct_positions(rep, pipeline):
    account = AccountFactory(owner=rep)
    contacted = stage(pipeline, "Contacted")
    DealFactory.create_batch(3, pipeline=pipeline, owner=rep, account=account, stage=contacted)
    movers = DealFactory.create_batch(6, pipeline=pipeline, owner=rep, account=account)
    lead = stage(pipeline, "Lead")

    responses = race(
        rep,
        [
            (
                reverse("deals:move", args=[deal.pk]),
                {"stage": contacted.pk, "from_stage": lead.pk, "position": 1},
            )
            for deal in movers
        ],
    )

    refused = [r.json() for r in responses if r.status_code != 200]
    assert refused == []
    positions = list(Deal.objects.filter(stage=contacted).values_list("board_position", flat=True))
    assert len(positions) == 9
    assert len(set(positions)) == 9


def test_an_import_and_a_drop_into_one_column_at_once_both_land(rep, pipeline):
    from django.db import transaction

    from deals.services import DealDraft, create_deals_with_history

    account = AccountFactory(owner=rep)
    lead, contacted = stage(pipeline, "Lead"), stage(pipeline, "Contacted")
    DealFactory.create_batch(2, pipeline=pipeline, owner=rep, account=account, stage=contacted)
    mover = DealFactory(pipeline=pipeline, owner=rep, account=account)
    imported_open = threading.Event()
    drop_done = threading.Event()
    errors: list[Exception] = []

    def run_import() -> None:
        try:
            with transaction.atomic():
                drafts = [
                    DealDraft(
                        deal=Deal(
                            title=f"Imported {n}",
                            account=account,
                            owner=rep,
                            pipeline=pipeline,
                            stage=contacted,
                        )
                    )
                    for n in range(3)
                ]
                create_deals_with_history(drafts)
                imported_open.set()
                drop_done.wait(timeout=10)  # commit only after the drop committed
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()

    importer = threading.Thread(target=run_import)
    importer.start()
    assert imported_open.wait(timeout=10)
    client = Client()
    client.force_login(rep)
    response = client.post(
        reverse("deals:move", args=[mover.pk]),
        {"stage": contacted.pk, "from_stage": lead.pk},
        HTTP_HX_REQUEST="true",
    )
    drop_done.set()
    importer.join(timeout=30)

    assert response.status_code == 200
    assert errors == []
    positions = list(Deal.objects.filter(stage=contacted).values_list("board_position", flat=True))
    assert len(positions) == len(set(positions)) == 6
