# Shared helpers for the end-to-end tests (sourced). Each test runs from the repo root
# with build/hnet built; nothing outside the repo is needed (need_corpus skips a test
# of a big corpus where HNET_DATA_DIR does not hold it).
set -u
HNET=${HNET:-build/hnet}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# expect_fail DESCRIPTION PATTERN CMD...: CMD must exit non-zero and print PATTERN
# (a grep -E pattern) on stderr or stdout.
expect_fail() {
    desc=$1 pattern=$2
    shift 2
    if "$@" >"$TMP/out" 2>&1; then fail "$desc: expected a failure, got success"; fi
    grep -Eq -- "$pattern" "$TMP/out" || {
        echo "--- output:" >&2
        cat "$TMP/out" >&2
        fail "$desc: message does not match /$pattern/"
    }
    echo "ok: $desc: $(grep -E -m1 -- "$pattern" "$TMP/out")"
}

# db_ok DB: the database passes SQLite's integrity check.
db_ok() {
    [ ! -f "$1" ] && return 0
    r=$(sqlite3 "$1" 'PRAGMA integrity_check;') || fail "sqlite3 cannot open $1"
    [ "$r" = ok ] || fail "integrity check of $1: $r"
}

# skip REASON: the test does not apply here; exit 77, which scripts/run-tests.sh counts
# as skipped and reports with the reason.
skip() {
    echo "SKIP: $*"
    exit 77
}

# need_corpus NAME: a test of a big named corpus runs only where it exists (CI sets
# HNET_DATA_DIR in .ci/run); elsewhere it is skipped, saying why. Tests that need a
# real text use the committed fixture tests/fixtures/shakespeare-400k.txt instead.
need_corpus() {
    [ -n "${HNET_DATA_DIR:-}" ] || skip "corpus $1: HNET_DATA_DIR is not set"
    for s in .txt .txt.gz "" .gz; do [ -f "$HNET_DATA_DIR/$1$s" ] && return 0; done
    skip "corpus $1 not found in HNET_DATA_DIR=$HNET_DATA_DIR"
}
