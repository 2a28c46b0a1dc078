-- The scaled-down 2-stage H-Net of the paper line-up (experiments/paper/hnet_2stage.lua),
-- wider and on longer sequences, trained on the cuda backend on the English books corpus
-- (70 MB): the GPU training run of scripts/gpu-check.sh (a few minutes on an H100).
return experiment {
  name  = "hnet-2stage-gpu",
  data  = corpus { "english", seq_len = 1024 },
  model = hnet {
    layout  = { "m2", { "T1m2", { "T4" }, "m2T1" }, "m2" },
    d       = { 256, 256, 384 },
    mlp     = { 0, 768, 1024 },
    chunker = dc { ratio = { 3, 3 } },
    mamba2  = { d_state = 64, headdim = 64, chunk_size = 256 },
    attention = { window = { 255, 255, "global" } },
  },
  train = { batch = 16, steps = 4000, lr = 2e-3, schedule = wsd { warmup = 0.05, decay = 0.2 } },
  eval  = { every = 100, bytes = 262144 },
  log   = { every = 10 },
  seed  = 1,
  backend = "cuda",
}
