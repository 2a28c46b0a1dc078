-- H-Net (space) (Table 1): the H-Net architecture with SpaceByte's spacelike chunks.
local c = require "paper.common"
return c.experiment("hnet-space", hnet {
  layout  = { "m4", { "T4" }, "m4" },
  d       = { 64, 128 },
  mlp     = { 0, 384 },
  chunker = space {},
  mamba2  = c.mamba2,
})
