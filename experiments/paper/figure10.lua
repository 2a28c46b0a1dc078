-- Figure 10, scaled down: a 1-stage H-Net on top of BPE tokens (the tokenizer plays the
-- outermost encoder-decoder), with six encoder-decoder pairs around the same main network:
-- M6-M6, M4T1-T1M4, T1M4-M4T1, M2T2-T2M2, T2M2-M2T2, T3-T3 (M a Mamba-2 layer without
-- MLP, `m` here; T a Transformer layer with MLP). The paper's question: do Mamba layers
-- help because the inputs are fine-grained bytes, or because they compress better into the
-- next stage at any resolution? `hnet suite experiments/paper/figure10.lua`.
--
-- Tokens: the line-up's SentencePiece BPE (paper/common.lua) standing in for GPT-2's.
-- The chunking target over tokens is not given in the paper; N = 2 here (chunks of about
-- two tokens, six bytes). BPB is over the same validation bytes as every model of the
-- line-up, so these compare with table1.lua's rows.
local c = require "paper.common"
local pairs_ = {
  { "m6", "m6" }, { "m4T1", "T1m4" }, { "T1m4", "m4T1" },
  { "m2T2", "T2m2" }, { "T2m2", "m2T2" }, { "T3", "T3" },
}
local runs = {}
for _, p in ipairs(pairs_) do
  runs[#runs + 1] = c.experiment("hnet-bpe-" .. p[1] .. "-" .. p[2], hnet {
    layout  = { p[1], { "T4" }, p[2] },
    d       = { 128, 128 },
    mlp     = 384,
    chunker = dc { ratio = 2 },
    mamba2  = c.mamba2,
  }, c.token_data())
end
return suite { name = "figure10", runs = runs }
