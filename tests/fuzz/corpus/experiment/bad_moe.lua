-- moe{} (needs the moe plugin)
return experiment {
  name  = "moe-byte",
  data  = corpus "synthetic",
  model = isotropic { layout = "T4", d = 32, mlp = moe { experts = 4 } }, --!
}
