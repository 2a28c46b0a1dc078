-- The scaled-down Table 1 line-up as one suite: `hnet suite experiments/paper/table1.lua`.
local runs = {}
for _, name in ipairs { "transformer_bpe", "llamabyte", "mambabyte", "spacebyte", "spacebyte_pp",
                        "hnet_pool", "hnet_space", "hnet_1stage", "hnet_2stage" } do
  runs[#runs + 1] = require("paper." .. name)
end
-- BLT's entropy patching, once its entropy model is trained (entropy_lm.lua)
runs[#runs + 1] = require("paper.common").entropy_row("table1")
return suite { name = "table1", runs = runs }
