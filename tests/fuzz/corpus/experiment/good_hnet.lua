-- The 2-stage H-Net of the design notes (3 nested networks).
return experiment {
  name  = "hnet-2stage-S",
  data  = corpus { "tinyshakespeare", seq_len = 1024 },
  model = hnet {
    layout    = { "m4", { "T1m4", { "T8" }, "m4T1" }, "m4" },
    d         = { 512, 512, 768 },
    mlp       = { 0, 1536, 2048 },
    chunker   = dc { ratio = { 3, 3 } },
    mamba2    = { d_state = 64, headdim = 32 },
    attention = { heads = { 8, 8, 12 }, window = { 1023, 1023, "global" } },
  },
  train = { batch = 8, steps = 2000, lr = 6.25e-4, schedule = wsd { warmup = 0.1, decay = 0.2 },
            lr_multipliers = { 2, 1.5, 1 } },
  eval  = { every = 100, bytes = 1e6 },
  seed  = 7,
}
