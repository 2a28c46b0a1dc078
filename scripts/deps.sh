#!/bin/sh
# Checks the system packages hnet builds against (with --tests: also those its tests
# use) and installs the missing ones with apt-get when running as root; otherwise prints
# the exact install line and fails.
set -u
need=""
has_pc() { pkg-config --exists "$1" 2>/dev/null; }
command -v pkg-config >/dev/null 2>&1 || need="$need pkg-config"
{ command -v cc && command -v make; } >/dev/null 2>&1 || need="$need build-essential"
has_pc lua5.4   || need="$need liblua5.4-dev"
has_pc sqlite3  || need="$need libsqlite3-dev"
has_pc openblas || need="$need libopenblas-dev"
has_pc libcjson || need="$need libcjson-dev"
has_pc cmocka   || need="$need libcmocka-dev"
has_pc zlib     || need="$need zlib1g-dev"
has_pc libcurl  || need="$need libcurl4-openssl-dev"
has_pc libcrypto || need="$need libssl-dev"
has_pc cairo    || need="$need libcairo2-dev"
has_pc libpcre2-8 || need="$need libpcre2-dev"
# Open MPI: data-parallel training (mpirun -np N hnet run FILE) and its tests
has_pc ompi-c   || need="$need libopenmpi-dev"
command -v mpirun >/dev/null 2>&1 || need="$need openmpi-bin"
# SentencePiece tokenizers (runtime/data/sentencepiece.cc; C++, so a C++ compiler too)
has_pc sentencepiece || need="$need libsentencepiece-dev"
command -v c++ >/dev/null 2>&1 || need="$need g++"
# figures (hnet plot / report) draw their text in DejaVu Sans
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need="$need fonts-dejavu-core"
command -v sqlite3 >/dev/null 2>&1 || need="$need sqlite3"
# `deps.sh --tests`: what only the tests need — python3 for the local HTTP servers they
# start (fetch, dashboard uploads) and to craft checkpoints, chromium to check that
# reports render, clang for the libFuzzer targets (tests/fuzz/), Slurm (slurmctld,
# slurmd, sbatch; munge comes with it) for the one-node cluster hnet suite --slurm is
# tested on (tests/e2e/slurm_lib.sh)
if [ "${1:-}" = "--tests" ]; then
    command -v python3 >/dev/null 2>&1 || need="$need python3"
    command -v curl >/dev/null 2>&1 || need="$need curl" # test_upload.sh talks to its fake server
    command -v clang >/dev/null 2>&1 || need="$need clang"
    # clang's sanitizer and libFuzzer runtimes: only a Recommends of clang, so a
    # --no-install-recommends install (below) lacks them and the fuzz build cannot link
    [ -f "$(clang --print-runtime-dir 2>/dev/null)/libclang_rt.fuzzer-$(uname -m).a" ] ||
        need="$need libclang-rt-dev"
    command -v chromium >/dev/null 2>&1 || need="$need chromium"
    { command -v slurmctld && command -v slurmd && command -v sbatch; } >/dev/null 2>&1 ||
        need="$need slurm-wlm"
    command -v munged >/dev/null 2>&1 || need="$need munge"
fi
[ -z "$need" ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "hnet: installing system packages:$need"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends $need >/dev/null || {
        echo "hnet: apt-get install failed for:$need" >&2
        exit 1
    }
    exit 0
fi
echo "hnet: missing system packages. Install them with:" >&2
echo "    sudo apt-get install -y$need" >&2
exit 1
