"""The forecast report's tables (placeholder until built)."""

from __future__ import annotations


def build(request, form, links) -> dict:
    return {"tables": []}
