-- a plugin setting of the wrong type in a per-stage list
return experiment {
  data  = corpus "synthetic",
  model = hnet { --!
    layout    = { "T2", { "T4" }, "T2" },
    d         = { 32, 64 },
    attention = { heads = 4, window = { 255, -1 } },
  },
}
