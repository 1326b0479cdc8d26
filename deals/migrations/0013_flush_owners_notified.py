from django.db import migrations, models
from django.db.models import F


def flushes_before_count_as_announced(apps, schema_editor):
    """The flushes finished before the owners' emails existed are not announced now, months
    later, by the catch-up."""
    Flush = apps.get_model("deals", "Flush")
    Flush.objects.filter(finished_at__isnull=False).update(owners_notified_at=F("finished_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("deals", "0012_flush_undo_error"),
    ]

    operations = [
        migrations.AddField(
            model_name="flush",
            name="owners_notified_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(flushes_before_count_as_announced, migrations.RunPython.noop),
    ]
