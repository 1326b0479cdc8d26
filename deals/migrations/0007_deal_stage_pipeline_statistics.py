"""Tell PostgreSQL's planner that a deal's stage determines its pipeline.

Queries filter on both (the board: the pipeline's deals, then one column), and the planner,
taking the two conditions as independent, expected 50 deals in a column of 1,400: it then
chose to sort the column rather than read the first cards in board order (45 ms instead of
3 ms for a 10,000-deal board). Other databases have no such statistics; nothing to do there.
"""

from django.db import migrations

NAME = "deal_stage_pipeline_stats"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE STATISTICS {NAME} (dependencies) ON pipeline_id, stage_id FROM deals_deal"
        )
        schema_editor.execute("ANALYZE deals_deal")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP STATISTICS IF EXISTS {NAME}")


class Migration(migrations.Migration):
    dependencies = [("deals", "0006_board_totals_index")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
