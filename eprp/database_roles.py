"""The PostgreSQL role the application runs as: it owns nothing and holds only what it needs.

Migrations run as the owner role, which owns every table. The web and worker processes
connect as another role (DATABASE_URL's user) granted SELECT, INSERT, UPDATE and DELETE,
except on the append-only tables (those with an `…_append_only` trigger: diary, treatment,
audit and inbound message rows), where it may only read and insert. Owning nothing, it
can't TRUNCATE, ALTER or DISABLE TRIGGER either: the append-only guarantee no longer rests
on the application's good behaviour.
"""

from django.db import connection

APPEND_ONLY_TABLES = """
    SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND right(t.tgname, 12) = '_append_only' ORDER BY c.relname
"""


class RoleError(Exception):
    pass


def grant_app_role(role: str) -> list[str]:
    """Grant `role` what the application needs on the current schema; returns the append-only tables.

    Run as the owner role after every migration (deploy/eprp migrate): it is idempotent, and
    the default privileges cover tables a later migration creates before it runs again.
    """
    if connection.vendor != "postgresql":
        raise RoleError("database roles exist on PostgreSQL only")
    name = connection.ops.quote_name(role)
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolname = current_user FROM pg_roles WHERE rolname = %s", [role])
        found = cursor.fetchone()
        if found is None:
            raise RoleError(f"no role {role!r}: create it first (CREATE ROLE {role} LOGIN PASSWORD '…')")
        if found[0] or found[1]:
            raise RoleError(f"{role!r} is a superuser or the role running the migrations: the app needs its own role")
        cursor.execute("SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles WHERE rolname = %s)",
                       [role])
        if cursor.fetchone()[0]:
            raise RoleError(f"{role!r} owns tables: hand them to the owner role (REASSIGN OWNED BY {role} TO …)")
        cursor.execute(APPEND_ONLY_TABLES)
        append_only = [row[0] for row in cursor.fetchall()]
        statements = [
            # Before PostgreSQL 15 every role may create tables in public (and would own them).
            "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
            f"GRANT USAGE ON SCHEMA public TO {name}",
            f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {name}",
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {name}",
            f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {name}",
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {name}",
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {name}",
            f"REVOKE INSERT, UPDATE, DELETE ON django_migrations FROM {name}",
        ] + [f"REVOKE UPDATE, DELETE ON {connection.ops.quote_name(table)} FROM {name}" for table in append_only]
        for statement in statements:
            cursor.execute(statement)
    return append_only
