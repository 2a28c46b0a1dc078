/* hnet plot: validation BPB against bytes seen (Figure 3), the per-stage compression
 * against bytes seen (Figure 7), or any logged metric against bytes seen or steps, as
 * PNG or SVG. */
#include <stdio.h>
#include <string.h>

#include "analysis/figures.h"
#include "cli/commands.h"
#include "cli/select.h"
#include "cli/util.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: hnet plot [RUNS] [-o FILE.png|FILE.svg] [--metric NAME] [--x bytes|steps]\n"
            "                 [--compression] [--fit] [--reference NAME] [--title TEXT]\n\n"
            "Draws validation bits-per-byte against training bytes seen (log scale) for the\n"
            "chosen runs (the paper's Figure 3); with --compression the compression L(s+1)/L(s)\n"
            "of every chunking stage s against bytes seen (Figure 7), one file per stage\n"
            "(FILE-stage0.png, FILE-stage1.png, ...; stage 0 is the outermost, as in the metric\n"
            "names), each with a dashed line at the target ratio; with --metric any metric the\n"
            "runs logged; with --fit the scaling fits of `hnet compare --fit` (final validation\n"
            "BPB against training FLOPs, log-log: each family's runs and its fitted a * C^b, a\n"
            "dotted line where two fits cross). Each curve is labelled with its run (and its\n"
            "corpus when the runs used several; a warning says their BPB are not comparable).\n\n"
            HN_SELECT_HELP
            "\noutput:\n"
            "  -o FILE          .png or .svg (default results/bpb.png, results/compression.png\n"
            "                   with --compression, results/METRIC.png with --metric)\n"
            "  --metric NAME    plot this metric: [SPLIT/]NAME, e.g. train/bpb, bpb (valid),\n"
            "                   lr, grad_norm, bytes_per_s, aux_loss, gflops_per_byte,\n"
            "                   compression, ratio_loss, mean_p (every stage; or stage0.ratio_loss\n"
            "                   for one); an unknown name lists the metrics the runs logged\n"
            "  --x bytes|steps  x axis of --metric: bytes seen (log scale, default) or steps\n"
            "  --compression    the compression figures instead of BPB\n"
            "  --fit            the scaling-fit figure (default file results/fit.png)\n"
            "  --reference NAME dotted vertical lines, labelled, where a run passes run NAME\n"
            "  --title TEXT     the figure's title (default: what is plotted, and the corpus)\n"
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

/* --metric SPLIT/NAME or NAME (then the split that has it: valid before train). */
static int metric_figure(hn_figure *f, const hn_cmp_set *set, const char *metric, int by_step,
                         const char *title) {
    char split[16] = "", name[96];
    const char *slash = strchr(metric, '/');
    if (slash && slash - metric < (long)sizeof split) {
        snprintf(split, sizeof split, "%.*s", (int)(slash - metric), metric);
        snprintf(name, sizeof name, "%s", slash + 1);
    } else {
        snprintf(name, sizeof name, "%s", metric);
    }
    if (!strcmp(name, "bytes/s")) snprintf(name, sizeof name, "bytes_per_s");
    hn_error err;
    if (!split[0]) {
        char probe[128];
        int per_stage = !strcmp(name, "compression") || !strcmp(name, "mean_p") || !strcmp(name, "ratio_loss");
        snprintf(probe, sizeof probe, "%s%s", per_stage ? "stage0." : "", name);
        if (hn_cmp_metric_split(set, probe, split, &err) < 0) {
            fprintf(stderr, "hnet plot: %s\n", err.msg);
            return 1;
        }
        if (!split[0]) snprintf(split, sizeof split, "train");
    }
    int k = hn_figure_metric(f, set, split, name, by_step, title, &err);
    if (k < 0) {
        fprintf(stderr, "hnet plot: %s\n", err.msg);
        return 1;
    }
    if (k == 0) {
        char names[4096];
        hn_cmp_metric_names(set, names, sizeof names);
        fprintf(stderr, "hnet plot: none of the runs logged %s/%s; they logged: %s\n", split, name,
                names[0] ? names : "(nothing)");
        hn_figure_free(f);
        return 1;
    }
    return 0;
}

/* --fit: the runs' scaling fits, log-log. */
static int fit_figure(const hn_cmp_set *set, const char *title, int W, int H, const char *out) {
    hn_scaling s;
    hn_error err;
    if (hn_scaling_from_set(set, &s, &err)) {
        fprintf(stderr, "hnet plot: %s\n", err.msg);
        return 1;
    }
    hn_figure f;
    int rc = 0;
    if (hn_figure_fit(&f, &s, title) == 0) {
        fprintf(stderr, "hnet plot: no finished run with a validation BPB and FLOPs to fit\n");
        rc = 1;
    } else {
        f.plot.width = W, f.plot.height = H;
        rc = write_one(&f, out);
    }
    hn_figure_free(&f);
    hn_scaling_free(&s);
    return rc;
}

int hn_cmd_plot(int argc, char **argv) {
    hn_selection sel = {0};
    const char *out = NULL, *reference = NULL, *metric = NULL, *title = NULL;
    int compression = 0, W = 0, H = 0, by_step = 0, fit = 0;
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
        } else if (!strcmp(a, "--fit")) {
            fit = 1;
        } else if (!strcmp(a, "--metric") && i + 1 < argc) {
            metric = argv[++i];
        } else if (!strcmp(a, "--title") && i + 1 < argc) {
            title = argv[++i];
        } else if (!strcmp(a, "--x") && i + 1 < argc) {
            const char *x = argv[++i];
            if (!strcmp(x, "steps") || !strcmp(x, "step")) by_step = 1;
            else if (!strcmp(x, "bytes")) by_step = 0;
            else {
                fprintf(stderr, "hnet plot: --x expects bytes or steps, found '%s'\n", x);
                return 2;
            }
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
    if (!!metric + compression + fit > 1) {
        fprintf(stderr, "hnet plot: --metric, --compression and --fit are different figures; give one\n");
        return 2;
    }
    char default_out[200];
    if (metric) {
        snprintf(default_out, sizeof default_out, "results/%s.png", metric);
        for (char *p = default_out + 8; *p; p++)
            if (*p == '/') *p = '-';
    }
    if (!out)
        out = metric ? default_out : compression ? "results/compression.png" : fit ? "results/fit.png" : "results/bpb.png";
    hn_cmp_set set;
    hn_error err;
    if (hn_select_load(&sel, &set, &err)) {
        fprintf(stderr, "hnet plot: %s\n", err.msg);
        return 1;
    }
    hn_note_db("plot", set.db);
    int rc = 0;
    hn_figure f;
    if (set.n == 0) {
        fprintf(stderr, "hnet plot: no runs matched\n");
        hn_cmp_free(&set);
        return 1;
    }
    hn_cmp_warn_corpora(&set, "hnet plot: ", stderr);
    if (fit) {
        rc = fit_figure(&set, title, W, H, out);
    } else if (metric) {
        rc = metric_figure(&f, &set, metric, by_step, title);
        if (!rc) {
            f.plot.width = W, f.plot.height = H;
            rc = write_one(&f, out);
            hn_figure_free(&f);
        }
    } else if (!compression) {
        hn_figure_bpb(&f, &set, reference, title);
        f.plot.width = W, f.plot.height = H;
        rc = write_one(&f, out);
        hn_figure_free(&f);
    } else {
        int S = hn_figure_max_stages(&set), made = 0;
        const char *dot = strrchr(out, '.');
        for (int s = 0; s < S && rc == 0; s++) {
            if (hn_figure_compression(&f, &set, s, title) > 0) {
                char path[1100];
                snprintf(path, sizeof path, "%.*s-stage%d%s", (int)(dot ? dot - out : (long)strlen(out)),
                         out, s, dot ? dot : ".png");
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
