"""Stage sets admins start a pipeline from: the common templates of B2B sales.

Each stage is (name, probability) for an open stage, or (name, "won") / (name, "lost").
"""

from __future__ import annotations

from dataclasses import dataclass

WON = "won"
LOST = "lost"


@dataclass(frozen=True)
class PipelineTemplate:
    key: str
    label: str
    stages: tuple[tuple[str, int | str], ...]


TEMPLATES: tuple[PipelineTemplate, ...] = (
    PipelineTemplate(
        "simple",
        "Simple",
        (
            ("Lead", 10),
            ("Contacted", 20),
            ("Qualified", 40),
            ("Proposal made", 60),
            ("Won", WON),
            ("Lost", LOST),
        ),
    ),
    PipelineTemplate(
        "classic",
        "Classic 7 + churn",
        (
            ("Prospecting", 5),
            ("Lead qualification", 10),
            ("Demo or meeting", 25),
            ("Proposal", 45),
            ("Negotiation and commitment", 70),
            ("Opportunity won", WON),
            ("Post-purchase", WON),
            ("Customer lost", LOST),
        ),
    ),
    PipelineTemplate(
        "sales-cycle-8",
        "Sales cycle in 8 phases",
        (
            ("Research", 2),
            ("Prospecting", 5),
            ("Connecting", 10),
            ("Qualification", 20),
            ("Pitching", 35),
            ("Objection handling", 50),
            ("Negotiation", 70),
            ("Follow-up", WON),
            ("Lost", LOST),
        ),
    ),
    PipelineTemplate(
        "real-estate",
        "Real estate",
        (
            ("Buyer looking", 10),
            ("Visit scheduled", 25),
            ("Price discussion", 45),
            ("Offer made", 65),
            ("Offer accepted", WON),
            ("Referral", WON),
            ("Lost", LOST),
        ),
    ),
    PipelineTemplate(
        "financial-services",
        "Financial services",
        (
            ("First meeting", 15),
            ("Proposal submitted", 35),
            ("Fee negotiation", 60),
            ("Proposal accepted", WON),
            ("Upsell", WON),
            ("Lost", LOST),
        ),
    ),
    PipelineTemplate(
        "startup",
        "Startup",
        (
            ("Cold prospect", 5),
            ("Engaged prospect", 15),
            ("Demo booked", 30),
            ("Trial", 50),
            ("Closed customer", WON),
            ("Retention", WON),
            ("Lost", LOST),
        ),
    ),
)

TEMPLATES_BY_KEY = {template.key: template for template in TEMPLATES}
