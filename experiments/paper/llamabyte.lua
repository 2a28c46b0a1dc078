-- LlamaByte (Table 1): an isotropic byte-level Transformer with sliding-window attention.
local c = require "paper.common"
return c.experiment("llamabyte", isotropic {
  layout    = "T6",
  d         = 128,
  mlp       = 384,
  attention = { window = 255 },
})
