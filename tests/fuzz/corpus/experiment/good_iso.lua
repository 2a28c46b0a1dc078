-- A small isotropic experiment: most keys are left to their defaults.
return experiment {
  data  = corpus { synthetic = { bytes = 1e5 }, seq_len = 64 },
  model = isotropic { layout = "T2", d = 64 },
  train = { steps = 20, lr = 2e-3 },
}
