/* Crafted checkpoints (model/safetensors.h, train/checkpoint.h): a file whose header lies
 * (negative or non-integer shapes, reversed, overlapping, out-of-range or gapped data
 * offsets, too many dimensions, duplicate names, unknown dtypes), whose header was edited
 * while its data checksum still holds, or whose metadata is out of range (step, counts,
 * sums) is refused with a message naming it; nothing reads outside the file. */
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend/backend.h"
#include "data/digest.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "plugin/registry.h"
#include "train/checkpoint.h"
#include "support/fixtures.h"

static hn_registry reg;
static char tmpdir[256];

static int setup(void **state) {
    if (registry_open(&reg)) return -1;
    return tmpdir_make(tmpdir, sizeof tmpdir, "hnet-crafted");
}

static int teardown(void **state) {
    tmpdir_remove(tmpdir);
    hn_registry_close(&reg);
    return 0;
}

/* Writes a safetensors file: 8-byte length, header text, data bytes. */
static void write_raw(const char *path, const char *header, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    uint64_t h = strlen(header);
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)(h >> (8 * i));
    assert_int_equal(fwrite(len8, 1, 8, f), 8);
    assert_int_equal(fwrite(header, 1, h, f), h);
    if (n) assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* hn_safetensors_read must refuse the file with a message containing `want`. */
static void refused(const char *header, size_t data_len, const char *want) {
    char path[512];
    snprintf(path, sizeof path, "%s/crafted.safetensors", tmpdir);
    uint8_t *data = calloc(data_len ? data_len : 1, 1);
    write_raw(path, header, data, data_len);
    free(data);
    hn_safetensors f;
    hn_error err = {0};
    int rc = hn_safetensors_read(path, &f, &err);
    if (rc == HN_OK) {
        hn_safetensors_free(&f);
        fail_msg("accepted a crafted file: %s", header);
    }
    printf("  %s\n", err.msg);
    assert_non_null(strstr(err.msg, path));
    if (!strstr(err.msg, want)) fail_msg("message lacks '%s': %s", want, err.msg);
}

static void test_crafted_entries_refused(void **state) {
    /* negative shape with offsets that agree with it */
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[4,0]}}", 16, "shape");
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,-4]}}", 16, "shape");
    /* reversed offsets */
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]},"
            "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "data_offsets");
    /* overlapping tensors */
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
            "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}", 24, "overlap");
    /* past the end of the data, and absurdly far */
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1000],\"data_offsets\":[0,4000]}}", 16, "truncated");
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1e300,1e300],\"data_offsets\":[0,1e308]}}", 16,
            "shape");
    /* a zero dimension hiding an absurd one; a non-integer dimension */
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[0,1e300],\"data_offsets\":[0,0]}}", 0, "shape");
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,10]}}", 10, "shape");
    /* element count overflowing 64 bits although each dimension is fine */
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,0]}}",
            16, "shape");
    /* more dimensions than hnet keeps */
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
            "dimensions");
    /* offsets that are not numbers */
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[\"0\",\"0\"]}}", 0,
            "data_offsets");
    /* a hole between tensors, and bytes no tensor owns */
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
            "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12, "gap");
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 12, "gap");
    /* the same name twice */
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
            "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "twice");
    /* unknown and foreign dtypes */
    refused("{\"a\":{\"dtype\":\"Q7\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "dtype");
    refused("{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "F32 only");
    /* metadata must be an object of strings */
    refused("{\"__metadata__\":{\"step\":5},\"a\":{\"dtype\":\"F32\",\"shape\":[1],"
            "\"data_offsets\":[0,4]}}", 4, "metadata");
    refused("{\"__metadata__\":[1],\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
            4, "metadata");
    /* not an object, junk after the JSON */
    refused("[1,2,3]", 0, "header");
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}} xx", 4, "header");
}

static void test_truncated_and_tiny_files_refused(void **state) {
    char path[512];
    snprintf(path, sizeof path, "%s/tiny.safetensors", tmpdir);
    hn_safetensors f;
    hn_error err;
    for (size_t n = 0; n < 12; n++) {
        FILE *w = fopen(path, "wb");
        for (size_t i = 0; i < n; i++) fputc(i < 8 ? (i == 0 ? 2 : 0) : '{', w);
        fclose(w);
        assert_int_equal(hn_safetensors_read(path, &f, &err), HN_ERR);
        assert_non_null(strstr(err.msg, path));
    }
    /* a header length of 2^64 - 1 */
    FILE *w = fopen(path, "wb");
    for (int i = 0; i < 8; i++) fputc(0xff, w);
    fputs("{}", w);
    fclose(w);
    assert_int_equal(hn_safetensors_read(path, &f, &err), HN_ERR);
    assert_non_null(strstr(err.msg, "truncated"));
}

/* ---------- hnet checkpoints ---------- */

static const char *TINY_MODEL =
    "{\"kind\":\"isotropic\",\"vocab\":256,\"layout\":[\"T1\"],\"d\":[16],"
    "\"mlp\":[{\"plugin\":\"swiglu\",\"hidden\":32}],"
    "\"layers\":{\"attention\":{\"heads\":2}}}";

static void build(hn_model *m) {
    cJSON *cfg = cJSON_Parse(TINY_MODEL);
    assert_non_null(cfg);
    hn_error err;
    int rc = hn_model_build(m, cfg, &reg, hn_backend_cpu(), 1, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, HN_OK);
    cJSON_Delete(cfg);
}

static char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    char *b = malloc(*n + 1);
    assert_int_equal(fread(b, 1, *n, f), *n);
    b[*n] = 0;
    fclose(f);
    return b;
}

static void save(const char *path, const hn_model *m, const hn_ckpt_train *tr) {
    float *mv = calloc(m->params.total, sizeof(float));
    char cfg[1024];
    snprintf(cfg, sizeof cfg, "{\"seed\":1,\"train\":{\"steps\":10},\"model\":%s}", TINY_MODEL);
    hn_error err;
    assert_int_equal(hn_checkpoint_save(path, m, mv, mv, cfg, "crafted", tr, &err), HN_OK);
    free(mv);
}

/* Loads path as a training checkpoint; returns the rc and leaves the message in err. */
static int load_train(const char *path, hn_model *m, hn_ckpt_train *tr, hn_error *err) {
    float *mv = calloc(m->params.total, sizeof(float));
    hn_safetensors f;
    int rc = hn_safetensors_read(path, &f, err);
    if (rc == HN_OK) {
        rc = hn_checkpoint_load_train(&f, m, mv, mv, tr, err);
        hn_safetensors_free(&f);
    }
    free(mv);
    return rc;
}

static const hn_ckpt_train GOOD = {.step = 9, .run_id = 1, .bpb_n = 2, .flops_n = 2,
                                   .bpb_sum = 16, .data_rng = {{1, 2, 3, 4}}};

static void test_header_edit_with_valid_data_checksum_refused(void **state) {
    hn_model m;
    build(&m);
    char path[512];
    snprintf(path, sizeof path, "%s/edit.safetensors", tmpdir);
    save(path, &m, &GOOD);
    hn_ckpt_train tr;
    hn_error err;
    assert_int_equal(load_train(path, &m, &tr, &err), HN_OK);
    assert_int_equal(tr.step, 9);

    /* "step":"9" -> "step":"8": same length, data (and its checksum) untouched */
    size_t n;
    char *b = read_all(path, &n);
    char *at = strstr(b + 8, "\"step\":\"9\"");
    assert_non_null(at);
    at[8] = '8';
    FILE *w = fopen(path, "wb");
    assert_int_equal(fwrite(b, 1, n, w), n);
    fclose(w);
    free(b);
    int rc = load_train(path, &m, &tr, &err);
    if (rc == HN_OK) fail_msg("an edited header was accepted (step %ld)", tr.step);
    printf("  %s\n", err.msg);
    assert_non_null(strstr(err.msg, "damaged"));
    hn_model_free(&m);
}

/* A checkpoint saved with position `tr` must be refused, the message naming `key`. */
static void refused_position(hn_model *m, hn_ckpt_train tr, const char *key) {
    char path[512];
    snprintf(path, sizeof path, "%s/meta.safetensors", tmpdir);
    save(path, m, &tr);
    hn_ckpt_train back;
    hn_error err = {0};
    int rc = load_train(path, m, &back, &err);
    if (rc == HN_OK) fail_msg("accepted a checkpoint with an out-of-range '%s'", key);
    printf("  %s\n", err.msg);
    char quoted[64];
    snprintf(quoted, sizeof quoted, "'%s'", key);
    if (!strstr(err.msg, quoted)) fail_msg("message lacks %s: %s", quoted, err.msg);
}

static void test_out_of_range_metadata_refused(void **state) {
    hn_model m;
    build(&m);
    hn_ckpt_train t;
    t = GOOD, t.step = LONG_MAX;
    refused_position(&m, t, "step");
    t = GOOD, t.step = -5;
    refused_position(&m, t, "step");
    t = GOOD, t.step = 11; /* past the run's 10 steps */
    refused_position(&m, t, "step");
    t = GOOD, t.bpb_n = -1;
    refused_position(&m, t, "bpb_n");
    t = GOOD, t.flops_n = LONG_MAX;
    refused_position(&m, t, "flops_n");
    t = GOOD, t.run_id = 0;
    refused_position(&m, t, "run_id");
    t = GOOD, t.bpb_sum = INFINITY;
    refused_position(&m, t, "bpb_sum");
    t = GOOD, t.flops_sum = NAN;
    refused_position(&m, t, "flops_sum");
    t = GOOD, t.data_rng = (hn_rng){{0, 0, 0, 0}};
    refused_position(&m, t, "data_rng");
    hn_model_free(&m);
}

/* Copies checkpoint src to dst with metadata key set to value, sealed by the writer
 * (as a file written by a buggy or hostile hnet would be). */
static void resave_with_meta(const char *src, const char *dst, const char *key, const char *value) {
    hn_safetensors g;
    hn_error err;
    assert_int_equal(hn_safetensors_read(src, &g, &err), HN_OK);
    hn_st_tensor t[64];
    int n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, g.header) {
        if (!strcmp(it->string, "__metadata__")) continue;
        assert_true(n < 64);
        const uint8_t *p = hn_safetensors_find(&g, it->string, &t[n].ndim, t[n].shape);
        assert_non_null(p);
        t[n].name = it->string;
        t[n].data = (const float *)p; /* the data section is malloc'd: aligned */
        n++;
    }
    cJSON *meta = cJSON_Duplicate(g.metadata, 1);
    cJSON_DeleteItemFromObject(meta, key);
    cJSON_AddStringToObject(meta, key, value);
    assert_int_equal(hn_safetensors_write(dst, t, n, meta, &err), HN_OK);
    cJSON_Delete(meta);
    hn_safetensors_free(&g);
}

static void test_malformed_numbers_refused(void **state) {
    hn_model m;
    build(&m);
    char path[512], path2[512];
    snprintf(path, sizeof path, "%s/num.safetensors", tmpdir);
    snprintf(path2, sizeof path2, "%s/num2.safetensors", tmpdir);
    save(path, &m, &GOOD);
    const char *bad[] = {"", "9x", " 9", "99999999999999999999999", "0x9", "1e1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        resave_with_meta(path, path2, "step", bad[i]);
        hn_ckpt_train back;
        hn_error err;
        int rc = load_train(path2, &m, &back, &err);
        if (rc == HN_OK) fail_msg("accepted step \"%s\" (read as %ld)", bad[i], back.step);
        printf("  %s\n", err.msg);
        assert_non_null(strstr(err.msg, "'step'"));
    }
    resave_with_meta(path, path2, "step", "7");
    hn_ckpt_train back;
    hn_error err;
    assert_int_equal(load_train(path2, &m, &back, &err), HN_OK);
    assert_int_equal(back.step, 7);
    hn_model_free(&m);
}

/* Rewrites checkpoint src into dst with its metadata edited by `edit` and no checksum
 * recomputed by hnet's writer (the raw header and data, as another program would). */
static void rewrite_raw(const char *src, const char *dst, void (*edit)(cJSON *meta, const
                        hn_safetensors *f)) {
    hn_safetensors f;
    hn_error err;
    assert_int_equal(hn_safetensors_read(src, &f, &err), HN_OK);
    cJSON *h = cJSON_Duplicate(f.header, 1);
    edit(cJSON_GetObjectItem(h, "__metadata__"), &f);
    char *text = cJSON_PrintUnformatted(h);
    write_raw(dst, text, f.data, f.data_len);
    free(text);
    cJSON_Delete(h);
    hn_safetensors_free(&f);
}

static void drop_checksum(cJSON *meta, const hn_safetensors *f) {
    cJSON_DeleteItemFromObject(meta, HN_ST_SHA_KEY);
}
static void make_legacy(cJSON *meta, const hn_safetensors *f) {
    char sha[65];
    hn_error err;
    assert_int_equal(hn_sha256_hex(f->data, f->data_len, sha, &err), HN_OK);
    cJSON_DeleteItemFromObject(meta, HN_ST_SHA_KEY);
    cJSON_AddStringToObject(meta, HN_ST_DATA_SHA_KEY, sha);
    cJSON_ReplaceItemInObject(meta, "format", cJSON_CreateString("hnet-checkpoint/1"));
}
static void make_future(cJSON *meta, const hn_safetensors *f) {
    cJSON_DeleteItemFromObject(meta, HN_ST_SHA_KEY);
    cJSON_ReplaceItemInObject(meta, "format", cJSON_CreateString("hnet-checkpoint/99"));
}

static void test_format_versions(void **state) {
    hn_model m;
    build(&m);
    char path[512], out[512];
    snprintf(path, sizeof path, "%s/v.safetensors", tmpdir);
    snprintf(out, sizeof out, "%s/v-edit.safetensors", tmpdir);
    save(path, &m, &GOOD);
    hn_ckpt_train tr;
    hn_error err;

    /* a current checkpoint whose checksum was removed: its header is unprotected */
    rewrite_raw(path, out, drop_checksum);
    assert_int_equal(load_train(out, &m, &tr, &err), HN_ERR);
    printf("  %s\n", err.msg);
    assert_non_null(strstr(err.msg, "checksum"));
    /* an older hnet's checkpoint (data checksum only) still loads */
    rewrite_raw(path, out, make_legacy);
    int rc = load_train(out, &m, &tr, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, HN_OK);
    assert_int_equal(tr.step, 9);
    /* a format this hnet does not know */
    rewrite_raw(path, out, make_future);
    assert_int_equal(load_train(out, &m, &tr, &err), HN_ERR);
    printf("  %s\n", err.msg);
    assert_non_null(strstr(err.msg, "hnet-checkpoint/99"));
    hn_model_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crafted_entries_refused),
        cmocka_unit_test(test_truncated_and_tiny_files_refused),
        cmocka_unit_test(test_header_edit_with_valid_data_checksum_refused),
        cmocka_unit_test(test_out_of_range_metadata_refused),
        cmocka_unit_test(test_malformed_numbers_refused),
        cmocka_unit_test(test_format_versions),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
