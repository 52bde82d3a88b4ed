"""On PostgreSQL the database itself refuses UPDATE and DELETE on append-only tables.

The application never issues them; this guards against a stray script or a console
session (21 CFR 11.10(e): changes must not obscure previous information). TRUNCATE is
left to the table owner: deploy the web and worker processes with a role that does not
own the tables.
"""

from django.db import migrations

TABLES = ["diaries_diaryrecord", "diaries_treatmentevent", "diaries_auditevent"]

FUNCTION = """
CREATE OR REPLACE FUNCTION eprp_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'eprp: % on % is not allowed: rows are append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION, None)  # None: the % of RAISE are not placeholders
    for table in TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION eprp_refuse_change();"
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};")
    schema_editor.execute("DROP FUNCTION IF EXISTS eprp_refuse_change();")


class Migration(migrations.Migration):
    dependencies = [("diaries", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
