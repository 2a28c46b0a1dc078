# hnet eval: on the held-out split, with the training run's seq_len, eval batch and
# validation bytes, the BPB equals the run's final validation BPB (the same bytes, the
# same windows); the result lands in results.db's evaluations table joined to the run;
# unknown splits and missing checkpoints are refused with a message.
. tests/e2e/lib.sh
sed "s|@DIR@|$TMP/ck|" tests/e2e/fixtures/hnet_resume.lua >"$TMP/e.lua"
$HNET run "$TMP/e.lua" --db "$TMP/r.db" --quiet >"$TMP/out" 2>&1 || { cat "$TMP/out"; fail "training failed"; }
CK="$TMP/ck/e2e-resume"
want=$(sqlite3 "$TMP/r.db" "select printf('%.17g', value) from metrics where split='valid' and name='bpb' order by step desc limit 1")
[ -n "$want" ] || fail "the run logged no validation BPB"
$HNET eval "$CK" --data tests/fixtures/shakespeare-400k.txt:valid --bytes 4096 --db "$TMP/r.db" >"$TMP/ev" 2>&1 ||
    { cat "$TMP/ev"; fail "hnet eval failed"; }
cat "$TMP/ev"
got=$(sqlite3 "$TMP/r.db" "select printf('%.17g', value) from evaluations where metric='bpb'")
# the same inference forwards over the same windows: equal to the bit
[ "$got" = "$want" ] || fail "eval BPB $got differs from the run's final validation BPB $want"
echo "ok: eval BPB $got = final validation BPB $want"
run=$(sqlite3 "$TMP/r.db" "select run_name || ' ' || step || ' ' || data from evaluation_results where metric='bpb'")
[ "$run" = "e2e-resume 12 tests/fixtures/shakespeare-400k.txt:valid" ] || fail "evaluation not joined to its run: '$run'"
n=$(sqlite3 "$TMP/r.db" "select count(*) from evaluations where metric in ('bytes_per_s','compression_s0')")
[ "$n" -eq 2 ] || fail "expected bytes/s and stage-0 compression rows, found $n"
grep -q "stage 0 compression" "$TMP/ev" || fail "no per-stage compression printed"
# 4032 bytes in windows of 64, 8 a forward: 8 forwards, a rate without the first one's
grep -q "bytes/s after the first forward" "$TMP/ev" || fail "no bytes/s after the first forward"
n=$(sqlite3 "$TMP/r.db" "select count(*) from evaluations where metric='bytes_per_s_after_first' and value > 0")
[ "$n" -eq 1 ] || fail "expected a bytes_per_s_after_first row, found $n"
echo "ok: stored and joined to run e2e-resume"
# --routing targets (timing an untrained router): boundaries every 3rd byte of 64, 22 a
# window; printed, not stored
n0=$(sqlite3 "$TMP/r.db" "select count(*) from evaluations")
$HNET eval "$CK" --data tests/fixtures/shakespeare-400k.txt:valid --bytes 4096 --routing targets --db "$TMP/r.db" >"$TMP/held" 2>&1 ||
    { cat "$TMP/held"; fail "hnet eval --routing targets failed"; }
grep -q "compression L1/L0 = 0.3438" "$TMP/held" || { cat "$TMP/held"; fail "routing not held at the target"; }
[ "$(sqlite3 "$TMP/r.db" "select count(*) from evaluations")" = "$n0" ] || fail "--routing targets wrote to results.db"
expect_fail "bad --routing" "--routing expects learned or targets, found 'fixed'" $HNET eval "$CK" --data tests/fixtures/shakespeare-400k.txt --routing fixed --no-db
echo "ok: --routing targets holds the boundaries and stores nothing"
expect_fail "--timeline with a task" "--timeline times a corpus's evaluation" $HNET eval "$CK" --task tests/fixtures/shakespeare-400k.txt --format choice --timeline --no-db
expect_fail "--timeline on the cpu" "--timeline records the device's kernels with CUPTI" $HNET eval "$CK" --data tests/fixtures/shakespeare-400k.txt --timeline --no-db
expect_fail "--profile on the cpu" "--profile times cuda ops; it needs --device cuda" $HNET eval "$CK" --data tests/fixtures/shakespeare-400k.txt --profile --no-db
expect_fail "unknown split" "unknown split 'tset'" $HNET eval "$CK" --data tests/fixtures/shakespeare-400k.txt:tset --no-db
expect_fail "no test split" "no test split" $HNET eval "$CK" --data tests/fixtures/shakespeare-400k.txt:test --no-db
expect_fail "missing checkpoint" "no such checkpoint" $HNET eval "$TMP/nothing" --data tests/fixtures/shakespeare-400k.txt --no-db
# compare and report show the evaluation with its run
$HNET compare --db "$TMP/r.db" --evaluations --csv >"$TMP/cmp" 2>&1 || { cat "$TMP/cmp"; fail "compare --evaluations"; }
grep -q "^e2e-resume,12,bpb,tests/fixtures/shakespeare-400k.txt:valid,bpb," "$TMP/cmp" || { cat "$TMP/cmp"; fail "compare shows no evaluation"; }
$HNET report --db "$TMP/r.db" -o "$TMP/rep.html" >/dev/null 2>&1 || fail "report"
grep -q "<h2>Evaluations</h2>" "$TMP/rep.html" || fail "report has no evaluations"
echo "ok: compare and report show the evaluation"

# zero-shot tasks: a trained model picks the continuation that is literally in its
# corpus over rare bytes (known answers), in the harness's formats; rows in results.db
cat >"$TMP/mc.jsonl" <<'J'
{"context": "First Citizen:\nBefore we proceed any further, hear me", "choices": [" speak.", " {~|}^"], "gold": 0}
{"context": "All:\nSpeak,", "choices": ["#~}{|", " speak."], "gold": 1}
{"context": "You are all resolved rather to die than to", "choices": [" famish?", "~~~}}}"], "gold": 0}
J
$HNET eval "$CK" --task "$TMP/mc.jsonl" --format choice --db "$TMP/r.db" >"$TMP/mc" 2>&1 || { cat "$TMP/mc"; fail "eval --task"; }
cat "$TMP/mc"
acc=$(sqlite3 "$TMP/r.db" "select value from evaluations where task='choice' and metric='acc'")
[ "$acc" = "1.0" ] || fail "the trained model should answer all 3 known items, acc = $acc"
cat >"$TMP/hs.jsonl" <<'J'
{"activity_label": "Citizens", "ctx_a": "Before we proceed any further,", "ctx_b": "hear me", "endings": ["speak.", "}}{{||~~"], "label": "0"}
J
$HNET eval "$CK" --task "$TMP/hs.jsonl" --format hellaswag --db "$TMP/r.db" >/dev/null 2>&1 || fail "hellaswag format"
printf '{"text": "Before we proceed any further, hear me speak."}\n' >"$TMP/lmb.jsonl"
$HNET eval "$CK" --task "$TMP/lmb.jsonl" --format lambada --db "$TMP/r.db" >"$TMP/lmb" 2>&1 || { cat "$TMP/lmb"; fail "lambada format"; }
n=$(sqlite3 "$TMP/r.db" "select count(*) from evaluation_results where run_name='e2e-resume' and
    ((task='hellaswag' and metric in ('acc','acc_norm')) or (task='lambada' and metric in ('acc','ppl') and value >= 0))")
[ "$n" -eq 4 ] || fail "expected hellaswag acc/acc_norm and lambada acc/ppl rows, found $n"
expect_fail "unknown format" "unknown task format 'mmlu'" $HNET eval "$CK" --task "$TMP/mc.jsonl" --format mmlu --no-db
expect_fail "no format" "needs --format" $HNET eval "$CK" --task "$TMP/mc.jsonl" --no-db
echo "ok: zero-shot tasks"

# robustness: every perturbation of a multiple-choice task, seeded, with the score of
# Appendix D.1 computed from the stored accuracies (chance 1/2 for these items)
$HNET eval "$CK" --task "$TMP/mc.jsonl" --format choice --perturb all --seed 3 --db "$TMP/r.db" >"$TMP/rob" 2>&1 || { cat "$TMP/rob"; fail "--perturb all"; }
cat "$TMP/rob"
n=$(sqlite3 "$TMP/r.db" "select count(distinct task) from evaluations where task like 'choice:%' and data like '%(seed 3)'")
[ "$n" -eq 6 ] || fail "expected 5 perturbations and their mean, found $n tasks"
bad=$(sqlite3 "$TMP/r.db" "select count(*) from evaluations p join evaluations s on s.task = p.task and s.data = p.data
    and s.metric = 'robustness' where p.task like 'choice:%' and p.metric = 'acc'
    and abs(s.value - 100.0 * (p.value - 0.5) / 0.5) > 1e-9")
[ "$bad" -eq 0 ] || fail "$bad robustness scores differ from 100 (acc - 0.5) / (1 - 0.5)"
sqlite3 "$TMP/r.db" "select value from evaluations where task='choice:uppercase' and metric='acc'" >"$TMP/u1"
$HNET eval "$CK" --task "$TMP/mc.jsonl" --format choice --perturb uppercase,drop --seed 3 --no-db >"$TMP/rob2" 2>&1 || fail "--perturb list"
grep -q "^  drop " "$TMP/rob2" && grep -q "^  uppercase " "$TMP/rob2" || { cat "$TMP/rob2"; fail "--perturb uppercase,drop"; }
[ "$(grep '^  drop ' "$TMP/rob")" = "$(grep '^  drop ' "$TMP/rob2")" ] || fail "the same seed gave another drop result"
expect_fail "unknown perturbation" "unknown perturbation 'noise'" $HNET eval "$CK" --task "$TMP/mc.jsonl" --format choice --perturb noise --no-db
expect_fail "perturbed lambada" "multiple-choice tasks, not lambada" $HNET eval "$CK" --task "$TMP/lmb.jsonl" --format lambada --perturb drop --no-db
echo "ok: robustness suite"
