# A short run of each libFuzzer target (built by `make FUZZ=1 fuzzers` into build-fuzz/)
# from its seed corpus: part of `make test`. HNET_FUZZ_SECONDS sets the time per target
# (default 15); longer runs: tests/fuzz/README.md. New inputs go to a temporary folder,
# never into the committed corpus; a finding is kept as $TMP/crash-* and printed.
set -u
secs=${HNET_FUZZ_SECONDS:-15}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
rc=0
for name in checkpoint experiment; do
    bin=build-fuzz/fuzz/fuzz_$name
    # the experiment fuzzer starts from the test suites' own fixtures (read only)
    seeds="tests/fuzz/corpus/$name"
    [ $name = experiment ] && seeds="tests/unit/fixtures/lua tests/e2e/fixtures/suite"
    [ -x "$bin" ] || { echo "FAIL: $bin not built (make FUZZ=1 fuzzers)"; exit 1; }
    mkdir -p "$TMP/$name"
    if "$bin" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$TMP/$name-" "$TMP/$name" $seeds >"$TMP/log" 2>&1; then
        echo "ok: fuzz_$name: $(grep -E '^Done|stat::number_of_executed_units' "$TMP/log" | tr '\n' ' ')"
    else
        rc=1
        tail -60 "$TMP/log"
        for a in "$TMP/$name"-*; do [ -f "$a" ] && { echo "finding $a:"; od -c "$a" | head -20; }; done
        echo "FAIL: fuzz_$name found a crash, a sanitizer report or a hang"
    fi
done
exit $rc
