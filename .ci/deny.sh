#!/usr/bin/env bash
# Supply chain (issue 16, part 6): `cargo deny check advisories bans
# licenses sources` against deny.toml.
#
# bans, licenses and sources need nothing from the network beyond what
# cargo already fetched. Advisories need the RustSec database from GitHub:
# - reachable: fetched and checked as usual (a failure fails CI);
# - unreachable: never a silent pass. With a local copy of the database
#   ($VEIL_ADVISORY_DB_SNAPSHOT, a git clone of rustsec/advisory-db; default
#   ~/.cargo/advisory-db-snapshot), the check runs against it offline and a
#   banner names its date: advisories published since are NOT checked.
#   Without one, a banner says advisories were NOT CHECKED. Either way the
#   last line of this script, and the file named by $VEIL_DENY_STATUS if set
#   (the CI summary prints it), says so. VEIL_REQUIRE_ADVISORIES=1 makes an
#   unreachable database fail the script instead.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo-deny >/dev/null || cargo install --locked --quiet cargo-deny
cargo deny --version

status() {
    echo "$1"
    if [ -n "${VEIL_DENY_STATUS:-}" ]; then echo "$1" >"$VEIL_DENY_STATUS"; fi
}
banner() {
    printf '\n%s\n' "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2
    printf '!!! %s\n' "$@" >&2
    printf '%s\n\n' "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2
}

cargo deny check bans licenses sources

db_url=https://github.com/rustsec/advisory-db
if timeout 20 git ls-remote --quiet "$db_url" HEAD >/dev/null 2>&1; then
    cargo deny check advisories
    status "cargo-deny: advisories bans licenses sources ok (advisory database fetched from GitHub)"
    exit 0
fi

snapshot="${VEIL_ADVISORY_DB_SNAPSHOT:-$HOME/.cargo/advisory-db-snapshot}"
if [ "${VEIL_REQUIRE_ADVISORIES:-0}" = 1 ]; then
    banner "ADVISORIES NOT CHECKED: $db_url is unreachable from this machine" \
        "and VEIL_REQUIRE_ADVISORIES=1"
    status "cargo-deny: advisories FAILED (database unreachable); bans licenses sources ok"
    exit 1
fi
if [ -d "$snapshot/crates" ]; then
    # cargo-deny looks for the database under db-path, in a directory named
    # after the URL; a throwaway db-path holds a copy of the snapshot there.
    when=$(git -C "$snapshot" log -1 --format=%cs 2>/dev/null || echo "an unknown date")
    days=$(( ($(date +%s) - $(git -C "$snapshot" log -1 --format=%ct 2>/dev/null || date +%s)) / 86400 ))
    dbs=$(mktemp -d)
    trap 'rm -rf "$dbs"' EXIT
    config="$dbs/deny.toml"
    sed "s|^db-urls = .*|db-urls = [\"$db_url\"]\ndb-path = \"$dbs\"|" deny.toml >"$config"
    # The directory name cargo-deny derives from the URL: ask it, by letting
    # it fail to fetch into the empty db-path.
    name=$(cargo deny --config "$config" check advisories 2>&1 \
        | sed -n "s|.*\"$dbs/\([^\"/]*\)\".*|\1|p" | head -n 1 || true)
    if [ -z "$name" ]; then
        banner "ADVISORIES NOT CHECKED: cannot place the snapshot for cargo-deny"
        status "cargo-deny: advisories NOT CHECKED (GitHub unreachable); bans licenses sources ok"
        exit 0
    fi
    cp -r "$snapshot" "$dbs/$name"
    banner "GitHub is unreachable: advisories are checked against a LOCAL SNAPSHOT" \
        "of the RustSec database from $when ($days days old)." \
        "Advisories published since then are NOT checked."
    # --offline: no fetch (and so no yanked-crate lookup either).
    cargo deny --offline --config "$config" check advisories
    status "cargo-deny: bans licenses sources ok; advisories ok against a STALE snapshot from $when ($days days old): GitHub unreachable"
    exit 0
fi
banner "ADVISORIES NOT CHECKED: $db_url is unreachable from this machine" \
    "and there is no local snapshot at $snapshot" \
    "(git clone the advisory database there, or set VEIL_ADVISORY_DB_SNAPSHOT)."
status "cargo-deny: advisories NOT CHECKED (GitHub unreachable, no snapshot); bans licenses sources ok"
