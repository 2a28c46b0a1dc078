-- The entropy model of H-Net (entropy) (hnet_entropy.lua): a small byte Transformer
-- trained on the line-up's bytes with the common recipe, like BLT's entropy model
-- (Pagnoni et al. 2024: a small byte LM with a sliding attention window). Train it
-- first, from the repository root:
--   hnet run experiments/paper/entropy_lm.lua
-- Its last checkpoint (results/checkpoints/entropy-lm) is what the entropy chunker
-- reads; it stays frozen in every run that uses it.
local c = require "paper.common"
local e = c.experiment("entropy-lm", isotropic {
  layout    = "T2",
  d         = 64,
  mlp       = 192,
  attention = { window = 255 },
})
return e:with { checkpoint = { every = c.entropy_lm_steps } }
