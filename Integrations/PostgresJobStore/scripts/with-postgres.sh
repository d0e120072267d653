#!/usr/bin/env bash
# Runs a command against a throw-away PostgreSQL cluster:
#   scripts/with-postgres.sh swift test
# Creates a cluster in a temporary directory (trust authentication, loopback only, a free port),
# exports POSTGRES_HOST, POSTGRES_PORT, POSTGRES_USER and POSTGRES_DB for the command, runs it,
# and always stops and deletes the cluster, whatever the command's outcome. Exits with the
# command's status. WITH_POSTGRES_FSYNC=on keeps PostgreSQL's durable defaults (see below).
#
# Needs Debian/Ubuntu's `postgresql` package (binaries in /usr/lib/postgresql/<version>/bin) or
# initdb/pg_ctl on PATH. PostgreSQL refuses to run as root: as root, the cluster runs as the
# `postgres` user (created by the package) through runuser.
set -euo pipefail

if [ "$#" -eq 0 ]; then
    echo "usage: $0 <command> [arguments...]" >&2
    exit 64
fi

bindir=""
if command -v initdb >/dev/null 2>&1; then
    bindir="$(dirname "$(command -v initdb)")"
else
    for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$candidate/initdb" ]; then bindir="$candidate"; break; fi
    done
fi
if [ -z "$bindir" ]; then
    echo "with-postgres.sh: initdb not found (install it: apt-get install -y postgresql)" >&2
    exit 69
fi

workdir="$(mktemp -d "${TMPDIR:-/tmp}/with-postgres.XXXXXX")"
as_db_user=()
db_user="$(id -un)"
if [ "$(id -u)" -eq 0 ]; then
    db_user=postgres
    id -u "$db_user" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$db_user"
    chown "$db_user" "$workdir"
    as_db_user=(runuser -u "$db_user" --)
fi
data="$workdir/data"
log="$workdir/server.log"

cleanup() {
    status=$?
    if [ -f "$data/postmaster.pid" ]; then
        "${as_db_user[@]}" "$bindir/pg_ctl" stop -D "$data" -m immediate -w >/dev/null 2>&1 || true
    fi
    rm -rf "$workdir"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"${as_db_user[@]}" "$bindir/initdb" -D "$data" -U postgres -A trust -E UTF8 --no-locale >"$workdir/initdb.log" 2>&1 \
    || { cat "$workdir/initdb.log" >&2; exit 70; }

# Tests run without fsync (fast; the cluster is thrown away). WITH_POSTGRES_FSYNC=on keeps the
# server's durable defaults (use it for benchmarks).
durability="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
if [ "${WITH_POSTGRES_FSYNC:-off}" = on ]; then durability=""; fi

# A free loopback port: try random ports until the server starts on one.
started=""
for _ in $(seq 1 20); do
    port=$(( 20000 + RANDOM % 40000 ))
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then continue; fi  # something listens
    if "${as_db_user[@]}" "$bindir/pg_ctl" start -D "$data" -l "$log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $workdir -c max_connections=300 $durability" \
        >/dev/null 2>&1; then
        started=yes
        break
    fi
done
if [ -z "$started" ]; then
    echo "with-postgres.sh: could not start PostgreSQL; server log:" >&2
    cat "$log" >&2 || true
    exit 70
fi

export POSTGRES_HOST=127.0.0.1 POSTGRES_PORT="$port" POSTGRES_USER=postgres POSTGRES_DB=postgres
echo "with-postgres.sh: PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data in $workdir)" >&2
set +e
"$@"
status=$?
set -e
exit "$status"
