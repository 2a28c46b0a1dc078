/* Zero-shot tasks: each format read into the harness's contexts and continuations, the
 * choice rule on fixed log-likelihoods, and the batched log-likelihood of a model equal
 * to the sum of its per-byte losses over the continuation computed alone. */
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

#include "eval/loglik.h"
#include "eval/tasks.h"
#include "support/fixtures.h"

static hn_registry reg;
static char dir[64];

static int setup(void **state) {
    snprintf(dir, sizeof dir, "/tmp/hn_test_tasks_XXXXXX");
    if (!mkdtemp(dir)) return -1;
    return registry_open(&reg);
}

static int teardown(void **state) {
    hn_registry_close(&reg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

static const char *write_file(const char *name, const char *text) {
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void load(const char *format, const char *jsonl, hn_task *t) {
    hn_error err;
    int rc = hn_task_load(write_file("t.jsonl", jsonl), format, 0, t, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, HN_OK);
}

/* Contexts and continuations as lm-evaluation-harness builds them. */
static void test_formats(void **state) {
    hn_task t;
    load("hellaswag",
         "{\"activity_label\":\"Baking\",\"ctx_a\":\"She mixes flour.\",\"ctx_b\":\"then SHE\","
         "\"endings\":[\"bakes [step] it.\",\" eats  it [title] Now\"],\"label\":\"1\"}\n",
         &t);
    assert_int_equal(t.n, 1);
    assert_int_equal(t.items[0].n, 2);
    assert_int_equal(t.items[0].gold, 1);
    assert_true(t.headline_norm);
    assert_string_equal(t.items[0].ctx[0], "Baking: She mixes flour. Then she");
    assert_string_equal(t.items[0].cont[0], " bakes it.");
    assert_string_equal(t.items[0].cont[1], " eats it. Now");
    hn_task_free(&t);

    load("piqa", "{\"goal\":\"Open a jar\",\"sol1\":\"twist\",\"sol2\":\"kick\",\"label\":0}\n", &t);
    assert_string_equal(t.items[0].ctx[1], "Question: Open a jar\nAnswer:");
    assert_string_equal(t.items[0].cont[1], " kick");
    assert_int_equal(t.items[0].gold, 0);
    hn_task_free(&t);

    load("arc_challenge",
         "{\"question\":\"Q?\",\"choices\":{\"text\":[\"a\",\"b\",\"c\"],\"label\":[\"A\",\"B\",\"C\"]},"
         "\"answerKey\":\"C\"}\n\n"
         "{\"question\":\"R?\",\"choices\":{\"text\":[\"x\",\"y\"],\"label\":[\"1\",\"2\"]},\"answerKey\":\"1\"}\n",
         &t);
    assert_int_equal(t.n, 2);
    assert_int_equal(t.items[0].gold, 2);
    assert_int_equal(t.items[1].gold, 0);
    assert_string_equal(t.items[0].ctx[0], "Question: Q?\nAnswer:");
    assert_string_equal(t.items[0].cont[2], " c");
    hn_task_free(&t);

    load("openbookqa",
         "{\"question_stem\":\"The sun is\",\"choices\":{\"text\":[\"hot\",\"cold\"],\"label\":[\"A\",\"B\"]},"
         "\"answerKey\":\"A\"}\n",
         &t);
    assert_string_equal(t.items[0].ctx[0], "The sun is");
    assert_string_equal(t.items[0].cont[0], " hot");
    hn_task_free(&t);

    load("winogrande",
         "{\"sentence\":\"Ann gave Bo a gift because _ was kind.\",\"option1\":\"Ann\",\"option2\":\"Bo\","
         "\"answer\":\"1\"}\n",
         &t);
    assert_int_equal(t.items[0].gold, 0);
    assert_string_equal(t.items[0].ctx[0], "Ann gave Bo a gift because Ann");
    assert_string_equal(t.items[0].ctx[1], "Ann gave Bo a gift because Bo");
    assert_string_equal(t.items[0].cont[0], " was kind.");
    assert_string_equal(t.items[0].cont[1], " was kind.");
    hn_task_free(&t);

    load("lambada", "{\"text\":\"he opened the door and said hello\"}\n", &t);
    assert_int_equal(t.kind, HN_TASK_LAST_WORD);
    assert_string_equal(t.items[0].ctx[0], "he opened the door and said");
    assert_string_equal(t.items[0].cont[0], " hello");
    hn_task_free(&t);

    load("choice", "{\"context\":\"ab\",\"choices\":[\"c\",\"d\"],\"gold\":1}\n", &t);
    assert_string_equal(t.items[0].cont[1], "d");
    hn_task_free(&t);
}

/* A bad line is one message naming the file and line. */
static void test_errors(void **state) {
    hn_task t;
    hn_error err;
    const char *p = write_file("bad.jsonl", "{\"goal\":\"g\",\"sol1\":\"a\",\"sol2\":\"b\",\"label\":0}\n"
                                            "{\"goal\":\"g\",\"sol1\":\"a\",\"label\":0}\n");
    assert_int_equal(hn_task_load(p, "piqa", 0, &t, &err), HN_ERR);
    assert_non_null(strstr(err.msg, "bad.jsonl:2: not a piqa item"));
    assert_int_equal(hn_task_load(p, "piqa", 1, &t, &err), HN_OK); /* --limit 1 stops before it */
    hn_task_free(&t);
    p = write_file("gold.jsonl", "{\"context\":\"a\",\"choices\":[\"b\"],\"gold\":3}\n");
    assert_int_equal(hn_task_load(p, "choice", 0, &t, &err), HN_ERR);
    assert_non_null(strstr(err.msg, "gold.jsonl:1: the answer (3) is not one of the 1 choices"));
    p = write_file("json.jsonl", "[1,2]\n");
    assert_int_equal(hn_task_load(p, "choice", 0, &t, &err), HN_ERR);
    assert_non_null(strstr(err.msg, "json.jsonl:1: not a JSON object"));
    assert_int_equal(hn_task_load(p, "mmlu", 0, &t, &err), HN_ERR);
    assert_non_null(strstr(err.msg, "unknown task format 'mmlu'"));
}

/* acc takes the highest log-likelihood, acc_norm the highest per byte; ties: the first. */
static void test_pick(void **state) {
    double ll[3] = {-6.0, -8.0, -30.0};
    int bytes[3] = {3, 8, 10};
    int pick, norm;
    hn_task_pick(ll, bytes, 3, &pick, &norm);
    assert_int_equal(pick, 0); /* -6 > -8 */
    assert_int_equal(norm, 1); /* -8/8 = -1 > -6/3 = -2 */
    double tie[2] = {-4.0, -4.0};
    int tb[2] = {2, 2};
    hn_task_pick(tie, tb, 2, &pick, &norm);
    assert_int_equal(pick, 0);
    assert_int_equal(norm, 0);
}

static void build(hn_model *m) {
    cJSON *cfg = cJSON_Parse(
        "{\"kind\":\"hnet\",\"vocab\":256,\"norm_eps\":1e-5,\"layout\":[\"T1\",[\"T1\"],\"T1\"],"
        "\"d\":[16,24],\"mlp\":[null,{\"plugin\":\"swiglu\",\"hidden\":32}],"
        "\"layers\":{\"attention\":[{\"heads\":2,\"window\":7,\"rotary_dim\":4},"
        "{\"heads\":2,\"window\":\"global\",\"rotary_dim\":4}]},\"chunker\":{\"plugin\":\"dc\",\"ratio\":[2]}}");
    assert_non_null(cfg);
    hn_error err;
    int rc = hn_model_build(m, cfg, &reg, hn_backend_cpu(), 7, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, HN_OK);
    cJSON_Delete(cfg);
}

/* The batched, padded, length-sorted scoring gives each request the log-likelihood of
 * its continuation computed alone from the per-byte losses; greedy is 1 exactly when
 * every continuation byte is the argmax; a request past the window keeps its last bytes. */
static void test_loglik_matches_alone(void **state) {
    hn_model m;
    memset(&m, 0, sizeof m);
    build(&m);
    const char *ctx[4] = {"the cat sat on the", "a", "we saw it on a mat and", "the dog"};
    const char *cont[4] = {" mat", " dog ran", " sat", " x"};
    hn_ll_request req[4];
    for (int i = 0; i < 4; i++)
        req[i] = (hn_ll_request){(const uint8_t *)ctx[i], (int)strlen(ctx[i]),
                                 (const uint8_t *)cont[i], (int)strlen(cont[i])};
    hn_ll_result got[4];
    hn_error err;
    assert_int_equal(hn_eval_loglik(&m, req, 4, 64, 40, got, &err), HN_OK);
    for (int i = 0; i < 4; i++) {
        char text[128];
        snprintf(text, sizeof text, "%s%s", ctx[i], cont[i]);
        int L = (int)strlen(text) - 1, c0 = (int)strlen(ctx[i]) - 1;
        int32_t tok[128], tgt[128];
        for (int t = 0; t < L; t++) tok[t] = (unsigned char)text[t], tgt[t] = (unsigned char)text[t + 1];
        hn_loss loss;
        m.no_grad = 1;
        assert_int_equal(hn_model_forward(&m, tok, tgt, 1, L, &loss, &err), HN_OK);
        double want = 0;
        int greedy = 1;
        for (int t = c0; t < L; t++) {
            want -= m.loss_host[t];
            const float *row = m.logits + (size_t)t * 256;
            int best = 0;
            for (int v = 1; v < 256; v++)
                if (row[v] > row[best]) best = v;
            greedy &= best == tgt[t];
        }
        assert_true(fabs(got[i].logprob - want) < 1e-4 * fabs(want) + 1e-5);
        assert_int_equal(got[i].greedy, greedy);
        assert_true(got[i].logprob < 0);
    }
    /* a window of 8: request 2 is scored on its last 8 bytes of input */
    assert_int_equal(hn_eval_loglik(&m, &req[2], 1, 8, 64, got, &err), HN_OK);
    const char *tail = "t and sat"; /* last 9 bytes: 8 inputs, 8 targets */
    int32_t tok[8], tgt[8];
    for (int t = 0; t < 8; t++) tok[t] = (unsigned char)tail[t], tgt[t] = (unsigned char)tail[t + 1];
    hn_loss loss;
    assert_int_equal(hn_model_forward(&m, tok, tgt, 1, 8, &loss, &err), HN_OK);
    double want = -(m.loss_host[4] + m.loss_host[5] + m.loss_host[6] + m.loss_host[7]);
    assert_true(fabs(got[0].logprob - want) < 1e-4 * fabs(want));
    /* continuation longer than the window, empty context: refused */
    req[0].cont_len = 70;
    assert_int_equal(hn_eval_loglik(&m, req, 1, 64, 64, got, &err), HN_ERR);
    assert_non_null(strstr(err.msg, "exceeds the 64-byte window"));
    req[0].cont_len = 4, req[0].ctx_len = 0;
    assert_int_equal(hn_eval_loglik(&m, req, 1, 64, 64, got, &err), HN_ERR);
    hn_model_free(&m);
}

/* Scoring a task: the item whose gold has the highest log-likelihood counts as right;
 * chance is the mean of 1 / choices. */
static void test_score_task(void **state) {
    hn_model m;
    memset(&m, 0, sizeof m);
    build(&m);
    hn_task t;
    load("choice",
         "{\"context\":\"the cat\",\"choices\":[\" sat\",\" ran\"],\"gold\":0}\n"
         "{\"context\":\"a dog\",\"choices\":[\" x\",\" yy\",\" zzz\",\" w\"],\"gold\":3}\n",
         &t);
    hn_task_result res;
    hn_error err;
    assert_int_equal(hn_task_score(&m, &t, 64, 256, &res, &err), HN_OK);
    assert_int_equal(res.items, 2);
    assert_true(fabs(res.chance - (0.5 + 0.25) / 2) < 1e-12);
    /* the same decision from the log-likelihoods of each pair */
    double right = 0;
    for (int i = 0; i < t.n; i++) {
        double ll[4];
        int len[4];
        for (int k = 0; k < t.items[i].n; k++) {
            hn_ll_request r = {(const uint8_t *)t.items[i].ctx[k], (int)strlen(t.items[i].ctx[k]),
                               (const uint8_t *)t.items[i].cont[k], (int)strlen(t.items[i].cont[k])};
            hn_ll_result one;
            assert_int_equal(hn_eval_loglik(&m, &r, 1, 64, 64, &one, &err), HN_OK);
            ll[k] = one.logprob, len[k] = r.cont_len;
        }
        int pick, norm;
        hn_task_pick(ll, len, t.items[i].n, &pick, &norm);
        right += pick == t.items[i].gold;
    }
    assert_true(fabs(res.acc - right / 2) < 1e-12);
    hn_task_free(&t);
    hn_model_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_formats),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_pick),
        cmocka_unit_test(test_loglik_matches_alone),
        cmocka_unit_test(test_score_task),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
