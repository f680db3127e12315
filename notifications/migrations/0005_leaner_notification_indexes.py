"""Two index entries fewer per notification written: the user foreign key's own index (the (user,
-created_at) index serves its lookups) and the provider message id's entries for notifications that have
none. Indexes are built and dropped concurrently, so a large table keeps taking writes meanwhile."""

import django.db.models.deletion
from django.conf import settings
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("notifications", "0004_topics_broadcasts"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        RemoveIndexConcurrently(model_name="notification", name="notif_provider_message_id"),
        migrations.AlterField(
            model_name="notification",
            name="user",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="notifications",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        AddIndexConcurrently(
            model_name="notification",
            index=models.Index(
                condition=models.Q(("provider_message_id", ""), _negated=True),
                fields=["provider_message_id"],
                name="notif_provider_message_id",
            ),
        ),
    ]
