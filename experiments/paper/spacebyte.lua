-- SpaceByte (Table 1, Slagle 2024): Transformer layers only, chunks at spacelike bytes,
-- the encoder output added back unchanged (no residual projection).
local c = require "paper.common"
return c.experiment("spacebyte", spacebyte {
  layout    = { "T2", { "T4" }, "T2" },
  d         = { 64, 128 },
  mlp       = { 192, 384 },
  attention = { window = { 127, "global" } },
})
