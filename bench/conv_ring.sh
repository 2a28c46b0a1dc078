# The conv1d backward through a shared-memory ring (ssm_conv_ring.cuh) against lean's, on
# the GPU machine in one call (under 10 minutes):
#   lean    HNET_CUDA_CONV=lean (the default): the next 2 rows in registers
#   lean2   the rows of x and dout through a per-thread cp.async ring, 6 rows in flight
#   lean3   lean2 with a bf16 x and dx fixed at compile time and branch-free clean batches
#           (~29 SASS instructions an element against lean2's ~78)
# The forward is lean's in all three.
#
#   sh scripts/gpu-check.sh prepare                                  # here (CUDA=1)
#   sh scripts/gpu-check.sh device exec sh bench/conv_ring.sh         # there
#
# tests: test_parity_ssm_typed (the typed conv cases under every mode, bf16 x / dx / out /
#        dout at 1152 and 1664 channels, each mode shown taken) and test_parity_ops (the
#        v1 float32 conv under every mode);
# op:    `hnet bench --op conv1d` at H1's 1152 and M1's 1664 channels, 8 x 8192, width 4:
#        lean, lean2, lean3 with a float32 dout, then with a bf16 one (-bf16: the layer's
#        default, HNET_CUDA_XBC=bf16), twice alternated, each checked against the cpu.
# Logs in $OUT (or ./gpu-out)/conv_ring/; exit 1 when a test or a bench check fails.
set -u
HNET=${HNET:-build/hnet}
T=build/gpu-tests
LOG=${OUT:-gpu-out}/conv_ring
mkdir -p "$LOG"
what=${1:-tests op}
status=0
KERNELS=${KERNELS:-lean,lean2,lean3,lean-bf16,lean2-bf16,lean3-bf16,lean,lean2,lean3,lean-bf16,lean2-bf16,lean3-bf16}

case " $what " in *" tests "*)
    for t in test_parity_ssm_typed test_parity_ops; do
        timeout 300 "$T/$t" > "$LOG/$t.log" 2>&1
        rc=$?
        echo "== $t: exit $rc"
        grep -E '^\[  (PASSED|FAILED)' "$LOG/$t.log"
        [ $rc -eq 0 ] || { status=1; grep -E 'FAIL|rel|err' "$LOG/$t.log" | tail -15; }
    done ;;
esac

case " $what " in *" op "*)
    for C in 1152 1664; do
        timeout 200 "$HNET" bench --op conv1d --seqs 8x8192 --channels $C --width 4 --kernels "$KERNELS" \
            > "$LOG/op-$C.md" 2>&1 || status=1
        cat "$LOG/op-$C.md"
    done ;;
esac
exit $status
