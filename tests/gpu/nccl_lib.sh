# Helpers of the NCCL tests (tests/gpu/test_nccl_*.sh; sourced after tests/e2e/lib.sh):
# a free TCP port for MASTER_PORT, the curve comparison, the GPUs present.
command -v python3 >/dev/null 2>&1 || fail "python3 is missing (the curves are compared with its sqlite3)"
$HNET --version | grep -q "data parallel on GPUs: NCCL" || fail "$HNET was built without CUDA (make CUDA=1)"
# the small 2-stage H-Net of the CPU data-parallel tests, on the GPU
LUA=tests/e2e/fixtures/dist_hnet.lua
export HNET_DIST_CKPT="$TMP/ck"
export HNET_DIST_TIMEOUT=${HNET_DIST_TIMEOUT:-120}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])'
}

gpus() {
    nvidia-smi -L 2>/dev/null | grep -c '^GPU'
}

# same_curve A.db B.db TOL WHAT: fails unless the BPB curves agree within TOL relative
same_curve() {
    python3 tests/gpu/compare_curves.py "$1" "$2" "$3" >"$TMP/cmp" 2>&1 || { cat "$TMP/cmp"; fail "$4: $(cat "$TMP/cmp")"; }
    echo "ok: $4: $(cat "$TMP/cmp")"
}
