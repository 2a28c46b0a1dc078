# Prepared in session 10, not run (no device time left): lean4's conv1d forward (bf16 x and out) against lean3's (lean's forward), checked against the cpu;
# whole M1 and H1 steps with lean4 against lean3 (the same backward, lean's forward).
set -u
H=build/hnet
for t in test_parity_ssm_typed test_parity_model; do printf '== %s: ' $t; timeout 40 build/gpu-tests/$t 2>&1 | grep -E '^\[  (PASSED|FAILED)|FAILED|conv' | tr '\n' ' '; echo; done
for ch in 1152 1664; do timeout 25 $H bench --op conv1d --seqs 8x8192 --channels $ch --width 4 --kernels lean3-bf16,lean4-bf16,lean3-bf16,lean4-bf16 --reps 10 2>&1 | grep -E 'forward|err|\|---' | head -8; done
for cfg in M1 H1; do for m in lean4 lean3; do
  f=""; [ $cfg = H1 ] && f="--routing targets"
  printf '%s %s: ' $cfg $m; HNET_CUDA_CONV=$m timeout 25 $H bench bench/$cfg.lua --device cuda --steps 10 $f 2>&1 | grep -E 'ms/step' | tr -s ' ' | tr '\n' ' '; echo
done; done
