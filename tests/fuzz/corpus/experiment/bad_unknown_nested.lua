-- an unknown key in a nested plain table (reported at the experiment{} call)

local model = isotropic { layout = "T2", d = 32 }

return experiment { --!
  data  = corpus "synthetic",
  model = model,
  train = { steps = 10, lrr = 1e-3 },
}
