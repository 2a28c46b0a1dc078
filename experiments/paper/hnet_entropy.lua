-- H-Net (entropy): BLT's entropy patching (Pagnoni et al. 2024) as the chunker of the
-- H-Net (1-stage) architecture. A chunk opens after each byte whose successor the frozen
-- entropy model (entropy_lm.lua, trained first) finds hard to predict: its next-byte
-- entropy above a global threshold, calibrated to 6 bytes per chunk (H-Net (1-stage)'s
-- target). rule = "relative" is BLT's other rule (a rise of the entropy).
local c = require "paper.common"
return c.experiment("hnet-entropy", hnet {
  layout  = { "m4", { "T4" }, "m4" },
  d       = { 64, 128 },
  mlp     = { 0, 384 },
  chunker = chunker { plugin = "entropy", model = c.entropy_lm, ratio = 6 },
  mamba2  = c.mamba2,
})
