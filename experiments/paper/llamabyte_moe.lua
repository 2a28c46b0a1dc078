-- LlamaByte-MoE (Figure 12): LlamaByte with its MLPs sparsified into Mixtures of Experts
-- (Switch-Transformer load balancing, top-2 routing, dropless), FLOP-matched to the
-- scaled-down 2-stage H-Net (hnet_2stage.lua) with a similar parameter count — the
-- paper's check that H-Net's gains are not just sparsity.
--
-- "E" is an attention block whose MLP is an MoE. Forward FLOPs per byte (Appendix B,
-- active experts only): 1.238 M here; hnet_2stage realised 1.244 M per byte over a
-- 300-step run (the trainer's gflops_per_byte; 1.182 M at its target ratios).
-- Parameters: 1.48 M in total, 0.52 M active per byte, against 1.50 M.
local c = require "paper.common"
return c.experiment("llamabyte-moe", isotropic {
  layout    = "E2",
  d         = 128,
  moe       = { experts = 8, top_k = 2, hidden = 208 },
  attention = { window = 255 },
})
