# Session 11, first call: lean4's conv1d (prepared in session 10) against lean3; the
# reference's attention rates (torch SDPA: cuDNN and FlashAttention-2) beside hnet's own,
# same call, to decide whether cuDNN's fused attention is worth taking (issue #16's second
# route).
set -u
sh bench/session10_last.sh
echo "== hnet attention (same call)"
build/hnet bench --op attention --kernels wgmma 2>&1 | grep -E 'TFLOP|wgmma|err' | head -6
build/hnet bench --op attention --kernels wgmma --seqs 8x1366 --heads 16 2>&1 | grep -E 'TFLOP|wgmma|err' | head -6
