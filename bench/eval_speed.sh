#!/bin/sh
# Evaluation against the training step on the H1 model (issue #19: hnet eval of 1 MB at
# >= 5x the training step's bytes/s), on one GPU:
#   sh bench/eval_speed.sh [BYTES]      (default 4000000; 1 MB is four forwards at batch 32)
# A checkpoint of H1 after 2 steps (its router untrained, so the evaluation holds the
# boundaries at the ratio target, as hnet bench --routing targets times the step);
# then the step and the evaluation at batch 8 and 32. Compare "bytes/s after the first
# forward" (and the overall bytes/s) with the step's bytes/s.
set -eu
BYTES=${1:-4000000}
HNET=${HNET:-build/hnet}
DIR=$(mktemp -d /tmp/eval_speed.XXXXXX)
sed 's|^  backend = "cuda",|  backend = "cuda",\n  checkpoint = { every = 2, dir = "'"$DIR"'/ck" },\n  eval = { every = 1000000 },|' \
    bench/H1.lua >"$DIR/H1.lua"
$HNET run "$DIR/H1.lua" --steps 2 --db "$DIR/r.db" --quiet
$HNET bench bench/H1.lua --device cuda --routing targets
CKPT=$(ls -d "$DIR"/ck/bench-H1* | head -1) # the run's folder: bench-H1@<config hash>
for B in 8 32; do
    $HNET eval "$CKPT" --data english:valid --device cuda --batch "$B" --bytes "$BYTES" \
        --routing targets
done
# op by op (each op waited for): the evaluation's forwards against a training step's
$HNET eval "$CKPT" --data english:valid --device cuda --batch 8 --bytes "$BYTES" --routing targets \
    --profile
$HNET bench bench/H1.lua --device cuda --routing targets --steps 3 --profile
# the evaluation as the device ran it: where the first forward's one-time costs go
$HNET eval "$CKPT" --data english:valid --device cuda --batch 8 --bytes "$BYTES" --routing targets \
    --timeline
echo "(files in $DIR)"
