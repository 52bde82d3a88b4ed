#!/bin/sh
# Run once by the postgres image when its volume is created (docker-entrypoint-initdb.d):
# the role web, worker and beat connect as. It owns nothing; `deploy/eprp migrate`, run as
# the owner role ($POSTGRES_USER), grants it what it needs after every migration.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v app_password="$EPRP_APP_PASSWORD" <<'SQL'
CREATE ROLE eprp_app LOGIN PASSWORD :'app_password' NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
SQL
