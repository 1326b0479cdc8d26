"""`{% deal_cards cards %}`: board cards (deals.cards), for the board, "load more" and a move."""

from collections.abc import Iterable

from django import template
from django.utils.safestring import SafeString

from deals.cards import render_cards
from deals.selectors.board import Card

register = template.Library()


@register.simple_tag(takes_context=True)
def deal_cards(context: template.Context, cards: Iterable[Card]) -> SafeString:
    return render_cards(cards, today=context["today"], board_url=context["board_url"])
