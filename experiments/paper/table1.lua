-- The scaled-down Table 1 line-up as one suite: `hnet suite experiments/paper/table1.lua`.
local runs = {}
for _, name in ipairs { "transformer_bpe", "llamabyte", "mambabyte", "spacebyte", "spacebyte_pp",
                        "hnet_pool", "hnet_space", "hnet_1stage", "hnet_2stage" } do
  runs[#runs + 1] = require("paper." .. name)
end
return suite { name = "table1", runs = runs }
