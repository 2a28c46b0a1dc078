-- The paper's component ablations, scaled down, on the 2-stage H-Net:
-- Figure 7: without the smoothing module, without cosine routing (linear), without STE;
-- Figure 8: encoder/decoder layer choices of the outer stage.
local base = require "paper.hnet_2stage"
local runs = { base }
local figure7 = {
  { "no-smoothing", { smoothing = false } },
  { "linear-routing", { routing = "linear" } },
  { "no-ste", { ste = false } },
}
for _, v in ipairs(figure7) do
  runs[#runs + 1] = base:with { name = base.name .. "-" .. v[1], model = { chunker = v[2] } }
end
local figure8 = {
  { "M4-M4", "m4", "m4" },
  { "M2T1-T1M2", "m2T1", "T1m2" },
  { "T1M2-M2T1", "T1m2", "m2T1" },
  { "T2-T2", "T2", "T2" },
}
for _, v in ipairs(figure8) do
  runs[#runs + 1] = base:with {
    name = base.name .. "-" .. v[1],
    model = { layout = { v[2], { "T1m4", { "T4" }, "m4T1" }, v[3] }, mlp = { 192, 192, 384 } },
  }
end
return suite { name = "ablations", runs = runs }
