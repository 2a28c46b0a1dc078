-- BENCH.md M1: MambaByte. hnet bench bench/M1.lua
return experiment {
  name  = "bench-M1",
  data  = corpus { "english", seq_len = 8192 },
  model = isotropic {
    layout = "M12",
    d      = 768,
    mlp    = 2048,
    mamba2 = { d_state = 64, headdim = 64, expand = 2, d_conv = 4, chunk_size = 256 },
  },
  train = { batch = 8, weight_decay = 0.1 },
  backend = "cuda",
}
