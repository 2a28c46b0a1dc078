#!/bin/sh
# Session 8: the bf16 products through cuBLASLt (HNET_CUDA_MATMUL_ALGO=gemmex|lt|lt-tuned),
# validated and measured on one GPU in one call, from the carried build (nothing is built):
#   sh scripts/gpu-check.sh prepare                                   # here
#   sh scripts/gpu-check.sh device exec sh bench/session8_matmul.sh   # there
# 1. parity: test_parity_matmul_lt (lt and lt-tuned against the cpu, tuning leaves the
#    result, beta = 1 accumulates once, moved row counts borrow), then test_parity_typed
#    and test_parity_model with HNET_CUDA_MATMUL_ALGO=lt-tuned (the whole model's products)
# 2. hnet bench --op matmul --shapes H1,I1: each product of the two steps through the three
#    paths in one call, cross-checked against cublasGemmEx
# 3. the H1 (--routing targets) and I1 steps, gemmex and lt-tuned alternated, ROUNDS rounds
#    (default 1), then one table of ms/step (mean over the rounds) and the change
# Logs go to $OUT (or gpu-out)/session8_matmul/. Environment: WHAT (the parts to run, default
# "parity op steps": a call is limited to 10 minutes, so a second round can be its own
# call, WHAT=steps ROUNDS=2), ROUNDS (1), STEPS (20), WARMUP (3).
set -u
HNET=${HNET:-build/hnet}
LOG=${OUT:-gpu-out}/session8_matmul
WHAT=${WHAT:-parity op steps}
ROUNDS=${ROUNDS:-1}
STEPS=${STEPS:-20}
WARMUP=${WARMUP:-3}
mkdir -p "$LOG"
status=0

case " $WHAT " in *" parity "*)
echo "== parity"
for t in test_parity_matmul_lt test_parity_typed test_parity_model; do
    if [ $t = test_parity_matmul_lt ]; then set -- env; else set -- env HNET_CUDA_MATMUL_ALGO=lt-tuned; fi
    "$@" "build/gpu-tests/$t" >"$LOG/$t.log" 2>&1 || status=1
    echo "$t ($*): $(grep -cE '^\[       OK \]' "$LOG/$t.log") ok, $(grep -cE '^\[  FAILED  \]' "$LOG/$t.log") failed"
    grep -E 'cuBLASLt|tuned vs|rows 1800|FAILED|Failure|error' "$LOG/$t.log" | head -20
done ;;
esac

case " $WHAT " in *" op "*)
echo "== hnet bench --op matmul"
$HNET bench --op matmul --shapes H1,I1 >"$LOG/op_matmul.log" 2>&1 || { echo "bench --op matmul FAILED"; status=1; }
cat "$LOG/op_matmul.log" ;;
esac

case " $WHAT " in *" steps "*) ;; *) exit $status ;; esac
echo "== steps: gemmex and lt-tuned alternated, $ROUNDS rounds"
# ms CONFIG ALGO ROUND: one hnet bench; its ms/step median on stdout
ms() {
    f="$LOG/step-$1-$2-$3.log"
    flags=""
    [ "$1" = H1 ] && flags="--routing targets"
    HNET_CUDA_MATMUL_ALGO=$2 timeout 300 $HNET bench "bench/$1.lua" --device cuda $flags \
        --steps "$STEPS" --warmup "$WARMUP" >"$f" 2>&1 || { echo "FAILED" ; return; }
    sed -n 's/^  ms\/step (median) *\([0-9.]*\).*/\1/p' "$f"
}
table="$LOG/steps.txt"
: >"$table"
for r in $(seq 1 "$ROUNDS"); do
    order="gemmex lt-tuned"
    [ $((r % 2)) = 0 ] && order="lt-tuned gemmex" # drift cancels over two rounds
    for c in H1 I1; do
        for a in $order; do
            v=$(ms $c $a $r)
            [ -n "$v" ] || v=FAILED
            echo "round $r $c $a: $v ms/step"
            grep -h 'cuBLASLt' "$LOG/step-$c-$a-$r.log" | sed 's/^/    /'
            [ "$v" = FAILED ] && { status=1; tail -5 "$LOG/step-$c-$a-$r.log"; }
            echo "$c $a $v" >>"$table"
        done
    done
done
python3 - "$table" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    c, a, v = line.split()
    if v != "FAILED":
        rows.setdefault((c, a), []).append(float(v))
print("| config | gemmex ms/step | lt-tuned ms/step | change | rounds (gemmex; lt-tuned) |")
print("|---|---|---|---|---|")
for c in ("H1", "I1"):
    g, t = rows.get((c, "gemmex"), []), rows.get((c, "lt-tuned"), [])
    if not g or not t:
        print(f"| {c} | {g} | {t} | - | (a run failed) |")
        continue
    mg, mt = sum(g) / len(g), sum(t) / len(t)
    print(f"| {c} | {mg:.2f} | {mt:.2f} | {mt - mg:+.2f} ms ({100 * (mt / mg - 1):+.1f}%) | "
          f"{', '.join(map(str, g))}; {', '.join(map(str, t))} |")
PY
exit $status
