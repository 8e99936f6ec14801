#!/bin/bash
# LAB STAND-IN entrypoint, modelled on the official postgres image's: on the
# first start it initialises PGDATA from POSTGRES_USER, POSTGRES_PASSWORD and
# POSTGRES_DB, runs /docker-entrypoint-initdb.d/*.sql and *.sh, then replaces
# itself with the server so that signals reach it directly.
#
# The password goes to initdb through a file only this user can read; it is
# never echoed, never on a command line and never in the log.
set -euo pipefail

log() {
    printf '%s postgres-stand-in: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"
}

fail() {
    log "$*" >&2
    exit 1
}

# "-c name=value" alone means "run postgres with these options".
if [ "${1:-}" != "" ] && [ "${1:0:1}" = "-" ]; then
    set -- postgres "$@"
fi

if [ "${1:-}" != "postgres" ]; then
    exec "$@"
fi

if [ "$(id -u)" = 0 ]; then
    fail "refusing to run as root: start the container as the postgres user (the image's default)"
fi

: "${PGDATA:=/var/lib/postgresql/data}"
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
export PGDATA POSTGRES_USER POSTGRES_DB

initialise() {
    if [ -z "${POSTGRES_PASSWORD:-}" ]; then
        fail "PGDATA $PGDATA holds no database and POSTGRES_PASSWORD is not set: set it to the superuser's password"
    fi
    log "initialising a new database cluster in $PGDATA for user $POSTGRES_USER"

    # Private (mktemp makes it 0700): the password file, then the temporary
    # server's socket. Removed on every way out, a failed initdb included.
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' EXIT
    printf '%s\n' "$POSTGRES_PASSWORD" >"$scratch/pwfile"

    initdb --username="$POSTGRES_USER" --pwfile="$scratch/pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 \
        --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$scratch/pwfile"

    # Other containers reach the server over the network; they must give the
    # password. The local socket stays trusted for pg_isready and init scripts.
    printf '%s\n' "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    printf '%s\n' "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"

    # A temporary server on a private socket and no TCP: nobody, the
    # HEALTHCHECK included, sees it as ready before initialisation is done.
    pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -k $scratch" start >/dev/null
    local psql=(psql -v ON_ERROR_STOP=1 --no-psqlrc -h "$scratch" -U "$POSTGRES_USER" -q)

    if [ "$POSTGRES_DB" != postgres ]; then
        # :"name" makes psql quote the name as an identifier.
        "${psql[@]}" -d postgres -v db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
    fi

    local script
    shopt -s nullglob
    for script in /docker-entrypoint-initdb.d/*; do
        case "$script" in
            *.sql)
                log "running $script"
                "${psql[@]}" -d "$POSTGRES_DB" -f "$script"
                ;;
            *.sh)
                log "running $script"
                PGHOST="$scratch" PGUSER="$POSTGRES_USER" PGDATABASE="$POSTGRES_DB" bash "$script"
                ;;
            *)
                log "ignoring $script: only .sql and .sh files run"
                ;;
        esac
    done
    shopt -u nullglob

    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    rm -rf "$scratch"
    trap - EXIT
    log "initialisation complete"
}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    initialise
else
    log "using the existing database cluster in $PGDATA"
fi

# The server needs no password; keep it out of the server's environment.
unset POSTGRES_PASSWORD
exec "$@"
