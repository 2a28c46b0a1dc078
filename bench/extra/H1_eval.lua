-- H1 of BENCH.md, trained 2 steps and checkpointed, for timing `hnet eval` against the
-- training step (issue: evaluation at >= 5x the training step's bytes/s):
--   hnet run bench/extra/H1_eval.lua --db /tmp/e.db
--   hnet eval /tmp/h1-eval/bench-H1-eval --data english:valid --bytes 1000000 --device cuda --batch 8
local h1 = dofile("bench/H1.lua")
return h1:with {
  name = "bench-H1-eval",
  train = { steps = 2 },
  checkpoint = { every = 2, dir = "/tmp/h1-eval" },
}
