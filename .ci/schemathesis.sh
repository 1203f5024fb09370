#!/usr/bin/env bash
# The API checked from its own OpenAPI document (issue 16, part 2).
#
# Starts the debug veild (built by `cargo test`; built here if missing) on a
# temporary SQLite database and key directory, on a free port, creates one
# API client per scope, and runs schemathesis against the served document
# once per token: no 5xx, every answer has a documented status, schema,
# content type and headers, invalid input is refused and valid input is not
# refused as invalid. Any failed check fails the script.
#
# Budget: the whole script stays under 4 minutes on a 2-core machine
# (VEIL_SCHEMATHESIS_MAX_EXAMPLES cases per operation and phase; raise it
# to run longer locally). Reports (JUnit, and a replayable cassette of every
# request) go to $VEIL_SCHEMATHESIS_REPORTS (default: a temporary directory).
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
max_examples="${VEIL_SCHEMATHESIS_MAX_EXAMPLES:-20}"
seed="${VEIL_SCHEMATHESIS_SEED:-$RANDOM}"
bin=target/debug

if ! command -v schemathesis >/dev/null \
    || [ "$(schemathesis --version 2>/dev/null | awk '{print $NF}')" != "$SCHEMATHESIS_VERSION" ]; then
    python3 -m pip install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi
[ -x "$bin/veild" ] && [ -x "$bin/veilctl" ] || cargo build --quiet --bin veild --bin veilctl

work=$(mktemp -d)
reports="${VEIL_SCHEMATHESIS_REPORTS:-$work/reports}"
mkdir -p "$reports"
reports=$(cd "$reports" && pwd)
veild_pid=
cleanup() {
    if [ -n "$veild_pid" ]; then kill "$veild_pid" 2>/dev/null || true; wait "$veild_pid" 2>/dev/null || true; fi
    if [ -z "${VEIL_SCHEMATHESIS_REPORTS:-}" ]; then rm -rf "$work"; fi
}
trap cleanup EXIT

# Port 0: veild picks a free port and prints it in its banner.
VEIL_DATABASE_URL="sqlite://$work/veil.db" \
VEIL_KEYS_DIR="$work/keys" \
VEIL_POLICIES_DIR=policies \
VEIL_LISTEN=127.0.0.1:0 \
VEIL_DOMAIN=example.com \
VEIL_LOG="${VEIL_LOG:-warn}" \
    "$bin/veild" >"$work/veild.out" 2>"$work/veild.log" &
veild_pid=$!
url=
for _ in $(seq 1 100); do
    url=$(sed -n 's/^veil .* listening on \(http:\/\/[^ ]*\).*/\1/p' "$work/veild.out" | head -n 1)
    [ -n "$url" ] && break
    kill -0 "$veild_pid" 2>/dev/null || { cat "$work/veild.log" >&2; echo "veild did not start" >&2; exit 1; }
    sleep 0.1
done
[ -n "$url" ] || { echo "veild printed no address" >&2; exit 1; }
echo "veild at $url (log: $work/veild.log), schemathesis $SCHEMATHESIS_VERSION, seed $seed"

export VEIL_URL="$url"
admin=$(cat "$work/keys/admin-token")
token() { VEIL_TOKEN="$admin" "$bin/veilctl" client create --name "schemathesis $1" --scope "$1" --json \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])'; }
backend=$(token backend)
hub=$(token hub)
auditor=$(token auditor)

# Checks: all of them but
# - positive_data_acceptance: it expects every schema-valid request to be
#   accepted, but veil validates what JSON Schema cannot say (a JWK's point
#   must be on P-256, a KeyPackage or presentation must parse and verify, a
#   proof must be signed by the pseudonym's key, an account id is 1 to 256
#   bytes without control characters, a policy's keys, a pseudonym URI of
#   this provider): random schema-valid input rightly gets 422. Found
#   through it and fixed: request bodies the document described wrongly.
checks_excluded=positive_data_acceptance
# What counts as a rejection of schema-violating data (adds 413).
config="$PWD/.ci/schemathesis.toml"
# Serializers for the media types schemathesis lacks (application/mimi-abuse-report).
export SCHEMATHESIS_HOOKS="$PWD/.ci/schemathesis_hooks.py"

failed=0
total_ops=0
total_cases=0
started=$(date +%s)
# Admin last: its run creates, revokes and remedies, which must not touch
# the other tokens before they ran.
for scope in backend hub auditor admin; do
    case $scope in
        backend) tok=$backend ;;
        hub) tok=$hub ;;
        auditor) tok=$auditor ;;
        admin) tok=$admin ;;
    esac
    echo
    echo "--- schemathesis with a $scope token"
    out="$reports/$scope.txt"
    # A run is repeated once, only when its sole trouble is the interpreter
    # bug below: CPython 3.11.7 (the one Python here) can raise
    # "SystemError: AST constructor recursion depth mismatch" inside
    # hypothesis while it names a filter for a strategy's repr
    # (CPython gh-106905, in ast.parse's recursion tracking). It fails an operation as a
    # runtime error of schemathesis, not as a failed check, and does not
    # repeat with the same seed. A failed check is never repeated.
    for attempt in 1 2; do
        set +e
        # From the temporary directory: schemathesis keeps replay data in
        # ./.schemathesis.
        (cd "$work" && timeout 100 schemathesis --no-color --config-file "$config" run "$url/openapi.json" \
            --header "Authorization: Bearer $tok" \
            --exclude-checks "$checks_excluded" \
            --checks all \
            --max-examples "$max_examples" \
            --seed "$seed" \
            --workers 2 \
            --request-timeout 10 \
            --generation-database none \
            --suppress-health-check all \
            --report junit,vcr --report-dir "$reports/$scope" \
            --output-truncate true) \
            >"$out" 2>&1
        rc=$?
        set -e
        if [ "$rc" -ne 0 ] && [ "$attempt" -eq 1 ] \
            && grep -q 'AST constructor recursion depth mismatch' "$out" \
            && ! grep -q '^=* FAILURES =*$' "$out"; then
            echo "schemathesis hit CPython's AST recursion bug (not a check); running the $scope token again"
            continue
        fi
        break
    done
    # The summary: operations and test cases.
    sed -n '/^=\+ SUMMARY/,$p' "$out"
    ops=$(sed -n 's/^ *Tested: *\([0-9]*\).*/\1/p' "$out" | head -n 1)
    cases=$(sed -n 's/^ *\([0-9]*\) generated.*/\1/p' "$out" | head -n 1)
    total_ops=$((total_ops + ${ops:-0}))
    total_cases=$((total_cases + ${cases:-0}))
    if [ "$rc" -ne 0 ]; then
        echo "schemathesis with a $scope token failed (exit $rc); full output: $out" >&2
        [ -n "${VEIL_SCHEMATHESIS_REPORTS:-}" ] || sed -n '1,/^=\+ SUMMARY/p' "$out" | tail -n 200 >&2
        failed=1
    fi
done
if grep -q 'panicked' "$work/veild.log"; then
    echo "veild panicked:" >&2
    grep -A5 'panicked' "$work/veild.log" >&2
    failed=1
fi
echo
echo "schemathesis: $total_ops operations and $total_cases cases over 4 tokens in $(($(date +%s) - started)) s"
exit "$failed"
