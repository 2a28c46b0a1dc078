-- A tiny suite for tests/e2e/test_suite.sh: two isotropic runs and a FLOP-matched H-Net,
-- seconds each on CPU. The test sets HNET_SUITE_DB and HNET_SUITE_CKPT (paths in its
-- temporary folder); os.getenv is available in experiment files.
local db, ckpt = os.getenv("HNET_SUITE_DB"), os.getenv("HNET_SUITE_CKPT")
local data = corpus { synthetic = { seed = 1, bytes = 2e5 }, seq_len = 64 }
local common = {
  data = data,
  eval = { every = 10, bytes = 2048 },
  log = { every = 5, db = db },
  checkpoint = { every = 10, dir = ckpt },
}

local function run(t)
  for k, v in pairs(common) do t[k] = t[k] or v end
  return experiment(t)
end

local function llama(name, depth, steps)
  return run {
    name = name,
    model = isotropic { layout = "T" .. depth, d = 32, mlp = 64, attention = { heads = 2, rotary_dim = 8 } },
    train = { batch = 4, steps = steps, lr = 3e-3 },
  }
end

local ref = llama("llama-ref", 2, 20)
local runs = {
  ref,
  llama("llama-small", 1, 40),
  run {
    name = "hnet-matched",
    match_flops = "llama-ref",
    model = hnet { layout = { "m1", { "T4" }, "m1" }, d = { 32, 48 }, chunker = dc { ratio = 3 },
                   mamba2 = { d_state = 8, headdim = 16 }, attention = { heads = 2, rotary_dim = 8 } },
    train = { batch = 4, steps = 20, lr = 3e-3 },
  },
}
return suite { name = "tiny", runs = runs }
