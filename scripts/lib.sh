# lib.sh: shell functions shared by scripts/run and scripts/test. Sourced, never run.
#
# Everything here works for root on a fresh Debian 12 and for an ordinary user who already has
# the packages. PostgreSQL refuses to run as root, so as root its commands run as the
# unprivileged `postgres` account (created by Debian's postgresql package); otherwise they run
# as the current user.

# shellcheck shell=bash

fcr_packages=(meson ninja-build pkg-config gcc libevent-dev libpq-dev libjansson-dev libssl-dev libjemalloc-dev check clang valgrind
              postgresql python3 python3-psycopg2 python3-jsonschema python3-yaml chromium fonts-dejavu-core
              openssl systemd groff-base prometheus
              debhelper dpkg-dev lintian fakeroot build-essential
              postgresql-15-auto-failover pg-auto-failover-cli)

# postgresql-15-auto-failover, pg-auto-failover-cli: pg_autoctl, for the high-availability test
# (tests/integration/test_ha.py) and docs/operations.md, "High availability".
# prometheus: its promtool checks the alerting rules in conf/monitoring and fcrd's /metrics page.
# Debian starts the Prometheus server it also ships when it can; it then listens on :9090.
# debhelper, dpkg-dev, lintian, fakeroot, build-essential: the packaging suite builds debian/'s
# packages with dpkg-buildpackage and checks them with lintian.

# Commands that may come from outside Debian's archive: NodeSource's nodejs, for one, carries its
# own npm and conflicts with Debian's npm package. For each CMD:PACKAGE, PACKAGE is installed
# only when CMD is missing. (Node.js runs the supervisor page's browser tests.)
fcr_commands=(node:nodejs npm:npm)

fcr_log() { printf '%s: %s\n' "${FCR_PROG:-fcrd}" "$*" >&2; }
fcr_die() { fcr_log "$*"; exit 1; }

# fcr_source_root: the top of the source tree (the folder holding scripts/).
fcr_source_root() { (cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd); }

# fcr_ensure_packages: install whatever Debian packages are missing. apt-get update runs only
# when something is missing, so a prepared machine is never touched.
fcr_ensure_packages() {
    if ! command -v dpkg-query >/dev/null 2>&1; then
        fcr_log "not a Debian system: not checking packages (${fcr_packages[*]})"
        return 0
    fi
    local missing=() p
    for p in "${fcr_packages[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$p")
        fi
    done
    for p in "${fcr_commands[@]}"; do
        command -v "${p%%:*}" >/dev/null 2>&1 || missing+=("${p#*:}")
    done
    ((${#missing[@]})) || return 0
    fcr_log "installing missing packages: ${missing[*]}"
    local sudo=()
    if ((EUID != 0)); then
        command -v sudo >/dev/null 2>&1 || fcr_die "missing packages (${missing[*]}) and no sudo; install them as root"
        sudo=(sudo)
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# fcr_e2e_deps SRCROOT: the browser tests' npm packages (playwright-core alone), installed from
# the lock file into tests/e2e/node_modules when missing or not the version package.json pins.
# playwright-core never fetches a browser; the tests drive Debian's chromium.
fcr_e2e_deps() {
    local dir=$1/tests/e2e want have
    command -v npm >/dev/null 2>&1 || { fcr_log "no npm: cannot install the browser tests' packages"; return 1; }
    want=$(sed -n 's/^ *"playwright-core": *"\([^"]*\)".*/\1/p' "$dir/package.json" | head -n 1)
    have=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$dir/node_modules/playwright-core/package.json" \
           2>/dev/null | head -n 1)
    if [ -n "$want" ] && [ "$want" = "$have" ]; then
        return 0
    fi
    fcr_log "installing the browser tests' npm packages in tests/e2e/"
    (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >&2)
}

# fcr_contract_deps SRCROOT: the contract checks' npm packages (@redocly/cli, ajv, ajv-formats),
# installed from the lock file into tests/contracts/node_modules when one is missing or not the
# version package.json pins. They run offline: nothing is fetched when the checks run.
fcr_contract_deps() {
    local dir=$1/tests/contracts pkg want have stale=
    command -v npm >/dev/null 2>&1 || { fcr_log "no npm: cannot install the contract checks' packages"; return 1; }
    for pkg in @redocly/cli ajv ajv-formats; do
        want=$(sed -n "s|^ *\"$pkg\": *\"\([^\"]*\)\".*|\1|p" "$dir/package.json" | head -n 1)
        have=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$dir/node_modules/$pkg/package.json" \
               2>/dev/null | head -n 1)
        if [ -z "$want" ] || [ "$want" != "$have" ]; then stale=$pkg; fi
    done
    [ -n "$stale" ] || return 0
    fcr_log "installing the contract checks' npm packages in tests/contracts/"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
}

# fcr_build DIR [MESON-OPTION...]: configure DIR the first time (or apply the options to an
# existing one), then build it.
fcr_build() {
    local dir=$1; shift
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" "$@" >/dev/null || fcr_die "meson setup $dir failed"
    elif (($#)); then
        meson configure "$dir" "$@" >/dev/null || fcr_die "meson configure $dir failed"
    fi
    ninja -C "$dir" >/dev/null || { ninja -C "$dir"; fcr_die "build in $dir failed"; }
}

# fcr_pg_bindir: the newest PostgreSQL server binaries (Debian keeps them off PATH).
fcr_pg_bindir() {
    if [ -n "${PG_BINDIR:-}" ]; then printf '%s\n' "$PG_BINDIR"; return 0; fi
    local d best=
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] && best=$d
    done
    if [ -z "$best" ] && command -v initdb >/dev/null 2>&1; then
        best=$(dirname "$(command -v initdb)")
    fi
    [ -n "$best" ] || fcr_die "no PostgreSQL server binaries found (install postgresql or set PG_BINDIR)"
    printf '%s\n' "$best"
}

# fcr_as_pg CMD...: run a PostgreSQL server command as the unprivileged account.
fcr_as_pg() {
    if ((EUID == 0)); then
        # from /, since the current folder may be closed to the account
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

# fcr_pg_prepare VARDIR: make VARDIR/{pgdata,run,log} and give them to the PostgreSQL account.
# A checkout under a folder closed to that account (root's home, typically) cannot hold its
# files: then the three are symlinks into a folder of the account's own home, one per checkout.
# Callers pass the resolved paths (readlink -f) to PostgreSQL, which cannot follow the links.
fcr_pg_prepare() {
    local var=$1 sub
    mkdir -p "$var"
    chmod 755 "$var"
    if ((EUID == 0)); then
        id postgres >/dev/null 2>&1 || fcr_die "no 'postgres' account to run PostgreSQL as (install the postgresql package)"
        if ! runuser -u postgres -- test -x "$var" 2>/dev/null; then
            local home alt
            home=$(getent passwd postgres | cut -d: -f6)
            alt=$home/fcrd-dev/$(printf '%s' "$var" | md5sum | cut -c1-12)
            mkdir -p "$alt"
            chown postgres: "$home/fcrd-dev" "$alt"
            for sub in pgdata run log; do
                [ -e "$var/$sub" ] || [ -L "$var/$sub" ] || ln -s "$alt/$sub" "$var/$sub"
            done
            fcr_log "the postgres account cannot reach $var; its files live in $alt (linked from $var)"
        fi
    fi
    for sub in pgdata run log; do
        mkdir -p "$(readlink -f "$var/$sub")"
    done
    chmod 700 "$(readlink -f "$var/pgdata")"
    chmod 755 "$(readlink -f "$var/run")" "$(readlink -f "$var/log")"
    if ((EUID == 0)); then
        chown postgres: "$(readlink -f "$var/pgdata")" "$(readlink -f "$var/run")" "$(readlink -f "$var/log")"
    fi
}

# fcr_pg_init DATADIR: create a cluster once. Trust authentication is enough: it accepts local
# connections only (unix socket and 127.0.0.1), and the cluster holds development data.
fcr_pg_init() {
    local data=$1 bin
    [ -f "$data/PG_VERSION" ] && return 0
    bin=$(fcr_pg_bindir)
    fcr_log "creating a PostgreSQL cluster in $data"
    fcr_as_pg "$bin/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --no-locale >/dev/null \
        || fcr_die "initdb failed"
}

# fcr_pg_running DATADIR: true when a server runs on DATADIR.
fcr_pg_running() {
    fcr_as_pg "$(fcr_pg_bindir)/pg_ctl" -D "$1" status >/dev/null 2>&1
}

# fcr_pg_start DATADIR SOCKDIR PORT LOGFILE: start the server and wait until it accepts.
fcr_pg_start() {
    local data=$1 sock=$2 port=$3 logfile=$4
    if fcr_pg_running "$data"; then
        fcr_log "PostgreSQL already running on $data; using it"
        return 0
    fi
    fcr_as_pg "$(fcr_pg_bindir)/pg_ctl" -D "$data" -l "$logfile" -w -t 60 \
        -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories='$sock'" start >/dev/null \
        || { tail -n 20 "$logfile" >&2 || true; fcr_die "PostgreSQL did not start (log: $logfile)"; }
}

# fcr_pg_stop DATADIR: fast shutdown (sessions are ended, nothing committed is lost).
fcr_pg_stop() {
    local data=$1
    fcr_pg_running "$data" || return 0
    fcr_as_pg "$(fcr_pg_bindir)/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null
}

# fcr_psql SOCKDIR PORT DB ARGS...: psql as the cluster's superuser, stopping at the first error.
fcr_psql() {
    local sock=$1 port=$2 db=$3; shift 3
    "$(fcr_pg_bindir)/psql" -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$port" -U postgres -d "$db" "$@"
}

# fcr_provision SOCKDIR PORT SRCROOT: roles and the fcrd database. Safe to repeat; the schema
# migrations are fcr_migrate's (fcrd migrate, as the schema owner), before fcrd starts.
fcr_provision() {
    local sock=$1 port=$2 src=$3 have
    fcr_psql "$sock" "$port" postgres -f "$src/sql/roles.sql" || fcr_die "sql/roles.sql failed"
    have=$(fcr_psql "$sock" "$port" postgres -tA -c "SELECT 1 FROM pg_database WHERE datname = 'fcrd'")
    if [ "$have" != 1 ]; then
        fcr_psql "$sock" "$port" postgres -c 'CREATE DATABASE fcrd OWNER fcrd_owner' \
            || fcr_die "could not create database fcrd"
    fi
}

# fcr_migrate FCRD CONF: `fcrd migrate --config CONF` (CONF holds [database] admin_conninfo, the
# schema owner's connection), as an installation's unit runs it before fcrd: the serving daemon
# does not migrate, and stays not ready while the schema is behind.
fcr_migrate() {
    local fcrd=$1 conf=$2
    "$fcrd" migrate --config "$conf" >/dev/null || fcr_die "fcrd migrate --config $conf failed"
}

# fcr_conf_get FILE SECTION KEY: a value from an INI file (empty when absent).
fcr_conf_get() {
    awk -v want_s="$2" -v want_k="$3" '
        { sub(/\r$/, "") }
        /^[ \t]*[#;]/ { next }
        /^[ \t]*\[/ { s = $0; gsub(/^[ \t]*\[[ \t]*|[ \t]*\].*$/, "", s); next }
        s == want_s && index($0, "=") {
            k = substr($0, 1, index($0, "=") - 1); v = substr($0, index($0, "=") + 1)
            gsub(/^[ \t]+|[ \t]+$/, "", k); gsub(/^[ \t]+|[ \t]+$/, "", v)
            if (k == want_k) { print v; exit }
        }' "$1"
}
