/* hnet compare: the Table 2 shaped comparison of runs and their crossover points. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/scaling_runs.h"
#include "cli/commands.h"
#include "cli/select.h"
#include "cli/util.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: hnet compare [RUNS] [--format text|csv|markdown] [--crossovers] [--fit]\n\n"
            "Compares runs in the shape of the H-Net paper's Table 2: model, layout, params,\n"
            "GFLOPs/byte, bytes per token (a token-level model's, data.tokenizer; 1 for bytes),\n"
            "bytes per innermost chunk, final validation BPB (token-level models too: bits per\n"
            "byte over the same validation bytes), bytes seen; then the crossover points where\n"
            "one validation-BPB curve passes another (Figure 3's dotted lines), interpolated in\n"
            "log(bytes). Runs whose configs differ only by seed (and\n"
            "name) are one row: valid BPB as mean ± sample sd over them, `seeds` their count.\n"
            "Each run's corpus is shown; runs on different corpora are compared with a warning.\n"
            "Then the evaluations of the runs' checkpoints (`hnet eval`: BPB on a corpus split,\n"
            "zero-shot task accuracy, robustness), the newest of each task, data, step, metric.\n\n"
            HN_SELECT_HELP
            "\noutput:\n"
            "  --format F       text (default), csv or markdown\n"
            "  --csv, --markdown  shorthands\n"
            "  --crossovers     only the crossovers (with csv: their own CSV table)\n"
            "  --no-crossovers  leave out the crossovers\n"
            "  --evaluations    only the evaluations (with csv: their own CSV table)\n"
            "  --no-evaluations leave out the evaluations\n"
            "  --per-run        one row per run (no averaging over seeds)\n"
            "  --fit            only the scaling fits: loss = a * C^b per model family over the\n"
            "                   finished runs (C training FLOPs, loss final validation BPB; family:\n"
            "                   the experiment's `family` key, else model kind and layout letters),\n"
            "                   a and b with standard errors and where the fitted curves cross\n"
            "                   (with csv: the fits table)\n");
}

/* --fit: the scaling fits alone (analysis/scaling_runs.h). */
static int print_fit(const hn_cmp_set *set, hn_table_format fmt) {
    hn_scaling s;
    hn_error err;
    if (hn_scaling_from_set(set, &s, &err)) {
        fprintf(stderr, "hnet compare: %s\n", err.msg);
        return 1;
    }
    hn_scaling_print(set, &s, fmt, stdout);
    hn_scaling_free(&s);
    return 0;
}

int hn_cmd_compare(int argc, char **argv) {
    hn_selection sel = {0};
    hn_table_format fmt = HN_FMT_TEXT;
    int table = 1, cross = 1, evals = 1, per_run = 0, fit = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int t = hn_select_arg(&sel, "compare", argc, argv, &i);
        if (t < 0) return 2;
        if (t) continue;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--format") && i + 1 < argc) {
            const char *f = argv[++i];
            if (!strcmp(f, "text")) fmt = HN_FMT_TEXT;
            else if (!strcmp(f, "csv")) fmt = HN_FMT_CSV;
            else if (!strcmp(f, "markdown") || !strcmp(f, "md")) fmt = HN_FMT_MARKDOWN;
            else {
                fprintf(stderr, "hnet compare: --format expects text, csv or markdown, found '%s'\n", f);
                return 2;
            }
        } else if (!strcmp(a, "--csv")) {
            fmt = HN_FMT_CSV;
        } else if (!strcmp(a, "--markdown")) {
            fmt = HN_FMT_MARKDOWN;
        } else if (!strcmp(a, "--crossovers")) {
            table = 0, cross = 1, evals = 0;
        } else if (!strcmp(a, "--no-crossovers")) {
            cross = 0, table = 1;
        } else if (!strcmp(a, "--evaluations")) {
            table = 0, cross = 0, evals = 1;
        } else if (!strcmp(a, "--no-evaluations")) {
            evals = 0;
        } else if (!strcmp(a, "--per-run")) {
            per_run = 1;
        } else if (!strcmp(a, "--fit")) {
            fit = 1;
        } else {
            fprintf(stderr, "hnet compare: unknown argument '%s' (see hnet compare --help)\n", a);
            return 2;
        }
    }
    if (fmt == HN_FMT_CSV && table) cross = evals = 0; /* one CSV table per output */
    hn_cmp_set set;
    hn_error err;
    if (hn_select_load(&sel, &set, &err)) {
        fprintf(stderr, "hnet compare: %s\n", err.msg);
        return 1;
    }
    hn_note_db("compare", set.db);
    if (set.n == 0) {
        fprintf(stderr, "hnet compare: no runs matched\n");
        hn_cmp_free(&set);
        return 1;
    }
    hn_cmp_warn_corpora(&set, "hnet compare: ", stderr);
    if (fit) {
        int rc = print_fit(&set, fmt);
        hn_cmp_free(&set);
        return rc;
    }
    if (table) hn_cmp_print_table(&set, fmt, per_run, stdout);
    if (evals) {
        int any = 0;
        for (int i = 0; i < set.n; i++) any += set.runs[i].n_evals;
        if (any && table) printf(fmt == HN_FMT_MARKDOWN ? "\nEvaluations:\n\n" : "\nevaluations:\n");
        if (!any && !table) printf("no evaluations: run hnet eval on the runs' checkpoints\n");
        hn_cmp_print_evaluations(&set, fmt, stdout);
    }
    if (cross) {
        hn_crossover *c;
        int n = hn_cmp_crossovers(&set, &c);
        if (table) printf(fmt == HN_FMT_MARKDOWN ? "\nCrossovers:\n\n" : "\ncrossovers:\n");
        hn_cmp_print_crossovers(&set, c, n, fmt, stdout);
        free(c);
    }
    hn_cmp_free(&set);
    return 0;
}
