"""`{% deal_cards cards %}` and `{% column_header column %}`: board cards and column headers
(deals.cards), for the board, "load more" and a move."""

from collections.abc import Iterable

from django import template
from django.utils.safestring import SafeString

from deals.cards import render_cards, render_column_header
from deals.selectors.board import BoardColumn, Card

register = template.Library()


@register.simple_tag(takes_context=True)
def deal_cards(context: template.Context, cards: Iterable[Card]) -> SafeString:
    return render_cards(cards, today=context["today"], board_url=context["board_url"])


@register.simple_tag
def column_header(column: BoardColumn, *, oob: bool = False) -> SafeString:
    return render_column_header(column, oob=oob)
