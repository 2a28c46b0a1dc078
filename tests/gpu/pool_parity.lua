-- The pool chunker (fixed-size chunks) with max pooling: a CPU-vs-CUDA parity step.
return experiment {
  name  = "parity-pool",
  data  = corpus { synthetic = { seed = 1 }, seq_len = 96 },
  model = hnet {
    layout  = { "m1", { "T2" }, "m1" },
    d       = { 64, 96 },
    mlp     = { 0, 192 },
    chunker = pool { k = 4, downsample = "max" },
    mamba2  = { d_state = 16, headdim = 16, chunk_size = 16 },
  },
  backend = "cuda",
}
