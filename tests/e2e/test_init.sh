# Fine-tuning: init = checkpoint { PATH, freeze = {...} } starts a run from a checkpoint's
# weights (its step-0 validation BPB is the source run's final one, on the same bytes)
# and frozen stages keep their weights bit for bit while the others train; init is in
# the run's config; a stage the model lacks and a checkpoint of another model are
# refused with a message.
. tests/e2e/lib.sh
sed "s|@DIR@|$TMP/ck|" tests/e2e/fixtures/hnet_resume.lua >"$TMP/src.lua"
$HNET run "$TMP/src.lua" --db "$TMP/r.db" --quiet >"$TMP/out" 2>&1 || { cat "$TMP/out"; fail "training the source run failed"; }
SRC="$TMP/ck/e2e-resume"
want=$(sqlite3 "$TMP/r.db" "select printf('%.9f', value) from metrics m join runs r on r.id = m.run_id
    where r.name = 'e2e-resume' and m.split = 'valid' and m.name = 'bpb' order by step desc limit 1")

# a fine-tuning experiment: the same model, 3 steps, stages FREEZE frozen
finetune() { # NAME FREEZE
    sed -e "s|@DIR@|$TMP/ck|" -e "s|name  = \"e2e-resume\"|name = \"$1\"|" \
        -e "s|train = { batch = 4, steps = 12, lr = 3e-3 }|train = { batch = 4, steps = 3, lr = 3e-3 }|" \
        -e "s|^  seed  = 5,|  seed = 5, init = checkpoint { \"$SRC\", freeze = $2 },|" \
        tests/e2e/fixtures/hnet_resume.lua >"$TMP/$1.lua"
    grep -q "init = checkpoint" "$TMP/$1.lua" || fail "the fixture changed: no init line in $1.lua"
    $HNET run "$TMP/$1.lua" --db "$TMP/r.db" --quiet >"$TMP/$1.out" 2>&1 || { cat "$TMP/$1.out"; fail "fine-tuning $1 failed"; }
}
finetune ft-main "{ 1 }"
got=$(sqlite3 "$TMP/r.db" "select printf('%.9f', value) from metrics m join runs r on r.id = m.run_id
    where r.name = 'ft-main' and m.split = 'valid' and m.name = 'bpb' and step = 0")
[ -n "$got" ] && [ "$got" = "$want" ] || fail "the fine-tune's step-0 BPB $got is not the source's final BPB $want"
echo "ok: initial weights are the checkpoint's (step-0 BPB $got = source's final $want)"
cfg=$(sqlite3 "$TMP/r.db" "select json_extract(config_json, '$.init.kind') || ' ' || json_extract(config_json, '$.init.path')
    || ' ' || json(json_extract(config_json, '$.init.freeze')) from runs where name = 'ft-main'")
[ "$cfg" = "checkpoint $SRC [1]" ] || fail "init not recorded in the run's config: '$cfg'"
finetune ft-outer "{ 0 }"

# compare tensors of the newest checkpoint of a run with the source's
compare() { # RUN PATTERN-OF-FROZEN
    python3 - "$SRC" "$TMP/ck/$1" "$2" <<'PY'
import glob, json, re, struct, sys
def load(d):
    f = sorted(glob.glob(d + "/*.safetensors"))[-1]
    b = open(f, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    return {k: b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]] for k, v in h.items()
            if k != "__metadata__" and not k.startswith("optimizer.")}
a, b, frozen = load(sys.argv[1]), load(sys.argv[2]), re.compile(sys.argv[3])
assert a.keys() == b.keys()
same = [k for k in a if a[k] == b[k]]
moved = [k for k in a if a[k] != b[k]]
wrong = [k for k in a if frozen.search(k) and a[k] != b[k]]
trained = [k for k in moved if not frozen.search(k)]
print("frozen and unchanged: %d, changed: %d" % (len([k for k in a if frozen.search(k)]), len(moved)))
if wrong: sys.exit("frozen tensors changed: " + ", ".join(wrong))
if len(trained) < 5: sys.exit("the unfrozen stage did not train: only %s changed" % trained)
PY
}
compare ft-main 'main_network\.main_network\.' || fail "freeze = { 1 }"
compare ft-outer '^(embeddings|lm_head|backbone\.(encoder|decoder|routing_module|residual_proj))\.' || fail "freeze = { 0 }"
echo "ok: frozen stages unchanged, the others trained"

sed -e "s|@DIR@|$TMP/ck|" -e "s|name  = \"e2e-resume\"|name = \"bad\"|" -e "s|^  seed  = 5,|  seed = 5, init = checkpoint { \"$SRC\", freeze = { 2 } },|" \
    tests/e2e/fixtures/hnet_resume.lua >"$TMP/bad.lua"
expect_fail "no such stage" "init.freeze\[1\]: no stage 2 in this model \(its stages are 0..1" $HNET run "$TMP/bad.lua" --db "$TMP/r.db" --quiet
sed -e "s|@DIR@|$TMP/ck|" -e "s|name  = \"e2e-resume\"|name = \"other\"|" -e "s|d         = { 32, 48 }|d = { 32, 64 }|" -e "s|^  seed  = 5,|  seed = 5, init = checkpoint \"$SRC\",|" \
    tests/e2e/fixtures/hnet_resume.lua >"$TMP/other.lua"
expect_fail "another model" "init: the checkpoint does not fit this model" $HNET run "$TMP/other.lua" --db "$TMP/r.db" --quiet
expect_fail "missing checkpoint" "init: $TMP/none: no such checkpoint" sh -c "sed 's|$SRC|$TMP/none|' '$TMP/ft-main.lua' >'$TMP/none.lua' && $HNET run '$TMP/none.lua' --db '$TMP/r.db' --quiet"
grep -q 'name = "other"' "$TMP/other.lua" && grep -q 'name = "bad"' "$TMP/bad.lua" || fail "the fixture changed: names not replaced"
# a run may start from its own name's earlier checkpoints: they are read before being set aside
sed -e "s|@DIR@|$TMP/ck|" -e "s|^  seed  = 5,|  seed = 5, init = checkpoint \"$SRC\",|" tests/e2e/fixtures/hnet_resume.lua >"$TMP/again.lua"
$HNET run "$TMP/again.lua" --db "$TMP/r.db" --quiet >"$TMP/again.out" 2>&1 || { cat "$TMP/again.out"; fail "init from its own name's checkpoints"; }
echo "ok: init from the run's own earlier checkpoints"
