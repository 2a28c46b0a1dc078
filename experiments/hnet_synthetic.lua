-- A small 2-stage H-Net on the built-in synthetic language, whose word boundaries are
-- known: validation logs boundary_precision / boundary_recall of stage 0 against the
-- word starts, next to each stage's compression (train stage<s>.compression).
-- The synthetic words average about 4.1 letters plus a space, so N = (2, 2.5) asks the
-- outer stage for roughly syllables and the inner one for about words.
return experiment {
  name  = "hnet-synthetic",
  data  = corpus { synthetic = { seed = 1 }, seq_len = 256 },
  model = hnet {
    layout  = { "m2", { "T1m2", { "T2" }, "m2T1" }, "m2" },
    d       = { 64, 64, 96 },
    mlp     = { 0, 192, 288 },
    chunker = dc { ratio = { 2, 2.5 } },
    mamba2  = { d_state = 16, headdim = 32, chunk_size = 64 },
    attention = { window = { 63, 63, "global" } },
  },
  train = { batch = 8, steps = 600, lr = 3e-3 },
  eval  = { every = 50, bytes = 16384 },
  seed  = 1,
}
