# Shared by scripts/test and scripts/bench/run: Debian packages and the
# PostgreSQL cluster. Usage: . scripts/_system.sh

# Install the Debian packages named that are missing (as root; otherwise leave them to the caller's checks).
install_packages() {
    local missing=() package
    [ "$(id -u)" = 0 ] || return 0
    for package in "$@"; do
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing ${missing[*]} from Debian ..."
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

# Start Debian's installed cluster (as root), make the role poll_test, and
# print a server URL for it; print nothing where there is no cluster.
start_postgres() {
    local version cluster port status
    command -v pg_lsclusters >/dev/null 2>&1 && [ "$(id -u)" = 0 ] || return 0
    read -r version cluster port status _ < <(pg_lsclusters --no-header | head -n 1) || true
    [ -n "${version:-}" ] || return 0
    if [ "$status" != online ]; then
        pg_ctlcluster "$version" "$cluster" start >&2 || return 1
    fi
    su postgres -c "psql --quiet --port $port" >&2 <<'SQL' || return 1
SELECT 'CREATE ROLE poll_test LOGIN CREATEDB PASSWORD ''poll_test'''
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'poll_test') \gexec
-- Dropping a test database WITH (FORCE) may have to end an autovacuum worker, which runs as the superuser.
GRANT pg_signal_backend TO poll_test;
SQL
    echo "postgresql+psycopg://poll_test:poll_test@127.0.0.1:$port/postgres"
}
