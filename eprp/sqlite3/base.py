"""Django's SQLite backend, with a flush that gets past the append-only triggers.

On SQLite the append-only tables refuse UPDATE and DELETE through triggers
(diaries/migrations/0006, notifications/migrations/0002). Emptying the whole database
(`manage.py flush`, and the test runner between transactional tests) is the one deletion
that is meant: PostgreSQL does it with TRUNCATE, which row triggers do not see; SQLite has
no TRUNCATE, so the flush drops the triggers of the tables it empties and creates them
again in the same transaction.
"""

from django.db.backends.sqlite3 import base, operations


class DatabaseOperations(operations.DatabaseOperations):
    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        statements = super().sql_flush(style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
        if not statements:
            return statements
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT name, sql, tbl_name FROM sqlite_master WHERE type = 'trigger' ORDER BY name")
            triggers = [(name, sql) for name, sql, table in cursor.fetchall() if table in tables]
        drop = [f"DROP TRIGGER {self.quote_name(name)}" for name, _ in triggers]
        return drop + list(statements) + [sql for _, sql in triggers]


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
