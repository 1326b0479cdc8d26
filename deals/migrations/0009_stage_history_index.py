"""A deal's history index gains the id that breaks ties on `changed_at`, so the stage a deal
was in at a past moment is read by one index probe, without sorting the deal's rows."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("deals", "0008_deal_list_order_index"),
        ("stages", "0005_pipeline_auto_flush"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name="stagechange",
            index=models.Index(
                fields=["deal", "changed_at", "id"], name="stagechange_deal_history_idx"
            ),
        ),
        migrations.RemoveIndex(model_name="stagechange", name="stagechange_deal_idx"),
    ]
