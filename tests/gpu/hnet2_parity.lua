-- A 2-stage H-Net small enough for a CPU-vs-CUDA parity step (tests/gpu).
return experiment {
  name  = "parity-hnet2",
  data  = corpus { synthetic = { seed = 1 }, seq_len = 96 },
  model = hnet {
    layout  = { "m1", { "T1m1", { "T2" }, "m1T1" }, "m1" },
    d       = { 48, 64, 96 },
    mlp     = { 0, 128, 192 },
    chunker = dc { ratio = { 2, 2 } },
    mamba2  = { d_state = 32, headdim = 16, chunk_size = 16 },
    attention = { window = { 15, 15, "global" } },
  },
  backend = "cuda",
}
