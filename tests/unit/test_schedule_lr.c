/* The learning-rate schedule (warmup-stable-decay) and the per-stage multipliers of the
 * paper's Appendix C (Eq. 11), against values worked out by hand. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "train/lr_modulation.h"
#include "train/schedule.h"

static void near(double a, double b) {
    if (fabs(a - b) > 1e-9 * fmax(1, fabs(b))) print_error("%.12g != %.12g\n", a, b);
    assert_true(fabs(a - b) <= 1e-9 * fmax(1, fabs(b)));
}

static void test_wsd(void **state) {
    cJSON *train = cJSON_Parse("{\"lr\":0.01,\"schedule\":{\"warmup\":0.1,\"decay\":0.2,"
                               "\"decay_shape\":\"inv_sqrt\",\"min_lr\":0}}");
    hn_schedule s;
    hn_error err;
    assert_int_equal(hn_schedule_from_json(&s, train, 100, &err), HN_OK);
    near(hn_schedule_lr(&s, 0), 0.001);          /* warm-up: (0+1)/10 of peak */
    near(hn_schedule_lr(&s, 9), 0.01);           /* end of warm-up */
    near(hn_schedule_lr(&s, 50), 0.01);          /* stable */
    near(hn_schedule_lr(&s, 79), 0.01);          /* last stable step */
    near(hn_schedule_lr(&s, 80), 0.01 * (1 - sqrt(1.0 / 20))); /* 1-sqrt decay */
    near(hn_schedule_lr(&s, 99), 0.0);           /* reaches min_lr = 0 */
    cJSON_Delete(train);
    train = cJSON_Parse("{\"lr\":0.01,\"schedule\":{\"warmup\":0.5,\"decay\":0.6}}");
    assert_int_equal(hn_schedule_from_json(&s, train, 100, &err), HN_ERR);
    cJSON_Delete(train);
}

static void test_multipliers(void **state) {
    /* d = {64, 64, 96}, N = {2, 2.5}: lambda^s = sqrt(4.6 / prod_{i<s} N^i * 96 / d^s) */
    cJSON *cfg = cJSON_Parse("{\"train\":{\"lr_multipliers\":\"auto\"},\"model\":{\"d\":[64,64,96],"
                             "\"chunker\":{\"kind\":\"dc\",\"ratio\":[2,2.5]}}}");
    double m[3];
    hn_error err;
    assert_int_equal(hn_lr_multipliers(cfg, 2, m, &err), HN_OK);
    near(m[0], sqrt(4.6 * 1.5));
    near(m[1], sqrt(4.6 / 2 * 1.5));
    near(m[2], sqrt(4.6 / 5));
    cJSON_Delete(cfg);
    /* an isotropic model keeps the base rate, whatever "auto" says */
    cfg = cJSON_Parse("{\"train\":{\"lr_multipliers\":\"auto\"},\"model\":{\"d\":[128]}}");
    assert_int_equal(hn_lr_multipliers(cfg, 0, m, &err), HN_OK);
    near(m[0], 1.0);
    cJSON_Delete(cfg);
    /* given ones, and the wrong count */
    cfg = cJSON_Parse("{\"train\":{\"lr_multipliers\":[2,1]},\"model\":{\"d\":[64,96]}}");
    assert_int_equal(hn_lr_multipliers(cfg, 1, m, &err), HN_OK);
    near(m[0], 2.0);
    near(m[1], 1.0);
    assert_int_equal(hn_lr_multipliers(cfg, 2, m, &err), HN_ERR);
    cJSON_Delete(cfg);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_wsd), cmocka_unit_test(test_multipliers)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
