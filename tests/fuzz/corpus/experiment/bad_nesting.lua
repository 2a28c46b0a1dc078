-- unbalanced nesting: the middle list has 2 entries
return experiment {
  data  = corpus "synthetic",
  model = hnet { --!
    layout = { "m4", { "T1", { "T8" } }, "m4" },
    d      = { 64, 64, 96 },
  },
}
