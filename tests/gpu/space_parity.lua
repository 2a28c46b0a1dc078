-- The space chunker (SpaceByte boundaries): a CPU-vs-CUDA parity step.
return experiment {
  name  = "parity-space",
  data  = corpus { synthetic = { seed = 1 }, seq_len = 96 },
  model = hnet {
    layout  = { "T1", { "T2" }, "T1" },
    d       = { 64, 96 },
    mlp     = { 192, 192 },
    chunker = space {},
    attention = { window = { 15, "global" } },
  },
  backend = "cuda",
}
