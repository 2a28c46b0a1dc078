/* hnet report: one self-contained HTML file with the table and figures of a suite. */
#include <stdio.h>
#include <string.h>

#include "analysis/figures.h"
#include "cli/commands.h"
#include "cli/select.h"
#include "cli/util.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: hnet report [RUNS] [-o FILE.html] [--title TEXT] [--reference NAME]\n\n"
            "Writes one self-contained HTML file (no other files, no network): the comparison\n"
            "table of `hnet compare`, the crossovers, validation BPB against bytes seen and the\n"
            "per-stage compression figures (stage 0 = outermost), embedded as PNG images, the\n"
            "evaluations of the runs' checkpoints (hnet eval), and every run's corpus and\n"
            "resolved config.\n\n"
            HN_SELECT_HELP
            "\noutput:\n"
            "  -o FILE          default results/report.html\n"
            "  --title TEXT     default: the suite name, else \"hnet report\"\n"
            "  --reference NAME dotted lines where a run passes run NAME\n");
}

int hn_cmd_report(int argc, char **argv) {
    hn_selection sel = {0};
    const char *out = "results/report.html", *title = NULL, *reference = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int t = hn_select_arg(&sel, "report", argc, argv, &i);
        if (t < 0) return 2;
        if (t) continue;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "-o") && i + 1 < argc) {
            out = argv[++i];
        } else if (!strcmp(a, "--title") && i + 1 < argc) {
            title = argv[++i];
        } else if (!strcmp(a, "--reference") && i + 1 < argc) {
            reference = argv[++i];
        } else {
            fprintf(stderr, "hnet report: unknown argument '%s' (see hnet report --help)\n", a);
            return 2;
        }
    }
    hn_cmp_set set;
    hn_error err;
    if (hn_select_load(&sel, &set, &err)) {
        fprintf(stderr, "hnet report: %s\n", err.msg);
        return 1;
    }
    hn_note_db("report", set.db);
    hn_cmp_warn_corpora(&set, "hnet report: ", stderr);
    char tbuf[256];
    if (!title) {
        const char *s = sel.resolved_suite[0] ? sel.resolved_suite : sel.suite_name;
        if (s) snprintf(tbuf, sizeof tbuf, "Suite %s", s);
        else snprintf(tbuf, sizeof tbuf, "hnet report");
        title = tbuf;
    }
    if (set.n == 0) {
        fprintf(stderr, "hnet report: no runs matched\n");
        hn_cmp_free(&set);
        return 1;
    }
    int rc = hn_report_write(&set, title, reference, out, &err);
    if (rc) fprintf(stderr, "hnet report: %s\n", err.msg);
    else printf("wrote %s (%d run%s)\n", out, set.n, set.n == 1 ? "" : "s");
    hn_cmp_free(&set);
    return rc ? 1 : 0;
}
