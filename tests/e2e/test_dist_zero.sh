# ZeRO-1 (train.zero = 1): the gradient reduce-scattered, each rank updating its shard of
# the weights and keeping the moments of that shard alone, the weights all-gathered. With
# mpirun -np 2 (even shards) and -np 3 (the last shard longer) it trains the curve of one
# process with the same global batch and of the plain data-parallel run: train and valid
# BPB within 1e-5 relative (the gradient norm's squares summed per shard, then over the
# ranks: another order of the same sums). One process with zero = 1 owns every shard and
# trains the plain curve to the bit, also with HNET_COMM=mpi (the collectives run; mpirun
# -np 1 on the same cores: $MPIRUN1). Checkpoints hold the whole state (the moments
# gathered), the plain -np 2 run's to the bit. Stopped by SIGTERM and resumed with 2
# ranks, the curve is, to the bit, the uninterrupted ZeRO-1 run's. A fine-tune with a frozen stage and per-stage learning-rate
# multipliers checkpoints the plain run's bits too.
. tests/e2e/lib.sh
. tests/e2e/dist_lib.sh
TOL=1e-5
STEPS=24 # the stopped and resumed run's (the curves' runs take the fixture's 12)

HNET_DIST_CKPT="$TMP/ck1" $HNET run $DIST_LUA --db "$TMP/one.db" --quiet >"$TMP/out" 2>&1 ||
    { cat "$TMP/out"; fail "the one-process run failed"; }
HNET_DIST_ZERO=1 HNET_DIST_CKPT="$TMP/ck1z" $HNET run $DIST_LUA --db "$TMP/onez.db" --quiet >"$TMP/out" 2>&1 ||
    { cat "$TMP/out"; fail "the one-process zero = 1 run failed"; }
curve "$TMP/one.db" >"$TMP/c1"
curve "$TMP/onez.db" >"$TMP/c1z"
cmp -s "$TMP/c1" "$TMP/c1z" || { diff "$TMP/c1" "$TMP/c1z" | head; fail "zero = 1 in one process trains another curve"; }
echo "ok: one process, zero = 1: $(wc -l <"$TMP/c1") metric rows identical to zero = 0"
# HNET_COMM=mpi -np 1: ZeRO-1's collectives run in the world of one (the path of NCCL's)
HNET_COMM=mpi HNET_DIST_ZERO=1 HNET_DIST_CKPT="$TMP/ck1m" $MPIRUN1 -np 1 $HNET run $DIST_LUA --db "$TMP/onem.db" --quiet >"$TMP/out" 2>&1 ||
    { cat "$TMP/out"; fail "HNET_COMM=mpi mpirun -np 1 with zero = 1 failed"; }
curve "$TMP/onem.db" >"$TMP/c1m"
cmp -s "$TMP/c1" "$TMP/c1m" || { diff "$TMP/c1" "$TMP/c1m" | head; fail "HNET_COMM=mpi -np 1 zero = 1 trains another curve"; }
echo "ok: HNET_COMM=mpi -np 1, zero = 1: the one-process curve to the bit"

HNET_DIST_CKPT="$TMP/ck2" $MPIRUN -np 2 $HNET run $DIST_LUA --db "$TMP/np2.db" --quiet >"$TMP/out" 2>&1 ||
    { cat "$TMP/out"; fail "mpirun -np 2 without ZeRO-1 failed"; }
for np in 2 3; do
    HNET_DIST_ZERO=1 HNET_DIST_CKPT="$TMP/ckz$np" $MPIRUN -np $np $HNET run $DIST_LUA --db "$TMP/z$np.db" >"$TMP/out" 2>&1 ||
        { cat "$TMP/out"; fail "mpirun -np $np with ZeRO-1 failed"; }
    grep -q "e2e-dist: ZeRO-1: rank 0 keeps the optimizer state of [0-9]* of [0-9]* parameter floats" "$TMP/out" ||
        { cat "$TMP/out"; fail "-np $np: no note of the optimizer's shard"; }
    d=$(max_rel_diff "$TMP/one.db" "$TMP/z$np.db")
    awk -v d="$d" -v t=$TOL 'BEGIN { exit !(d <= t) }' ||
        fail "-np $np ZeRO-1: BPB differs from one process by $d relative (tolerance $TOL)"
    d2=$(max_rel_diff "$TMP/np2.db" "$TMP/z$np.db")
    awk -v d="$d2" -v t=$TOL 'BEGIN { exit !(d <= t) }' ||
        fail "-np $np ZeRO-1: BPB differs from -np 2 without it by $d2 relative (tolerance $TOL)"
    echo "ok: -np $np ZeRO-1: BPB within $d of one process, $d2 of -np 2 without ZeRO-1 (tolerance $TOL)"
done
# the checkpoints are whole: every tensor, the moments gathered from the shards included,
# the bits of the plain 2-rank run's (the same sums of two ranks, the same updates)
same_checkpoint() { # DIR DIR: their newest checkpoints hold the same tensors, bit for bit
python3 - "$1" "$2" <<'PY'
import json, struct, sys, glob
def tensors(d):
    f = sorted(glob.glob(d + "/*/step-*.safetensors"))[-1]
    with open(f, "rb") as h:
        n = struct.unpack("<Q", h.read(8))[0]
        head, data = json.loads(h.read(n)), h.read()
    return {k: data[v["data_offsets"][0]:v["data_offsets"][1]] for k, v in head.items() if k != "__metadata__"}
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
assert set(a) == set(b), set(a) ^ set(b)
assert any(k.startswith("optimizer.exp_avg_sq.") for k in a), "no moments in the checkpoint"
differ = [k for k in a if a[k] != b[k]]
assert not differ, "tensors differ: %s" % differ[:5]
print("ok: %s's last checkpoint holds %s's %d tensors, bit for bit" % (sys.argv[2], sys.argv[1], len(a)))
PY
}
same_checkpoint "$TMP/ck2" "$TMP/ckz2" || fail "ZeRO-1's checkpoint is not the plain run's"

# a fine-tune from that checkpoint with the outer stage frozen and a learning-rate
# multiplier per stage: ZeRO-1's shards cut through parameters, each element keeps its
# parameter's rate, decay and freezing, so the checkpoint is again the plain run's
sed -e "s|^  seed  = 5,|  seed = 5, init = checkpoint { \"$TMP/ck2/e2e-dist\", freeze = { 0 } },|" \
    -e "s|lr = 1e-3,|lr = 1e-3, lr_multipliers = { 2, 1, 0.5 },|" $DIST_LUA >"$TMP/ft.lua"
grep -q "freeze = { 0 }" "$TMP/ft.lua" && grep -q "lr_multipliers" "$TMP/ft.lua" || fail "the fixture changed: no seed or lr line to edit"
for z in 0 1; do
    HNET_DIST_ZERO=$z HNET_DIST_CKPT="$TMP/ft$z" $MPIRUN -np 2 $HNET run "$TMP/ft.lua" --steps 4 --db "$TMP/ft$z.db" --quiet >"$TMP/out" 2>&1 ||
        { cat "$TMP/out"; fail "the 2-rank fine-tune with zero = $z failed"; }
done
same_checkpoint "$TMP/ft0" "$TMP/ft1" || fail "a frozen stage and multipliers: ZeRO-1's checkpoint is not the plain run's"

# stopped by SIGTERM to rank 1 after the first checkpoint, resumed with 2 ranks
export HNET_DIST_ZERO=1 HNET_TEST_TAG="dist-zero-$$"
export HNET_DIST_CKPT="$TMP/ck-a"
$MPIRUN -np 2 $HNET run $DIST_LUA --steps $STEPS --db "$TMP/a.db" --quiet >"$TMP/out" 2>&1 ||
    { cat "$TMP/out"; fail "the uninterrupted 2-rank ZeRO-1 run failed"; }
export HNET_DIST_CKPT="$TMP/ck-b"
run_to_first_checkpoint_then_term "$TMP/b.db"
step=$(sqlite3 "$TMP/b.db" "select max(step) from metrics")
[ "$step" -lt $STEPS ] || fail "the run reached its last step before the signal"
$MPIRUN -np 2 $HNET run $DIST_LUA --steps $STEPS --db "$TMP/b.db" --resume --quiet >"$TMP/out" 2>&1 ||
    { cat "$TMP/out"; fail "the 2-rank ZeRO-1 resume failed"; }
curve "$TMP/a.db" >"$TMP/ca"
curve "$TMP/b.db" >"$TMP/cb"
cmp -s "$TMP/ca" "$TMP/cb" || { diff "$TMP/ca" "$TMP/cb" | head; fail "the resumed ZeRO-1 curve differs"; }
echo "ok: ZeRO-1 stopped after step $step and resumed with 2 ranks: $(wc -l <"$TMP/ca") metric rows identical to the uninterrupted run"
db_ok "$TMP/b.db"
