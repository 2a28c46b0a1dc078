# Session 8 (issue #14: RMSNorm kernels within 1.5x of their floor): the row-register norm
# kernels (HNET_CUDA_NORM=rows) against the default ones, validated and measured in one
# call on the GPU machine:
#   sh scripts/gpu-check.sh prepare                                  # here
#   sh scripts/gpu-check.sh device exec sh bench/session8_norm.sh    # there
# 1. parity: test_parity_typed and test_parity_ssm_typed (each runs its norm cases under
#    both kernel sets itself), then those and test_parity_model with HNET_CUDA_NORM=rows
#    for the whole process (the model's norms on the rows kernels against the cpu);
# 2. hnet bench --op rmsnorm and --op gated_rmsnorm (old and rows in one call, each
#    checked against the cpu; exit 3 on a difference over the limits);
# 3. I1 and H1 (--routing targets) steps, old / rows / old / rows, then one --profile step
#    of each under each (the norms' ms a step).
# Everything goes to $OUT (or ./gpu-out): session8_norm.md (the summary) and the logs.
# Arguments: the parts to run, any of parity ops steps profile (default: all four; the
# whole takes ~8-10 minutes, so under a 10-minute call limit run it as two calls, e.g.
# `... exec sh bench/session8_norm.sh parity ops` then `... steps profile`).
# Environment: STEPS (10), WARMUP (3), ROUNDS (2). Exit status 1 when anything failed.
set -u
parts=" ${*:-parity ops steps profile} "
want() { case "$parts" in *" $1 "*) return 0 ;; esac; return 1; }
HNET=${HNET:-build/hnet}
T=${OUT:-gpu-out}
mkdir -p "$T"
md="$T/session8_norm.md"
STEPS=${STEPS:-10}
WARMUP=${WARMUP:-3}
status=0
: >> "$md"
say() { echo "$*" | tee -a "$md"; }

if want parity; then
say "## parity"
for t in test_parity_typed test_parity_ssm_typed; do
    build/gpu-tests/$t > "$T/$t.log" 2>&1 || status=1
    say "$t (both kernel sets): $(grep -E '^\[  (PASSED|FAILED)' "$T/$t.log" | tr '\n' ' ')"
done
for t in test_parity_typed test_parity_ssm_typed test_parity_model; do
    HNET_CUDA_NORM=rows build/gpu-tests/$t > "$T/$t-rows.log" 2>&1 || status=1
    say "$t (HNET_CUDA_NORM=rows): $(grep -E '^\[  (PASSED|FAILED)' "$T/$t-rows.log" | tr '\n' ' ')"
done
fi

if want ops; then
say "" && say "## bench --op"
for op in rmsnorm gated_rmsnorm; do
    $HNET bench --op $op > "$T/op-$op.log" 2>&1
    rc=$?
    [ $rc -eq 0 ] || { status=1; say "bench --op $op FAILED (exit $rc: 3 = differs from the cpu)"; }
    tee -a "$md" < "$T/op-$op.log"
done
fi

if want steps; then
say "" && say "## steps, old / rows alternated"
say "| config | kernels | round | ms/step |"
say "|---|---|---|---|"
for round in $(seq 1 "${ROUNDS:-2}"); do
    for mode in old rows; do
        for c in I1 H1; do
            flags=""
            [ $c = H1 ] && flags="--routing targets"
            log="$T/step-$c-$mode-$round.log"
            # HNET_CUDA_NORM=old: any value but rows (or split) is the default kernels
            HNET_CUDA_NORM=$mode timeout 300 $HNET bench bench/$c.lua --device cuda $flags \
                --steps "$STEPS" --warmup "$WARMUP" > "$log" 2>&1 || status=1
            ms=$(sed -n 's/^  ms\/step (median) *\([0-9.]*\).*/\1/p' "$log" | head -1)
            say "| $c | $mode | $round | ${ms:-see $(basename "$log")} |"
        done
    done
done
fi

if want profile; then
say "" && say "## one --profile step each: the norm ops (ms a step)"
for mode in old rows; do
    for c in I1 H1; do
        flags=""
        [ $c = H1 ] && flags="--routing targets"
        log="$T/profile-$c-$mode.log"
        HNET_CUDA_NORM=$mode timeout 300 $HNET bench bench/$c.lua --device cuda $flags \
            --steps 3 --warmup 2 --profile > "$log" 2>&1 || status=1
        say "$c $mode:"
        grep -iE 'norm' "$log" | tee -a "$md"
    done
done
fi
say "" && say "exit status $status"
exit $status
