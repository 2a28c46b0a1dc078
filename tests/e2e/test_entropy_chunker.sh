# The entropy chunker (plugins/entropy, BLT's entropy patching) end to end: a tiny byte
# LM trained on the synthetic language is the entropy model of three H-Nets (BLT's
# global rule, its relative rule, online calibration), each reaching its target of 5
# bytes per chunk within 10% on the validation bytes and in training, and placing
# chunk starts at word boundaries above chance; the checkpointed threshold serves
# `hnet chunks` and `hnet sample` (stepped byte by byte); bad settings are one error each.
. tests/e2e/lib.sh
F=tests/e2e/fixtures/entropy
export HNET_SUITE_DB="$TMP/r.db" HNET_SUITE_CKPT="$TMP/ck"
$HNET run $F/lm.lua --quiet >"$TMP/lm.out" 2>&1 || { cat "$TMP/lm.out"; fail "training the entropy model"; }
$HNET suite $F/suite.lua --quiet >"$TMP/suite.out" 2>&1 || { cat "$TMP/suite.out"; fail "the entropy suite"; }

q() { sqlite3 "$TMP/r.db" "$1"; }
# last valid value of a metric, and the mean of a train metric over the run
last() { q "select value from metrics m join runs r on r.id = m.run_id where r.name = '$1' and m.split = 'valid' and m.name = '$2' order by step desc limit 1"; }
mean() { q "select avg(value) from metrics m join runs r on r.id = m.run_id where r.name = '$1' and m.split = 'train' and m.name = '$2'"; }
within() { awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v >= lo && v <= hi) }'; }
above() { awk -v v="$1" -v c="$2" -v k="$3" 'BEGIN { exit !(v > k * c) }'; }
for run in entropy-global entropy-relative entropy-online; do
    bpic=$(last $run bpic) comp=$(mean $run stage0.compression)
    prec=$(last $run boundary_precision) chance=$(last $run boundary_chance)
    echo "$run: $bpic bytes per chunk on the validation bytes, training compression $comp, chunk starts at word boundaries: precision $prec (chance $chance)"
    within "$bpic" 4.5 5.5 || fail "$run: $bpic bytes per chunk, not within 10% of the target 5"
    within "$comp" 0.18 0.22 || fail "$run: training compression $comp, not within 10% of 1/5"
    case $run in
        entropy-relative) k=1.15 ;; # BLT's relative rule finds fewer words than the global one
        *) k=1.5 ;;
    esac
    above "$prec" "$chance" $k || fail "$run: boundary precision $prec is not above $k x chance ($chance)"
done
echo "ok: every rule meets its ratio within 10% and beats chance at word boundaries"

# the calibrated threshold is a parameter of the checkpoint: chunks and sample use it
$HNET chunks "$TMP/ck/entropy-global" "the dog sees a small house and the cat runs home" --html "$TMP/c.html" >"$TMP/c.out" 2>&1 ||
    { cat "$TMP/c.out"; fail "hnet chunks"; }
grep -Eq '^stage 0: [0-9]+ boundaries of 48 bytes' "$TMP/c.out" || { cat "$TMP/c.out"; fail "hnet chunks: no stage 0 line"; }
$HNET sample "$TMP/ck/entropy-global" --prompt "the " --bytes 120 --seed 2 >"$TMP/s.out" 2>&1 ||
    { cat "$TMP/s.out"; fail "hnet sample with the entropy chunker"; }
reach=$(sed -n 's/.*stage 1 \([0-9.]*\).*/\1/p' "$TMP/s.out")
[ -n "$reach" ] && within "$reach" 0.1 0.4 || { cat "$TMP/s.out"; fail "sample: stage 1 reached by $reach of the positions"; }
echo "ok: chunks and sample step the entropy model ($reach of generated positions reach stage 1)"

bad() { # NAME CHUNKER-SETTINGS LAYOUT D
    cat >"$TMP/$1.lua" <<LUA
return experiment { name = "$1", data = corpus { synthetic = { seed = 1, bytes = 1e5 }, seq_len = 32 },
  model = hnet { layout = $3, d = $4, chunker = chunker { plugin = "entropy", $2 },
                 mamba2 = { d_state = 8, headdim = 16 }, attention = { heads = 2 } },
  log = { db = "$TMP/bad.db" } }
LUA
}
bad nomodel 'ratio = 5' '{ "m1", { "T1" }, "m1" }' '{ 32, 48 }'
expect_fail "the entropy model is required" "entropy: the key 'model' is required" $HNET run "$TMP/nomodel.lua"
bad missing 'model = "'"$TMP"'/nope"' '{ "m1", { "T1" }, "m1" }' '{ 32, 48 }'
expect_fail "a missing entropy model" "entropy model $TMP/nope: .*No such file" $HNET run "$TMP/missing.lua"
bad hnetlm 'model = "'"$TMP"'/ck/entropy-global"' '{ "m1", { "T1" }, "m1" }' '{ 32, 48 }'
expect_fail "an entropy model that chunks" "an entropy model must be isotropic" $HNET run "$TMP/hnetlm.lua"
bad rule 'model = "'"$TMP"'/ck/entropy-lm", rule = "rising"' '{ "m1", { "T1" }, "m1" }' '{ 32, 48 }'
expect_fail "an unknown rule" 'entropy.rule must be "global" or "relative"' $HNET run "$TMP/rule.lua"
bad deep 'model = "'"$TMP"'/ck/entropy-lm"' '{ "m1", { "m1", { "T1" }, "m1" }, "m1" }' '{ 32, 48, 64 }'
expect_fail "a second stage" "chunker entropy at stage 1: .*only the outermost stage" $HNET run "$TMP/deep.lua"
