-- Scaling fits of the scaled-down Table 1 line-up: `hnet suite experiments/paper/scaling.lua`,
-- then `hnet compare experiments/paper/scaling.lua --fit` and `hnet plot ... --fit`.
-- Each model family is trained to three compute budgets -- 25, 50 and 100 steps of the
-- common recipe, each a complete run with its own warm-up and decay -- so that
-- loss = a * C^b can be fitted per family over (training FLOPs, final validation BPB).
-- The family is the base experiment's name (the `family` key). H-Net (entropy) joins
-- once its entropy model is trained (entropy_lm.lua).
-- HNET_SCALING_STEPS="25,50,100" chooses other budgets.
local c = require "paper.common"
local budgets = {}
for s in (os.getenv("HNET_SCALING_STEPS") or "25,50,100"):gmatch("%d+") do budgets[#budgets + 1] = tonumber(s) end

local bases = {}
for _, name in ipairs { "llamabyte", "mambabyte", "hnet_1stage" } do
  bases[#bases + 1] = require("paper." .. name)
end
bases[#bases + 1] = c.entropy_row("scaling")

local runs = {}
for _, e in ipairs(bases) do
  for _, steps in ipairs(budgets) do
    runs[#runs + 1] = e:with {
      name = e.name .. "-" .. steps,
      family = e.name,
      train = { steps = steps },
      eval = { every = steps },
    }
  end
end
return suite { name = "scaling", runs = runs }
