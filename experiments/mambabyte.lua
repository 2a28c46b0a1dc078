-- MambaByte, tiny: an isotropic byte-level model of Mamba-2 layers (Wang et al. 2024,
-- the H-Net paper's MambaByte baseline), at LlamaByte-tiny's width and a similar
-- parameter count, trained on CPU on a real corpus (tiny shakespeare; HNET_DATA_DIR
-- points at the shared corpora). Layout "M3": three Mamba-2 blocks with a SwiGLU MLP
-- each, against LlamaByte-tiny's four attention blocks.
-- chunk_size only changes speed: 64 suits the cpu backend better than the reference
-- default of 256 (a GPU choice).
return experiment {
  name  = "mambabyte-tiny",
  data  = corpus { "tinyshakespeare", seq_len = 256 },
  model = isotropic {
    layout = "M3",
    d      = 128,
    mlp    = 384,
    mamba2 = { d_state = 64, headdim = 64, expand = 2, chunk_size = 64 },
  },
  train = { batch = 8, steps = 300, lr = 2e-3, schedule = wsd { warmup = 0.1, decay = 0.2 } },
  eval  = { every = 50, bytes = 32768 },
  seed  = 1,
}
