-- 3 stages but 2 widths
return experiment {
  data  = corpus "synthetic",
  model = hnet { layout = { "m4", { "T1m4", { "T8" }, "m4T1" }, "m4" }, --!
                 d = { 512, 768 } },
}
