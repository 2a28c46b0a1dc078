-- A 1-stage H-Net small enough for a CPU-vs-CUDA parity step (tests/gpu).
return experiment {
  name  = "parity-hnet1",
  data  = corpus { synthetic = { seed = 1 }, seq_len = 96 },
  model = hnet {
    layout  = { "m1", { "T2" }, "m1" },
    d       = { 64, 96 },
    mlp     = { 0, 192 },
    chunker = dc { ratio = { 3 } },
    mamba2  = { d_state = 32, headdim = 16, chunk_size = 32 },
    attention = { window = { 31, "global" } },
  },
  backend = "cuda",
}
