# Shared by the scripts in deployments/dev and deployments/bench; sourced, not run.
# Finds PostgreSQL's server binaries the way `purser` does, and installs them (and the few
# other tools the scripts need) from the OS packages when they are missing (as root), or says
# exactly what to run (otherwise).

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# target_dir: the absolute directory cargo builds into, as cargo itself says (CARGO_TARGET_DIR,
# build.target-dir in a cargo config, else target/ in the workspace). Scripts take built
# binaries and their own tools from here, never from a literal target/.
target_dir() {
    local dir
    dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
    [ -n "$dir" ] || { echo "cargo metadata did not say where cargo builds" >&2; return 1; }
    echo "$dir"
}

find_postgres_server() {
    local candidates=()
    [ -n "${PG_BINDIR:-}" ] && candidates+=("$PG_BINDIR")
    command -v pg_config >/dev/null 2>&1 && candidates+=("$(pg_config --bindir 2>/dev/null)")
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -rn); do
        candidates+=("$dir")
    done
    for dir in "${candidates[@]}"; do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ]; then
            echo "$dir"
            return 0
        fi
    done
    return 1
}

ensure_postgres_server() {
    if find_postgres_server >/dev/null; then
        return 0
    fi
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "PostgreSQL's server binaries are not installed. Install them, then run this again:" >&2
        echo "    sudo apt-get install -y postgresql" >&2
        echo "(or set PG_BINDIR to the directory holding initdb, pg_ctl and postgres)" >&2
        exit 1
    fi
    say "Installing the PostgreSQL server from the OS packages"
    # Purser runs its own private cluster; don't let the package create and start another.
    if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
        mkdir -p /etc/postgresql-common
        echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends postgresql >&2
    find_postgres_server >/dev/null || { echo "PostgreSQL was installed but its binaries were not found" >&2; exit 1; }
}

# ensure_packages CHECK PACKAGE...: runs the shell test CHECK and, when it fails, installs the
# Debian packages (as root) or says which to install (otherwise).
ensure_packages() {
    local check=$1
    shift
    if eval "$check" >/dev/null 2>&1; then
        return 0
    fi
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "Missing: $*. Install them, then run this again:" >&2
        echo "    sudo apt-get install -y $*" >&2
        exit 1
    fi
    say "Installing $* from the OS packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends "$@" >&2
}
