# Shared helpers for the end-to-end tests (sourced). Each test runs from the repo root
# with build/hnet built and HNET_DATA_DIR pointing at the shared corpora.
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

need_corpus() {
    [ -f "$HNET_DATA_DIR/$1.txt" ] || [ -f "$HNET_DATA_DIR/$1.txt.gz" ] ||
        fail "corpus $1 not found in HNET_DATA_DIR=$HNET_DATA_DIR"
}
