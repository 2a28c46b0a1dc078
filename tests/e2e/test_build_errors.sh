# Mistakes that only show when the model is built (a plugin's constraint, an absurd
# size) are refused while the experiment file loads, with FILE:LINE of the constructor
# and the key path, never "building the model: ..." or a crash; a memory need this
# machine cannot meet is refused (FILE: key path) before anything is allocated, also
# when it comes from a command-line --batch; a run name with a NUL byte is refused, not
# cut.
. tests/e2e/lib.sh
DB=$TMP/results.db

# case NAME MODEL TRAIN [NAME_VALUE]: an experiment whose model constructor is on line 4
# and whose train table is on line 5.
case_file() {
    cat >"$TMP/$1.lua" <<LUA
return experiment {
  name  = ${4:-"\"$1\""},
  data  = corpus { synthetic = { seed = 1, bytes = 20000 }, seq_len = ${5:-64} },
  model = $2,
  train = { $3 },
}
LUA
}

refused() { # DESCRIPTION PATTERN NAME
    expect_fail "$1" "$2" $HNET run "$TMP/$3.lua" --db "$DB" --quiet
    grep -q "^hnet run: " "$TMP/out" || fail "$1: no 'hnet run:' message"
    if grep -q "building the model" "$TMP/out"; then fail "$1: found at build time, not load time"; fi
}

case_file heads 'isotropic { layout = "T1", d = 30, attention = { heads = 4 } }' 'steps = 2'
refused "heads not dividing d" "heads.lua:4: isotropic.attention: .*divisible by heads 4" heads

case_file rotary 'isotropic { layout = "T1", d = 32, attention = { heads = 2, rotary_dim = 7 } }' 'steps = 2'
refused "odd rotary_dim" "rotary.lua:4: isotropic.attention: .*rotary_dim" rotary

case_file headdim 'isotropic { layout = "M1", d = 32, mamba2 = { headdim = 7 } }' 'steps = 2'
refused "mamba2 headdim" "headdim.lua:4: isotropic.mamba2: .*headdim" headdim

case_file dstate 'isotropic { layout = "M1", d = 32, mamba2 = { d_state = 0 } }' 'steps = 2'
refused "mamba2 d_state" "dstate.lua:4: isotropic.mamba2: .*d_state" dstate

case_file moe 'isotropic { layout = "T1", d = 32, mlp = moe { experts = 2, top_k = 3 } }' 'steps = 2'
refused "moe top_k > experts" "moe.lua:4: isotropic.mlp: .*top_k" moe

case_file bigd 'isotropic { layout = "T1", d = 1e9 }' 'steps = 2'
refused "d = 1e9" "bigd.lua:4: isotropic.d: .*at most" bigd

case_file biglayout 'isotropic { layout = "T99999999999", d = 32 }' 'steps = 2'
refused "layout T99999999999" "biglayout.lua:4: isotropic.layout: .*T99999999999" biglayout

case_file bigbatch 'isotropic { layout = "T1", d = 32 }' 'steps = 2, batch = 1e9'
refused "batch = 1e9" "bigbatch.lua: train.batch: .*memory.*GiB" bigbatch

# every size sane, the product is not: the estimate says so before allocating
case_file bigmodel 'isotropic { layout = "T64", d = 8192 }' 'steps = 2, batch = 512' '"bigmodel"' 512
refused "memory need" "bigmodel.lua: .*needs about .* GiB of memory" bigmodel

case_file smallbatch 'isotropic { layout = "T1", d = 32 }' 'steps = 2, batch = 2'
expect_fail "--batch 1e6 on the command line" "smallbatch.lua: train.batch: .*memory.*GiB" \
    $HNET run "$TMP/smallbatch.lua" --db "$DB" --quiet --batch 1000000

case_file nul 'isotropic { layout = "T1", d = 32 }' 'steps = 2' '"a\0b"'
refused "name with a NUL byte" 'nul.lua:1: name: .*NUL' nul

[ ! -f "$DB" ] || [ "$(sqlite3 "$DB" 'select count(*) from runs')" = 0 ] ||
    fail "a refused experiment left a run in results.db: $(sqlite3 "$DB" 'select name from runs')"
echo "ok: all refused before anything was allocated"
