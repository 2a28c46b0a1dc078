-- H-Net (1-stage) (Table 1): dynamic chunking learned end to end, target N = 6.
local c = require "paper.common"
return c.experiment("hnet-1stage", hnet {
  layout  = { "m4", { "T4" }, "m4" },
  d       = { 64, 128 },
  mlp     = { 0, 384 },
  chunker = dc { ratio = 6 },
  mamba2  = c.mamba2,
})
