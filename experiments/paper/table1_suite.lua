-- The scaled-down Table 1 line-up, FLOP-matched: `hnet suite experiments/paper/table1_suite.lua`
-- (add -j 2 to run two at once). As in the paper, every model is matched in bytes per
-- batch (paper/common.lua) and in FLOPs per byte to the Transformer over BPE tokens, the
-- reference (transformer_bpe.lua: its FLOPs per byte are per token times tokens per byte
-- of the train split): each other run's innermost main network gets the depth whose
-- forward FLOPs/byte (at seq_len, target chunk ratios) come closest to the reference's.
-- table1.lua is the same line-up with the depths as written.
--
-- A quick pass (e.g. to try the suite mechanics): HNET_TABLE1_STEPS=30 trains every run
-- that many steps instead (evaluating three times); those are other configs, recorded
-- as other runs.
local steps = tonumber(os.getenv("HNET_TABLE1_STEPS") or "")
local function shorten(e)
  if not steps then return e end
  return e:with { train = { steps = steps }, eval = { every = math.max(1, steps // 3) } }
end

local ref = shorten(require "paper.transformer_bpe")
local runs = { ref }
local function matched(e)
  e = shorten(e)
  runs[#runs + 1] = e:with { name = e.name .. "-matched", match_flops = ref.name }
end
for _, name in ipairs { "llamabyte", "mambabyte", "spacebyte", "spacebyte_pp", "hnet_pool",
                        "hnet_space", "hnet_1stage", "hnet_2stage" } do
  matched(require("paper." .. name))
end
-- BLT's entropy patching, once its entropy model is trained (entropy_lm.lua); the
-- entropy model's FLOPs count as the chunker's, so matching takes them into account
local blt = require("paper.common").entropy_row("table1-matched")
if blt then matched(blt) end
return suite { name = "table1-matched", runs = runs }
