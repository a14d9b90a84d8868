#!/usr/bin/env bash
# Runs every test of the repository on a fresh machine: installs the Postgres server and
# psql when they are missing (the end-to-end tests use a private Postgres as their
# oracle, and the real psql as a client), Java and Maven (the Kafka tests run a private
# Apache Kafka broker), Chromium (the status page test renders the page in headless
# Chromium), and the Python and Node.js drivers the driver tests run, then runs the
# whole workspace's tests.
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

# The status page test (crates/server/tests/status_page.rs) renders `GET /` in headless
# Chromium and takes a screenshot.
have_chromium() {
    command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 ||
        command -v google-chrome >/dev/null 2>&1
}
if ! have_chromium; then
    if [ "$(id -u)" != 0 ]; then
        echo "test.sh: chromium is missing (the status page test runs it headless); install the chromium package" >&2
        exit 1
    fi
    echo "test.sh: installing chromium with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    flock /tmp/eddy-testkit-apt.lock sh -c \
        'apt-get update -q && apt-get install -y -q --no-install-recommends chromium'
fi

# The Kafka tests (eddy-testkit's Kafka, eddy-connect) run Apache Kafka 4.1 from its Maven
# Central jars, and the JDBC test (crates/server/tests/jdbc.rs) compiles a small program
# against pgjdbc's jar; both are fetched once with Maven into ~/.cache/eddy-testkit (or
# $EDDY_TEST_CACHE). They need a Java 17+ JDK (javac) and Maven.
have_java_17() {
    command -v java >/dev/null 2>&1 && command -v javac >/dev/null 2>&1 &&
        java -version 2>&1 | awk -F'"' '/version/ { split($2, v, "."); exit !(v[1] >= 17) }'
}
if ! have_java_17 || ! command -v mvn >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
        echo "test.sh: the Kafka and JDBC tests need a Java 17+ JDK and Maven (mvn); install them" >&2
        exit 1
    fi
    echo "test.sh: installing a Java JDK and Maven with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    flock /tmp/eddy-testkit-apt.lock sh -c \
        'apt-get update -q && apt-get install -y -q --no-install-recommends default-jdk-headless maven'
fi

# The Python driver tests (crates/server/tests/python_drivers.rs) use psycopg2 and
# SQLAlchemy's inspector, as a data engineer's scripts would, and psycopg 3.
if ! python3 -c 'import psycopg2, sqlalchemy' >/dev/null 2>&1; then
    echo "test.sh: installing psycopg2-binary and sqlalchemy with pip"
    python3 -m pip install --quiet --disable-pip-version-check 'psycopg2-binary>=2.9' 'sqlalchemy>=2'
fi
if ! python3 -c 'import psycopg' >/dev/null 2>&1; then
    echo "test.sh: installing psycopg (3) with pip"
    python3 -m pip install --quiet --disable-pip-version-check 'psycopg[binary]>=3.1'
fi

if ! python3 -c 'import asyncpg' >/dev/null 2>&1; then
    echo "test.sh: installing asyncpg with pip"
    python3 -m pip install --quiet --disable-pip-version-check 'asyncpg>=0.29'
fi

# The Node.js driver test (crates/server/tests/node_drivers.rs) uses node-postgres,
# pinned by tests/node/package-lock.json.
if [ ! -d tests/node/node_modules/pg ] || [ ! -d tests/node/node_modules/pg-copy-streams ]; then
    if ! command -v npm >/dev/null 2>&1; then
        if [ "$(id -u)" != 0 ]; then
            echo "test.sh: node and npm are missing; install Node.js 16 or later" >&2
            exit 1
        fi
        echo "test.sh: installing nodejs and npm with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        flock /tmp/eddy-testkit-apt.lock sh -c \
            'apt-get update -q && apt-get install -y -q --no-install-recommends nodejs npm'
    fi
    echo "test.sh: installing node-postgres with npm ci"
    npm ci --prefix tests/node --no-audit --no-fund --loglevel=error
fi

export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"
cargo test --workspace --locked --no-fail-fast "$@"
