/* Scaling fits (analysis/scaling_fit.h, scaling_runs.h): loss = a * C^b recovered from
 * synthetic runs made with known a and b, exactly without noise and within its standard
 * errors with noise (whose coverage is checked over many draws); crossings against the
 * closed form and their place against the observed compute; families of one run listed,
 * not fitted; runs read from a results.db (training FLOPs from the logged FLOPs curve,
 * families from the config); and the log-log figure drawn to a file. */
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
#include "analysis/scaling_fit.h"
#include "analysis/scaling_runs.h"
#include "core/rng.h"
#include "results/store.h"

static char dir[256];

static int setup(void **state) {
    snprintf(dir, sizeof dir, "/tmp/hn_test_fit_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}
static int teardown(void **state) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

/* n computes spread log-uniformly over [c0, c0 * 10^decades], losses a * C^b times
 * exp(sigma * normal). */
static void synth(double a, double b, double c0, double decades, int n, double sigma, hn_rng *r,
                  double *c, double *l) {
    for (int i = 0; i < n; i++) {
        c[i] = c0 * pow(10, decades * i / (n - 1));
        l[i] = a * pow(c[i], b) * exp(sigma * (r ? hn_rng_normal(r) : 0));
    }
}

/* Without noise the fit is the generating law to rounding (relative 1e-9 on a, 1e-10 on b),
 * and the standard errors vanish. */
static void test_recovers_exact(void **state) {
    double c[9], l[9];
    synth(5.0, -0.05, 1e12, 4, 9, 0, NULL, c, l);
    hn_power_fit f;
    assert_int_equal(hn_power_fit_points(c, l, 9, &f), HN_FIT_OK);
    assert_true(fabs(f.a - 5.0) / 5.0 < 1e-9);
    assert_true(fabs(f.b + 0.05) < 1e-10);
    assert_true(f.se_b < 1e-9 && f.se_a < 1e-8);
    assert_true(fabs(hn_power_fit_at(&f, 1e14) - 5.0 * pow(1e14, -0.05)) < 1e-9);
    assert_true(f.c_min == 1e12 && fabs(f.c_max - 1e16) < 1e4);
    /* two points: the line through them, no residual degrees of freedom for errors */
    assert_int_equal(hn_power_fit_points(c, l, 2, &f), HN_FIT_OK);
    assert_true(fabs(f.b + 0.05) < 1e-10);
    assert_true(isnan(f.se_b) && isnan(f.se_a));
}

/* With 2% multiplicative noise over 30 runs: one draw lands within 3 standard errors
 * of the truth in a and b (and b within 0.01 absolutely); the standard error of b is
 * the textbook sigma / sqrt(Sxx) within 35%; and over 400 draws the +-2 SE interval
 * covers the true b in 90%..99% of them (95% expected), so the errors are neither
 * too small nor too large. */
static void test_recovers_with_noise(void **state) {
    enum { N = 30 };
    const double A = 5.0, B = -0.05, SIGMA = 0.02;
    double c[N], l[N];
    hn_rng r;
    hn_rng_seed(&r, 42);
    synth(A, B, 1e12, 4, N, SIGMA, &r, c, l);
    hn_power_fit f;
    assert_int_equal(hn_power_fit_points(c, l, N, &f), HN_FIT_OK);
    assert_true(fabs(f.b - B) < 3 * f.se_b);
    assert_true(fabs(f.b - B) < 0.01);
    assert_true(fabs(f.log_a - log(A)) < 3 * f.se_log_a);
    assert_true(fabs(f.a - A) < 3 * f.se_a);
    double mx = 0, sxx = 0;
    for (int i = 0; i < N; i++) mx += log(c[i]) / N;
    for (int i = 0; i < N; i++) sxx += (log(c[i]) - mx) * (log(c[i]) - mx);
    double expected_se = SIGMA / sqrt(sxx);
    assert_true(f.se_b > 0.65 * expected_se && f.se_b < 1.35 * expected_se);

    int covered = 0, draws = 400;
    for (int k = 0; k < draws; k++) {
        synth(A, B, 1e12, 4, N, SIGMA, &r, c, l);
        hn_power_fit_points(c, l, N, &f);
        covered += fabs(f.b - B) < 2 * f.se_b;
    }
    assert_true(covered >= 0.90 * draws && covered <= 0.99 * draws);
}

static void test_not_fittable(void **state) {
    double c[3] = {1e12, 1e12, 1e12}, l[3] = {2, 2.1, 1.9};
    hn_power_fit f;
    assert_int_equal(hn_power_fit_points(c, l, 1, &f), HN_FIT_TOO_FEW);
    assert_int_equal(hn_power_fit_points(c, l, 0, &f), HN_FIT_TOO_FEW);
    assert_int_equal(hn_power_fit_points(c, l, 3, &f), HN_FIT_ONE_COMPUTE);
    double bad[2] = {1e12, 0};
    assert_int_equal(hn_power_fit_points(bad, l, 2, &f), HN_FIT_BAD_VALUE);
    assert_true(isnan(hn_power_fit_at(&f, 1e12)));
}

static hn_power_fit line(double a, double b, double c_min, double c_max) {
    double c[2] = {c_min, c_max}, l[2] = {a * pow(c_min, b), a * pow(c_max, b)};
    hn_power_fit f;
    hn_power_fit_points(c, l, 2, &f);
    return f;
}

/* 4 C^-0.02 and 8 C^-0.06 meet where C^0.04 = 2: C = 2^25, loss 4 * 2^-0.5. */
static void test_crossing(void **state) {
    hn_power_fit p = line(4, -0.02, 1e6, 1e9), q = line(8, -0.06, 1e7, 1e8);
    hn_fit_crossing x = hn_power_fit_cross(&p, &q);
    assert_int_equal(x.where, HN_CROSS_WITHIN); /* 3.4e7 is in [1e7, 1e8] */
    assert_true(fabs(x.c / 33554432.0 - 1) < 1e-9);
    assert_true(fabs(x.loss - 4 * pow(2, -0.5)) < 1e-9);
    assert_int_equal(x.lower_above, 1); /* the steeper q is lower above the crossing */
    assert_true(hn_power_fit_at(&q, 1e9) < hn_power_fit_at(&p, 1e9));
    x = hn_power_fit_cross(&q, &p); /* symmetric */
    assert_true(fabs(x.c / 33554432.0 - 1) < 1e-9);
    assert_int_equal(x.lower_above, 0);

    q = line(8, -0.06, 1e4, 1e6); /* both observed up to 1e6 only: crossing above */
    assert_int_equal(hn_power_fit_cross(&p, &q).where, HN_CROSS_ABOVE);
    p = line(4, -0.02, 1e8, 1e10), q = line(8, -0.06, 1e8, 1e9); /* observed from 1e8 on */
    assert_int_equal(hn_power_fit_cross(&p, &q).where, HN_CROSS_BELOW);
    p = line(4, -0.02, 1e5, 1e6), q = line(8, -0.06, 1e9, 1e10); /* disjoint, gap holds it */
    assert_int_equal(hn_power_fit_cross(&p, &q).where, HN_CROSS_BETWEEN);
    q = line(8, -0.02, 1e5, 1e6); /* parallel */
    x = hn_power_fit_cross(&p, &q);
    assert_int_equal(x.where, HN_CROSS_NONE);
    assert_true(isnan(x.c));
    assert_string_equal(hn_cross_where_name(HN_CROSS_WITHIN), "within");
}

static char *print_to_string(const hn_cmp_set *set, const hn_scaling *s, hn_table_format fmt) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    hn_scaling_print(set, s, fmt, f);
    fclose(f);
    return buf;
}

/* Families built by hand: a fitted pair that crosses, one of a single run (reported,
 * not fitted), in text, Markdown and CSV. */
static void test_families_report(void **state) {
    hn_scaling s = {0};
    double c[4], l[4];
    synth(4, -0.02, 1e6, 3, 4, 0, NULL, c, l);
    for (int i = 0; i < 4; i++) hn_scaling_add(&s, "llama", -1, c[i], l[i]);
    synth(8, -0.06, 1e6, 3, 4, 0, NULL, c, l);
    for (int i = 0; i < 4; i++) hn_scaling_add(&s, "hnet", -1, c[i], l[i]);
    hn_scaling_add(&s, "lonely", -1, 1e7, 3.0);
    hn_scaling_fit_all(&s);
    assert_int_equal(s.n_families, 3);
    assert_int_equal(s.families[0].fit.status, HN_FIT_OK);
    assert_int_equal(s.families[1].fit.status, HN_FIT_OK);
    assert_int_equal(s.families[2].fit.status, HN_FIT_TOO_FEW);
    hn_cmp_set set = {0};
    char *t = print_to_string(&set, &s, HN_FMT_TEXT);
    assert_non_null(strstr(t, "llama: 4 runs, a = 4 ± "));
    assert_non_null(strstr(t, ", b = -0.0200 ± "));
    assert_non_null(strstr(t, "lonely: not fitted: 1 run (a fit needs 2)"));
    assert_non_null(strstr(t, "llama and hnet: cross at C = 3.36e+07 (BPB 2.8284), within the compute both "
                              "were observed at; above it hnet is lower"));
    assert_null(strstr(t, "lonely and")); /* no crossing with an unfitted family */
    free(t);
    t = print_to_string(&set, &s, HN_FMT_MARKDOWN);
    assert_non_null(strstr(t, "| lonely | 1 | – | – | not fitted: 1 run (a fit needs 2) |"));
    assert_non_null(strstr(t, "| llama / hnet | 3.36e+07 | 2.8284 | within the compute both were observed at | hnet |"));
    free(t);
    t = print_to_string(&set, &s, HN_FMT_CSV);
    assert_non_null(strstr(t, "family,runs,a,a_se,b,b_se,c_min,c_max,status\n\"llama\",4,4,"));
    assert_non_null(strstr(t, "\"lonely\",1,,,,,,,too_few_runs\n"));
    free(t);
    hn_scaling_free(&s);
}

/* ---------- runs from results.db ---------- */

static int64_t add_run(hn_results *r, const char *name, const char *cfg, const char *status,
                       double gflops, long bytes_per_step, int steps, double bpb) {
    hn_run_info info = {.name = name, .config_json = cfg, .seed = 1, .n_params = 1000};
    int64_t id;
    hn_error err;
    assert_int_equal(hn_results_begin_run(r, &info, &id, &err), HN_OK);
    for (int k = 1; k <= steps; k++) {
        /* the FLOPs per byte drift (as realised chunk lengths do); C integrates them */
        hn_results_log(r, id, k, (int64_t)k * bytes_per_step, "train", "gflops_per_byte", gflops * (1 + 0.1 * k));
        hn_results_log(r, id, k, (int64_t)k * bytes_per_step, "valid", "bpb", k < steps ? bpb + 1.0 / k : bpb);
    }
    assert_int_equal(hn_results_end_run(r, id, status, NULL, &err), HN_OK);
    return id;
}

static void test_runs_from_db(void **state) {
    char path[300];
    snprintf(path, sizeof path, "%s/r.db", dir);
    hn_results *r;
    hn_error err;
    assert_int_equal(hn_results_open(path, &r, &err), HN_OK);
    const char *iso_t = "{\"name\":\"x\",\"model\":{\"kind\":\"isotropic\",\"layout\":\"T%d\",\"stages\":1}}";
    const char *hnet = "{\"name\":\"x\",\"family\":\"my hnet\",\"model\":{\"kind\":\"hnet\",\"layout\":"
                       "[\"m2\",[\"T%d\"],\"m2\"],\"stages\":2,\"chunker\":{\"kind\":\"dc\"}}}";
    char cfg[400];
    /* llama: L = 6 C^-0.03 exactly; per run C = 3e9 * sum_k g (1 + 0.1k) * B */
    int depth[3] = {2, 4, 8};
    double expect_c[3];
    for (int i = 0; i < 3; i++) {
        double g = 0.001 * depth[i], B = 1000, sum = 0;
        for (int k = 1; k <= 5; k++) sum += g * (1 + 0.1 * k) * B;
        expect_c[i] = 3e9 * sum;
        snprintf(cfg, sizeof cfg, iso_t, depth[i]);
        char name[32];
        snprintf(name, sizeof name, "llama-%d", depth[i]);
        add_run(r, name, cfg, "finished", g, (long)B, 5, 6 * pow(expect_c[i], -0.03));
    }
    snprintf(cfg, sizeof cfg, iso_t, 16);
    add_run(r, "llama-16", cfg, "failed", 0.016, 1000, 3, 2.0); /* left out: not finished */
    for (int i = 0; i < 2; i++) {
        snprintf(cfg, sizeof cfg, hnet, 2 + 2 * i);
        char name[32];
        snprintf(name, sizeof name, "hnet-%d", i);
        add_run(r, name, cfg, "finished", 0.002 * (i + 1), 1000, 5, 3.0 - 0.5 * i);
    }
    hn_results_close(r);

    hn_cmp_set set;
    assert_int_equal(hn_cmp_load_where(path, NULL, 0, &set, &err), HN_OK);
    assert_int_equal(set.n, 6);
    hn_scaling s;
    assert_int_equal(hn_scaling_from_set(&set, &s, &err), HN_OK);
    assert_int_equal(s.n_families, 2);
    assert_string_equal(s.families[0].name, "isotropic T"); /* kind and layout letters */
    assert_string_equal(s.families[1].name, "my hnet");     /* the family key wins */
    assert_int_equal(s.families[0].n, 3);
    for (int i = 0; i < 3; i++) assert_true(fabs(s.families[0].c[i] / expect_c[i] - 1) < 1e-12);
    assert_true(fabs(s.families[0].fit.b + 0.03) < 1e-9);
    assert_true(fabs(s.families[0].fit.a - 6) < 1e-7);
    assert_int_equal(s.n_skipped, 1);
    assert_string_equal(set.runs[s.skipped[0].run].name, "llama-16");
    assert_string_equal(s.skipped[0].why, "failed, not finished");
    char *t = print_to_string(&set, &s, HN_FMT_TEXT);
    assert_non_null(strstr(t, "left out: llama-16 (failed, not finished)"));
    assert_non_null(strstr(t, "my hnet: 2 runs, a = "));
    assert_non_null(strstr(t, "(2 runs: no standard errors)"));
    free(t);

    /* the figure: points and fits on log-log axes, written as PNG and SVG */
    hn_figure f;
    assert_int_equal(hn_figure_fit(&f, &s, NULL), 2);
    assert_int_equal(f.plot.n_series, 4); /* per family: its runs, its fit */
    assert_true(f.plot.logx && f.plot.logy);
    assert_true(f.plot.series[0].points_only && !f.plot.series[1].points_only);
    assert_string_equal(f.plot.series[0].label, "isotropic T (3 runs)");
    assert_int_equal(f.plot.n_vlines, 1); /* the two fits cross inside the drawn compute */
    char png[320], svg[320];
    snprintf(png, sizeof png, "%s/fit.png", dir);
    snprintf(svg, sizeof svg, "%s/fit.svg", dir);
    assert_int_equal(hn_plot_write(&f.plot, png, &err), HN_OK);
    assert_int_equal(hn_plot_write(&f.plot, svg, &err), HN_OK);
    cairo_surface_t *img = cairo_image_surface_create_from_png(png);
    assert_int_equal(cairo_surface_status(img), CAIRO_STATUS_SUCCESS);
    assert_int_equal(cairo_image_surface_get_width(img), 960);
    cairo_surface_destroy(img);
    assert_int_equal(access(svg, R_OK), 0);
    hn_figure_free(&f);
    hn_scaling_free(&s);
    hn_cmp_free(&set);
}

/* Training FLOPs: 3 x the integral of the logged FLOPs/byte over bytes, the last value
 * carried to the final bytes seen when the curve ends before them. */
static void test_training_flops(void **state) {
    double x[3] = {100, 200, 400}, y[3] = {1, 2, 4};
    hn_curve g = {.n = 3, .x = x, .y = y};
    assert_true(fabs(hn_training_flops(&g, 400) - 3e9 * (100 + 200 + 800)) < 1);
    assert_true(fabs(hn_training_flops(&g, 500) - 3e9 * (100 + 200 + 800 + 400)) < 1);
    hn_curve none = {0};
    assert_true(isnan(hn_training_flops(&none, 400)));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recovers_exact),
        cmocka_unit_test(test_recovers_with_noise),
        cmocka_unit_test(test_not_fittable),
        cmocka_unit_test(test_crossing),
        cmocka_unit_test(test_families_report),
        cmocka_unit_test(test_training_flops),
        cmocka_unit_test(test_runs_from_db),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
