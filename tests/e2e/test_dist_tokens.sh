# Data parallel over tokens: mpirun -np 2 (the global batch of 5 split 3+2) and -np 3
# (2+2+1) train the curve one process trains, for a Transformer and an H-Net over tiktoken
# tokens (tests/e2e/fixtures/dist_tokens.lua): train BPB at every step (nats over the bytes
# the ranks' target tokens stand for, summed) and validation BPB (its 10 batches of
# windows and the shorter last window dealt to the ranks) within 1e-5 relative. Rank 0
# alone prints the token line and writes results.db, with the same bytes-per-token rows.
. tests/e2e/lib.sh
. tests/e2e/dist_lib.sh
TOL=1e-5
LUA=tests/e2e/fixtures/dist_tokens.lua

for m in transformer hnet; do
    export HNET_DIST_TOKENS=$m
    $HNET run $LUA --db "$TMP/$m-one.db" >"$TMP/$m-out1" 2>&1 ||
        { cat "$TMP/$m-out1"; fail "$m: the one-process run failed"; }
    grep -q "tiktoken tokens: .* validation: 1814 tokens over the same 1984 bytes" "$TMP/$m-out1" ||
        { cat "$TMP/$m-out1"; fail "$m: not the expected validation tokens"; }
    for np in 2 3; do
        $MPIRUN -np $np $HNET run $LUA --db "$TMP/$m-np$np.db" >"$TMP/out" 2>&1 ||
            { cat "$TMP/out"; fail "$m: mpirun -np $np failed"; }
        d=$(max_rel_diff "$TMP/$m-one.db" "$TMP/$m-np$np.db")
        awk -v d="$d" -v t=$TOL 'BEGIN { exit !(d <= t) }' ||
            fail "$m -np $np: BPB differs from one process by $d relative (tolerance $TOL)"
        [ "$(grep -c 'tiktoken tokens: ' "$TMP/out")" = 1 ] || { cat "$TMP/out"; fail "$m -np $np: expected one token line"; }
        grep -q "e2e-dist-$m: $np processes" "$TMP/out" || { cat "$TMP/out"; fail "$m -np $np: no note of the processes"; }
        q="select name || '=' || printf('%.6f', value) from metrics where name in ('bytes_per_token', 'seq_tokens') order by name"
        [ "$(sqlite3 "$TMP/$m-one.db" "$q")" = "$(sqlite3 "$TMP/$m-np$np.db" "$q")" ] ||
            fail "$m -np $np: bytes per token rows differ"
        b1=$(sqlite3 "$TMP/$m-one.db" "select group_concat(bytes) from metrics where split = 'valid' and name = 'bpb'")
        bn=$(sqlite3 "$TMP/$m-np$np.db" "select group_concat(bytes) from metrics where split = 'valid' and name = 'bpb'")
        [ "$b1" = "$bn" ] || fail "$m -np $np: bytes seen at validation '$bn', one process '$b1'"
        row=$(sqlite3 "$TMP/$m-np$np.db" "select count(*) || ' ' || status || ' ' || world_size from runs")
        [ "$row" = "1 finished $np" ] || fail "$m -np $np: runs reads '$row', expected '1 finished $np'"
        echo "ok: $m over tokens, -np $np: train and valid BPB within $d relative of one process"
    done
done
db_ok "$TMP/hnet-np2.db"
