-- Transformer (BPE) (Table 1): an isotropic Transformer over BPE tokens, global attention,
-- the line-up's FLOP reference in table1_suite.lua (as in the paper). Its tokens are a
-- SentencePiece BPE of the corpus (paper/common.lua); its BPB is over the same validation
-- bytes as the byte-level models', and its FLOPs per byte are per token times tokens per
-- byte of the train split.
local c = require "paper.common"
return c.experiment("transformer-bpe", isotropic {
  layout    = "T4",
  d         = 128,
  mlp       = 384,
  attention = { window = "global" },
}, c.token_data())
