# Crafted checkpoints (tests/e2e/craft_checkpoint.py: hostile header or metadata, re-sealed
# with a valid checksum, or edited without re-sealing): `hnet sample` and `hnet chunks`
# refuse each with one message naming the file (exit 1, no crash, no sanitizer report);
# `hnet run --resume` passes a crafted newest checkpoint over for the previous one.
. tests/e2e/lib.sh
sed "s|@DIR@|$TMP/ck|" tests/e2e/fixtures/hnet_resume.lua >"$TMP/e.lua"
CK="$TMP/ck/e2e-resume"
HNET_TEST_SIGKILL_AT_STEP=7 $HNET run "$TMP/e.lua" --db "$TMP/r.db" --quiet >"$TMP/out" 2>&1
[ $? -eq 137 ] || { cat "$TMP/out"; fail "expected the run to die by SIGKILL at step 7"; }
GOOD="$CK/step-00000006.safetensors"
[ -f "$GOOD" ] || fail "no checkpoint of step 6"

# refused CMD...: exit status 1 and exactly one line, naming the crafted file
refused() {
    what=$1
    shift
    "$@" >"$TMP/msg" 2>&1
    rc=$?
    [ $rc -eq 1 ] || { cat "$TMP/msg"; fail "$what: expected exit status 1, got $rc"; }
    grep -Eq "Sanitizer|runtime error|Segmentation" "$TMP/msg" && { cat "$TMP/msg"; fail "$what: crashed"; }
    [ "$(wc -l <"$TMP/msg")" -eq 1 ] || { cat "$TMP/msg"; fail "$what: expected one line of message"; }
    grep -q "$TMP/bad.safetensors" "$TMP/msg" || { cat "$TMP/msg"; fail "$what: the message does not name the file"; }
    echo "ok: $what: $(cat "$TMP/msg")"
}

for edit in negative_shape reversed_offsets overlapping_offsets out_of_range_offsets five_dims \
    unsealed_edit; do
    python3 tests/e2e/craft_checkpoint.py "$GOOD" "$TMP/bad.safetensors" $edit || fail "crafting $edit"
    refused "sample, $edit" $HNET sample "$TMP/bad.safetensors" --bytes 5
    refused "chunks, $edit" $HNET chunks "$TMP/bad.safetensors" "some text"
done

# a crafted newest checkpoint: the resume warns and falls back to step 3
mkdir "$TMP/db" && cp -r "$CK" "$TMP/saved" && cp "$TMP"/r.db* "$TMP/db/"
for edit in negative_shape huge_step negative_step huge_count unsealed_edit; do
    rm -rf "$CK" "$TMP"/r.db* && cp -r "$TMP/saved" "$CK" && cp "$TMP"/db/* "$TMP/"
    python3 tests/e2e/craft_checkpoint.py "$TMP/saved/step-00000006.safetensors" "$GOOD" $edit
    $HNET run "$TMP/e.lua" --db "$TMP/r.db" --quiet --resume >"$TMP/out" 2>&1 ||
        { cat "$TMP/out"; fail "resume, $edit: failed"; }
    grep -Eq "Sanitizer|runtime error" "$TMP/out" && { cat "$TMP/out"; fail "resume, $edit: sanitizer report"; }
    grep -q "refusing checkpoint .*step-00000006" "$TMP/out" &&
        grep -q "resuming from .*step-00000003" "$TMP/out" ||
        { cat "$TMP/out"; fail "resume, $edit: did not fall back to step 3"; }
    echo "ok: resume, $edit: $(sed -n 2p "$TMP/out")"
done
