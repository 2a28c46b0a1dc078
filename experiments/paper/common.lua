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

common.train = function()
  return { batch = 4, steps = 300, lr = 3e-3, schedule = wsd { warmup = 0.1, decay = 0.2 } }
end

common.eval = { every = 100, bytes = 16384 }

-- Mamba-2 as in BENCH.md but narrower; chunk_size 64 suits the CPU backend.
common.mamba2 = { d_state = 32, headdim = 32, chunk_size = 64 }

-- One experiment of the line-up.
function common.experiment(name, model)
  return experiment {
    name  = name,
    data  = common.data(),
    model = model,
    train = common.train(),
    eval  = common.eval,
    seed  = 1,
  }
end

return common
