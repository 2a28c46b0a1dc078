-- hnet experiment prelude. Defines the constructors an experiment file uses
-- (experiment, suite, corpus, isotropic, hnet, spacebyte, dc, space, pool, moe, wsd,
-- reference_config, checkpoint)
-- as globals, and sandboxes the standard library.
--
-- Every constructor validates its own table and resolves it: defaults filled, per-stage
-- values expanded, plugin sections checked against what the loaded plugins declare.
-- A mistake raises one message "FILE:LINE: key.path: expected ..., found ..." where
-- FILE:LINE is the constructor call in the user's file (the C host tracks the line the
-- user's code is on, which survives tail calls like `return experiment {...}`).
--
-- The host (runtime/lua/host.c) passes a table H:
--   H.null          sentinel that becomes JSON null
--   H.unsafe        true: keep os.execute, io.popen, package.loadlib, ...
--   H.cwd           current directory (relative corpus paths are resolved against it)
--   H.where()       -> file, line of the user code running now
--   H.corpus_check(t) -> true | nil, message   (hn_corpus_check on the data section)
--   H.tokenizer_check(t) -> vocab size, sha256 | nil, message  (loads data.tokenizer's files)
--   H.model_check(model, path) -> true | nil, message  (a trial build of a resolved model)
--   H.plugins       list of {name, role, letters, keys = {{key, type, has_default, default, help}}}
--   H.letters       letter -> {mixer = name, mlp = nil | "*" | name}
--   H.chunkers      chunker plugin name -> its keys (same shape as a plugin's keys)
-- and gets back {classify = fn, order = ORDER, array = ARRAY} for the JSON conversion.

local H = ...
local null = H.null
local fmt, mtype, floor = string.format, math.type, math.floor

local INFO = setmetatable({}, { __mode = "k" })  -- object -> {ctor, raw, given}
local ORDER = setmetatable({}, { __mode = "k" }) -- resolved table -> its keys, output order
local ARRAY = setmetatable({}, { __mode = "k" }) -- tables that are JSON arrays even if empty

local function ordered(t, keys) ORDER[t] = keys; return t end
local function array(t) ARRAY[t] = true; return t end

---------------------------------------------------------------------------- errors

local function here()
  local file, line = H.where()
  return { file = file, line = line }
end

local function fail(where, path, msg)
  if path and path ~= "" then msg = path .. ": " .. msg end
  if where and where.file then msg = where.file .. ":" .. where.line .. ": " .. msg end
  error(msg, 0)
end

local function join(path, key)
  if type(key) == "number" then return path .. "[" .. key .. "]" end
  if path == nil or path == "" then return key end
  return path .. "." .. key
end

local function is_object(v) return type(v) == "table" and INFO[v] ~= nil end
local function kind_of(v) local i = type(v) == "table" and INFO[v]; return i and i.ctor end

-- A plain table whose keys are exactly 1..n, n >= 1.
local function is_list(v)
  if type(v) ~= "table" or is_object(v) then return false end
  local n = 0
  for k in pairs(v) do
    if mtype(k) ~= "integer" or k < 1 then return false end
    n = n + 1
  end
  if n == 0 then return false end
  for i = 1, n do if v[i] == nil then return false end end
  return true
end

local function is_map(v)
  return type(v) == "table" and not is_object(v) and not is_list(v)
end

local function num2str(v)
  if mtype(v) == "integer" then return tostring(v) end
  return fmt("%.14g", v)
end

local function describe(v)
  local t = type(v)
  if v == nil then return "nothing" end
  if v == null then return "null" end
  if t == "string" then
    if #v > 40 then v = v:sub(1, 37) .. "..." end
    return "string " .. fmt("%q", v):gsub("\\\n", "\\n"):gsub("\0", "\\0")
  end
  if t == "number" then return "number " .. num2str(v) end
  if t == "boolean" then return "boolean " .. tostring(v) end
  if t == "table" then
    if is_object(v) then return kind_of(v) .. "{...}" end
    if is_list(v) then return fmt("a list of %d", #v) end
    if next(v) == nil then return "an empty table {}" end
    return "a table {...}"
  end
  return "a " .. t
end

-- Levenshtein distance, for "did you mean" suggestions.
local function distance(a, b)
  a, b = a:lower(), b:lower()
  if math.abs(#a - #b) > 2 then return 99 end
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    for j = 1, #b do
      local cost = a:byte(i) == b:byte(j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[#b]
end

local function suggest(word, candidates)
  local best, bd = nil, 3
  for _, c in ipairs(candidates) do
    local d = distance(word, c)
    if d < bd and d < #c then best, bd = c, d end
  end
  return best
end

local function sorted(list)
  local out = {}
  for i, v in ipairs(list) do out[i] = v end
  table.sort(out)
  return out
end

local function quoted_list(list)
  local out = {}
  for i, v in ipairs(list) do out[i] = fmt("%q", v) end
  return table.concat(out, ", ")
end

-- Rejects keys not in `allowed` (a list of names); label names the table in messages.
local function check_keys(where, label, t, allowed, hint)
  local set = {}
  for _, k in ipairs(allowed) do set[k] = true end
  local strs, others = {}, {}
  for k in pairs(t) do
    if type(k) == "string" then strs[#strs + 1] = k else others[#others + 1] = k end
  end
  if #others > 0 then
    table.sort(others, function(a, b) return tostring(a) < tostring(b) end)
    local k = others[1]
    fail(where, label, fmt("unexpected positional value %s at [%s]; write key = value%s",
      describe(t[k]), tostring(k), hint and (" (" .. hint .. ")") or ""))
  end
  table.sort(strs)
  for _, k in ipairs(strs) do
    if not set[k] then
      local s = suggest(k, allowed)
      fail(where, label, fmt("unknown key '%s'%s; known keys: %s", k,
        s and fmt(" (did you mean '%s'?)", s) or "", table.concat(sorted(allowed), ", ")))
    end
  end
end

local function expect_table(v, where, label, example)
  if type(v) ~= "table" or is_object(v) then
    fail(where, label, fmt("expected a table, e.g. %s, found %s", example, describe(v)))
  end
end

local function deepcopy(v)
  if type(v) ~= "table" or is_object(v) then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = deepcopy(x) end
  if ARRAY[v] then ARRAY[out] = true end
  if ORDER[v] then ORDER[out] = ORDER[v] end
  return out
end

---------------------------------------------------------------------------- checks
-- A check is check(v, where, path, r) -> true, normalized value | false, "what was expected".
-- Called with v == nil it must return false, expected (used to word "required" messages).

local function finite(v) return type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge end

local function integer_at_least(min, what)
  return function(v)
    if finite(v) and v == floor(v) and v >= min and math.abs(v) <= 2 ^ 53 then
      return true, math.tointeger(v)
    end
    return false, what
  end
end
local integer = integer_at_least(-2 ^ 53, "an integer")
local posint = integer_at_least(1, "a positive integer")
-- Inputs are bytes, so the vocabulary holds at least the 256 byte values.
local vocab_check = integer_at_least(256, "an integer >= 256 (inputs are bytes 0..255)")
local nonneg_int = integer_at_least(0, "an integer >= 0")

local function number_in(lo, hi, lo_open, hi_open, what)
  return function(v)
    if finite(v) and (v > lo or (v == lo and not lo_open)) and (v < hi or (v == hi and not hi_open)) then
      return true, v
    end
    return false, what
  end
end
local number = number_in(-math.huge, math.huge, true, true, "a number")
local positive = number_in(0, math.huge, true, true, "a number > 0")
local nonneg = number_in(0, math.huge, false, true, "a number >= 0")
local fraction = number_in(0, 1, false, false, "a fraction between 0 and 1")
local beta = number_in(0, 1, false, true, "a number in [0, 1)")

local function boolean(v)
  if type(v) == "boolean" then return true, v end
  return false, "true or false"
end

-- C reads config strings up to their first NUL byte: a string holding one would be cut.
local function string_check(v)
  if type(v) == "string" and not v:find("\0", 1, true) then return true, v end
  return false, "a string without NUL bytes"
end

local function nonempty_string(v)
  if type(v) == "string" and v ~= "" and not v:find("\0", 1, true) then return true, v end
  return false, "a non-empty string without NUL bytes"
end

local function one_of(...)
  local opts = { ... }
  local what = "one of " .. quoted_list(opts)
  return function(v)
    for _, o in ipairs(opts) do if v == o then return true, v end end
    return false, what
  end
end

local function window(v)
  if v == "global" then return true, v end
  local ok, x = nonneg_int(v)
  if ok then return true, x end
  return false, "a window size (an integer >= 0) or \"global\""
end

local TYPE_CHECK = { integer = integer, number = number, boolean = boolean, string = string_check, window = window }

local function expected(check)
  local _, what = check(nil)
  return what
end

local function apply(check, v, where, path, r)
  local ok, x = check(v, where, path, r)
  if not ok then fail(where, path, fmt("expected %s, found %s", x, describe(v))) end
  return x
end

-- A value for every stage: a scalar (the same for all) or a list of exactly n.
-- `what` names the unit in messages ("stage", "chunking stage").
local function per_stage(v, n, check, where, path, what)
  what = what or "stage"
  local out = array({})
  if is_list(v) then
    if #v ~= n then
      fail(where, path, fmt("expected %d entr%s (one per %s: the layout has %d %s%s), found a list of %d",
        n, n == 1 and "y" or "ies", what, n, what, n == 1 and "" or "s", #v))
    end
    for i = 1, n do out[i] = apply(check, v[i], where, join(path, i)) end
    return out
  end
  local ok, x = check(v, where, path)
  if not ok then
    fail(where, path, fmt("expected %s or a list of %d of them (one per %s), found %s", x, n, what, describe(v)))
  end
  for i = 1, n do out[i] = deepcopy(x) end
  return out
end

local REQUIRED = {}

-- Validates table t against spec = {{key, check, default}, ...} and returns the resolved
-- table (keys in spec order). default: a value, REQUIRED, nil (optional), or
-- function(r) -> value for defaults that depend on keys resolved before.
local function fields(where, path, label, t, spec, hint)
  local names = {}
  for i, f in ipairs(spec) do names[i] = f[1] end
  check_keys(where, label, t, names, hint)
  local r = ordered({}, names)
  for _, f in ipairs(spec) do
    local key, check, default = f[1], f[2], f[3]
    local v = t[key]
    if v == nil then
      if default == REQUIRED then
        fail(where, join(path, key), "required; expected " .. expected(check) .. (f.example and (", e.g. " .. f.example) or ""))
      elseif type(default) == "function" then
        r[key] = default(r)
      else
        r[key] = deepcopy(default)
      end
    else
      r[key] = apply(check, v, where, join(path, key), r)
    end
  end
  return r
end

---------------------------------------------------------------------------- objects

local CTOR = {}
local METHODS = {}
local OBJ_MT = { __index = METHODS, __tostring = function(o) return kind_of(o) .. "{...}" end }

local function new_object(ctor, resolved, raw, given)
  INFO[resolved] = { ctor = ctor, raw = raw, given = given }
  return setmetatable(resolved, OBJ_MT)
end

-- A copy of the user's table: plain tables copied (so later edits to them do not leak
-- in), constructor objects kept as they are.
local function raw_copy(t) return deepcopy(t) end

-- Deep merge for :with. A plain table of keys merges into a plain table or into a
-- constructor object (whose constructor runs again on the merged arguments, at the
-- :with call); anything else (a scalar, a list, an object) replaces.
local merge
local function merge_into(base, over, where, path)
  local out = {}
  for k, v in pairs(base) do out[k] = v end
  for k, v in pairs(over) do out[k] = merge(base[k], v, where, join(path, k)) end
  return out
end
function merge(base, over, where, path)
  if not is_map(over) then return over end
  if is_object(base) then
    local info = INFO[base]
    return CTOR[info.ctor](merge_into(info.raw, over, where, path), where, path)
  end
  if is_map(base) then return merge_into(base, over, where, path) end
  return over
end

-- obj:with { ... } returns a new object: the original arguments deep-merged with the
-- overrides and validated again (errors point at the :with call).
function METHODS.with(self, over)
  local where = here()
  local info = type(self) == "table" and INFO[self]
  if not info then fail(where, "", "use obj:with { ... } (with a colon) on an experiment or constructor result") end
  if not is_map(over) then
    fail(where, info.ctor .. ":with", fmt("expected a table of overrides { key = value }, found %s", describe(over)))
  end
  return CTOR[info.ctor](merge_into(info.raw, over, where, ""), where, info.ctor == "experiment" and "" or info.ctor)
end

---------------------------------------------------------------------------- corpus

local NAMED = { "english", "tinyshakespeare", "chinese", "code", "dna", "fineweb-edu-sample", "enwik8", "synthetic" }

local function absolute(p)
  if p:sub(1, 1) == "/" then return p end
  if p:sub(1, 2) == "./" then p = p:sub(3) end
  return H.cwd .. "/" .. p
end

local function synthetic_section(v, where, path)
  if v == true then v = {} end
  if not is_map(v) and not (type(v) == "table" and next(v) == nil) then
    fail(where, path, fmt("expected true or a table { seed = 1, bytes = 2e6 }, found %s", describe(v)))
  end
  return fields(where, path, path, v, {
    { "seed", nonneg_int, 1 },
    { "bytes", posint, 2000000 },
  })
end

-- tokenizer = { format = "gpt2", vocab = ..., merges = ... } | { format = "tiktoken", file = ... }
-- | { format = "sentencepiece", model = ... }: the files each format reads.
local TOKENIZER_FILES = {
  gpt2 = { "vocab", "merges" }, tiktoken = { "file" }, sentencepiece = { "model" },
}
local TOKENIZER_FORMATS = { "gpt2", "tiktoken", "sentencepiece" }
local TOKENIZER_EXAMPLE = 'tokenizer = { format = "gpt2", vocab = "vocab.json", merges = "merges.txt" }'

-- corpus object -> the size of its tokenizer's vocabulary (token-level data only)
local TOKENS = setmetatable({}, { __mode = "k" })

local function tokenizer_section(v, where, path)
  if type(v) ~= "table" or is_object(v) or is_list(v) then
    fail(where, path, fmt("expected a table, e.g. %s, found %s", TOKENIZER_EXAMPLE, describe(v)))
  end
  local form = v.format
  if form == nil then
    fail(where, join(path, "format"), "required; expected " .. quoted_list(TOKENIZER_FORMATS))
  end
  local files = TOKENIZER_FILES[form]
  if not files then
    local s = type(form) == "string" and suggest(form, TOKENIZER_FORMATS)
    fail(where, join(path, "format"), fmt("expected one of %s, found %s%s", quoted_list(TOKENIZER_FORMATS),
      describe(form), s and fmt(" (did you mean %q?)", s) or ""))
  end
  local keys = { "format", table.unpack(files) }
  check_keys(where, path, v, keys)
  local r = ordered({ format = form }, { "format", table.unpack(files) })
  for _, k in ipairs(files) do
    if v[k] == nil then
      fail(where, join(path, k), fmt("required for format %q; expected the path of the tokenizer's %s file", form, k))
    end
    r[k] = absolute(apply(nonempty_string, v[k], where, join(path, k)))
  end
  local n, sha = H.tokenizer_check(r)
  if not n then fail(where, path, sha) end
  -- the files' content is part of the run's identity: a run is never trained or resumed
  -- on other tokens than these
  r.sha256 = sha
  local order = ORDER[r]
  order[#order + 1] = "sha256"
  return r, n
end

function CTOR.corpus(args, where, path)
  path = path or "corpus"
  if type(args) == "string" then args = { args } end
  expect_table(args, where, path, 'corpus "tinyshakespeare" or corpus { file = "x.txt" }')
  local raw = raw_copy(args)
  local name = args[1]
  local plain = {}
  for k, v in pairs(args) do if k ~= 1 then plain[k] = v end end
  check_keys(where, path, plain, { "seq_len", "file", "dir", "synthetic", "tokenizer", "seq_tokens" }, 'the first value is the corpus name, as in corpus { "english", seq_len = 512 }')
  local sources = {}
  for _, k in ipairs { "file", "dir", "synthetic" } do if args[k] ~= nil then sources[#sources + 1] = k end end
  if name ~= nil then table.insert(sources, 1, "name") end
  if #sources == 0 then
    fail(where, path, "expected a corpus name (corpus \"english\"), file = ..., dir = ... or synthetic = {...}; found none of them")
  elseif #sources > 1 then
    fail(where, path, fmt("give one source, found %s and %s", sources[1], sources[2]))
  end
  local seq_len = args.seq_len == nil and 512 or apply(posint, args.seq_len, where, join(path, "seq_len"))
  local r, check_path
  if name ~= nil then
    if type(name) ~= "string" then
      fail(where, join(path, 1), fmt("expected a corpus name (one of %s), found %s", table.concat(NAMED, ", "), describe(name)))
    end
    if name == "synthetic" then
      local s = synthetic_section(true, where, path)
      r = ordered({ source = "synthetic", seed = s.seed, bytes = s.bytes, seq_len = seq_len }, { "source", "seed", "bytes", "seq_len" })
    else
      local known = false
      for _, n in ipairs(NAMED) do if n == name then known = true end end
      if not known then
        local s = suggest(name, NAMED)
        fail(where, path, fmt("unknown corpus %q%s; named corpora are %s; for your own text use corpus { file = \"...\" } or corpus { dir = \"...\" }",
          name, s and fmt(" (did you mean %q?)", s) or "", table.concat(NAMED, ", ")))
      end
      r = ordered({ source = "named", name = name, seq_len = seq_len }, { "source", "name", "seq_len" })
    end
    check_path = path
  elseif args.synthetic ~= nil then
    local s = synthetic_section(args.synthetic, where, join(path, "synthetic"))
    r = ordered({ source = "synthetic", seed = s.seed, bytes = s.bytes, seq_len = seq_len }, { "source", "seed", "bytes", "seq_len" })
    check_path = path
  else
    local key = sources[1]
    local p = apply(nonempty_string, args[key], where, join(path, key))
    r = ordered({ source = key, path = absolute(p), seq_len = seq_len }, { "source", "path", "seq_len" })
    check_path = join(path, key)
  end
  local ok, msg = H.corpus_check(r)
  if not ok then fail(where, check_path, msg) end
  -- token-level data: seq_len stays bytes per sequence (what the sequences are matched
  -- to); seq_tokens (default: seq_len over the realised bytes per token) is in tokens
  local ntok
  if args.tokenizer ~= nil then
    r.tokenizer, ntok = tokenizer_section(args.tokenizer, where, join(path, "tokenizer"))
    local order = ORDER[r]
    order[#order + 1] = "tokenizer"
    if args.seq_tokens ~= nil then
      r.seq_tokens = apply(integer_at_least(2, "an integer >= 2 (tokens per sequence)"), args.seq_tokens, where, join(path, "seq_tokens"))
      order[#order + 1] = "seq_tokens"
    end
  elseif args.seq_tokens ~= nil then
    fail(where, join(path, "seq_tokens"), "tokens per sequence need a tokenizer; give tokenizer = {...} too, or leave seq_tokens out")
  end
  local obj = new_object("corpus", r, raw)
  TOKENS[obj] = ntok
  return obj
end

---------------------------------------------------------------------------- schedule, chunkers, moe

function CTOR.wsd(args, where, path)
  path = path or "wsd"
  expect_table(args, where, path, "wsd { warmup = 0.1, decay = 0.2 }")
  local r = fields(where, path, path, args, {
    { "warmup", fraction, 0.1 },
    { "decay", fraction, 0.2 },
    { "decay_shape", one_of("inv_sqrt", "linear", "cosine"), "inv_sqrt" },
    { "min_lr", nonneg, 0 },
  })
  if r.warmup + r.decay > 1 then
    fail(where, path, fmt("warmup + decay must be at most 1 (they are fractions of the steps), found %s + %s",
      num2str(r.warmup), num2str(r.decay)))
  end
  local out = ordered({ kind = "wsd" }, { "kind", "warmup", "decay", "decay_shape", "min_lr" })
  for k, v in pairs(r) do out[k] = v end
  return new_object("wsd", out, raw_copy(args))
end

-- A scalar or a list (one per chunking stage); expanded when the model knows its stages.
local function scalar_or_list(check)
  return function(v, where, path)
    if v == nil then local _, what = check(nil); return false, what .. " or a list of them (one per chunking stage)" end
    if is_list(v) then
      local out = array({})
      for i, x in ipairs(v) do out[i] = apply(check, x, where, join(path, i)) end
      return true, out
    end
    local ok, x = check(v)
    if ok then return true, x end
    return false, x .. " or a list of them (one per chunking stage)"
  end
end

-- A chunker plugin may declare settings beyond the built-in ones; dc{}, pool{} and
-- space{} accept those too (scalars of the declared type, default filled).
local function with_plugin_keys(name, spec)
  local keys = (H.chunkers or {})[name]
  if not keys then return spec end
  local have = {}
  for _, f in ipairs(spec) do have[f[1]] = true end
  for _, k in ipairs(keys) do
    if not have[k.key] and TYPE_CHECK[k.type] then
      local default = nil
      if k.has_default then default = k.default end -- (`and/or` would lose a false default)
      spec[#spec + 1] = { k.key, TYPE_CHECK[k.type], default }
    end
  end
  return spec
end

local function chunker_order(r, first)
  local order = {}
  for _, k in ipairs(first) do order[#order + 1] = k end
  for _, k in ipairs(ORDER[r]) do
    local dup = false
    for _, f in ipairs(first) do if f == k then dup = true end end
    if not dup then order[#order + 1] = k end
  end
  ORDER[r] = order
end

local DOWNSAMPLE = one_of("select", "mean", "max")
local RATIO = number_in(1, math.huge, false, true, "a compression ratio >= 1")

function CTOR.dc(args, where, path)
  path = path or "dc"
  expect_table(args, where, path, "dc { ratio = { 3, 3 } }")
  local r = fields(where, path, path, args, with_plugin_keys("dc", {
    { "ratio", scalar_or_list(RATIO), nil },
    { "alpha", nonneg, 0.03 },
    { "routing", one_of("cosine", "linear"), "cosine" },
    { "smoothing", boolean, true },
    { "ste", boolean, true },
    { "downsample", DOWNSAMPLE, "select" },
  }))
  r.kind = "dc"
  chunker_order(r, { "kind" })
  return new_object("dc", r, raw_copy(args))
end

function CTOR.space(args, where, path)
  path = path or "space"
  expect_table(args, where, path, "space {}")
  local r = fields(where, path, path, args, with_plugin_keys("space", {}))
  r.kind = "space"
  chunker_order(r, { "kind" })
  return new_object("space", r, raw_copy(args))
end

function CTOR.pool(args, where, path)
  path = path or "pool"
  expect_table(args, where, path, "pool { k = 6 }")
  local r = fields(where, path, path, args, with_plugin_keys("pool", {
    { "k", scalar_or_list(integer_at_least(1, "a pooling width (an integer >= 1)")), REQUIRED, example = "pool { k = 6 }" },
    { "downsample", DOWNSAMPLE, "select" },
  }))
  r.kind = "pool"
  chunker_order(r, { "kind" })
  return new_object("pool", r, raw_copy(args))
end

-- chunker { plugin = "NAME", ... }: any loaded chunker plugin, with the settings it
-- declares (scalars of the declared type, defaults filled) and the stage's downsample,
-- so an out-of-tree chunker needs no constructor of its own here.
function CTOR.chunker(args, where, path)
  path = path or "chunker"
  expect_table(args, where, path, 'chunker { plugin = "NAME", ... }')
  local name = args.plugin
  if type(name) ~= "string" then
    fail(where, join(path, "plugin"), fmt("required; expected the name of a chunker plugin, found %s", describe(name)))
  end
  if not (H.chunkers or {})[name] then
    local loaded = {}
    for n in pairs(H.chunkers or {}) do loaded[#loaded + 1] = n end
    table.sort(loaded)
    fail(where, join(path, "plugin"), fmt("no chunker plugin named %q is loaded (loaded: %s; hnet plugins lists them, HNET_PLUGIN_PATH adds folders)",
      name, #loaded > 0 and table.concat(loaded, ", ") or "none"))
  end
  local given = {}
  for k, v in pairs(args) do if k ~= "plugin" then given[k] = v end end
  local r = fields(where, path, path, given, with_plugin_keys(name, {
    { "downsample", DOWNSAMPLE, "select" },
  }))
  r.kind = name
  chunker_order(r, { "kind" })
  return new_object("chunker", r, raw_copy(args))
end

local PLUGIN = {}
for _, p in ipairs(H.plugins) do PLUGIN[p.name] = p end

local function plugin_key_names(p)
  local names = {}
  for i, k in ipairs(p.keys) do names[i] = k.key end
  return names
end

local function plugin_check(p, k, where, path)
  local check = TYPE_CHECK[k.type]
  if not check then
    fail(where, path, fmt("the %s plugin declares key '%s' with type %q, which hnet does not know (integer, number, boolean, string, window)", p.name, k.key, k.type))
  end
  return check
end

-- moe{...}: keys are whatever the moe plugin declares; defaults are filled when the
-- model resolves its MLPs (a model-level `moe = {...}` section sits between the
-- plugin's defaults and the values given here).
function CTOR.moe(args, where, path)
  path = path or "moe"
  local p = PLUGIN.moe
  if not p then
    fail(where, nil, "moe needs the moe plugin, which is not loaded (build layers/moe, or add its folder to HNET_PLUGIN_PATH)")
  end
  expect_table(args, where, path, "moe { experts = 8, top_k = 2 }")
  check_keys(where, path, args, plugin_key_names(p))
  local given = {}
  for _, k in ipairs(p.keys) do
    if args[k.key] ~= nil then given[k.key] = apply(plugin_check(p, k, where, path), args[k.key], where, join(path, k.key)) end
  end
  local r = ordered({ plugin = "moe" }, { "plugin", table.unpack(plugin_key_names(p)) })
  for _, k in ipairs(p.keys) do
    if given[k.key] ~= nil then r[k.key] = given[k.key] elseif k.has_default then r[k.key] = deepcopy(k.default) end
  end
  return new_object("moe", r, raw_copy(args), given)
end

---------------------------------------------------------------------------- layouts

local function letter_names()
  local ls = {}
  for l in pairs(H.letters) do ls[#ls + 1] = l end
  table.sort(ls)
  local out = {}
  for i, l in ipairs(ls) do
    local d = H.letters[l]
    local mlp = d.mlp == "*" and " + MLP" or (d.mlp and (" + " .. d.mlp) or "")
    out[i] = fmt("%s (%s%s)", l, d.mixer, mlp)
  end
  if #out == 0 then return "none (no layer plugins are loaded)" end
  return table.concat(out, ", ")
end

-- "m4T1" -> {{"m", 4}, {"T", 1}}; checks syntax and that every letter is registered.
-- Sizes the C side holds in an int, far above any model that trains (the memory estimate
-- at experiment{} judges what is between).
local MAX_BLOCKS, MAX_WIDTH = 100000, 65536

local function parse_blocks(s, where, path)
  if type(s) ~= "string" then
    fail(where, path, fmt("expected a layout string like \"T4\" or \"m4T1\", found %s", describe(s)))
  end
  if s == "" then fail(where, path, "expected a layout string like \"T4\" or \"m4T1\", found an empty string") end
  local blocks, pos = {}, 1
  while pos <= #s do
    local letter, count, nxt = s:match("^([A-Za-z])(%d+)()", pos)
    if not letter then
      fail(where, path, fmt("bad layout string %q at character %d: expected groups of a letter and a block count, like \"T4\" or \"m4T1\"", s, pos))
    end
    local n = math.tointeger(tonumber(count))
    if not n or n < 1 then fail(where, path, fmt("bad layout string %q: '%s%s' has no blocks (counts start at 1)", s, letter, count)) end
    if n > MAX_BLOCKS then
      fail(where, path, fmt("bad layout string %q: '%s%s' is more than %d blocks", s, letter, count, MAX_BLOCKS))
    end
    if not H.letters[letter] then
      fail(where, path, fmt("unknown layer letter '%s' in %q; known letters: %s", letter, s, letter_names()))
    end
    blocks[#blocks + 1] = { letter, n }
    pos = nxt
  end
  return blocks
end

-- Walks a nested layout. A list of 3 is {encoder, {inner}, decoder}; a list of 1 is
-- {main}, the innermost network. Returns the layout copy (JSON arrays) and stages[s] =
-- {networks = {"encoder", blocks}, ...}.
local function walk_layout(node, where, path, stages, depth)
  if depth > 16 then fail(where, path, "layout nested too deeply (more than 16 stages)") end
  if not is_list(node) then
    fail(where, path, fmt("expected a list: {encoder, {inner}, decoder} or {main}, found %s", describe(node)))
  end
  local stage = { blocks = {} }
  stages[depth] = stage
  if #node == 1 then
    if type(node[1]) ~= "string" then
      fail(where, join(path, 1), fmt("the innermost network {main} holds a layout string like \"T8\", found %s", describe(node[1])))
    end
    stage.blocks[1] = parse_blocks(node[1], where, join(path, 1))
    return array({ node[1] })
  elseif #node == 3 then
    if type(node[2]) ~= "table" or is_object(node[2]) then
      fail(where, join(path, 2), fmt("expected the inner network as a list, {main} or {encoder, {inner}, decoder}, found %s", describe(node[2])))
    end
    stage.blocks[1] = parse_blocks(node[1], where, join(path, 1))
    stage.blocks[2] = parse_blocks(node[3], where, join(path, 3))
    local inner = walk_layout(node[2], where, join(path, 2), stages, depth + 1)
    return array({ node[1], inner, node[3] })
  end
  fail(where, path, fmt("expected a list of 3 {encoder, {inner}, decoder} or of 1 {main}, found a list of %d", #node))
end

local function parse_layout(kind, v, where, path)
  local stages = {}
  local layout
  if type(v) == "string" then
    stages[1] = { blocks = { parse_blocks(v, where, path) } }
    layout = array({ v })
  else
    layout = walk_layout(v, where, path, stages, 1)
  end
  local S = #stages
  if kind == "isotropic" and S ~= 1 then
    fail(where, path, fmt("isotropic takes one network (\"T4\" or {\"T4\"}), found a nested layout of %d stages; use hnet{} for hierarchies", S))
  elseif kind == "hnet" and S < 2 then
    fail(where, path, "hnet needs a nested layout, e.g. {\"m4\", {\"T8\"}, \"m4\"} (encoder, inner, decoder); for a single network use isotropic{}")
  elseif kind == "spacebyte" and S ~= 2 then
    fail(where, path, fmt("spacebyte has exactly 2 stages, e.g. {\"T2\", {\"T8\"}, \"T2\"}, found %d", S))
  end
  return layout, stages
end

---------------------------------------------------------------------------- models

-- Plugin section p for S stages: a list of S tables with every declared key (scalar or
-- per-stage list in the user's section, else the plugin's default). Required keys may
-- be left out when `lenient` (MLP plugins: hidden sizes come from `mlp`).
local function plugin_stages(p, section, S, where, path, lenient)
  if section == nil then section = {} end
  if not (is_map(section) or (type(section) == "table" and not is_object(section) and next(section) == nil)) then
    fail(where, path, fmt("expected a table of %s settings { key = value }, found %s", p.name, describe(section)))
  end
  local names = plugin_key_names(p)
  check_keys(where, path, section, names)
  local out = array({})
  for s = 1, S do out[s] = ordered({}, names) end
  for _, k in ipairs(p.keys) do
    local v, kp = section[k.key], join(path, k.key)
    local check = plugin_check(p, k, where, kp)
    if v ~= nil then
      local vals = per_stage(v, S, check, where, kp)
      for s = 1, S do out[s][k.key] = vals[s] end
    elseif k.has_default then
      for s = 1, S do out[s][k.key] = deepcopy(k.default) end
    elseif not lenient then
      fail(where, kp, fmt("required (the %s plugin has no default); expected %s%s", p.name, expected(check),
        S > 1 and fmt(" or a list of %d (one per stage)", S) or ""))
    end
  end
  return out
end

local function mlp_check(v)
  if kind_of(v) == "moe" then return true, v end
  local ok, x = nonneg_int(v)
  if ok then return true, x end
  return false, "a SwiGLU hidden size (an integer >= 0; 0 = no MLP) or moe{...}"
end

-- Resolves the MLP of each stage to {plugin = ..., <plugin keys>} or null.
local function resolve_mlps(mlpv, sections, S, where, path)
  local out = array({})
  for s = 1, S do
    local v = mlpv[s]
    if v == 0 then
      out[s] = null
    else
      local name = kind_of(v) == "moe" and "moe" or "swiglu"
      local p = PLUGIN[name]
      if not p then
        fail(where, path, fmt("mlp needs the %s plugin, which is not loaded (build layers/%s, or add its folder to HNET_PLUGIN_PATH)", name, name))
      end
      local e = ordered({ plugin = name }, { "plugin", table.unpack(plugin_key_names(p)) })
      for k, x in pairs(sections[name][s]) do e[k] = x end
      if name == "moe" then
        for k, x in pairs(INFO[v].given) do e[k] = deepcopy(x) end
      else
        e.hidden = v
      end
      for _, k in ipairs(p.keys) do
        if e[k.key] == nil then
          fail(where, join(path, s), fmt("the %s plugin needs key '%s' (%s); give it in %s or in the model's %s = {...} section",
            name, k.key, expected(TYPE_CHECK[k.type] or number), name == "moe" and "moe{...}" or "mlp", name))
        end
      end
      out[s] = e
    end
  end
  return out
end

local function chunker_for_stages(c, S, where, path)
  local k = kind_of(c)
  if k ~= "dc" and k ~= "space" and k ~= "pool" and k ~= "chunker" then
    fail(where, path, fmt("expected a chunker: dc{...}, space{}, pool{ k = ... } or chunker{ plugin = NAME, ... }, found %s", describe(c)))
  end
  local n = S - 1
  local r = {} -- a copy: the chunker object itself stays as the user built it
  for key, v in pairs(c) do r[key] = deepcopy(v) end
  ORDER[r] = ORDER[c]
  if k == "dc" then
    if c.ratio == nil then
      r.ratio = per_stage(n == 1 and 6 or 3, n, RATIO, where, join(path, "ratio"), "chunking stage")
    else
      r.ratio = per_stage(c.ratio, n, RATIO, where, join(path, "ratio"), "chunking stage")
    end
  elseif k == "pool" then
    r.k = per_stage(c.k, n, posint, where, join(path, "k"), "chunking stage")
  elseif k == "space" and S ~= 2 then
    fail(where, path, fmt("space{} splits bytes at spaces, so it fits a layout of 2 stages; found %d", S))
  end
  return r
end

local function resolve_model(kind, args, where, path)
  path = path or kind
  expect_table(args, where, path, kind == "isotropic" and 'isotropic { layout = "T4", d = 256 }'
    or kind .. ' { layout = {"m4", {"T8"}, "m4"}, d = {512, 768} }')
  local allowed = { "layout", "d", "mlp", "vocab", "norm_eps" }
  if kind == "hnet" then allowed[#allowed + 1] = "chunker" end
  for _, p in ipairs(H.plugins) do allowed[#allowed + 1] = p.name end
  check_keys(where, path, args, allowed)

  if args.layout == nil then
    fail(where, join(path, "layout"), kind == "isotropic" and 'required; expected a layout string, e.g. layout = "T4"'
      or 'required; expected a nested layout, e.g. layout = {"m4", {"T8"}, "m4"}')
  end
  local layout, stages = parse_layout(kind, args.layout, where, join(path, "layout"))
  local S = #stages

  local dpath = join(path, "d")
  local d
  if args.d == nil then
    if kind ~= "isotropic" then fail(where, dpath, fmt("required; expected %d widths, one per stage, e.g. d = {512, 768}", S)) end
    d = array({ 256 })
  else
    d = per_stage(args.d, S, integer_at_least(1, "a positive integer"), where, dpath)
    for s = 1, S do
      if d[s] > MAX_WIDTH then
        fail(where, S > 1 and join(dpath, s) or dpath, fmt("expected a width of at most %d, found %s", MAX_WIDTH, num2str(d[s])))
      end
    end
  end
  for s = 2, S do
    if d[s] < d[s - 1] then
      fail(where, dpath, fmt("widths must not decrease from outer to inner stages, found d[%d] = %d < d[%d] = %d", s, d[s], s - 1, d[s - 1]))
    end
  end

  -- which stages have blocks that take the stage's MLP ('*'), and which plugins are used
  local wants_mlp, used = {}, {}
  for s, st in ipairs(stages) do
    for _, blocks in ipairs(st.blocks) do
      for _, b in ipairs(blocks) do
        local def = H.letters[b[1]]
        for _, name in ipairs { def.mixer, def.mlp ~= "*" and def.mlp or nil } do
          if not PLUGIN[name] then
            fail(where, join(path, "layout"), fmt("letter '%s' needs the %s plugin, which is not loaded", b[1], name))
          end
        end
        used[def.mixer] = true
        if def.mlp == "*" then wants_mlp[s] = wants_mlp[s] or b[1]
        elseif def.mlp then used[def.mlp] = true end
      end
    end
  end

  local mpath = join(path, "mlp")
  local mlpv
  if args.mlp == nil then
    mlpv = array({})
    for s = 1, S do mlpv[s] = wants_mlp[s] and 3 * d[s] or 0 end
  else
    mlpv = per_stage(args.mlp, S, mlp_check, where, mpath)
  end
  for s = 1, S do
    if wants_mlp[s] and mlpv[s] == 0 then
      fail(where, S > 1 and join(mpath, s) or mpath, fmt("stage %d uses '%s' (a block with an MLP) but its mlp is 0; give a SwiGLU hidden size or moe{...}, or use the letter without MLP ('%s')",
        s, wants_mlp[s], wants_mlp[s]:lower()))
    end
  end

  local sections = {}
  for _, p in ipairs(H.plugins) do
    sections[p.name] = plugin_stages(p, args[p.name], S, where, join(path, p.name), p.role == "mlp")
  end

  local layer_names = {}
  local layers = {}
  for _, p in ipairs(H.plugins) do
    if used[p.name] then
      layer_names[#layer_names + 1] = p.name
      for _, stage_cfg in ipairs(sections[p.name]) do
        for _, k in ipairs(p.keys) do
          if stage_cfg[k.key] == nil then
            fail(where, join(join(path, p.name), k.key), fmt("required (the %s plugin has no default); expected %s", p.name, expected(TYPE_CHECK[k.type] or number)))
          end
        end
      end
      layers[p.name] = sections[p.name]
    end
  end
  ordered(layers, layer_names)

  local chunker = null
  if kind == "hnet" then
    chunker = chunker_for_stages(args.chunker or CTOR.dc({}, where, join(path, "chunker")), S, where, join(path, "chunker"))
  elseif kind == "spacebyte" then
    chunker = chunker_for_stages(CTOR.space({}, where, join(path, "chunker")), S, where, join(path, "chunker"))
  end

  local r = ordered({
    kind = kind,
    layout = layout,
    stages = S,
    d = d,
    mlp = resolve_mlps(mlpv, sections, S, where, mpath),
    layers = layers,
    chunker = chunker,
    vocab = args.vocab == nil and 256 or apply(vocab_check, args.vocab, where, join(path, "vocab")),
    norm_eps = args.norm_eps == nil and 1e-5 or apply(positive, args.norm_eps, where, join(path, "norm_eps")),
  }, { "kind", "layout", "stages", "d", "mlp", "layers", "chunker", "vocab", "norm_eps" })
  -- what only the plugins know (heads dividing d, ...): a trial build, no parameters
  local ok, msg = H.model_check(r, path)
  if not ok then fail(where, nil, msg) end
  return new_object(kind, r, raw_copy(args))
end

function CTOR.isotropic(args, where, path) return resolve_model("isotropic", args, where, path) end
function CTOR.hnet(args, where, path) return resolve_model("hnet", args, where, path) end
function CTOR.spacebyte(args, where, path) return resolve_model("spacebyte", args, where, path) end

-- reference_config "path/to/config.json": the reference H-Net's published config
-- (goombalab/hnet configs/*.json) as hnet{} (isotropic{} for a one-network layout), with
-- the reference's defaults (model/reference_config.h); a relative path is taken from the
-- current directory, as corpus files are.
function CTOR.reference_config(file, where, path)
  path = path or "reference_config"
  if type(file) ~= "string" or file == "" then
    fail(where, path, fmt("expected the path of a reference config JSON file, e.g. reference_config \"configs/hnet_2stage_L.json\", found %s", describe(file)))
  end
  local full = file:sub(1, 1) == "/" and file or (H.cwd .. "/" .. file)
  local r, msg = H.reference_config(full)
  if not r then fail(where, path, msg) end
  if r.kind == "hnet" then r.args.chunker = CTOR.dc({}, where, join(path, "chunker")) end
  return resolve_model(r.kind, r.args, where, path)
end

-- init = checkpoint "path" or checkpoint { "path", freeze = { 0 } }: start training from
-- the weights of a checkpoint (a .safetensors file, or a run's checkpoint folder: its
-- newest intact file) instead of the initialisation; the listed stages (0 = the
-- outermost, with the embedding and the LM head; S = the main network) keep their
-- weights. A relative path is taken from the current directory, as corpus files are.
function CTOR.checkpoint(args, where, path)
  path = path or "init"
  local example = "checkpoint \"results/checkpoints/NAME\" or checkpoint { \"x.safetensors\", freeze = { 0 } }"
  local file, freeze = args, {}
  if type(args) == "table" and not is_object(args) then
    for k in pairs(args) do
      if k ~= 1 and k ~= "freeze" then fail(where, join(path, tostring(k)), "unknown key; expected " .. example) end
    end
    file, freeze = args[1], args.freeze or {}
  end
  if type(file) ~= "string" or file == "" then
    fail(where, path, fmt("expected the path of a checkpoint, e.g. %s, found %s", example, describe(file)))
  end
  if not is_list(freeze) and next(freeze) ~= nil then
    fail(where, join(path, "freeze"), fmt("expected a list of stage numbers, e.g. { 0 }, found %s", describe(freeze)))
  end
  local stages = array({})
  for i, v in ipairs(freeze) do stages[i] = apply(nonneg_int, v, where, join(join(path, "freeze"), i)) end
  local out = ordered({ kind = "checkpoint", path = file, freeze = stages }, { "kind", "path", "freeze" })
  return new_object("checkpoint", out, raw_copy(type(args) == "table" and args or { args }))
end

---------------------------------------------------------------------------- experiment, suite

local function basename(file)
  local b = (file or "experiment"):match("([^/]+)$") or "experiment"
  return (b:gsub("%.lua$", ""))
end

local function model_check(v)
  local k = kind_of(v)
  if k == "isotropic" or k == "hnet" or k == "spacebyte" then return true, v end
  return false, "a model: isotropic{...}, hnet{...} or spacebyte{...}"
end

local function data_check(v, where, path)
  if v == nil then return false, "a corpus, e.g. corpus \"tinyshakespeare\"" end
  if kind_of(v) == "corpus" then return true, v end
  if type(v) == "string" or (type(v) == "table" and not is_object(v)) then return true, CTOR.corpus(v, where, path) end
  return false, "a corpus, e.g. corpus \"tinyshakespeare\""
end

local function schedule_check(v, where, path)
  if v == nil then return false, "wsd{...}" end
  if kind_of(v) == "wsd" then return true, v end
  if type(v) == "table" and not is_object(v) then return true, CTOR.wsd(v, where, path) end
  return false, "wsd{...}"
end

local function init_check(v, where, path)
  if v == nil then return false, "checkpoint \"PATH\"" end
  if kind_of(v) == "checkpoint" then return true, v end
  if type(v) == "string" or (type(v) == "table" and not is_object(v)) then return true, CTOR.checkpoint(v, where, path) end
  return false, "checkpoint \"PATH\" or checkpoint { \"PATH\", freeze = { 0 } }"
end

local function table_check(example, spec)
  return function(v, where, path, r)
    if v == nil then return false, "a table, e.g. " .. example end
    if type(v) ~= "table" or is_object(v) then return false, "a table, e.g. " .. example end
    return true, fields(where, path, path, v, spec(r))
  end
end

local function multipliers(S)
  return function(v, where, path)
    if v == "auto" then return true, v end
    local what = fmt("\"auto\" or a list of %d learning-rate multipliers (one per stage)", S)
    if not is_list(v) then return false, what end
    return true, per_stage(v, S, positive, where, path)
  end
end

-- ZeRO-1 (runtime/train/trainer.c): off, or the optimizer state sharded over the ranks
local function zero_check(v)
  if v == 0 or v == 1 then return true, math.tointeger(v) end
  return false, "0 (each rank keeps the whole optimizer state) or 1 (ZeRO-1: each rank keeps its shard)"
end

local function train_spec(r)
  local S = r.model and r.model.stages or 1
  return {
    { "batch", posint, 8 },
    { "steps", posint, 200 },
    { "lr", positive, 1e-3 },
    { "beta1", beta, 0.9 },
    { "beta2", beta, 0.95 },
    { "eps", positive, 1e-8 },
    { "weight_decay", nonneg, 0.1 },
    { "grad_clip", nonneg, 1.0 },
    { "schedule", schedule_check, function() return CTOR.wsd({}, nil, "train.schedule") end },
    { "lr_multipliers", multipliers(S), "auto" },
    { "zero", zero_check, 0 },
  }
end

local function eval_spec()
  return { { "every", posint, 50 }, { "bytes", posint, 65536 }, { "batch", posint, 8 } }
end

local function log_spec()
  return { { "every", posint, 10 }, { "db", nonempty_string, "results/results.db" } }
end

-- checkpoints (runtime/train/checkpoint.h): every = 0 writes none
local function checkpoint_spec()
  return { { "every", nonneg_int, 0 }, { "dir", nonempty_string, "results/checkpoints" }, { "keep", posint, 2 } }
end

-- A model over tokens: its vocabulary is the tokenizer's (when the model does not give
-- one, at least the tokenizer's when it does); chunking by spaces reads bytes.
local function token_model(m, ntok, where)
  local info = INFO[m]
  local given = info.raw.vocab
  if given == nil then
    m = CTOR[info.ctor](merge_into(info.raw, { vocab = ntok }, where, "model"), where, "model")
  elseif m.vocab < ntok then
    fail(where, "model.vocab", fmt("expected at least the tokenizer's %d tokens (data.tokenizer), found %d; leave vocab out to use the tokenizer's size", ntok, m.vocab))
  end
  if m.chunker ~= null and m.chunker.kind == "space" then
    fail(where, "model.chunker", "space{} (and spacebyte{}) chunk at space bytes, but this model reads tokens (data.tokenizer); use dc{} or pool{} over tokens")
  end
  if m.chunker ~= null and m.chunker.kind == "entropy" then
    fail(where, "model.chunker", "the entropy chunker's model is a byte LM (it scores bytes), but this model reads tokens (data.tokenizer); use dc{} or pool{} over tokens")
  end
  return m
end

local EXPERIMENT_KEYS = { "name", "data", "model", "train", "eval", "seed", "backend", "log", "checkpoint", "init" }

function CTOR.experiment(args, where, path)
  expect_table(args, where, "experiment", "experiment { name = \"x\", data = corpus \"tinyshakespeare\", model = isotropic { layout = \"T4\" } }")
  local r = fields(where, "", "experiment", args, {
    { "name", nonempty_string, function() return basename(where.file) end },
    { "seed", integer, 1 },
    { "backend", one_of("cpu", "cuda"), "cpu" },
    { "data", data_check, REQUIRED, example = "data = corpus \"tinyshakespeare\"" },
    { "model", model_check, REQUIRED, example = "model = isotropic { layout = \"T4\" }" },
    { "train", table_check("{ steps = 200, lr = 1e-3 }", train_spec), function(x) return fields(where, "train", "train", {}, train_spec(x)) end },
    { "eval", table_check("{ every = 50 }", eval_spec), function() return fields(where, "eval", "eval", {}, eval_spec()) end },
    { "log", table_check("{ every = 10 }", log_spec), function() return fields(where, "log", "log", {}, log_spec()) end },
    { "checkpoint", table_check("{ every = 100 }", checkpoint_spec), function() return fields(where, "checkpoint", "checkpoint", {}, checkpoint_spec()) end },
    { "match_flops", nonempty_string, nil }, -- hnet suite: FLOP-match to this run (runtime/suite/flops_match.h)
    { "family", nonempty_string, nil }, -- hnet compare --fit: the scaling family (runtime/analysis/scaling_runs.h)
    { "init", init_check, nil }, -- start from a checkpoint's weights (runtime/train/init.h)
  })
  r.file = where.file
  ORDER[r] = { "name", "family", "file", "seed", "backend", "data", "model", "train", "eval", "log", "checkpoint", "init", "match_flops" }
  local ntok = TOKENS[r.data]
  if ntok then r.model = token_model(r.model, ntok, where) end
  local raw = raw_copy(args)
  raw.name = r.name -- a :with copy keeps the name unless it overrides it
  return new_object("experiment", r, raw)
end

function CTOR.suite(args, where, path)
  expect_table(args, where, "suite", "suite { name = \"ablations\", runs = { e1, e2 } }")
  check_keys(where, "suite", args, { "name", "runs" })
  local name = args.name == nil and basename(where.file) or apply(nonempty_string, args.name, where, "name")
  if args.runs == nil then fail(where, "runs", "required; expected a list of experiments, e.g. runs = { e1, e2 }") end
  if not is_list(args.runs) then fail(where, "runs", fmt("expected a list of experiments, found %s", describe(args.runs))) end
  local runs, seen = array({}), {}
  local function add(e, p)
    local k = kind_of(e)
    if k == "suite" then
      for i, x in ipairs(e.runs) do add(x, join(p, i)) end
      return
    end
    if k ~= "experiment" then fail(where, p, fmt("expected an experiment (experiment{...} or e:with{...}), found %s", describe(e))) end
    if seen[e.name] then
      fail(where, p, fmt("duplicate run name %q (same as run %d); give each run its own name, e.g. e:with { name = ... }", e.name, seen[e.name]))
    end
    runs[#runs + 1] = e
    seen[e.name] = #runs
  end
  for i, e in ipairs(args.runs) do add(e, join("runs", i)) end
  return new_object("suite", ordered({ name = name, runs = runs }, { "name", "runs" }), raw_copy(args))
end

---------------------------------------------------------------------------- globals, sandbox

for _, name in ipairs { "experiment", "suite", "corpus", "isotropic", "hnet", "spacebyte", "dc", "space", "pool", "chunker", "moe", "wsd", "reference_config", "checkpoint" } do
  local ctor = CTOR[name]
  _G[name] = function(args) return ctor(args, here()) end
end

-- Code loads as Lua source text only, here as for the file itself (runtime/lua/experiment.c):
-- crafted bytecode can crash the interpreter. Kept even with --unsafe-lua.
local raw_load, raw_loadfile, searchpath = load, loadfile, package.searchpath

local function text_only(what, f, msg)
  if f == nil and type(msg) == "string" and msg:find("attempt to load a binary chunk", 1, true) then
    fail(here(), nil, what .. ": binary (precompiled) Lua chunks are refused in experiment files; use Lua source text")
  end
  return f, msg
end

-- `...` passes env on exactly as given: an explicit nil env differs from none.
function load(chunk, name, mode, ...) return text_only("load", raw_load(chunk, name, "t", ...)) end
function loadfile(file, mode, ...) return text_only("loadfile", raw_loadfile(file, "t", ...)) end
function dofile(file)
  local f, msg = text_only("dofile", raw_loadfile(file, "t"))
  if not f then fail(here(), nil, "dofile: " .. msg) end
  return f()
end

-- require's Lua-file searcher, text only; the C-library searchers are dropped below.
package.searchers[2] = function(name)
  local path, notfound = searchpath(name, package.path)
  if not path then return notfound end
  local f, msg = raw_loadfile(path, "t")
  if f then return f, path end
  if msg:find("attempt to load a binary chunk", 1, true) then
    fail(here(), nil, fmt("require %q: %s is a binary (precompiled) Lua chunk; modules must be Lua source text", name, path))
  end
  error(fmt("error loading module '%s' from file '%s':\n\t%s", name, path, msg), 0)
end

-- No finalizers: Lua runs __gc with hooks off, so one that loops would hang hnet past the
-- instruction guard. Lua marks an object for finalization only when its metatable has
-- __gc as setmetatable is called, so checking here is enough.
-- The file handles' shared metatable has a __gc of its own: hidden, so that a file can
-- not swap in a finalizer of its own through getmetatable(io.stdout).
rawset(getmetatable(io.stdout), "__metatable", false)
local raw_setmetatable = setmetatable
function setmetatable(t, mt)
  if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
    fail(here(), nil, "setmetatable: __gc metamethods (finalizers) are not allowed in experiment files")
  end
  return raw_setmetatable(t, mt)
end

-- No debug library, even with --unsafe-lua: debug.sethook lifts the instruction and
-- memory guards, and its registry access can leave the state broken (PANIC, abort).
local function disabled_library(lib, why)
  local function refuse(_, k)
    fail(here(), nil, fmt("%s.%s: the %s library is disabled in experiment files (%s)", lib, tostring(k), lib, why))
  end
  return raw_setmetatable({}, { __index = refuse, __newindex = refuse, __metatable = false })
end
debug = disabled_library("debug", "it can crash hnet or lift its limits")
package.loaded.debug = debug

if not H.unsafe then
  local function blocked(name, why)
    why = why or "it can run programs, load native code or change files"
    return function()
      fail(here(), nil, name .. " is disabled in experiment files (" .. why .. "); pass --unsafe-lua to allow it")
    end
  end
  os.execute, os.remove, os.rename, os.exit = blocked("os.execute"), blocked("os.remove"), blocked("os.rename"), blocked("os.exit")
  os.tmpname = blocked("os.tmpname", "it creates files")
  local setlocale, change_locale = os.setlocale, blocked("os.setlocale", "it changes how hnet prints numbers")
  function os.setlocale(locale, ...)
    if locale ~= nil then change_locale() end
    return setlocale(locale, ...)
  end
  io.popen = blocked("io.popen")
  io.tmpfile = blocked("io.tmpfile", "it creates files")
  -- io reads: io.open for reading, io.lines, io.input; nothing opens a file for writing.
  local open, output = io.open, io.output
  function io.open(file, mode)
    if mode ~= nil and mode ~= "r" and mode ~= "rb" then
      fail(here(), nil, fmt("io.open(%q, %q): experiment files open files for reading only (mode \"r\" or \"rb\"); pass --unsafe-lua to allow writing",
        tostring(file), tostring(mode)))
    end
    return open(file, mode)
  end
  function io.output(file)
    if type(file) == "string" then
      fail(here(), nil, fmt("io.output(%q): experiment files cannot open files for writing; pass --unsafe-lua to allow it", file))
    end
    return output(file)
  end
  package.loadlib = blocked("package.loadlib")
  package.cpath = ""
  -- keep the preload and (text-only) Lua-file searchers; drop the two C-library ones
  for i = #package.searchers, 3, -1 do package.searchers[i] = nil end
end

local P = { order = ORDER, array = ARRAY }

-- "experiment" | "suite" for a constructor result; else nil and a description.
function P.classify(v)
  local k = kind_of(v)
  if k == "experiment" or k == "suite" then return k end
  return nil, describe(v)
end

return P
