# Session 11's last call: the attention op with the gradients as the layer now takes them
# (bf16 written by cuDNN's backward where AUTO sends it there; float32 for wgmma).
set -u
for args in "" "--window 1023" "--seqs 8x1366 --heads 16" "--seqs 64x1024"; do
    echo "-- attention $args"
    build/hnet bench --op attention --kernels auto,wgmma $args 2>&1 | grep -E '^\| [a-z]|bf16|cudnn'
done
