from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from deals.forms import BoardFilterForm, MoveDealForm, QuickAddDealForm, add_service_error
from deals.models import Deal
from deals.record_actions import NO_CHANGE_RIGHTS, get_deal
from deals.selectors import (
    BOARD_PAGE_SIZE,
    BoardFilters,
    Card,
    active_lost_reasons,
    assignable_owners,
    board_deals,
    board_owners,
    build_board,
    can_change_deal,
    column_page,
    column_totals,
    decorate_cards,
    default_pipeline,
    get_deal_for_user_or_404,
    index_in_column,
    visible_accounts,
    visible_pipelines,
)
from deals.services import (
    DealConflict,
    DealError,
    DealMoveError,
    create_deal_with_account,
    move_deal,
)
from pipeline_crm.ids import parse_id
from pipeline_crm.redirects import next_url
from stages.models import Pipeline, Stage, StageKind


def _board_url(pipeline_id: int, query: str = "") -> str:
    url = reverse("deals:board", args=[pipeline_id])
    return f"{url}?{query}" if query else url


@login_required
def home(request: HttpRequest) -> HttpResponse:
    pipeline = default_pipeline(request.user)
    if pipeline is None:
        return render(request, "deals/no_pipeline.html", {"active_section": "Board"})
    return redirect("deals:board", pipeline.pk)


@login_required
def board(request: HttpRequest, pipeline_id: int) -> HttpResponse:
    pipelines = visible_pipelines(request.user)
    pipeline = next((p for p in pipelines if p.pk == pipeline_id), None)
    if pipeline is None:
        raise Http404("No such pipeline.")
    owners = list(board_owners(request.user))
    form = BoardFilterForm(request.GET, user=request.user, owners=owners)
    filters = form.filters()
    context = {
        "active_section": "Board",
        "pipelines": pipelines,
        "pipeline": pipeline,
        "board": build_board(pipeline=pipeline, user=request.user, filters=filters),
        "filter_form": form,
        "filtered": filters != BoardFilters(),
        "query": request.GET.urlencode(),
        "lost_reasons": list(active_lost_reasons()),
        "today": timezone.localdate(),
        "board_url": request.get_full_path(),
    }
    return render(request, "deals/board.html", context)


@login_required
def column(request: HttpRequest, pipeline_id: int, stage_id: int) -> HttpResponse:
    """The next cards of one column ("load more")."""
    stage = get_object_or_404(
        Stage.objects.select_related("pipeline"),
        pk=stage_id,
        pipeline_id=pipeline_id,
        pipeline__is_active=True,
        kind=StageKind.OPEN,
    )
    offset = parse_id(request.GET.get("offset", "0"))
    if offset is None:
        return HttpResponse("offset must be a whole number ≥ 0.", status=400)
    filters = BoardFilterForm(request.GET, user=request.user).filters()
    cards = column_page(
        pipeline=stage.pipeline, stage=stage, user=request.user, filters=filters, offset=offset
    )
    more = offset + len(cards) if len(cards) == BOARD_PAGE_SIZE else None
    context = {
        "pipeline": stage.pipeline,
        "stage": stage,
        "cards": cards,
        "next_offset": more,
        "query": _query_without(request, "offset"),
        "today": timezone.localdate(),
        "board_url": _board_url(pipeline_id, _query_without(request, "offset")),
    }
    return render(request, "deals/board.html#column_cards", context)


def _query_without(request: HttpRequest, *names: str) -> str:
    query = request.GET.copy()
    for name in names:
        query.pop(name, None)
    return query.urlencode()


def _refuse(request: HttpRequest, deal: Deal, reason: str, status: int) -> HttpResponse:
    """Explain why a move did not happen: JSON for the board's script, a page otherwise.

    `deal` is as the database has it (nothing was saved), so the script can put the card
    where the server says it is.
    """
    if request.htmx:
        payload = {"error": reason, "stage_id": deal.stage_id, "status": deal.status}
        return JsonResponse(payload, status=status)
    back = next_url(request, _board_url(deal.pipeline_id))
    context = {"deal": deal, "error": reason, "next": back}
    return render(request, "deals/move_refused.html", context, status=status)


@login_required
def move_form(request: HttpRequest, deal_id: int) -> HttpResponse:
    """ "Move to…": the same move as a drag, as a plain form for keyboards and no JavaScript."""
    deal = get_deal(request, deal_id, change=True)
    preselect = request.GET.get("stage", "")
    context = {
        "deal": deal,
        # ?stage=<id> preselects a stage (the deal page's lost step), else the current one.
        "selected": parse_id(preselect) or deal.stage_id,
        "stages": deal.pipeline.stages.all(),
        "lost_reasons": active_lost_reasons(),
        "next": next_url(request, _board_url(deal.pipeline_id)),
    }
    return render(request, "deals/move.html", context)


@require_POST
@login_required
def move(request: HttpRequest, deal_id: int) -> HttpResponse:
    form = MoveDealForm(request.POST)
    filters = BoardFilterForm(request.GET, user=request.user).filters()
    # A refusal is answered after the transaction: a failed move leaves it to roll back.
    refusal: tuple[Deal, str, int] | None = None
    with transaction.atomic():
        deal = get_deal_for_user_or_404(request.user, deal_id, lock=True)
        if not can_change_deal(request.user, deal):
            refusal = (deal, NO_CHANGE_RIGHTS.format(record=deal.title), 403)
        elif not form.is_valid():
            refusal = (deal, form.error_text(), 400)
        else:
            try:
                moved = _move_as_dropped(request, deal, form.cleaned_data, filters)
            except DealConflict as conflict:
                refusal = (conflict.deal, str(conflict), 409)
            except DealMoveError as error:
                refusal = (deal, str(error), 400)
    if refusal is not None:
        return _refuse(request, *refusal)
    if not request.htmx:
        messages.success(request, f"Moved “{moved.title}” to “{moved.stage.name}”.")
        return redirect(next_url(request, _board_url(moved.pipeline_id)))
    return _render_move_result(request, moved, moved.previous_stage, filters)


def _move_as_dropped(request: HttpRequest, deal: Deal, data: dict, filters: BoardFilters) -> Deal:
    """`move_deal` for a card dropped at index `data["position"]` of the board's column."""
    to_stage = Stage(pk=data["stage"])
    position = data["position"]
    if position is not None and filters != BoardFilters():
        # The script counts the cards shown; with filters on, map to the whole column.
        position = index_in_column(
            deal=deal, stage=to_stage, user=request.user, filters=filters, index=position
        )
    return move_deal(
        deal,
        to_stage,
        by=request.user,
        position=position,
        lost_reason=data["lost_reason"],
        expected_stage=Stage(pk=data["from_stage"]) if data["from_stage"] else None,
        locked=True,
    )


def _render_move_result(
    request: HttpRequest, moved: Deal, from_stage: Stage, filters: BoardFilters
) -> HttpResponse:
    """The moved card (while it stays on the board) and the fresh headers of the columns
    it left and entered; the board's script adds the columns up into its summary."""
    now = timezone.now()
    pipeline = moved.pipeline
    stages = [s for s in dict.fromkeys([from_stage, moved.stage]) if s.kind == StageKind.OPEN]
    # Only the rotting filter needs every stage (for its rotting days).
    stages_for_filter = list(pipeline.stages.all()) if filters.rotting else stages
    deals = board_deals(
        pipeline=pipeline, stages=stages_for_filter, user=request.user, filters=filters, now=now
    )
    cards = [Card.from_deal(moved)] if moved.is_open else []
    if cards and filters != BoardFilters() and not deals.filter(pk=moved.pk).exists():
        # A move can take a deal out of the filtered view (it is no longer rotting).
        cards = []
    decorate_cards(cards, stage=moved.stage, now=now)
    query = request.GET.urlencode()
    context = {
        "pipeline": pipeline,
        "columns": column_totals(deals.filter(stage__in=stages), stages=stages),
        "cards": cards,
        "query": query,
        "today": timezone.localdate(),
        "board_url": _board_url(pipeline.pk, query),
    }
    return render(request, "deals/board.html#move_result", context)


@login_required
@require_http_methods(["GET", "POST"])
def quick_add(request: HttpRequest, pipeline_id: int) -> HttpResponse:
    pipeline = get_object_or_404(Pipeline.objects.active(), pk=pipeline_id)
    open_stages = pipeline.stages.filter(kind=StageKind.OPEN)
    stage_id = parse_id(request.GET.get("stage"))
    chosen = open_stages.filter(pk=stage_id).first() if stage_id else None
    stage = chosen or open_stages.first()
    if stage is None:
        raise Http404("This pipeline has no open stage.")
    form = QuickAddDealForm(
        request.POST or None,
        accounts=visible_accounts(request.user),
        owners=assignable_owners(request.user),
        initial={"owner": request.user.pk},
    )
    if form.is_valid():
        data = form.cleaned_data
        try:
            deal = create_deal_with_account(
                account=data["account"],
                new_account_name=data["new_account"],
                title=data["title"],
                owner=data["owner"],
                pipeline=pipeline,
                stage=stage,
                value=data["value"],
                expected_close_date=data["expected_close_date"],
                by=request.user,
            )
        except (ValidationError, DealError) as error:
            add_service_error(form, error)
        else:
            messages.success(request, f"Added “{deal.title}” to “{stage.name}”.")
            return redirect(next_url(request, _board_url(pipeline.pk)))
    context = {"pipeline": pipeline, "stage": stage, "form": form, "active_section": "Board"}
    return render(request, "deals/quick_add.html", context)
