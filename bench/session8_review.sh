# Session 8's review branch on the GPU machine, in one call (a few minutes):
#   sh scripts/gpu-check.sh prepare                                          # here
#   sh scripts/gpu-check.sh device exec sh bench/session8_review.sh          # there
# 1. The parity tests of what the review changed or read most closely: the SSD backward's
#    written and added forms (test_parity_ssm_typed: add_to is now a template argument of
#    the tensor-core key and query kernels), the attention backward over NaN buffers
#    (test_parity_typed) under the default, mma and wgmma-atomic kernels, and whole models
#    (test_parity_model).
# 2. hnet bench --op ssd with the tensor-core kernels at M1's and H1's shapes: the backward
#    whose bwd_key kernel is back at main-before-overwrite's 36 / 28 bytes of spill
#    (ptxas); compare its bwd ms with the same command on main's build (bench/NOTES.md,
#    "Session 8 ... review").
# Logs go to $OUT (or ./gpu-out)/session8_review.
set -u
HNET=${HNET:-build/hnet}
out=${OUT:-gpu-out}/session8_review
mkdir -p "$out"
status=0

run_test() { # NAME [ENV...]
    t=$1
    shift
    log="$out/$t${1:+-$(echo "$1" | tr '=/' '--')}.log"
    echo "== $t ${*:-(default kernels)}"
    env "$@" "build/gpu-tests/$t" >"$log" 2>&1 || status=1
    grep -E '^\[  (PASSED|FAILED)' "$log"
}
run_test test_parity_ssm_typed
run_test test_parity_typed
for mode in mma wgmma-atomic; do
    run_test test_parity_typed HNET_CUDA_ATTENTION=$mode
done
run_test test_parity_model

echo "== hnet bench --op ssd (tensor-core kernels), M1's and H1's heads"
$HNET bench --op ssd --seqs 8x8192 --heads 24 --kernels mma || status=1
$HNET bench --op ssd --seqs 8x8192 --heads 16 --kernels mma || status=1
echo "logs: $out"
exit $status
