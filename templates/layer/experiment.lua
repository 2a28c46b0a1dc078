-- A tiny model built of the template's letter 'L' (linmix + the stage's SwiGLU MLP),
-- trained for a few steps on the built-in synthetic language:
--     HNET_PLUGIN_PATH=$PWD hnet run experiment.lua --db /tmp/linmix.db
return experiment {
  name  = "linmix-tiny",
  data  = corpus { synthetic = { seed = 1, bytes = 20000 }, seq_len = 64 },
  model = isotropic { layout = "L2", d = 32, mlp = 64, linmix = { std = 0.02 } },
  train = { batch = 2, steps = 4, lr = 1e-3 },
  eval  = { every = 4, bytes = 2000 },
  seed  = 1,
}
