#!/bin/sh
# Builds here, then runs the CUDA parity tests, the BENCH.md benchmarks and a short GPU
# training run on a GPU machine, in one call.
#
#   sh scripts/gpu-check.sh prepare        # here: make, make gpu-tests, pack the shared
#                                          # libraries and corpora the GPU machine lacks
#   sh scripts/gpu-check.sh device [WHAT]  # there, from the repository root; WHAT is any
#                                          # of tests bench train generate (default:
#                                          # tests bench train); tests: build/gpu-tests/*
#                                          # and tests/gpu/test_*.sh
#   sh scripts/gpu-check.sh device exec CMD [ARGS]   # there: CMD with the carried
#                                          # libraries and corpora set up, e.g.
#                                          # exec build/hnet bench --op attention
#   sh scripts/gpu-check.sh device exec build/hnet bench bench/H1.lua --device cuda --routing targets --timeline
#                                          # one step recorded with CUPTI: device busy and
#                                          # idle time, the longest idle gaps and the host's
#                                          # phase in each, device time per kernel
#
# `prepare` leaves .gpu-build/ (stripped binaries and plugins: what the device needs of
# build/, small enough for the 64 MiB a call carries), .gpu-libs/ and .gpu-data/ (all
# ignored by git) for the call to carry: carry=[".gpu-build", ".gpu-libs", ".gpu-data"]. On the device, outputs go to $OUT (or ./gpu-out): test logs, bench rows,
# the training run's results.db.
# Environment: BENCH_STEPS (default 10), BENCH_WARMUP (2), BENCH_CONFIGS (I1 I2 G1 M1 H1
# H2), BENCH_TIMEOUT (150 s each), BENCH_FLAGS (e.g. --profile, or --timeline: each
# config's timeline row goes to bench.md's last table), BENCH_FLAGS_<config>
# (e.g. BENCH_FLAGS_M1="--batch 4"), TRAIN_SECONDS (240), TRAIN_FILE
# (experiments/gpu/hnet_2stage_gpu.lua).
set -u
mode=${1:-}
shift 2>/dev/null || true

if [ "$mode" = prepare ]; then
    set -e
    make -j"$(nproc)" CUDA=1 all gpu-tests
    rm -rf .gpu-libs .gpu-data .gpu-build && mkdir -p .gpu-libs .gpu-data .gpu-build
    cp -r build/hnet build/gpu-tests build/gpu-sdk build/layers build/plugins .gpu-build/
    rm -rf .gpu-build/gpu-sdk/include .gpu-build/gpu-sdk/lib/pkgconfig
    find .gpu-build -type f \( -name '*.so' -o -perm -u+x \) ! -name '*.sh' -exec strip {} +
    # hnet and each test binary link the whole runtime and its kernels (~11-14 MB
    # stripped): a dictionary larger than the whole set lets xz store the shared part once
    # (hnet and the tests in ~6 MB, not 20 + 44); gpu-sdk is the install the template's
    # plugin was built against (test_sdk_cuda.sh)
    tar cf - -C .gpu-build hnet gpu-tests gpu-sdk | xz -T1 --lzma2=preset=6,dict=192MiB \
        > .gpu-build/bin.tar.xz &&
        rm -rf .gpu-build/hnet .gpu-build/gpu-tests .gpu-build/gpu-sdk
    for b in build/hnet $(find build/gpu-tests -type f); do ldd "$b"; done | awk '/=>/ {print $3}' | sort -u |
        grep -vE 'libc\.so|libm\.so|libdl|libpthread|librt|ld-linux|libcublas|libcudart|libcuda\.' |
        while read -r lib; do cp -L "$lib" .gpu-libs/; done
    (cd .gpu-libs && tar cJf ../.gpu-libs.tar.xz ./*.so* && rm -f ./*.so* && mv ../.gpu-libs.tar.xz libs.tar.xz)
    data=${HNET_DATA_DIR:-../shared/data}
    for f in english.txt.gz tinyshakespeare.txt fineweb-edu-sample.txt.gz SHA256SUMS; do
        [ -e "$data/$f" ] && cp "$data/$f" .gpu-data/
    done
    for d in .gpu-libs .gpu-data .gpu-build; do
        grep -qx "/$d/" .git/info/exclude 2>/dev/null || echo "/$d/" >> .git/info/exclude
    done
    du -sh .gpu-build .gpu-libs .gpu-data
    # libcupti (hnet bench --timeline) is among the carried libraries: ldd lists it
    ldd build/hnet | grep -q libcupti && ! tar tJf .gpu-libs/libs.tar.xz | grep -q libcupti &&
        { echo "gpu-check prepare: build/hnet needs libcupti but it was not packed" >&2; exit 1; }
    # a call carries at most 64 MiB: the tree (tracked and unignored files) and these three
    tree=$(git ls-files -co --exclude-standard -z | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
    packed=$(du -cb .gpu-build .gpu-libs .gpu-data | tail -1 | cut -f1)
    mib=$(( (tree + packed) / 1048576 ))
    echo "carried in all: $mib MiB of the 64 a call takes"
    [ "$mib" -lt 64 ] || { echo "gpu-check prepare: $mib MiB is more than a call carries (64 MiB)" >&2; exit 1; }
    exit 0
fi

if [ "$mode" != device ]; then
    echo "usage: sh scripts/gpu-check.sh prepare | device [tests] [bench] [train] [generate]" >&2
    exit 2
fi

what=${*:-tests bench train}
# the stripped build carried from `prepare`, where the tree has no build of its own
if [ -d .gpu-build ] && [ ! -x build/hnet ]; then
    mkdir -p build && cp -r .gpu-build/. build/
    [ -f build/bin.tar.xz ] && tar xJf build/bin.tar.xz -C build && rm build/bin.tar.xz
fi
final=${OUT:-gpu-out}
out=/tmp/gpu-check-logs   # everything; bench.md, the run's db and a tarball of the rest go to $final
rm -rf "$out" && mkdir -p "$out" "$final" /tmp/gpu-libs
tar xJf .gpu-libs/libs.tar.xz -C /tmp/gpu-libs
# only what the system lacks: the machine's own copies win
missing=/tmp/gpu-libs-missing
mkdir -p $missing
for f in /tmp/gpu-libs/*; do
    n=$(basename "$f")
    ldconfig -p | grep -q "$n" || cp "$f" $missing/
done
export LD_LIBRARY_PATH=$missing${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# cuDNN (HNET_CUDA_ATTENTION=cudnn opens libcudnn.so.9 at first use): the machine's image
# has PyTorch's copy only; libcudnn opens its parts by name, so its folder goes on the path
if ! ldconfig -p | grep -q libcudnn.so.9; then
    for d in /opt/torch/.venv/lib/python3*/site-packages/nvidia/cudnn/lib; do
        [ -e "$d/libcudnn.so.9" ] && export LD_LIBRARY_PATH=$LD_LIBRARY_PATH:$d
    done
fi
export HNET_DATA_DIR=$PWD/.gpu-data
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv | tee "$out/device.txt"
echo "carried libraries used: $(ls $missing | tr '\n' ' ')" | tee -a "$out/device.txt"
ldd build/hnet | grep 'not found' | tee -a "$out/device.txt"
status=0

if [ "${1:-}" = exec ]; then
    shift
    "$@"
    exit $?
fi

case " $what " in *" tests "*)
    for t in build/gpu-tests/test_*; do
        echo "== $t"
        "$t" > "$out/$(basename "$t").log" 2>&1
        rc=$?
        grep -E '^\[ *(OK|FAILED|PASSED|ERROR) *\]|rel err|loss|gradients|parameters|stage' "$out/$(basename "$t").log" | grep -vE 'e-0[5-9]|e-1[0-9]|e-[2-9][0-9]' | head -40
        grep -E '^\[  (PASSED|FAILED)' "$out/$(basename "$t").log"
        [ $rc -eq 0 ] || status=1
    done
    # the mma.sync attention kernels (what other GPUs than the H200's 9.0 run) and the
    # warpgroup backward that adds dQ by atomics as well
    for mode in mma wgmma-atomic; do
        for t in test_parity_ops test_parity_typed test_parity_model; do
            echo "== $t with HNET_CUDA_ATTENTION=$mode"
            HNET_CUDA_ATTENTION=$mode "build/gpu-tests/$t" > "$out/$t-$mode.log" 2>&1 || status=1
            grep -E '^\[  (PASSED|FAILED)|rel err' "$out/$t-$mode.log" | grep -vE 'e-0[5-9]|e-1[0-9]' | head -12
        done
    done
    # the products through cublasGemmEx (the default is cuBLASLt tuned per shape;
    # test_parity_matmul_lt covers each way of the product itself)
    echo "== test_parity_typed with HNET_CUDA_MATMUL_ALGO=gemmex"
    HNET_CUDA_MATMUL_ALGO=gemmex build/gpu-tests/test_parity_typed > "$out/test_parity_typed-gemmex.log" 2>&1 || status=1
    grep -E '^\[  (PASSED|FAILED)' "$out/test_parity_typed-gemmex.log"
    # whole models on the kernels that are not the default: the former defaults (gemmex,
    # the lean conv, float32 xbc, the EMA one thread a column, the old rope) and the opt-in ones
    # (atomic dQ, the rows norms)
    for t in test_parity_model test_memory_again test_eval_inference; do
        echo "== $t with the kernels that are not the default"
        HNET_CUDA_ATTENTION=wgmma-atomic HNET_CUDA_NORM=rows HNET_CUDA_MATMUL_ALGO=gemmex \
            HNET_CUDA_CONV=lean HNET_CUDA_XBC=fp32 HNET_CUDA_EMA=column HNET_CUDA_ROPE=old "build/gpu-tests/$t" > "$out/$t-new.log" 2>&1 || status=1
        grep -E '^\[  (PASSED|FAILED)|rel err' "$out/$t-new.log" | grep -vE 'e-0[5-9]|e-1[0-9]' | head -12
    done
    # whole models on the EMA in segments (test_parity_ops covers the op itself)
    echo "== test_parity_model with HNET_CUDA_EMA=segments"
    HNET_CUDA_EMA=segments build/gpu-tests/test_parity_model > "$out/test_parity_model-ema-segments.log" 2>&1 || status=1
    grep -E '^\[  (PASSED|FAILED)|rel err' "$out/test_parity_model-ema-segments.log" | grep -vE 'e-0[5-9]|e-1[0-9]' | head -12
    # shell tests of whole runs (NCCL): exit 77 is a skip, its reason printed
    for t in tests/gpu/test_*.sh; do
        echo "== $t"
        sh "$t" > "$out/$(basename "$t").log" 2>&1
        rc=$?
        grep -E '^(ok|FAIL|SKIP|note):' "$out/$(basename "$t").log"
        [ $rc -eq 0 ] || [ $rc -eq 77 ] || { status=1; tail -20 "$out/$(basename "$t").log"; }
    done ;;
esac

case " $what " in *" bench "*)
    steps=${BENCH_STEPS:-10}
    warm=${BENCH_WARMUP:-2}
    echo "| config | device | batch | ms/step | bytes/s | GFLOPs/byte | MFU | peak MiB | fwd / bwd / opt ms | compression |" > "$out/bench.md"
    echo "|---|---|---|---|---|---|---|---|---|---|" >> "$out/bench.md"
    for c in ${BENCH_CONFIGS:-I1 I2 G1 M1 H1 H2}; do
        echo "== bench $c"
        extra=$(eval echo "\${BENCH_FLAGS_$c:-}")
        timeout ${BENCH_TIMEOUT:-150} build/hnet bench "bench/$c.lua" --device cuda ${BENCH_FLAGS:-} $extra --steps "$steps" --warmup "$warm" --md "$c" > "$out/bench-$c.log" 2>&1 || { echo "bench $c FAILED (see bench-$c.log)"; status=1; }
        cat "$out/bench-$c.log" | grep -v '^|' | grep -v '^  step'
        grep '^|' "$out/bench-$c.log" | grep -vE ' (split|timeline) \|' >> "$out/bench.md"
        grep '^| .* split |' "$out/bench-$c.log" >> "$out/split.md"
        grep '^| .* timeline |' "$out/bench-$c.log" >> "$out/timeline.md"
    done
    echo "| config | encoder | chunking | main | dechunking | decoder | embedding+head+loss | optimizer | total ms |" >> "$out/bench.md"
    echo "|---|---|---|---|---|---|---|---|---|" >> "$out/bench.md"
    cat "$out/split.md" >> "$out/bench.md"
    if [ -s "$out/timeline.md" ]; then # BENCH_FLAGS=--timeline
        echo "| config | host ms | device window ms | device busy ms | idle % of step | idle % of window | gaps | longest gap us | top kernel (share) |" >> "$out/bench.md"
        echo "|---|---|---|---|---|---|---|---|---|" >> "$out/bench.md"
        cat "$out/timeline.md" >> "$out/bench.md"
    fi
    cat "$out/bench.md" ;;
esac

case " $what " in *" generate "*)
    # generation (hnet sample --bench): random weights, batch 1 and 64, the H-Net and the
    # isotropic model of BENCH.md; bytes/s and per-stage fractions into generate.md
    gbytes=${GEN_BYTES:-256}
    echo "| config | batch | ms/step | bytes/s (all sequences) | stages |" > "$out/generate.md"
    echo "|---|---|---|---|---|" >> "$out/generate.md"
    for c in ${GEN_CONFIGS:-H1 I1}; do
        for n in 1 64; do
            echo "== generate $c batch $n"
            log="$out/generate-$c-$n.log"
            timeout ${BENCH_TIMEOUT:-150} build/hnet sample "bench/$c.lua" --device cuda --bench --batch "$n" --bytes "$gbytes" --prompt "The " > "$log" 2>&1 || { echo "generate $c batch $n FAILED (see $(basename "$log"))"; status=1; }
            cat "$log"
            ms=$(sed -n 's/^bench: .*: \([0-9.]*\) ms per step.*/\1/p' "$log")
            bps=$(sed -n 's/.*generation: .*, \([0-9]*\) bytes\/s$/\1/p' "$log")
            st=$(sed -n 's/^positions reaching each stage: //p' "$log")
            echo "| $c | $n | $ms | $bps | $st |" >> "$out/generate.md"
        done
    done
    cat "$out/generate.md" ;;
esac

case " $what " in *" train "*)
    secs=${TRAIN_SECONDS:-240}
    file=${TRAIN_FILE:-experiments/gpu/hnet_2stage_gpu.lua}
    echo "== train $file for ${secs}s"
    rm -f /tmp/gpu-train.db
    timeout -s INT "$secs" build/hnet run "$file" --device cuda --db /tmp/gpu-train.db --quiet > "$out/train.log" 2>&1
    tail -5 "$out/train.log"
    cp /tmp/gpu-train.db "$out/gpu-train.db" 2>/dev/null
    build/hnet show --db /tmp/gpu-train.db 2>&1 | tail -5 ;;
esac
for f in bench.md generate.md device.txt gpu-train.db train.log; do [ -e "$out/$f" ] && cp "$out/$f" "$final/"; done
tar czf "$final/logs.tgz" -C "$out" .
exit $status
