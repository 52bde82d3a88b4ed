"""On SQLite too the database refuses UPDATE and DELETE on append-only tables.

The same guard as the PostgreSQL triggers of 0002, for the embedded shape: a stray
`DiaryRecord.objects.update()` or `AuditEvent.objects.delete()` (which bypass the models'
save and delete) is refused with RAISE(ABORT). Flushing the whole database still works:
the eprp SQLite backend (eprp/sqlite3/base.py) lifts the triggers for it, as TRUNCATE does
on PostgreSQL.
"""

from django.db import migrations

TABLES = ["diaries_diaryrecord", "diaries_treatmentevent", "diaries_auditevent"]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    for table in TABLES:
        for operation in ("UPDATE", "DELETE"):
            schema_editor.execute(
                f"CREATE TRIGGER {table}_append_only_{operation.lower()} BEFORE {operation} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'eprp: {operation} on {table} is not allowed: rows are append-only'); END;"
            )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    for table in TABLES:
        for operation in ("update", "delete"):
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only_{operation};")


class Migration(migrations.Migration):
    dependencies = [("diaries", "0005_patient_api")]
    operations = [migrations.RunPython(forwards, backwards)]
