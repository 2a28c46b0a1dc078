# The cuda conv1d window kernels' indexing (and their lean form's, HNET_CUDA_CONV=lean, and
# lean2's ring backward with its copies done late or early), run on the host against a direct convolution
# (tests/emu/conv_window_emu.cc): packed sequences of 1 to 1000 positions, widths 1 to 8,
# one and four channels a thread, channel counts that leave blocks partly empty.
. tests/e2e/lib.sh
CXX=${CXX:-c++}
$CXX -std=c++20 -O1 -Wall -Iruntime -o "$TMP/conv_window_emu" tests/emu/conv_window_emu.cc -pthread \
    >"$TMP/cc" 2>&1 || { cat "$TMP/cc"; fail "tests/emu/conv_window_emu.cc does not compile"; }
"$TMP/conv_window_emu" >"$TMP/emu" 2>&1 || { cat "$TMP/emu"; fail "the conv window kernels differ from the direct convolution"; }
cat "$TMP/emu"
echo "ok: $(grep -c '^ok' "$TMP/emu") conv window cases match on the host"
