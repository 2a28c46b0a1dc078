-- dc ablations (linear routing, no STE, mean pooling) around an MoE main network: a
-- CPU-vs-CUDA parity step (tests/gpu).
return experiment {
  name  = "parity-dc-variants",
  data  = corpus { synthetic = { seed = 1 }, seq_len = 96 },
  model = hnet {
    layout  = { "m1", { "E2" }, "m1" },
    d       = { 64, 96 },
    mlp     = { 0, 192 },
    moe     = { experts = 4, top_k = 2, hidden = 64 },
    chunker = dc { ratio = { 3 }, routing = "linear", ste = false, downsample = "mean" },
    mamba2  = { d_state = 32, headdim = 16, chunk_size = 32 },
    attention = { window = { 31, "global" } },
  },
  backend = "cuda",
}
