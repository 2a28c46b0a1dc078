-- BENCH.md I2: LlamaByte-SWA. hnet bench bench/I2.lua
return experiment {
  name  = "bench-I2",
  data  = corpus { "english", seq_len = 8192 },
  model = isotropic {
    layout    = "T12",
    d         = 768,
    mlp       = 2048,
    attention = { window = 1023, rotary_dim = 32 },
  },
  train = { batch = 8, weight_decay = 0.1 },
  backend = "cuda",
}
