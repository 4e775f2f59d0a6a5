"""On PostgreSQL, the database itself refuses UPDATE and DELETE of billing events."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION billing_event_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'billing events are append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER billing_event_append_only
    BEFORE UPDATE OR DELETE ON billing_billingevent
    FOR EACH ROW EXECUTE FUNCTION billing_event_append_only();
"""
DROP = """
DROP TRIGGER IF EXISTS billing_event_append_only ON billing_billingevent;
DROP FUNCTION IF EXISTS billing_event_append_only();
"""


def _run(schema_editor, sql):
    # A cursor without parameters: the function body contains a literal '%'.
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(sql)


def forward(apps, schema_editor):
    _run(schema_editor, CREATE)


def backward(apps, schema_editor):
    _run(schema_editor, DROP)


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
