-- a layout string that is not letter-count groups
local m = isotropic { layout = "T4x", d = 32 } --!
return experiment { data = corpus "synthetic", model = m }
