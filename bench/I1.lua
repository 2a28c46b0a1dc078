-- BENCH.md I1: LlamaByte-global. hnet bench bench/I1.lua
return experiment {
  name  = "bench-I1",
  data  = corpus { "english", seq_len = 8192 },
  model = isotropic {
    layout    = "T12",
    d         = 768,
    mlp       = 2048,
    attention = { window = "global", rotary_dim = 32 },
  },
  train = { batch = 8, weight_decay = 0.1 },
  backend = "cuda",
}
