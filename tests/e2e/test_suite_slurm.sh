# hnet suite FILE --slurm on a real Slurm (a private one-node cluster of this host,
# tests/e2e/slurm_lib.sh): --dry-run prints the batch script and submits nothing; a
# submission is one job array, one task per run, whose tasks land every run in
# results.db; tasks killed mid-run are resumed from their checkpoints by the next
# submission; once all is finished a submission submits nothing and trains nothing; two
# submissions at once train each config once (each task claims its config); a task
# stopped by scancel leaves its run interrupted, resumed by the next submission; sbatch's
# refusal is one clear error.
. tests/e2e/lib.sh
. tests/e2e/slurm_lib.sh
S=tests/e2e/fixtures/identity/suite4.lua
export HNET_ID_DB="$TMP/r.db" HNET_ID_CKPT="$TMP/ck"
q() { sqlite3 "$HNET_ID_DB" "$1"; }
job_of() { sed -n 's/.*submitted Slurm job \([0-9][0-9]*\).*/\1/p' "$1"; }

slurm_start

# 1. --dry-run: the script on stdout; nothing submitted, nothing written
$HNET suite $S --slurm --time=5 --dry-run >"$TMP/dry" 2>"$TMP/dry.err" ||
    { cat "$TMP/dry" "$TMP/dry.err"; fail "--dry-run failed"; }
grep -q '^#!/bin/bash' "$TMP/dry" && grep -q '^#SBATCH --array=0-3$' "$TMP/dry" &&
    grep -q 'suite .*suite4\.lua.* --config-hash' "$TMP/dry" ||
    { cat "$TMP/dry"; fail "--dry-run did not print the batch script of a 4-task array"; }
grep -q 'sbatch --parsable --time=5 ' "$TMP/dry.err" || { cat "$TMP/dry.err"; fail "--dry-run did not show the sbatch command"; }
[ ! -e "$TMP/slurm" ] || fail "--dry-run wrote $(ls "$TMP/slurm")"
[ -z "$(squeue -h -o %i)" ] || fail "--dry-run submitted a job"
echo "ok: --dry-run prints the script and submits nothing"

# 2. sbatch refusing the job is one clear error
expect_fail "an unknown partition" "sbatch failed.*[Ii]nvalid partition" \
    $HNET suite $S --slurm --partition=no-such-partition

# 3. a submission whose every task is killed at step 30 of 40 (a test hook the jobs
#    inherit from the submitting environment): four runs left behind, none finished
t0=$(date +%s)
HNET_TEST_SIGKILL_AT_STEP=30 $HNET suite $S --slurm --time=5 >"$TMP/out1" 2>&1 ||
    { cat "$TMP/out1"; fail "the first submission failed"; }
j1=$(job_of "$TMP/out1")
[ -n "$j1" ] || { cat "$TMP/out1"; fail "no job id printed"; }
grep -q "squeue -j $j1" "$TMP/out1" && grep -q "slurm/twice-${j1}_" "$TMP/out1" ||
    { cat "$TMP/out1"; fail "no squeue line or log paths printed"; }
slurm_wait "$j1" 60
for k in 0 1 2 3; do
    [ -f "$TMP/slurm/twice-${j1}_$k.out" ] || { ls "$TMP/slurm"; fail "no log of task $k"; }
done
[ -f "$TMP/slurm/twice-$j1.sbatch" ] || fail "the batch script is not kept as twice-$j1.sbatch"
[ "$(q "select count(*) || ':' || count(distinct config_hash) || ':' || sum(status = 'finished') from runs")" = 4:4:0 ] ||
    { cat "$TMP/slurm/"*.out; fail "after the killed tasks: $(q 'select id, name, status from runs')"; }
echo "ok: job $j1: 4 tasks, 4 runs killed at step 30 ($(($(date +%s) - t0)) s)"

# 4. the same submission again resumes the four runs from their step-30 checkpoints
$HNET suite $S --slurm --time=5 >"$TMP/out2" 2>&1 || { cat "$TMP/out2"; fail "the second submission failed"; }
j2=$(job_of "$TMP/out2")
[ -n "$j2" ] && [ "$j2" != "$j1" ] || { cat "$TMP/out2"; fail "no new job submitted"; }
slurm_wait "$j2" 60
[ "$(q "select group_concat(id || ':' || status, ' ') from runs order by id")" = \
  "1:finished 2:finished 3:finished 4:finished" ] ||
    { cat "$TMP/slurm/twice-${j2}"_*.out; fail "after resuming: $(q 'select id, name, status from runs')"; }
[ "$(grep -l 'resuming from .*step-00000030' "$TMP/slurm/twice-${j2}"_*.out | wc -l)" = 4 ] ||
    { cat "$TMP/slurm/twice-${j2}"_*.out; fail "not every task resumed from its step-30 checkpoint"; }
dup=$(q "select count(*) from (select run_id, step, split, name from metrics group by 1, 2, 3, 4 having count(*) > 1)")
[ "$dup" = 0 ] || fail "$dup curve points were logged twice"
echo "ok: job $j2 resumed the 4 runs from step 30 and finished them"

# 5. all finished: a submission submits nothing and trains nothing
points=$(q "select count(*) from metrics")
$HNET suite $S --slurm --time=5 >"$TMP/out3" 2>&1 || { cat "$TMP/out3"; fail "the third submission failed"; }
grep -q "all 4 runs finished: nothing to submit" "$TMP/out3" || { cat "$TMP/out3"; fail "the third submission did not say it has nothing to do"; }
[ -z "$(job_of "$TMP/out3")" ] || fail "the third submission submitted a job"
sleep 1
[ "$(q "select count(*) from metrics")" = "$points" ] && [ "$(q "select count(*) from runs")" = 4 ] ||
    fail "the third submission trained something"
echo "ok: a third submission submits nothing, trains nothing (0 new steps)"

# 6. two submissions at once, one database: each config trained once, whichever job's
#    task claims it first; the other job's task skips it
export HNET_ID_DB="$TMP/r2.db" HNET_ID_CKPT="$TMP/ck2"
$HNET suite $S --slurm --time=5 >"$TMP/out4" 2>&1 || { cat "$TMP/out4"; fail "submission A failed"; }
$HNET suite $S --slurm --time=5 >"$TMP/out5" 2>&1 || { cat "$TMP/out5"; fail "submission B failed"; }
ja=$(job_of "$TMP/out4") jb=$(job_of "$TMP/out5")
[ -n "$ja" ] && [ -n "$jb" ] || { cat "$TMP/out4" "$TMP/out5"; fail "two jobs expected"; }
slurm_wait "$ja" 60
slurm_wait "$jb" 60
runs=$(q "select count(*) || ' runs of ' || count(distinct config_hash) || ' configs, ' || sum(status = 'finished') || ' finished' from runs")
[ "$runs" = "4 runs of 4 configs, 4 finished" ] || { cat "$TMP/slurm/"twice-"$jb"_*.out; fail "two jobs at once: $runs"; }
dup=$(q "select count(*) from (select run_id, step, split, name from metrics group by 1, 2, 3, 4 having count(*) > 1)")
[ "$dup" = 0 ] || fail "$dup curve points were logged twice by the two jobs"
echo "ok: jobs $ja and $jb at once: $runs"

# 7. scancel (SIGTERM) stops a task mid-run: its run checkpoints and is recorded as
#    interrupted; the next submission resumes it from there to its end
export HNET_ID_DB="$TMP/r3.db" HNET_ID_CKPT="$TMP/ck3"
L=tests/e2e/fixtures/slurm/long.lua
$HNET suite $L --slurm --time=5 >"$TMP/out6" 2>&1 || { cat "$TMP/out6"; fail "submitting the long run failed"; }
jl=$(job_of "$TMP/out6")
i=0
until [ "$(q "select coalesce(max(step), 0) >= 300 from metrics" 2>/dev/null)" = 1 ]; do
    [ $i -ge 300 ] && { cat "$TMP/slurm/long-${jl}_0.out"; fail "the long run did not reach step 300 in 60 s"; }
    sleep 0.2
    i=$((i + 1))
done
scancel "$jl"
slurm_wait "$jl" 60
st=$(q "select status || ':' || (error like '%SIGTERM%') from runs")
[ "$st" = interrupted:1 ] || { cat "$TMP/slurm/long-${jl}_0.out"; fail "after scancel: $st, expected interrupted:1 (stopped by SIGTERM)"; }
at=$(q "select max(step) from metrics")
[ "$at" -lt 6000 ] || fail "the run ended (step $at) before scancel stopped it"
$HNET suite $L --slurm --time=5 >"$TMP/out7" 2>&1 || { cat "$TMP/out7"; fail "resubmitting the long run failed"; }
jr=$(job_of "$TMP/out7")
slurm_wait "$jr" 60
[ "$(q "select group_concat(id || ':' || status) from runs")" = 1:finished ] ||
    { cat "$TMP/slurm/long-${jr}_0.out"; fail "after resubmitting: $(q 'select id, status from runs')"; }
grep -q "resuming from .*long/step-" "$TMP/slurm/long-${jr}_0.out" ||
    { cat "$TMP/slurm/long-${jr}_0.out"; fail "the resubmitted task did not resume from a checkpoint"; }
echo "ok: scancel stopped job $jl's run at step ~$at (interrupted); job $jr resumed it to the end"
db_ok "$TMP/r.db"
db_ok "$TMP/r2.db"
db_ok "$TMP/r3.db"
