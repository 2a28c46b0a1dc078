-- MambaByte (Table 1): an isotropic byte-level stack of Mamba-2 layers.
local c = require "paper.common"
return c.experiment("mambabyte", isotropic {
  layout = "M5",
  d      = 128,
  mlp    = 256,
  mamba2 = c.mamba2,
})
