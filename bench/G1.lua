-- BENCH.md G1: GPT-2-small shape on bytes (64 x 1024). hnet bench bench/G1.lua
return experiment {
  name  = "bench-G1",
  data  = corpus { "english", seq_len = 1024 },
  model = isotropic {
    layout    = "T12",
    d         = 768,
    mlp       = 3072,
    attention = { window = "global", rotary_dim = 32 },
  },
  train = { batch = 64, weight_decay = 0.1 },
  backend = "cuda",
}
