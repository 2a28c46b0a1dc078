/* hnet plot's figures: a PNG with the right signature and size whose pixels show the
 * curves in their colours, an SVG that is well-formed XML, and clear errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cairo.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/figures.h"
#include "analysis/plot.h"

static char dir[256];
static double x[40], ya[40], yb[40];
static hn_plot_series series[2];
static hn_plot plot;

static int setup(void **state) {
    snprintf(dir, sizeof dir, "/tmp/hn_test_plot_XXXXXX");
    if (!mkdtemp(dir)) return -1;
    for (int i = 0; i < 40; i++) {
        x[i] = 1000.0 * pow(1.3, i);
        ya[i] = 3.0 - 0.04 * i;
        yb[i] = 2.5 - 0.01 * i;
    }
    series[0] = (hn_plot_series){.label = "llama-ref", .x = x, .y = ya, .n = 40, .color = 0};
    series[1] = (hn_plot_series){.label = "hnet-2stage", .x = x, .y = yb, .n = 40, .color = 1};
    static const double vl[1] = {30000};
    plot = (hn_plot){.title = "Validation bits per byte", .xlabel = "bytes seen", .ylabel = "BPB",
                     .logx = 1, .n_series = 2, .series = series, .n_vlines = 1, .vlines = vl};
    return 0;
}
static int teardown(void **state) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

static unsigned char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    unsigned char *d = malloc(*len + 1);
    assert_int_equal(fread(d, 1, *len, f), *len);
    d[*len] = 0;
    fclose(f);
    return d;
}

/* Pixels of the image close to an RGB colour. */
static long count_colour(cairo_surface_t *s, int r, int g, int b) {
    int w = cairo_image_surface_get_width(s), h = cairo_image_surface_get_height(s);
    int stride = cairo_image_surface_get_stride(s);
    const unsigned char *d = cairo_image_surface_get_data(s);
    long n = 0;
    for (int yy = 0; yy < h; yy++)
        for (int xx = 0; xx < w; xx++) {
            uint32_t p = *(const uint32_t *)(d + yy * stride + 4 * xx);
            int pr = p >> 16 & 255, pg = p >> 8 & 255, pb = p & 255;
            if (abs(pr - r) < 20 && abs(pg - g) < 20 && abs(pb - b) < 20) n++;
        }
    return n;
}

static void test_png(void **state) {
    char path[300];
    snprintf(path, sizeof path, "%s/bpb.png", dir);
    hn_error err;
    assert_int_equal(hn_plot_write(&plot, path, &err), HN_OK);
    size_t len;
    unsigned char *d = slurp(path, &len);
    assert_true(len > 2000);
    assert_memory_equal(d, "\x89PNG\r\n\x1a\n", 8);
    assert_memory_equal(d + 12, "IHDR", 4);
    assert_int_equal(d[16] << 24 | d[17] << 16 | d[18] << 8 | d[19], 960); /* width */
    assert_int_equal(d[20] << 24 | d[21] << 16 | d[22] << 8 | d[23], 600); /* height */
    free(d);
    /* both curves are drawn, each in its palette colour (blue 0,114,178; orange 213,94,0) */
    cairo_surface_t *s = cairo_image_surface_create_from_png(path);
    assert_int_equal(cairo_surface_status(s), CAIRO_STATUS_SUCCESS);
    long blue = count_colour(s, 0, 114, 178), orange = count_colour(s, 213, 94, 0);
    long white = count_colour(s, 255, 255, 255), dark = count_colour(s, 0, 0, 0);
    cairo_surface_destroy(s);
    assert_true(blue > 500);
    assert_true(orange > 500);
    assert_true(white > 960 * 600 / 2); /* mostly background */
    assert_true(dark > 500);            /* axes, ticks and text */
    /* one series only: no orange */
    hn_plot one = plot;
    one.n_series = 1;
    assert_int_equal(hn_plot_write(&one, path, &err), HN_OK);
    s = cairo_image_surface_create_from_png(path);
    assert_true(count_colour(s, 213, 94, 0) < 10);
    cairo_surface_destroy(s);
}

/* A small well-formedness check: every start tag is closed in order. */
static int xml_well_formed(const char *s) {
    const char *stack[256];
    size_t lens[256];
    int depth = 0, root_seen = 0;
    for (const char *p = strchr(s, '<'); p; p = strchr(p, '<')) {
        if (p[1] == '?' || p[1] == '!') { /* declaration, comment, CDATA */
            const char *e = strstr(p, p[1] == '!' && p[2] == '-' ? "-->" : ">");
            if (!e) return 0;
            p = e + 1;
            continue;
        }
        const char *e = strchr(p, '>');
        if (!e) return 0;
        int closing = p[1] == '/', self = e[-1] == '/';
        const char *n = p + 1 + closing;
        size_t nl = strcspn(n, " \t\r\n/>");
        if (closing) {
            if (depth == 0 || lens[depth - 1] != nl || strncmp(stack[depth - 1], n, nl)) return 0;
            depth--;
        } else if (!self) {
            if (depth == 256) return 0;
            if (depth == 0 && root_seen) return 0;
            stack[depth] = n, lens[depth] = nl, depth++;
            root_seen = 1;
        }
        p = e + 1;
    }
    return depth == 0 && root_seen;
}

static void test_svg(void **state) {
    char path[300];
    snprintf(path, sizeof path, "%s/bpb.svg", dir);
    hn_error err;
    assert_int_equal(hn_plot_write(&plot, path, &err), HN_OK);
    size_t len;
    char *d = (char *)slurp(path, &len);
    assert_non_null(strstr(d, "<svg"));
    assert_non_null(strstr(d, "width=\"960\""));
    assert_true(xml_well_formed(d));
    /* the checker rejects broken XML */
    char *cut = strstr(d, "</svg>");
    *cut = 0;
    assert_false(xml_well_formed(d));
    assert_false(xml_well_formed("<a><b></a></b>"));
    assert_true(xml_well_formed("<?xml version=\"1.0\"?><a><b/><c x=\"1\"></c></a>"));
    free(d);
}

static void test_errors(void **state) {
    hn_error err;
    char path[300];
    snprintf(path, sizeof path, "%s/bpb.gif", dir);
    assert_int_equal(hn_plot_write(&plot, path, &err), HN_ERR);
    assert_non_null(strstr(err.msg, "use a .png or .svg"));
    hn_plot empty = plot;
    empty.n_series = 0;
    snprintf(path, sizeof path, "%s/empty.png", dir);
    assert_int_equal(hn_plot_write(&empty, path, &err), HN_ERR);
    assert_non_null(strstr(err.msg, "nothing to plot"));
    unsigned char *png;
    size_t len;
    assert_int_equal(hn_plot_png(&plot, &png, &len, &err), HN_OK);
    assert_memory_equal(png, "\x89PNG", 4);
    free(png);
}

/* The compression figure of stage 0 (the outermost) carries a labelled dashed line at
 * each run's target (dc ratio 3 -> 1/3), curves are labelled with their corpus when the
 * runs mix corpora, crossover lines with who passes whom, and --title replaces the
 * default title. */
static const char *path_in_tmp(const char *name) {
    static char p[400];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

static void test_figure_lines_and_labels(void **state) {
    double xs[3] = {1e3, 1e4, 1e5}, ys[3] = {0.6, 0.4, 0.34}, va[3] = {3.0, 2.0, 1.0},
           vb[3] = {2.5, 2.0, 1.5};
    hn_curve comp = {.name = "stage0.compression", .n = 3, .x = xs, .y = ys};
    hn_cmp_run runs[2] = {
        {.name = "hnet", .corpus = "enwik8", .n_stages = 1, .compression = &comp,
         .valid = {.n = 3, .x = xs, .y = va},
         .config_json = "{\"model\":{\"kind\":\"hnet\",\"chunker\":{\"kind\":\"dc\",\"ratio\":[3]}}}"},
        {.name = "llama", .corpus = "text8", .valid = {.n = 3, .x = xs, .y = vb}},
    };
    hn_cmp_set set = {.n = 2, .runs = runs};
    hn_figure f;
    hn_error err;
    assert_int_equal(hn_figure_compression(&f, &set, 0, NULL), 1);
    assert_int_equal(f.plot.n_hlines, 1);
    assert_true(fabs(f.plot.hlines[0] - 1.0 / 3) < 1e-12);
    assert_string_equal(f.plot.hline_labels[0], "target 1/3 (dc ratio = 3)");
    assert_string_equal(f.plot.series[0].label, "hnet (enwik8)");
    assert_non_null(strstr(f.plot.title, "stage 0"));
    assert_int_equal(hn_plot_write(&f.plot, path_in_tmp("lines.png"), &err), HN_OK);
    hn_figure_free(&f);
    hn_figure_bpb(&f, &set, "llama", "My title");
    assert_string_equal(f.plot.title, "My title");
    assert_int_equal(f.plot.n_vlines, 1);
    assert_string_equal(f.plot.vline_labels[0], "hnet passes llama");
    assert_int_equal(hn_plot_write(&f.plot, path_in_tmp("lines.svg"), &err), HN_OK);
    hn_figure_free(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_png),
        cmocka_unit_test(test_svg),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_figure_lines_and_labels),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
