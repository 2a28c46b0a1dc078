-- H-Net (pool) (Table 1): the H-Net architecture with fixed-width chunks of 6 bytes.
local c = require "paper.common"
return c.experiment("hnet-pool", hnet {
  layout  = { "m4", { "T4" }, "m4" },
  d       = { 64, 128 },
  mlp     = { 0, 384 },
  chunker = pool { k = 6 },
  mamba2  = c.mamba2,
})
