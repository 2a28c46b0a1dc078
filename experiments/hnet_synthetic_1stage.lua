-- A small 1-stage H-Net on the synthetic language with a word-sized target: the words
-- average about 4.1 letters plus a space, so N = 5 asks for about one chunk per word.
-- Validation logs boundary_precision / boundary_recall against the known word starts.
return experiment {
  name  = "hnet-synthetic-1stage",
  data  = corpus { synthetic = { seed = 1 }, seq_len = 256 },
  model = hnet {
    layout  = { "m2", { "T3" }, "m2" },
    d       = { 64, 96 },
    mlp     = { 0, 288 },
    chunker = dc { ratio = 5 },
    mamba2  = { d_state = 16, headdim = 32, chunk_size = 64 },
    attention = { heads = 3 },
  },
  train = { batch = 8, steps = 600, lr = 3e-3 },
  eval  = { every = 100, bytes = 16384 },
  seed  = 1,
}
