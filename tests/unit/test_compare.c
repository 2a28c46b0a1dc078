/* hnet compare: runs loaded from a results.db written through the store API, the
 * crossover points of synthetic curves against an independent closed-form answer, and
 * the text / CSV / Markdown tables. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/compare.h"
#include "analysis/figures.h"
#include "analysis/run_config.h"
#include "core/rng.h"
#include "results/store.h"

static char dir[256];

static int setup(void **state) {
    snprintf(dir, sizeof dir, "/tmp/hn_test_compare_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}
static int teardown(void **state) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

static const char *CFG_ISO = "{\"name\":\"%s\",\"suite\":\"s\",\"model\":{\"kind\":\"isotropic\","
                             "\"layout\":\"T4\",\"stages\":1}}";
static const char *CFG_HNET = "{\"name\":\"%s\",\"suite\":\"s\",\"model\":{\"kind\":\"hnet\","
                              "\"layout\":[\"m4\",[\"T1m4\",[\"T26\"],\"m4T1\"],\"m4\"],\"stages\":3,"
                              "\"chunker\":{\"kind\":\"dc\"}}}";

/* A run whose valid BPB is f(bytes) at bytes = 1000 * 2^k, k = 0..n-1 (plus step 0). */
static int64_t add_run(hn_results *r, const char *name, const char *cfg_fmt, const char *status,
                       double a, double b, int n) {
    char cfg[512];
    snprintf(cfg, sizeof cfg, cfg_fmt, name);
    hn_run_info info = {.name = name, .config_json = cfg, .seed = 1, .n_params = 123456};
    int64_t id;
    hn_error err;
    assert_int_equal(hn_results_begin_run(r, &info, &id, &err), HN_OK);
    hn_results_log(r, id, 0, 0, "valid", "bpb", 8.0);
    for (int k = 0; k < n; k++) {
        double x = 1000.0 * pow(2, k);
        /* a straight line in log2(bytes): a - b * log2(x / 1000) */
        hn_results_log(r, id, k + 1, (int64_t)x, "valid", "bpb", a - b * k);
        hn_results_log(r, id, k + 1, (int64_t)x, "valid", "bpic", 4.5);
        hn_results_log(r, id, k + 1, (int64_t)x, "train", "gflops_per_byte", 0.25);
        hn_results_log(r, id, k + 1, (int64_t)x, "train", "stage0.compression", 0.3);
    }
    assert_int_equal(hn_results_end_run(r, id, status, NULL, &err), HN_OK);
    return id;
}

static void make_db(char *path, size_t n, int64_t ids[4]) {
    snprintf(path, n, "%s/r%d.db", dir, rand());
    hn_results *r;
    hn_error err;
    assert_int_equal(hn_results_open(path, &r, &err), HN_OK);
    /* A: 3.0 - 0.1k, B: 2.6 - 0.02k: A passes B where 0.4 = 0.08k, k = 5 -> 32000 bytes */
    ids[0] = add_run(r, "A", CFG_ISO, "finished", 3.0, 0.1, 9);
    ids[1] = add_run(r, "B", CFG_HNET, "finished", 2.6, 0.02, 9);
    ids[2] = add_run(r, "B", CFG_HNET, "failed", 9.0, 0.0, 3); /* a newer failed rerun */
    ids[3] = add_run(r, "C", CFG_ISO, "finished", 5.0, 0.0, 9); /* never crosses */
    hn_results_close(r);
}

static void test_crossover_of_lines(void **state) {
    char path[300];
    int64_t ids[4];
    make_db(path, sizeof path, ids);
    hn_cmp_set set;
    hn_error err;
    int64_t pick[2] = {ids[0], ids[1]};
    assert_int_equal(hn_cmp_load_ids(path, pick, 2, &set, &err), HN_OK);
    hn_crossover *c;
    int n = hn_cmp_crossovers(&set, &c);
    assert_int_equal(n, 1);
    assert_string_equal(set.runs[c[0].a].name, "A");
    assert_string_equal(set.runs[c[0].b].name, "B");
    /* interpolation in log(bytes) of straight lines in log(bytes) is exact */
    assert_true(fabs(c[0].bytes - 32000.0) < 1e-6 * 32000.0);
    assert_true(fabs(c[0].bpb - 2.5) < 1e-9);
    free(c);
    hn_cmp_free(&set);
}

static void test_crossings_random_curves(void **state) {
    /* random piecewise curves against a brute-force sign-change count on a fine grid */
    hn_rng rng;
    hn_rng_seed(&rng, 7);
    int total = 0;
    for (int trial = 0; trial < 50; trial++) {
        double xa[12], ya[12], xb[9], yb[9];
        for (int i = 0; i < 12; i++) xa[i] = 100.0 * pow(1.7, i), ya[i] = 2 + hn_rng_uniform(&rng);
        for (int i = 0; i < 9; i++) xb[i] = 130.0 * pow(2.1, i), yb[i] = 2 + hn_rng_uniform(&rng);
        hn_curve a = {.n = 12, .x = xa, .y = ya}, b = {.n = 9, .x = xb, .y = yb};
        hn_crossover out[64];
        int n = hn_curve_crossings(&a, &b, out, 64);
        for (int k = 0; k < n; k++) { /* at each crossing the curves meet */
            double x = out[k].bytes, la = log(x);
            int i = 0, j = 0;
            while (i + 2 < 12 && xa[i + 1] <= x) i++;
            while (j + 2 < 9 && xb[j + 1] <= x) j++;
            double va = ya[i] + (la - log(xa[i])) / (log(xa[i + 1]) - log(xa[i])) * (ya[i + 1] - ya[i]);
            double vb = yb[j] + (la - log(xb[j])) / (log(xb[j + 1]) - log(xb[j])) * (yb[j + 1] - yb[j]);
            assert_true(fabs(va - vb) < 1e-9);
            assert_true(fabs(out[k].bpb - va) < 1e-9);
            assert_true(k == 0 || out[k].bytes > out[k - 1].bytes);
            assert_true(out[k].a != out[k].b);
        }
        /* brute-force count of sign changes on a dense grid over the common range */
        int brute = 0, prev = 0;
        double lo = log(xb[0]), hi = log(xa[11]);
        for (int g = 0; g <= 20000; g++) {
            double la = lo + (hi - lo) * g / 20000.0;
            int i = 0, j = 0;
            while (i + 2 < 12 && log(xa[i + 1]) <= la) i++;
            while (j + 2 < 9 && log(xb[j + 1]) <= la) j++;
            double va = ya[i] + (la - log(xa[i])) / (log(xa[i + 1]) - log(xa[i])) * (ya[i + 1] - ya[i]);
            double vb = yb[j] + (la - log(xb[j])) / (log(xb[j + 1]) - log(xb[j])) * (yb[j + 1] - yb[j]);
            int s = va < vb ? -1 : va > vb ? 1 : 0;
            if (s && prev && s != prev) brute++;
            if (s) prev = s;
        }
        assert_int_equal(n, brute);
        total += n;
    }
    assert_true(total > 50); /* the curves do cross: the comparison is not vacuous */
}

static char *capture(const hn_cmp_set *set, hn_table_format fmt, int crossovers) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (crossovers) {
        hn_crossover *c;
        int n = hn_cmp_crossovers(set, &c);
        hn_cmp_print_crossovers(set, c, n, fmt, f);
        free(c);
    } else {
        hn_cmp_print_table(set, fmt, 0, f);
    }
    fclose(f);
    return buf;
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static void test_formats_and_selection(void **state) {
    char path[300];
    int64_t ids[4];
    make_db(path, sizeof path, ids);
    hn_cmp_set set;
    hn_error err;
    /* newest finished per name: A, B (the finished one, not the failed rerun), C */
    assert_int_equal(hn_cmp_load_where(path, "json_extract(config_json, '$.suite') = 's'", 1, &set, &err), HN_OK);
    assert_int_equal(set.n, 3);
    assert_int_equal(set.runs[1].id, ids[1]);
    assert_string_equal(set.runs[1].status, "finished");
    assert_string_equal(set.runs[1].layout, "m4 [T1m4 [T26] m4T1] m4");
    assert_string_equal(set.runs[1].model, "hnet/dc");
    assert_int_equal(set.runs[1].n_stages, 2);
    assert_int_equal(set.runs[1].compression[0].n, 9);
    assert_true(fabs(set.runs[0].valid_bpb - 2.2) < 1e-9);
    assert_int_equal(set.runs[0].bytes_seen, 256000);

    char *t = capture(&set, HN_FMT_TEXT, 0);
    assert_int_equal(count_lines(t), 4);
    assert_non_null(strstr(t, "GFLOPs/byte"));
    assert_non_null(strstr(t, "0.2500"));
    assert_non_null(strstr(t, "123K"));
    assert_non_null(strstr(t, "256K"));
    free(t);
    t = capture(&set, HN_FMT_CSV, 0);
    assert_int_equal(count_lines(t), 4);
    assert_non_null(strstr(t, "id,run,model,layout,corpus,params,gflops_per_byte,bytes_per_token,bytes_per_chunk,valid_bpb,"
                              "seeds,bytes_seen,status,valid_bpb_sd\n"));
    assert_non_null(strstr(t, ",B,hnet/dc,m4 [T1m4 [T26] m4T1] m4,?,123456,0.25,1,4.5,2.44,1,256000,finished,\n"));
    free(t);
    t = capture(&set, HN_FMT_MARKDOWN, 0);
    assert_int_equal(count_lines(t), 5);
    assert_true(strncmp(t, "| run", 5) == 0);
    assert_non_null(strstr(t, "\n|:--"));
    free(t);
    t = capture(&set, HN_FMT_TEXT, 1);
    assert_string_equal(t, "A passes B at 32.0K bytes (BPB 2.5000)\n");
    free(t);
    t = capture(&set, HN_FMT_CSV, 1);
    assert_string_equal(t, "run,passes,bytes,bpb\nA,B,32000,2.5\n");
    free(t);
    hn_cmp_free(&set);

    /* all rows with the filter off; a bad filter is one clear message */
    assert_int_equal(hn_cmp_load_where(path, NULL, 0, &set, &err), HN_OK);
    assert_int_equal(set.n, 4);
    hn_cmp_free(&set);
    assert_int_equal(hn_cmp_load_where(path, "no_such_column = 1", 1, &set, &err), HN_ERR);
    assert_non_null(strstr(err.msg, "no_such_column"));
    int64_t missing = 999;
    assert_int_equal(hn_cmp_load_ids(path, &missing, 1, &set, &err), HN_ERR);
    assert_non_null(strstr(err.msg, "no run with id 999"));
}

/* Evaluations of a run's checkpoints (the evaluations table) come with the run: the newest
 * value of each task, data, step and metric, none of another run's, none of a checkpoint
 * whose run is not in the database; compare prints them, report has them in its page. */
static void test_evaluations(void **state) {
    char path[300];
    int64_t ids[4];
    make_db(path, sizeof path, ids);
    hn_results *r;
    hn_error err;
    assert_int_equal(hn_results_open(path, &r, &err), HN_OK);
    char ua[33], uc[33];
    assert_int_equal(hn_results_run_uuid(r, ids[0], ua, &err), HN_OK);
    assert_int_equal(hn_results_run_uuid(r, ids[3], uc, &err), HN_OK);
    hn_eval_row row = {.run_uuid = ua, .checkpoint = "a.safetensors", .step = 9, .task = "bpb",
                       .data = "enwik8:test", .metric = "bpb", .value = 1.5, .bytes = 4096};
    assert_int_equal(hn_results_log_evaluation(r, &row, &err), HN_OK);
    row.value = 1.25; /* evaluated again: the newest counts */
    assert_int_equal(hn_results_log_evaluation(r, &row, &err), HN_OK);
    row.task = "piqa", row.data = "piqa.jsonl", row.metric = "acc", row.value = 0.75, row.bytes = 4;
    assert_int_equal(hn_results_log_evaluation(r, &row, &err), HN_OK);
    row.run_uuid = uc, row.value = 0.5;
    assert_int_equal(hn_results_log_evaluation(r, &row, &err), HN_OK);
    row.run_uuid = "", row.value = 0.125; /* a converted checkpoint: no run */
    assert_int_equal(hn_results_log_evaluation(r, &row, &err), HN_OK);
    hn_results_close(r);

    hn_cmp_set set;
    int64_t pick[2] = {ids[0], ids[1]};
    assert_int_equal(hn_cmp_load_ids(path, pick, 2, &set, &err), HN_OK);
    assert_int_equal(set.runs[0].n_evals, 2);
    assert_int_equal(set.runs[1].n_evals, 0);
    const hn_cmp_eval *e = &set.runs[0].evals[0];
    assert_string_equal(e->task, "bpb");
    assert_string_equal(e->data, "enwik8:test");
    assert_int_equal(e->step, 9);
    assert_true(e->value == 1.25);
    assert_string_equal(set.runs[0].evals[1].metric, "acc");

    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(hn_cmp_print_evaluations(&set, HN_FMT_CSV, f), 2);
    fclose(f);
    assert_string_equal(buf, "run,step,task,data,metric,value,bytes\n"
                             "A,9,bpb,enwik8:test,bpb,1.25,4096\n"
                             "A,9,piqa,piqa.jsonl,acc,0.75,4\n");
    free(buf);
    f = open_memstream(&buf, &len);
    assert_int_equal(hn_cmp_print_evaluations(&set, HN_FMT_TEXT, f), 2);
    fclose(f);
    assert_int_equal(count_lines(buf), 3);
    assert_non_null(strstr(buf, "1.2500"));
    free(buf);

    char html[400];
    snprintf(html, sizeof html, "%s/report.html", dir);
    assert_int_equal(hn_report_write(&set, "t", NULL, html, &err), HN_OK);
    f = fopen(html, "r");
    assert_non_null(f);
    static char page[1 << 20];
    size_t got = fread(page, 1, sizeof page - 1, f);
    page[got] = 0;
    fclose(f);
    assert_non_null(strstr(page, "<h2>Evaluations</h2>"));
    assert_non_null(strstr(page, "<td>enwik8:test</td><td>bpb</td><td class=n>1.2500</td>"));
    hn_cmp_free(&set);
}

/* Runs that differ only by seed are one row, mean ± sample sd; a rerun under the same
 * seed, another corpus or another model is a row of its own; the corpora are named. */
/* A model over tokens: the model says which tokenizer, bytes/token is its logged
 * train/bytes_per_token (byte models: 1), averaged over seeds like the rest. */
static void test_token_rows(void **state) {
    char path[300];
    snprintf(path, sizeof path, "%s/tok.db", dir);
    hn_results *r;
    hn_error err;
    assert_int_equal(hn_results_open(path, &r, &err), HN_OK);
    static const char *CFG = "{\"name\":\"%s\",\"seed\":%d,\"data\":{\"source\":\"named\",\"name\":\"enwik8\""
                             "%s},\"model\":{\"kind\":\"isotropic\",\"layout\":\"T2\",\"stages\":1}}";
    static const char *TOK = ",\"tokenizer\":{\"format\":\"tiktoken\",\"file\":\"/t.model\"}";
    struct { const char *name; int seed; const char *tok; double bpt; } runs[] = {
        {"bpe", 1, TOK, 4.0}, {"bpe", 2, TOK, 4.5}, {"bytes", 1, "", -1}, {"unlogged", 1, TOK, -1}};
    int64_t ids[4];
    for (int i = 0; i < 4; i++) {
        char cfg[512];
        snprintf(cfg, sizeof cfg, CFG, runs[i].name, runs[i].seed, runs[i].tok);
        hn_run_info info = {.name = runs[i].name, .config_json = cfg, .seed = runs[i].seed, .n_params = 1000};
        assert_int_equal(hn_results_begin_run(r, &info, &ids[i], &err), HN_OK);
        if (runs[i].bpt > 0) hn_results_log(r, ids[i], 0, 0, "train", "bytes_per_token", runs[i].bpt);
        hn_results_log(r, ids[i], 1, 100, "valid", "bpb", 1.5);
        assert_int_equal(hn_results_end_run(r, ids[i], "finished", NULL, &err), HN_OK);
    }
    hn_results_close(r);
    hn_cmp_set set;
    assert_int_equal(hn_cmp_load_ids(path, ids, 4, &set, &err), HN_OK);
    assert_string_equal(set.runs[0].model, "isotropic+tiktoken");
    assert_string_equal(set.runs[2].model, "isotropic");
    assert_true(fabs(set.runs[1].bytes_per_token - 4.5) < 1e-12);
    assert_true(set.runs[2].bytes_per_token == 1.0);
    assert_true(isnan(set.runs[3].bytes_per_token));
    char *t = capture(&set, HN_FMT_CSV, 0);
    assert_non_null(strstr(t, ",bpe,isotropic+tiktoken,T2,enwik8,1000,-,4.25,-,1.5,2,"));
    assert_non_null(strstr(t, ",bytes,isotropic,T2,enwik8,1000,-,1,-,1.5,1,"));
    assert_non_null(strstr(t, ",unlogged,isotropic+tiktoken,T2,enwik8,1000,-,-,-,1.5,1,"));
    free(t);
    t = capture(&set, HN_FMT_TEXT, 0);
    assert_non_null(strstr(t, "bytes/token"));
    assert_non_null(strstr(t, "4.25"));
    free(t);
    hn_cmp_free(&set);
}

static void test_seed_average(void **state) {
    char path[300];
    snprintf(path, sizeof path, "%s/seeds%d.db", dir, rand());
    hn_results *r;
    hn_error err;
    assert_int_equal(hn_results_open(path, &r, &err), HN_OK);
    static const char *CFG = "{\"name\":\"%s\",\"seed\":%d,\"data\":{\"source\":\"named\",\"name\":\"%s\"},"
                             "\"model\":{\"kind\":\"isotropic\",\"layout\":\"T2\",\"stages\":1}}";
    struct { const char *name; int seed; const char *corpus; double bpb; } runs[] = {
        {"x-s1", 1, "enwik8", 2.0}, {"x-s2", 2, "enwik8", 2.2}, {"x-s3", 3, "enwik8", 2.4},
        {"x-again", 1, "enwik8", 9.0}, {"x-text8", 2, "text8", 3.0},
    };
    int64_t ids[5];
    for (int i = 0; i < 5; i++) {
        char cfg[512];
        snprintf(cfg, sizeof cfg, CFG, runs[i].name, runs[i].seed, runs[i].corpus);
        hn_run_info info = {.name = runs[i].name, .config_json = cfg, .seed = runs[i].seed, .n_params = 1000};
        assert_int_equal(hn_results_begin_run(r, &info, &ids[i], &err), HN_OK);
        hn_results_log(r, ids[i], 1, 100, "valid", "bpb", runs[i].bpb);
        assert_int_equal(hn_results_end_run(r, ids[i], "finished", NULL, &err), HN_OK);
    }
    hn_results_close(r);
    hn_cmp_set set;
    assert_int_equal(hn_cmp_load_ids(path, ids, 5, &set, &err), HN_OK);
    assert_string_equal(set.runs[0].corpus, "enwik8");
    assert_string_equal(set.runs[4].corpus, "text8");
    char list[128];
    assert_int_equal(hn_cmp_corpora(&set, list, sizeof list), 2);
    assert_string_equal(list, "enwik8, text8");
    char *t = capture(&set, HN_FMT_TEXT, 0);
    assert_int_equal(count_lines(t), 4); /* header, the 3 seeds, the rerun, text8 */
    assert_non_null(strstr(t, "x-s1 (3 seeds)"));
    assert_non_null(strstr(t, "2.2000 ± 0.2000"));
    assert_non_null(strstr(t, "x-again "));
    free(t);
    t = capture(&set, HN_FMT_CSV, 0);
    assert_non_null(strstr(t, ",x-s1,isotropic,T2,enwik8,1000,-,1,-,2.2,3,100,finished,0.2\n"));
    free(t);
    /* the crossover section of fewer than two runs is a sentence, not an empty table */
    set.n = 1;
    t = capture(&set, HN_FMT_MARKDOWN, 1);
    assert_string_equal(t, "no crossovers: fewer than two runs to compare\n");
    free(t);
    set.n = 5;
    FILE *f = tmpfile();
    assert_int_equal(hn_cmp_warn_corpora(&set, "x: ", f), 1);
    hn_cmp_free(&set);
    fclose(f);
}

/* hnet diff: every differing leaf, by its key path, in order. */
static void test_config_diff(void **state) {
    cJSON *a = cJSON_Parse("{\"name\":\"a\",\"train\":{\"lr\":0.001,\"steps\":10},"
                           "\"model\":{\"d\":[16,24]},\"only_a\":true}");
    cJSON *b = cJSON_Parse("{\"name\":\"b\",\"train\":{\"lr\":0.002,\"steps\":10},"
                           "\"model\":{\"d\":[16,32]},\"only_b\":1}");
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(hn_config_diff(a, b, f), 5);
    fclose(f);
    assert_string_equal(buf, "model.d[2]: 24 -> 32\n"
                             "name: \"a\" -> \"b\"\n"
                             "only_a: true -> (absent)\n"
                             "only_b: (absent) -> 1\n"
                             "train.lr: 0.001 -> 0.002\n");
    free(buf);
    f = tmpfile();
    assert_int_equal(hn_config_diff(a, a, f), 0);
    fclose(f);
    char g1[17], g2[17];
    hn_config_seed_group(a, g1);
    cJSON_ReplaceItemInObject(a, "name", cJSON_CreateString("other"));
    hn_config_seed_group(a, g2);
    assert_string_equal(g1, g2);
    cJSON_Delete(a);
    cJSON_Delete(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crossover_of_lines),
        cmocka_unit_test(test_crossings_random_curves),
        cmocka_unit_test(test_formats_and_selection),
        cmocka_unit_test(test_seed_average),
        cmocka_unit_test(test_token_rows),
        cmocka_unit_test(test_evaluations),
        cmocka_unit_test(test_config_diff),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
