-- Not a BENCH.md config: I2 with every MLP an 8-expert top-2 MoE (hidden 1024 each, so
-- active MLP FLOPs equal I2's 2048-wide SwiGLU), to time the device-side routing and
-- dispatch. hnet bench bench/extra/E1.lua
return experiment {
  name  = "bench-E1",
  data  = corpus { "english", seq_len = 8192 },
  model = isotropic {
    layout    = "E12",
    d         = 768,
    moe       = { experts = 8, top_k = 2, hidden = 1024 },
    attention = { window = 1023, rotary_dim = 32 },
  },
  train = { batch = 8, weight_decay = 0.1 },
  backend = "cuda",
}
