-- SpaceByte++ (Table 1): SpaceByte with Mamba-2 outer networks.
local c = require "paper.common"
return c.experiment("spacebyte++", spacebyte {
  layout = { "m4", { "T4" }, "m4" },
  d      = { 64, 128 },
  mlp    = { 0, 384 },
  mamba2 = c.mamba2,
})
