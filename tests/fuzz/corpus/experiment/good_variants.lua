-- Other model kinds, as a suite: SpaceByte, fixed-width pooling, an isotropic Mamba.
local data = corpus "synthetic"
local train = { steps = 10 }
return suite {
  name = "variants",
  runs = {
    experiment { name = "spacebyte", data = data, train = train,
                 model = spacebyte { layout = { "T2", { "T4" }, "T2" }, d = { 64, 128 } } },
    experiment { name = "pool", data = data, train = train,
                 model = hnet { layout = { "m2", { "T4" }, "m2" }, d = 64, chunker = pool { k = 4, downsample = "mean" } } },
    experiment { name = "mamba", data = data, train = train,
                 model = isotropic { layout = { "m4" }, d = 32, mamba2 = { d_state = 16 } } },
  },
}
