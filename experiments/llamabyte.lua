-- LlamaByte, tiny: an isotropic byte-level Transformer that trains on CPU in about a
-- minute. The default corpus is the built-in synthetic language, so no download is
-- needed; swap in corpus { "tinyshakespeare", seq_len = 256 } with HNET_DATA_DIR set.
return experiment {
  name  = "llamabyte-tiny",
  data  = corpus { synthetic = { seed = 1 }, seq_len = 256 },
  model = isotropic {
    layout    = "T4",
    d         = 128,
    mlp       = 384,
    attention = { heads = 4, window = "global", rotary_dim = 32 },
  },
  train = { batch = 8, steps = 150, lr = 3e-3, schedule = wsd { warmup = 0.1, decay = 0.2 } },
  eval  = { every = 50, bytes = 16384 },
  seed  = 1,
}
