-- Settings shared by the scaled-down Table 1 line-up (H-Net paper): every model trains
-- on the same bytes of FineWeb-Edu (the paper's corpus; a 1 MB sample ships in
-- ../shared/data), with the same batch, schedule and validation set, so their BPB
-- curves compare. Widths and depths are cut down so each run takes minutes on a CPU;
-- the layouts keep the paper's shapes (Mamba-2 outer networks, Transformer main
-- networks, the same chunking targets).
local common = {}

common.data = function()
  return corpus { "fineweb-edu-sample", seq_len = 512 }
end

-- The Transformer (BPE) baseline reads tokens of the same bytes: a SentencePiece BPE of
-- 2048 pieces trained on the corpus's train split (tokenizers/README.md; the paper uses
-- GPT-2's tokenizer, which hnet reads too: format = "gpt2"). seq_len stays 512
-- bytes: its sequences are as many tokens as 512 bytes make at the realised bytes per
-- token, and it is scored on the same validation bytes. The file ships beside this one
-- (require passes this file's path).
local folder = (select(2, ...) or ""):match("^(.*/)") or ""
common.tokenizer = { format = "sentencepiece", model = folder .. "tokenizers/fineweb-edu-sample-bpe2k.model" }
common.token_data = function()
  return corpus { "fineweb-edu-sample", seq_len = 512, tokenizer = common.tokenizer }
end

common.train = function()
  return { batch = 4, steps = 300, lr = 3e-3, schedule = wsd { warmup = 0.1, decay = 0.2 } }
end

common.eval = { every = 100, bytes = 16384 }

-- Mamba-2 as in BENCH.md but narrower; chunk_size 64 suits the CPU backend.
common.mamba2 = { d_state = 32, headdim = 32, chunk_size = 64 }

-- One experiment of the line-up (data: common.data() unless given).
function common.experiment(name, model, data)
  return experiment {
    name  = name,
    data  = data or common.data(),
    model = model,
    train = common.train(),
    eval  = common.eval,
    seed  = 1,
  }
end

-- H-Net (entropy)'s entropy model (entropy_lm.lua) and whether it is trained yet: its
-- checkpoint must exist before a run that chunks by its entropy can even be declared.
-- (Relative to the current directory, so from the repository root; hnet itself resolves
-- "results/..." to the project's results folder wherever it runs.)
common.entropy_lm_steps = common.train().steps
common.entropy_lm = "results/checkpoints/entropy-lm"

function common.entropy_lm_trained()
  local f = io.open(string.format("%s/step-%08d.safetensors", common.entropy_lm, common.entropy_lm_steps), "rb")
  if f then f:close() end
  return f ~= nil
end

-- A suite's H-Net (entropy) row: the experiment when its entropy model is trained; else
-- nothing, and a note on stderr saying how to train it.
function common.entropy_row(suite_name)
  if common.entropy_lm_trained() then return require "paper.hnet_entropy" end
  io.stderr:write(suite_name .. ": H-Net (entropy) is left out until its entropy model is trained: "
    .. "hnet run experiments/paper/entropy_lm.lua\n")
  return nil
end

return common
