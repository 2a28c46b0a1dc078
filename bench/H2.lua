-- BENCH.md H2: H-Net 2-stage. hnet bench bench/H2.lua
return experiment {
  name  = "bench-H2",
  data  = corpus { "english", seq_len = 8192 },
  model = hnet {
    layout  = { "m4", { "T1m4", { "T8" }, "m4T1" }, "m4" },
    d       = { 512, 512, 768 },
    mlp     = { 0, 1536, 2048 },
    chunker = dc { ratio = { 3, 3 } },
    mamba2  = { d_state = 64, headdim = 64, expand = 2, d_conv = 4, chunk_size = 256 },
    attention = { window = { 1023, 1023, "global" }, rotary_dim = 32 },
  },
  train = { batch = 8, weight_decay = 0.1 },
  backend = "cuda",
}
