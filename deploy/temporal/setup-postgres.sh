#!/bin/sh
# One-shot (the `temporal-schema` service, temporalio/admin-tools): create Temporal's two
# databases on first start and bring both schemas up to the image's version. Safe to run
# on every `docker compose up`: an existing database is kept and only newer schema
# versions are applied (which is also how a Temporal upgrade migrates).
# temporal-sql-tool reads the password from SQL_PASSWORD.
set -eu

: "${POSTGRES_SEEDS:?}" "${POSTGRES_USER:?}" "${SQL_PASSWORD:?}"
PORT="${DB_PORT:-5432}"
SCHEMA_DIR=/etc/temporal/schema/postgresql/v12

sql() {
    db="$1"
    shift
    temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$PORT" \
        -u "$POSTGRES_USER" --db "$db" "$@"
}

setup() {
    db="$1"
    versioned="$2"
    if sql "$db" create; then
        echo "created database $db"
        sql "$db" setup-schema -v 0.0
    else
        echo "database $db exists: keeping it"
    fi
    sql "$db" update-schema -d "$versioned"
}

setup temporal "$SCHEMA_DIR/temporal/versioned"
setup temporal_visibility "$SCHEMA_DIR/visibility/versioned"
echo "Temporal schema is up to date"
