-- H-Net (2-stage) (Table 1): dynamic chunking nested twice, targets N = (3, 3).
local c = require "paper.common"
return c.experiment("hnet-2stage", hnet {
  layout  = { "m4", { "T1m4", { "T4" }, "m4T1" }, "m4" },
  d       = { 64, 64, 128 },
  mlp     = { 0, 192, 384 },
  chunker = dc { ratio = { 3, 3 } },
  mamba2  = c.mamba2,
  attention = { window = { 127, 127, "global" } },
})
