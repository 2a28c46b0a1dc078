# Sourced by the bench/session*.sh scripts: one `hnet bench` row of a BENCH.md config.
#   row LABEL CFG [VAR=VALUE ...]   the config's ms/step (and what ROW_GREP adds) on one
#                                   line after LABEL, through the caller's `log`; H1 and H2
#                                   at --routing targets. ROW_STEPS (20), ROW_TIMEOUT (90).
row() {
    label=$1 cfg=$2
    shift 2
    flags=""
    case $cfg in H1 | H2) flags="--routing targets" ;; esac
    printf '%s: ' "$label" | log
    env "$@" timeout "${ROW_TIMEOUT:-90}" ${HNET:-build/hnet} bench "bench/$cfg.lua" --device cuda \
        --steps "${ROW_STEPS:-20}" $flags 2>&1 |
        grep -E "${ROW_GREP:-ms/step}" | tr -s ' ' | tr '\n' ' ' | log
    echo | log
}
