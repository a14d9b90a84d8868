#!/usr/bin/env bash
# Runs every test of the repository on a fresh machine: installs the Postgres server and
# psql when they are missing (the end-to-end tests use a private Postgres as their
# oracle, and the real psql as a client), then runs the whole workspace's tests.
#
# Usage: bash scripts/test.sh [extra cargo test arguments]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

have_postgres() {
    { command -v initdb >/dev/null 2>&1 || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; } &&
        command -v psql >/dev/null 2>&1
}

if ! have_postgres; then
    if [ "$(id -u)" != 0 ]; then
        echo "test.sh: postgres (initdb, pg_ctl, postgres, psql) is missing; install the postgresql package" >&2
        exit 1
    fi
    echo "test.sh: installing postgresql with apt-get"
    # The tests start their own clusters; don't let the package create and start one.
    if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
        mkdir -p /etc/postgresql-common
        echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf
    fi
    export DEBIAN_FRONTEND=noninteractive
    # The same lock file as eddy-testkit's own installer, so the two never run apt at once.
    flock /tmp/eddy-testkit-apt.lock sh -c \
        'apt-get update -q && apt-get install -y -q --no-install-recommends postgresql postgresql-client'
fi

# The Python driver tests (crates/server/tests/python_drivers.rs) use psycopg2 and
# SQLAlchemy's inspector, as a data engineer's scripts would.
if ! python3 -c 'import psycopg2, sqlalchemy' >/dev/null 2>&1; then
    echo "test.sh: installing psycopg2-binary and sqlalchemy with pip"
    python3 -m pip install --quiet --disable-pip-version-check 'psycopg2-binary>=2.9' 'sqlalchemy>=2'
fi

export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"
cargo test --workspace --locked --no-fail-fast "$@"
