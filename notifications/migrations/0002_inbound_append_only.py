"""Inbound texts are what the patient sent: the database refuses UPDATE and DELETE of them.

Nothing in the application changes an inbound row after it is written (the reply and
outcome are set before the one INSERT), so every column is protected, as diary and audit
rows are: on PostgreSQL by the trigger function of diaries 0002, on SQLite by RAISE(ABORT).
"""

from django.db import migrations

TABLE = "notifications_inboundmessage"


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(
            f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
            f"FOR EACH ROW EXECUTE FUNCTION eprp_refuse_change();"
        )
    elif vendor == "sqlite":
        for operation in ("UPDATE", "DELETE"):
            schema_editor.execute(
                f"CREATE TRIGGER {TABLE}_append_only_{operation.lower()} BEFORE {operation} ON {TABLE} "
                f"BEGIN SELECT RAISE(ABORT, 'eprp: {operation} on {TABLE} is not allowed: rows are append-only'); END;"
            )


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE};")
    elif vendor == "sqlite":
        for operation in ("update", "delete"):
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_append_only_{operation};")


class Migration(migrations.Migration):
    dependencies = [("notifications", "0001_initial"), ("diaries", "0002_append_only_triggers")]
    operations = [migrations.RunPython(forwards, backwards)]
