# hnet suite FILE --slurm without a cluster: what it hands sbatch (options verbatim,
# --parsable, the generated script kept next to results.db) and what it prints, with a
# stand-in sbatch that records its arguments; and every way the submission can go wrong
# is one clear error: no sbatch, sbatch failing, sbatch printing no job id, --array
# given (the array is hnet's), a task whose config is no longer in the suite file.
# (tests/e2e/test_suite_slurm.sh submits to a real Slurm.)
. tests/e2e/lib.sh
S=tests/e2e/fixtures/identity/suite4.lua
export HNET_ID_DB="$TMP/r.db" HNET_ID_CKPT="$TMP/ck"
mkdir -p "$TMP/bin" "$TMP/empty"
HNET_ABS=$(cd "$(dirname "$HNET")" && pwd)/$(basename "$HNET")

# a stand-in sbatch: records its arguments one a line and a copy of the script
fake_sbatch() { # fake_sbatch EXIT STDOUT STDERR
    cat >"$TMP/bin/sbatch" <<EOF
#!/bin/sh
for a in "\$@"; do printf '%s\n' "\$a"; done >"$TMP/sbatch.args"
for a in "\$@"; do last=\$a; done
cp "\$last" "$TMP/sbatch.script"
printf '%s' '$3' >&2
printf '%s' '$2'
exit $1
EOF
    chmod +x "$TMP/bin/sbatch"
}

# 1. a submission: options after --slurm reach sbatch verbatim, in order
fake_sbatch 0 '4242;cluster
' ''
PATH="$TMP/bin:$PATH" $HNET suite $S --slurm --gpus-per-task=1 --partition gpu --time 1:00:00 \
    -J my-name >"$TMP/out" 2>&1 || { cat "$TMP/out"; fail "the submission failed"; }
printf '%s\n' --parsable --gpus-per-task=1 --partition gpu --time 1:00:00 -J my-name \
    "$TMP/slurm/twice-submit-SCRIPT.sbatch" >"$TMP/want.args"
# (sbatch sees the script under a name of its own, renamed after its job once submitted)
sed '$s|/twice-submit-[A-Za-z0-9]*\.sbatch$|/twice-submit-SCRIPT.sbatch|' "$TMP/sbatch.args" | cmp -s - "$TMP/want.args" ||
    { diff "$TMP/want.args" "$TMP/sbatch.args"; fail "sbatch did not get the options verbatim"; }
grep -q "submitted Slurm job 4242" "$TMP/out" && grep -q "squeue -j 4242" "$TMP/out" &&
    grep -q "$TMP/slurm/twice-4242_0.out" "$TMP/out" || { cat "$TMP/out"; fail "job id, squeue line or log paths missing"; }
[ -f "$TMP/slurm/twice-4242.sbatch" ] && cmp -s "$TMP/slurm/twice-4242.sbatch" "$TMP/sbatch.script" ||
    fail "the script sbatch got is not kept as $TMP/slurm/twice-4242.sbatch"
echo "ok: sbatch got --parsable, the options verbatim and the script; job id and logs printed"

# 2. the script: bash, one task per run, each task `hnet suite FILE --config-hash` of its
#    run with this hnet, this file, this results setup
sc="$TMP/slurm/twice-4242.sbatch"
bash -n "$sc" || fail "the script is not valid bash"
grep -q '^#SBATCH --array=0-3$' "$sc" && grep -q "^#SBATCH --output=$TMP/slurm/twice-%A_%a.out$" "$sc" ||
    { cat "$sc"; fail "#SBATCH lines"; }
grep -q "^export HNET_ID_DB='$TMP/r.db'$" "$sc" || { cat "$sc"; fail "hnet's environment is not in the script"; }
grep -Fq "'$HNET_ABS' suite '$(pwd)/$S' --config-hash" "$sc" || { cat "$sc"; fail "the task command"; }
for k in 0 1 2 3; do # each index runs its own run's config
    SLURM_ARRAY_TASK_ID=$k bash -c "$(sed 's/^exec /echo /' "$sc")" >"$TMP/task$k" ||
        fail "the script failed for task $k"
    hash=$(sed -n 's/.*--config-hash \([0-9a-f]*\).*/\1/p' "$TMP/task$k")
    $HNET suite $S --dry-run 2>/dev/null | grep -q "^twice-$((k + 1)) *$hash " ||
        { cat "$TMP/task$k"; fail "task $k does not run twice-$((k + 1))"; }
done
echo "ok: the script runs hnet suite --config-hash of run k in array task k"

# 3. the array holds only the runs left: run twice-2 here, then submit again
$HNET suite $S --config-hash "$(sed -n 's/.*--config-hash \([0-9a-f]*\).*/\1/p' "$TMP/task1")" \
    >"$TMP/one" 2>&1 || { cat "$TMP/one"; fail "--config-hash failed"; }
[ "$(sqlite3 "$HNET_ID_DB" "select group_concat(name || ':' || status) from runs")" = twice-2:finished ] ||
    fail "--config-hash did not train exactly twice-2: $(sqlite3 "$HNET_ID_DB" 'select name, status from runs')"
PATH="$TMP/bin:$PATH" $HNET suite $S --slurm >"$TMP/out" 2>&1 || { cat "$TMP/out"; fail "second submission"; }
grep -q '^#SBATCH --array=0,2-3$' "$TMP/sbatch.script" ||
    { grep SBATCH "$TMP/sbatch.script"; fail "the array of the second submission is not 0,2-3"; }
$HNET suite $S -j 2 --slurm --dry-run 2>/dev/null | grep -q '^#SBATCH --array=0,2-3%2$' ||
    fail "-j 2 does not limit the array to 2 tasks at once"
echo "ok: a re-submission's array holds only the runs left (0,2-3); -j 2 adds %2"

# 4. what goes wrong is one clear error
expect_fail "no sbatch on PATH" "sbatch was not found" env PATH="$TMP/empty" "$HNET_ABS" suite $S --slurm
fake_sbatch 1 '' 'sbatch: error: Batch job submission failed: Invalid account or account/partition combination specified
'
expect_fail "sbatch fails" "sbatch failed \(exit status 1\): sbatch: error: Batch job submission failed: Invalid account" \
    env PATH="$TMP/bin:$PATH" $HNET suite $S --slurm -A nobody
kept=$(sed -n 's/.*(the batch script: \(.*\.sbatch\))$/\1/p' "$TMP/out")
[ -n "$kept" ] && [ -f "$kept" ] || { cat "$TMP/out"; fail "the script of a refused submission is not kept for a look"; }
fake_sbatch 0 'Submitted batch job' ''
expect_fail "sbatch prints no job id" "sbatch printed no job id" env PATH="$TMP/bin:$PATH" $HNET suite $S --slurm
expect_fail "--array given" "--array is hnet's" $HNET suite $S --slurm --array=0-1
expect_fail "a config no longer in the file" "no run of .*suite4.lua has config hash 0123456789abcdef" \
    $HNET suite $S --config-hash 0123456789abcdef
expect_fail "--config-hash with --slurm" "--config-hash.*--slurm" $HNET suite $S --config-hash 0123456789abcdef --slurm
