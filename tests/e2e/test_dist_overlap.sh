# The gradient's all-reduce overlapped with the backward (train/grad_overlap.h, on by
# default): mpirun -np 2 with the gradient in buckets of 1024 floats trains, to the bit,
# the curve of the same run that sums after the backward (HNET_DIST_OVERLAP=0): the same
# buckets summed by the same MPI_Iallreduce, started earlier. The run says the overlap is
# on, and with HNET_DIST_OVERLAP=0 that it is not; another value is refused by name.
. tests/e2e/lib.sh
. tests/e2e/dist_lib.sh
export HNET_DIST_BUCKET=1024

for overlap in 1 0; do
    HNET_DIST_OVERLAP=$overlap HNET_DIST_CKPT="$TMP/ck$overlap" $MPIRUN -np 2 $HNET run $DIST_LUA \
        --steps 6 --db "$TMP/o$overlap.db" >"$TMP/out$overlap" 2>&1 ||
        { cat "$TMP/out$overlap"; fail "mpirun -np 2 with HNET_DIST_OVERLAP=$overlap failed"; }
    curve "$TMP/o$overlap.db" >"$TMP/c$overlap"
done
grep -q "e2e-dist: the gradient's all-reduce overlaps the backward (127 buckets" "$TMP/out1" ||
    { cat "$TMP/out1"; fail "the run did not say its all-reduce overlaps the backward"; }
! grep -q "overlaps the backward" "$TMP/out0" ||
    { cat "$TMP/out0"; fail "HNET_DIST_OVERLAP=0 still overlapped"; }
! grep -q "did not report" "$TMP/out1" ||
    { cat "$TMP/out1"; fail "the backward left parameters unreported"; }
cmp -s "$TMP/c1" "$TMP/c0" ||
    { diff "$TMP/c0" "$TMP/c1" | head; fail "the overlapped all-reduce trained another curve"; }
echo "ok: -np 2, 127 buckets: $(wc -l <"$TMP/c1") metric rows identical overlapped and not"

HNET_DIST_OVERLAP=yes HNET_DIST_CKPT="$TMP/ckx" $MPIRUN -np 2 $HNET run $DIST_LUA --steps 1 \
    --db "$TMP/x.db" >"$TMP/outx" 2>&1 && fail "HNET_DIST_OVERLAP=yes was accepted"
grep -q "HNET_DIST_OVERLAP=yes: expected 1" "$TMP/outx" ||
    { cat "$TMP/outx"; fail "HNET_DIST_OVERLAP=yes refused without naming it"; }
echo "ok: HNET_DIST_OVERLAP=yes refused by name"

# a frozen stage (init = checkpoint { ..., freeze }): its gradient is zeroed before its
# bucket leaves, as after the backward without the overlap (else the clipping norm and the
# curve move)
sed "s|@DIR@|$TMP/src|" tests/e2e/fixtures/hnet_resume.lua >"$TMP/src.lua"
$HNET run "$TMP/src.lua" --steps 3 --db "$TMP/src.db" --quiet >"$TMP/out" 2>&1 ||
    { cat "$TMP/out"; fail "training the source run failed"; }
src=$(ls -d "$TMP"/src/e2e-resume*) # the folder's name carries the changed config's hash
sed -e "s|@DIR@|$TMP/ft|" -e "s|^  seed  = 5,|  seed = 5, init = checkpoint { \"$src\", freeze = { 1 } },|" \
    tests/e2e/fixtures/hnet_resume.lua >"$TMP/ft.lua"
grep -q "init = checkpoint" "$TMP/ft.lua" || fail "the fixture changed: no seed line to add init to"
for overlap in 1 0; do
    rm -rf "$TMP/ft"
    HNET_DIST_OVERLAP=$overlap $MPIRUN -np 2 $HNET run "$TMP/ft.lua" --steps 4 --db "$TMP/ft$overlap.db" \
        >"$TMP/out" 2>&1 || { cat "$TMP/out"; fail "the frozen fine-tune with HNET_DIST_OVERLAP=$overlap failed"; }
    curve "$TMP/ft$overlap.db" >"$TMP/f$overlap"
done
cmp -s "$TMP/f1" "$TMP/f0" ||
    { diff "$TMP/f0" "$TMP/f1" | head; fail "a frozen stage: the overlapped all-reduce trained another curve"; }
echo "ok: a frozen stage, -np 2: $(wc -l <"$TMP/f1") metric rows identical overlapped and not"
