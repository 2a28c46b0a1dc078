/* hnet plot: validation BPB against bytes seen (Figure 3) or the per-stage compression
 * against bytes seen (Figure 7), as PNG or SVG. */
#include <stdio.h>
#include <string.h>

#include "analysis/figures.h"
#include "cli/commands.h"
#include "cli/select.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: hnet plot [RUNS] [-o FILE.png|FILE.svg] [--compression] [--reference NAME]\n\n"
            "Draws validation bits-per-byte against training bytes seen (log scale) for the\n"
            "chosen runs (the paper's Figure 3), or with --compression the compression ratio\n"
            "L(s+1)/L(s) of every chunking stage against bytes seen (Figure 7), one file per\n"
            "stage (FILE-stage1.png, FILE-stage2.png, ...).\n\n"
            HN_SELECT_HELP
            "\noutput:\n"
            "  -o FILE          .png or .svg (default results/bpb.png, or\n"
            "                   results/compression.png with --compression)\n"
            "  --compression    the compression figures instead of BPB\n"
            "  --reference NAME dotted vertical lines where a run passes run NAME\n"
            "  --size WxH       figure size in pixels (default 960x600)\n");
}

static int write_one(const hn_figure *f, const char *path) {
    hn_error err;
    if (hn_plot_write(&f->plot, path, &err)) {
        fprintf(stderr, "hnet plot: %s\n", err.msg);
        return 1;
    }
    printf("wrote %s (%d curve%s)\n", path, f->plot.n_series, f->plot.n_series == 1 ? "" : "s");
    return 0;
}

int hn_cmd_plot(int argc, char **argv) {
    hn_selection sel = {0};
    const char *out = NULL, *reference = NULL;
    int compression = 0, W = 0, H = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int t = hn_select_arg(&sel, "plot", argc, argv, &i);
        if (t < 0) return 2;
        if (t) continue;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "-o") && i + 1 < argc) {
            out = argv[++i];
        } else if (!strcmp(a, "--compression")) {
            compression = 1;
        } else if (!strcmp(a, "--reference") && i + 1 < argc) {
            reference = argv[++i];
        } else if (!strcmp(a, "--size") && i + 1 < argc) {
            if (sscanf(argv[++i], "%dx%d", &W, &H) != 2 || W < 200 || H < 150 || W > 8000 || H > 8000) {
                fprintf(stderr, "hnet plot: --size expects WxH in pixels, e.g. 1200x800\n");
                return 2;
            }
        } else {
            fprintf(stderr, "hnet plot: unknown argument '%s' (see hnet plot --help)\n", a);
            return 2;
        }
    }
    if (!out) out = compression ? "results/compression.png" : "results/bpb.png";
    hn_cmp_set set;
    hn_error err;
    if (hn_select_load(&sel, &set, &err)) {
        fprintf(stderr, "hnet plot: %s\n", err.msg);
        return 1;
    }
    int rc = 0;
    hn_figure f;
    if (set.n == 0) {
        fprintf(stderr, "hnet plot: no runs matched\n");
        rc = 1;
    } else if (!compression) {
        hn_figure_bpb(&f, &set, reference);
        f.plot.width = W, f.plot.height = H;
        rc = write_one(&f, out);
        hn_figure_free(&f);
    } else {
        int S = hn_figure_max_stages(&set), made = 0;
        const char *dot = strrchr(out, '.');
        for (int s = 0; s < S && rc == 0; s++) {
            if (hn_figure_compression(&f, &set, s) > 0) {
                char path[1100];
                snprintf(path, sizeof path, "%.*s-stage%d%s", (int)(dot ? dot - out : (long)strlen(out)),
                         out, s + 1, dot ? dot : ".png");
                f.plot.width = W, f.plot.height = H;
                rc = write_one(&f, path);
                made++;
            }
            hn_figure_free(&f);
        }
        if (!made) {
            fprintf(stderr, "hnet plot: none of the runs chunks (no compression curves)\n");
            rc = 1;
        }
    }
    hn_cmp_free(&set);
    return rc;
}
