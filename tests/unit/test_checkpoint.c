/* Checkpoints (train/checkpoint.h, model/safetensors.h): a saved model loads back with
 * bit-identical logits and AdamW state; every tensor name and shape matches the
 * reference H-Net table (runtime/model/reference_names.tsv); a truncated or corrupted
 * checkpoint is refused with a message naming the file, and the newest intact one is
 * used instead. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend/backend.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "plugin/registry.h"
#include "train/checkpoint.h"
#include "support/fixtures.h"

#define LEN 32

static hn_registry reg;
static char tmpdir[256];

static int setup(void **state) {
    if (registry_open(&reg)) return -1;
    return tmpdir_make(tmpdir, sizeof tmpdir, "hnet-ckpt");
}

static int teardown(void **state) {
    tmpdir_remove(tmpdir);
    hn_registry_close(&reg);
    return 0;
}

/* The config of the reference table (REFERENCE_NAMES.md). */
static const char *TABLE_MODEL =
    "{\"kind\":\"hnet\",\"vocab\":256,\"layout\":[\"m1\",[\"T1M1\",[\"T1\"],\"M1t1\"],\"m1\"],"
    "\"d\":[32,48,64],\"mlp\":[null,{\"plugin\":\"swiglu\",\"hidden\":128},"
    "{\"plugin\":\"swiglu\",\"hidden\":256}],"
    "\"layers\":{\"mamba2\":{\"d_state\":16,\"headdim\":16},\"attention\":{\"heads\":2}},"
    "\"chunker\":{\"plugin\":\"dc\",\"ratio\":[3,3]}}";

static void build(hn_model *m, const char *json, uint64_t seed) {
    cJSON *cfg = cJSON_Parse(json);
    assert_non_null(cfg);
    hn_error err;
    int rc = hn_model_build(m, cfg, &reg, hn_backend_cpu(), seed, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, HN_OK);
    cJSON_Delete(cfg);
}

static void forward(hn_model *m, float *logits) {
    int32_t tok[LEN], tgt[LEN];
    for (int t = 0; t < LEN; t++) tok[t] = tgt[(t + LEN - 1) % LEN] = "checkpoints hold every weight!!"[t];
    hn_loss loss;
    hn_error err;
    assert_int_equal(hn_model_forward(m, tok, tgt, 1, LEN, &loss, &err), HN_OK);
    memcpy(logits, m->logits, (size_t)LEN * 256 * sizeof *logits);
}

static void test_names_match_reference_table(void **state) {
    hn_model m;
    build(&m, TABLE_MODEL, 1);
    char path[512];
    snprintf(path, sizeof path, "%s/names.safetensors", tmpdir);
    hn_error err;
    assert_int_equal(hn_checkpoint_save(path, &m, NULL, NULL, NULL, NULL, NULL, &err), HN_OK);
    hn_safetensors f;
    assert_int_equal(hn_safetensors_read(path, &f, &err), HN_OK);

    FILE *tab = fopen("runtime/model/reference_names.tsv", "r");
    assert_non_null(tab);
    char line[512];
    int rows = 0, bad = 0;
    while (fgets(line, sizeof line, tab)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        char name[400], shape[64];
        assert_int_equal(sscanf(line, "%399s %63s", name, shape), 2);
        rows++;
        int ndim;
        int64_t dims[HN_ST_MAX_DIMS];
        if (!hn_safetensors_find(&f, name, &ndim, dims)) {
            printf("missing: %s\n", name);
            bad++;
            continue;
        }
        char got[64] = "";
        for (int d = 0; d < ndim; d++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? "x" : "", (long long)dims[d]);
        if (strcmp(got, shape)) {
            printf("shape of %s: hnet %s, reference %s\n", name, got, shape);
            bad++;
        }
    }
    fclose(tab);
    int tensors = cJSON_GetArraySize(f.header) - (f.metadata ? 1 : 0);
    if (tensors != rows) printf("hnet writes %d tensors, the table lists %d\n", tensors, rows);
    assert_int_equal(bad, 0);
    assert_int_equal(tensors, rows);
    assert_true(rows > 60);
    /* and a renamed tensor is noticed */
    int ndim;
    int64_t dims[HN_ST_MAX_DIMS];
    assert_null(hn_safetensors_find(&f, "backbone.main_network.layers.0.norm1.weight", &ndim, dims));
    hn_safetensors_free(&f);
    hn_model_free(&m);
}

static const char *SMALL_MODEL =
    "{\"kind\":\"hnet\",\"vocab\":256,\"layout\":[\"m1\",[\"T1\"],\"m1\"],\"d\":[32,48],"
    "\"mlp\":[null,{\"plugin\":\"swiglu\",\"hidden\":64}],"
    "\"layers\":{\"mamba2\":{\"d_state\":8,\"headdim\":16},\"attention\":{\"heads\":2,\"window\":7}},"
    "\"chunker\":{\"plugin\":\"dc\",\"ratio\":3}}";

static void perturb(hn_model *m, uint64_t seed) {
    hn_rng rng;
    hn_rng_seed(&rng, seed);
    for (size_t i = 0; i < m->params.total; i++)
        m->params.values[i] += (float)(0.01 * hn_rng_normal(&rng));
}

static void test_round_trip(void **state) {
    hn_model a, b;
    build(&a, SMALL_MODEL, 3);
    perturb(&a, 4);
    size_t n = a.params.total;
    float *la = malloc((size_t)LEN * 256 * sizeof(float)), *lb = malloc((size_t)LEN * 256 * sizeof(float));
    float *ma = calloc(n, sizeof(float)), *va = calloc(n, sizeof(float));
    float *mb = calloc(n, sizeof(float)), *vb = calloc(n, sizeof(float));
    hn_rng rng;
    hn_rng_seed(&rng, 5);
    for (int e = 0; e < a.params.n; e++) /* the store pads between parameters */
        for (size_t i = a.params.entries[e].offset; i < a.params.entries[e].offset + a.params.entries[e].numel; i++) {
            ma[i] = (float)hn_rng_normal(&rng);
            va[i] = (float)hn_rng_uniform(&rng);
        }
    forward(&a, la);
    hn_ckpt_train tr = {.step = 42, .run_id = 7, .bpb_sum = 1.0 / 3.0, .flops_sum = 1e9 / 7,
                        .aux_sum = 0.1, .bpb_n = 3, .flops_n = 2, .first_valid_bpb = 8.01,
                        .final_valid_bpb = M_PI, .bpic = 2.5, .final_train_bpb = 3.3, .world_size = 2};
    tr.data_rng = hn_rng_derive(9, 0xda7a);
    (void)hn_rng_u64(&tr.data_rng);
    char path[512], cfg[1024];
    snprintf(path, sizeof path, "%s/rt.safetensors", tmpdir);
    snprintf(cfg, sizeof cfg, "{\"seed\":3,\"model\":%s}", SMALL_MODEL);
    hn_error err;
    assert_int_equal(hn_checkpoint_save(path, &a, ma, va, cfg, "rt", &tr, &err), HN_OK);

    build(&b, SMALL_MODEL, 99); /* other weights until loaded */
    forward(&b, lb);
    assert_true(memcmp(la, lb, (size_t)LEN * 256 * sizeof(float)) != 0);
    hn_safetensors f;
    assert_int_equal(hn_safetensors_read(path, &f, &err), HN_OK);
    hn_ckpt_train back;
    assert_int_equal(hn_checkpoint_load_train(&f, &b, mb, vb, &back, &err), HN_OK);
    hn_safetensors_free(&f);
    forward(&b, lb);
    assert_memory_equal(la, lb, (size_t)LEN * 256 * sizeof(float));
    assert_memory_equal(ma, mb, n * sizeof(float));
    assert_memory_equal(va, vb, n * sizeof(float));
    assert_memory_equal(&tr, &back, sizeof tr);

    /* the model alone, built from the config the checkpoint carries */
    hn_model c;
    cJSON *stored;
    int rc = hn_checkpoint_open_model(path, &reg, hn_backend_cpu(), &c, &stored, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, HN_OK);
    forward(&c, lb);
    assert_memory_equal(la, lb, (size_t)LEN * 256 * sizeof(float));
    cJSON_Delete(stored);
    hn_model_free(&c);
    hn_model_free(&a);
    hn_model_free(&b);
    free(la);
    free(lb);
    free(ma);
    free(va);
    free(mb);
    free(vb);
}

/* The reference trains the residual projection's bias: a checkpoint whose biases are not
 * zero loads and gives the logits it gave before saving (and the bias matters). */
static void test_nonzero_residual_bias_loads(void **state) {
    hn_model a, c;
    build(&a, SMALL_MODEL, 3);
    perturb(&a, 4);
    int bias = hn_params_find(&a.params, "backbone.residual_proj.bias");
    assert_true(bias >= 0);
    hn_param_entry *e = &a.params.entries[bias];
    for (size_t i = 0; i < e->numel; i++) e->p.value[i] = 0.5f + 0.01f * (float)i;
    float *la = malloc((size_t)LEN * 256 * sizeof(float)), *lb = malloc((size_t)LEN * 256 * sizeof(float));
    forward(&a, la);
    char path[512], cfg[1024];
    snprintf(path, sizeof path, "%s/bias.safetensors", tmpdir);
    snprintf(cfg, sizeof cfg, "{\"seed\":3,\"model\":%s}", SMALL_MODEL);
    hn_error err;
    assert_int_equal(hn_checkpoint_save(path, &a, NULL, NULL, cfg, "bias", NULL, &err), HN_OK);
    cJSON *stored;
    int rc = hn_checkpoint_open_model(path, &reg, hn_backend_cpu(), &c, &stored, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, HN_OK);
    forward(&c, lb);
    assert_memory_equal(la, lb, (size_t)LEN * 256 * sizeof(float));
    for (size_t i = 0; i < e->numel; i++) e->p.value[i] = 0; /* the bias is used */
    forward(&a, lb);
    assert_true(memcmp(la, lb, (size_t)LEN * 256 * sizeof(float)) != 0);
    cJSON_Delete(stored);
    hn_model_free(&a);
    hn_model_free(&c);
    free(la);
    free(lb);
}

/* Copies the checkpoint at src to dst without the tensors whose name contains `drop`
 * (re-sealed, as hnet writes). */
static void copy_without(const char *src, const char *dst, const char *drop) {
    hn_safetensors f;
    hn_error err;
    assert_int_equal(hn_safetensors_read(src, &f, &err), HN_OK);
    hn_st_tensor *t = calloc((size_t)f.n_entries, sizeof *t);
    int n = 0;
    for (int i = 0; i < f.n_entries; i++) {
        const hn_st_entry *e = &f.entries[i];
        if (strstr(e->name, drop)) continue;
        t[n] = (hn_st_tensor){.name = e->name, .ndim = e->ndim, .data = (const float *)(f.data + e->begin)};
        memcpy(t[n].shape, e->shape, sizeof t[n].shape);
        n++;
    }
    cJSON *meta = cJSON_Duplicate(f.metadata, 1);
    cJSON_DeleteItemFromObject(meta, HN_ST_SHA_KEY);
    assert_int_equal(hn_safetensors_write(dst, t, n, meta, &err), HN_OK);
    cJSON_Delete(meta);
    free(t);
    hn_safetensors_free(&f);
}

/* A checkpoint without residual biases (older hnet wrote no moments for them; files made
 * elsewhere may lack them) loads with zero biases and resumes. */
static void test_checkpoint_without_residual_bias_loads(void **state) {
    hn_model a, c;
    build(&a, SMALL_MODEL, 3);
    perturb(&a, 4);
    size_t n = a.params.total;
    float *m = calloc(n, sizeof(float)), *v = calloc(n, sizeof(float));
    char path[512], old[512], cfg[1024];
    snprintf(path, sizeof path, "%s/nb.safetensors", tmpdir);
    snprintf(old, sizeof old, "%s/nb-old.safetensors", tmpdir);
    snprintf(cfg, sizeof cfg, "{\"seed\":3,\"model\":%s,\"train\":{\"steps\":100}}", SMALL_MODEL);
    hn_ckpt_train tr = {.step = 4, .run_id = 1, .bpb_n = 1, .flops_n = 1};
    tr.data_rng = hn_rng_derive(9, 0xda7a);
    hn_error err;
    assert_int_equal(hn_checkpoint_save(path, &a, m, v, cfg, "nb", &tr, &err), HN_OK);
    copy_without(path, old, "residual_proj.bias");
    int bias = hn_params_find(&a.params, "backbone.residual_proj.bias");
    hn_param_entry *e = &a.params.entries[bias];
    for (size_t i = 0; i < e->numel; i++) e->p.value[i] = 0;
    float *la = malloc((size_t)LEN * 256 * sizeof(float)), *lb = malloc((size_t)LEN * 256 * sizeof(float));
    forward(&a, la);
    cJSON *stored;
    int rc = hn_checkpoint_open_model(old, &reg, hn_backend_cpu(), &c, &stored, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, HN_OK);
    forward(&c, lb);
    assert_memory_equal(la, lb, (size_t)LEN * 256 * sizeof(float));
    hn_safetensors f;
    hn_ckpt_train back;
    assert_int_equal(hn_safetensors_read(old, &f, &err), HN_OK);
    rc = hn_checkpoint_load_train(&f, &c, m, v, &back, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, HN_OK);
    hn_safetensors_free(&f);
    cJSON_Delete(stored);
    hn_model_free(&a);
    hn_model_free(&c);
    free(la);
    free(lb);
    free(m);
    free(v);
}

static long file_size(const char *path) {
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

/* What the checkpoint-folder tests share: a small model, its folder <tmpdir>/NAME with
 * checkpoint settings {every 3, keep}, the config its checkpoints record and zero AdamW
 * moments. */
typedef struct ckpt_run {
    hn_model m;
    hn_ckpt_settings cs;
    cJSON *cfg;
    float *mv;
} ckpt_run;

static void run_open(ckpt_run *r, const char *name, int keep) {
    build(&r->m, SMALL_MODEL, 3);
    r->cs = (hn_ckpt_settings){.every = 3, .keep = keep};
    snprintf(r->cs.run_dir, sizeof r->cs.run_dir, "%s/%s", tmpdir, name);
    r->cfg = cJSON_Parse("{\"seed\":3}");
    cJSON_AddItemToObject(r->cfg, "model", cJSON_Parse(SMALL_MODEL));
    r->mv = calloc(r->m.params.total, sizeof(float));
    assert_non_null(r->mv);
}

static void run_close(ckpt_run *r) {
    free(r->mv);
    cJSON_Delete(r->cfg);
    hn_model_free(&r->m);
}

/* A checkpoint records how many processes trained the run (data parallel); a resume with
 * another number is refused, naming both and the command that continues it, before
 * anything is loaded. */
static void test_world_size_recorded_and_checked(void **state) {
    ckpt_run r;
    run_open(&r, "dp", 2);
    hn_error err;
    hn_ckpt_train tr = {.step = 3, .run_id = 1, .data_rng = {{1, 2, 3, 4}}, .world_size = 2};
    assert_int_equal(hn_checkpoint_write(&r.cs, r.cfg, "dp", &r.m, r.mv, r.mv, &tr, &err), HN_OK);
    hn_ckpt_train at = {0};
    int resumed = 0;
    for (int world = 1; world <= 3; world += 2) {
        r.cs.world_size = world;
        assert_int_equal(hn_checkpoint_resume(&r.cs, r.cfg, &r.m, r.mv, r.mv, &at, &resumed, &err), HN_ERR);
        printf("  %s\n", err.msg);
        char want[64];
        snprintf(want, sizeof want, "this one has %d", world);
        assert_non_null(strstr(err.msg, "written by a run of 2 processes"));
        assert_non_null(strstr(err.msg, want));
        assert_non_null(strstr(err.msg, "mpirun -np 2 hnet run FILE --resume"));
        assert_int_equal(resumed, 0);
    }
    r.cs.world_size = 2;
    assert_int_equal(hn_checkpoint_resume(&r.cs, r.cfg, &r.m, r.mv, r.mv, &at, &resumed, &err), HN_OK);
    assert_int_equal(resumed, 1);
    assert_int_equal(at.world_size, 2);
    assert_int_equal(at.step, 3);
    /* one process's checkpoint resumed by two is refused the other way round */
    tr.step = 6;
    tr.world_size = 1;
    assert_int_equal(hn_checkpoint_write(&r.cs, r.cfg, "dp", &r.m, r.mv, r.mv, &tr, &err), HN_OK);
    assert_int_equal(hn_checkpoint_resume(&r.cs, r.cfg, &r.m, r.mv, r.mv, &at, &resumed, &err), HN_ERR);
    assert_non_null(strstr(err.msg, "written by a run of 1 process and this one has 2"));
    assert_non_null(strstr(err.msg, "as one process"));
    run_close(&r);
}

static void test_damaged_checkpoints_refused(void **state) {
    ckpt_run r;
    run_open(&r, "run", 2);
    char p3[1200], p6[1200];
    hn_error err;
    for (long step = 3; step <= 9; step += 3) {
        hn_ckpt_train tr = {.step = step, .run_id = 1, .data_rng = {{1, 2, 3, 4}}};
        assert_int_equal(hn_checkpoint_write(&r.cs, r.cfg, "run", &r.m, r.mv, r.mv, &tr, &err), HN_OK);
    }
    long steps[8];
    assert_int_equal(hn_checkpoint_list(r.cs.run_dir, steps, 8), 2); /* keep = 2 pruned step 3 */
    assert_int_equal(steps[0], 9);
    assert_int_equal(steps[1], 6);
    hn_checkpoint_file(p6, sizeof p6, r.cs.run_dir, 6);
    hn_checkpoint_file(p3, sizeof p3, r.cs.run_dir, 9);

    /* resuming with another experiment is refused, naming the section */
    cJSON *other = cJSON_Duplicate(r.cfg, 1);
    cJSON_ReplaceItemInObject(other, "seed", cJSON_CreateNumber(4));
    hn_ckpt_train at;
    int again = 0;
    assert_int_equal(hn_checkpoint_resume(&r.cs, other, &r.m, r.mv, r.mv, &at, &again, &err), HN_ERR);
    assert_non_null(strstr(err.msg, "different experiment"));
    assert_non_null(strstr(err.msg, "'seed'"));
    cJSON_Delete(other);
    assert_int_equal(hn_checkpoint_resume(&r.cs, r.cfg, &r.m, r.mv, r.mv, &at, &again, &err), HN_OK);
    assert_int_equal(again, 1);
    assert_int_equal(at.step, 9);

    /* truncated newest: refused with a message, the previous one is used */
    assert_int_equal(truncate(p3, file_size(p3) - 1000), 0);
    hn_safetensors f;
    assert_int_equal(hn_safetensors_read(p3, &f, &err), HN_ERR);
    printf("  %s\n", err.msg);
    assert_non_null(strstr(err.msg, "truncated"));
    assert_non_null(strstr(err.msg, p3));
    FILE *warn = tmpfile();
    assert_int_equal(hn_checkpoint_latest(r.cs.run_dir, &f, warn, &err), 1);
    assert_string_equal(hn_safetensors_meta(&f, "step"), "6");
    hn_safetensors_free(&f);
    char msg[2048] = "";
    rewind(warn);
    size_t got = fread(msg, 1, sizeof msg - 1, warn);
    msg[got] = 0;
    fclose(warn);
    assert_non_null(strstr(msg, "refusing checkpoint"));
    assert_non_null(strstr(msg, "falling back"));

    /* a flipped byte in the data (same size): the checksum catches it */
    FILE *w = fopen(p6, "r+b");
    fseek(w, -5, SEEK_END);
    int c = fgetc(w);
    fseek(w, -5, SEEK_END);
    fputc(c ^ 0x40, w);
    fclose(w);
    assert_int_equal(hn_safetensors_read(p6, &f, &err), HN_ERR);
    printf("  %s\n", err.msg);
    assert_non_null(strstr(err.msg, "damaged"));
    /* nothing usable is left */
    assert_int_equal(hn_checkpoint_latest(r.cs.run_dir, &f, NULL, &err), 0);
    /* and a resume starts afresh rather than failing */
    int resumed = 1;
    hn_ckpt_train tr;
    assert_int_equal(hn_checkpoint_resume(&r.cs, r.cfg, &r.m, r.mv, r.mv, &tr, &resumed, &err), HN_OK);
    assert_int_equal(resumed, 0);
    run_close(&r);
}

/* A newest checkpoint that reads back intact (its checksum holds) but cannot be loaded
 * — here: written without the optimizer moments a resume needs — is passed over with a
 * warning for the previous one, as a damaged one is. */
static void test_unloadable_newest_falls_back(void **state) {
    ckpt_run r;
    run_open(&r, "fallback", 3);
    char p9[1200];
    hn_error err;
    hn_ckpt_train tr = {.step = 6, .run_id = 1, .data_rng = {{1, 2, 3, 4}}};
    assert_int_equal(hn_checkpoint_write(&r.cs, r.cfg, "run", &r.m, r.mv, r.mv, &tr, &err), HN_OK);
    /* step 9: a weights-only file with the training position (no moments) */
    tr.step = 9;
    hn_checkpoint_file(p9, sizeof p9, r.cs.run_dir, 9);
    char *text = cJSON_PrintUnformatted(r.cfg);
    assert_int_equal(hn_checkpoint_save(p9, &r.m, NULL, NULL, text, "run", &tr, &err), HN_OK);
    free(text);
    hn_safetensors f;
    assert_int_equal(hn_safetensors_read(p9, &f, &err), HN_OK); /* intact */
    hn_safetensors_free(&f);

    FILE *warn = tmpfile(), *was = stderr;
    stderr = warn;
    hn_ckpt_train at;
    int resumed = 0;
    int rc = hn_checkpoint_resume(&r.cs, r.cfg, &r.m, r.mv, r.mv, &at, &resumed, &err);
    stderr = was;
    char msg[4096] = "";
    rewind(warn);
    msg[fread(msg, 1, sizeof msg - 1, warn)] = 0;
    fclose(warn);
    printf("%s", msg);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, HN_OK);
    assert_int_equal(resumed, 1);
    assert_int_equal(at.step, 6);
    assert_non_null(strstr(msg, "step-00000009"));
    assert_non_null(strstr(msg, "falling back"));
    run_close(&r);
}

static pid_t dead_pid(void) {
    pid_t p = fork();
    if (p == 0) _exit(0);
    assert_true(p > 0);
    waitpid(p, NULL, 0);
    return p;
}

static void touch(const char *path) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("partial", f);
    fclose(f);
}

/* A process killed while writing leaves step-N.safetensors.tmp.PID behind: the next
 * writer or resume of the folder removes those whose process is gone, and only those. */
static void test_stale_temporary_files_removed(void **state) {
    ckpt_run r;
    run_open(&r, "stale", 2);
    char stale[1200], live[1200], other[1200];
    hn_error err;
    hn_ckpt_train tr = {.step = 3, .run_id = 1, .data_rng = {{1, 2, 3, 4}}};
    assert_int_equal(hn_checkpoint_write(&r.cs, r.cfg, "run", &r.m, r.mv, r.mv, &tr, &err), HN_OK);

    snprintf(stale, sizeof stale, "%s/step-00000006.safetensors.tmp.%ld", r.cs.run_dir, (long)dead_pid());
    snprintf(live, sizeof live, "%s/step-00000006.safetensors.tmp.%ld", r.cs.run_dir, (long)getppid());
    snprintf(other, sizeof other, "%s/notes.tmp.1", r.cs.run_dir);
    touch(stale);
    touch(live);
    touch(other);
    hn_ckpt_train at;
    int resumed = 0;
    assert_int_equal(hn_checkpoint_resume(&r.cs, r.cfg, &r.m, r.mv, r.mv, &at, &resumed, &err), HN_OK);
    assert_int_equal(access(stale, F_OK), -1); /* the killed writer's file is gone */
    assert_int_equal(access(live, F_OK), 0);   /* a live writer's is not */
    assert_int_equal(access(other, F_OK), 0);  /* nor a file that is not a checkpoint's */

    touch(stale);
    tr.step = 6;
    assert_int_equal(hn_checkpoint_write(&r.cs, r.cfg, "run", &r.m, r.mv, r.mv, &tr, &err), HN_OK);
    assert_int_equal(access(stale, F_OK), -1);
    assert_int_equal(access(live, F_OK), 0);
    run_close(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_match_reference_table),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_nonzero_residual_bias_loads),
        cmocka_unit_test(test_checkpoint_without_residual_bias_loads),
        cmocka_unit_test(test_damaged_checkpoints_refused),
        cmocka_unit_test(test_world_size_recorded_and_checked),
        cmocka_unit_test(test_unloadable_newest_falls_back),
        cmocka_unit_test(test_stale_temporary_files_removed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
