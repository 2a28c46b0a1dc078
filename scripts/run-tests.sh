#!/bin/sh
# run-tests.sh TEST...: runs cmocka test binaries and e2e shell tests, counts test
# cases (cmocka reports per case; each e2e script is one case) and ends with the
# plain closing line "N passed, N failed, N skipped" (a skipped case is listed, never
# silently counted as passed). With HNET_SAN_LOGS set (make test SANITIZE=1), any
# sanitizer report a test's processes wrote into that folder fails the test.
set -u
san_logs=${HNET_SAN_LOGS:-}
# corpus verification stamps go to a folder of this run, not the user's cache
HNET_CACHE_DIR=${HNET_CACHE_DIR:-$(mktemp -d)}
export HNET_CACHE_DIR
passed=0
failed=0
skipped=0
failed_names=""
log=$(mktemp)
for t in "$@"; do
    name=$(basename "$t")
    start=$(date +%s)
    case "$t" in
        *.sh) sh "$t" >"$log" 2>&1 ;;
        *) "$t" >"$log" 2>&1 ;;
    esac
    rc=$?
    secs=$(( $(date +%s) - start ))
    case "$t" in
        *.sh)
            k=0
            if [ $rc = 0 ]; then p=1; f=0
            elif [ $rc = 77 ]; then p=0; f=0; k=1 # lib.sh's skip: the reason is in the log
            else p=0; f=1; fi ;;
        *)
            p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
            f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
            k=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
            # a crash or a non-zero exit with no failed case counted is still a failure
            if [ $rc != 0 ] && [ "$f" = 0 ]; then f=1; fi ;;
    esac
    if [ -n "$san_logs" ] && [ -n "$(ls -A "$san_logs" 2>/dev/null)" ]; then
        for r in "$san_logs"/*; do
            echo "sanitizer report $(basename "$r"):"
            head -40 "$r"
        done >>"$log"
        rm -f "$san_logs"/*
        if [ "$f" = 0 ]; then f=1; p=$((p > 0 ? p - 1 : 0)); fi
    fi
    passed=$((passed + p))
    skipped=$((skipped + k))
    failed=$((failed + f))
    if [ "$f" != 0 ]; then
        echo "FAIL $name (${secs}s)"
        sed 's/^/    /' "$log"
        failed_names="$failed_names $name"
    else
        if [ "$k" != 0 ]; then
            echo "ok   $name: $p passed, $k SKIPPED (${secs}s)"
            sed -n '/SKIPPED\|[Ss]kip\|SKIP:/p' "$log" | sed 's/^/    /'
        else
            echo "ok   $name: $p passed (${secs}s)"
        fi
    fi
done
rm -f "$log"
[ -n "$failed_names" ] && echo "failed:$failed_names"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
