-- BENCH.md H1: H-Net 1-stage. hnet bench bench/H1.lua
return experiment {
  name  = "bench-H1",
  data  = corpus { "english", seq_len = 8192 },
  model = hnet {
    layout  = { "m4", { "T8" }, "m4" },
    d       = { 512, 768 },
    mlp     = { 0, 2048 },
    chunker = dc { ratio = { 6 } },
    mamba2  = { d_state = 64, headdim = 64, expand = 2, d_conv = 4, chunk_size = 256 },
    attention = { window = { 1023, "global" }, rotary_dim = 32 },
  },
  train = { batch = 8, weight_decay = 0.1 },
  backend = "cuda",
}
