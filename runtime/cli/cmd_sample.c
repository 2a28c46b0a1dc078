/* hnet sample CKPT: generate bytes from a checkpoint with H-Net's stepping (Section 2.4),
 * on the cpu or a GPU, one sequence or a batch; --bench times it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"
#include "cli/run_ref.h"
#include "cli/util.h"
#include "data/token_corpus.h"
#include "lua/experiment.h"
#include "model/generate.h"
#include "train/checkpoint.h"
#ifdef HN_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

static void usage(FILE *out) {
    fprintf(out,
            "usage: hnet sample RUN|CKPT|EXPERIMENT.lua [options]\n\n"
            "Generates bytes from a checkpoint (a .safetensors file, or a run's checkpoint\n"
            "folder: its newest intact file; or a run id or name in results.db: that run's\n"
            "checkpoint folder, the run that counts for a name), stepping the model byte by byte as the H-Net\n"
            "paper's inference (Section 2.4): the encoder every byte, the main network only\n"
            "at boundaries. Prints the prompt and continuation on stdout; on stderr the\n"
            "speed and the fraction of positions that reached each stage.\n\n"
            "An experiment file (.lua) instead gives its model with random weights (--seed),\n"
            "for timing with --bench.\n\n"
            "A model over tokens (data.tokenizer) steps token by token: the prompt is encoded\n"
            "with the run's tokenizer, and tokens are drawn until their bytes reach --bytes\n"
            "(the last token whole, so a few bytes more).\n\n"
            "options:\n"
            "  --prompt TEXT       text to continue (default: a newline)\n"
            "  --bytes N           bytes to generate (default 200)\n"
            "  --temperature T     softmax temperature; 0 = most likely byte or token (default 1)\n"
            "  --top-p P           nucleus sampling mass (default 1: off)\n"
            "  --seed S            sampling seed (default 1)\n"
            "  --device D          cpu or cuda (default cpu): where the model, its states and\n"
            "                      the sampling live\n"
            "  --batch N           N sequences from the same prompt at once (default 1);\n"
            "                      each is printed after a '--- sequence i' line\n"
            "  --bench             print no text: bytes/s of the prefill and the generation\n"
            "                      (all sequences together) and the per-stage fractions\n"
            "  --db PATH           results database where RUN is looked up (default\n"
            "                      results/results.db)\n");
}

typedef struct sample_opts {
    const char *src, *prompt, *db, *device;
    long n_bytes, seed, batch;
    double temperature, top_p;
    int bench;
} sample_opts;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int parse_double(const char *s, double *out) {
    char *end;
    *out = strtod(s, &end);
    return !*s || *end;
}

/* 0: parsed; 1: --help printed; 2: a usage error (printed) */
static int parse(int argc, char **argv, sample_opts *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int bad = 0;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 1;
        } else if (!strcmp(a, "--db") && i + 1 < argc) {
            o->db = argv[++i];
        } else if (!strcmp(a, "--prompt") && i + 1 < argc) {
            o->prompt = argv[++i];
        } else if (!strcmp(a, "--device") && i + 1 < argc) {
            o->device = argv[++i];
        } else if (!strcmp(a, "--bytes") && i + 1 < argc) {
            bad = hn_parse_long(argv[++i], &o->n_bytes) || o->n_bytes < 0;
        } else if (!strcmp(a, "--batch") && i + 1 < argc) {
            bad = hn_parse_long(argv[++i], &o->batch) || o->batch < 1 || o->batch > 1 << 20;
        } else if (!strcmp(a, "--seed") && i + 1 < argc) {
            bad = hn_parse_long(argv[++i], &o->seed);
        } else if (!strcmp(a, "--temperature") && i + 1 < argc) {
            bad = parse_double(argv[++i], &o->temperature) || o->temperature < 0;
        } else if (!strcmp(a, "--top-p") && i + 1 < argc) {
            bad = parse_double(argv[++i], &o->top_p) || !(o->top_p > 0 && o->top_p <= 1);
        } else if (!strcmp(a, "--bench")) {
            o->bench = 1;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "hnet sample: unknown option '%s' (see hnet sample --help)\n", a);
            return 2;
        } else if (!o->src) {
            o->src = a;
        } else {
            fprintf(stderr, "hnet sample: one checkpoint at a time ('%s' and '%s')\n", o->src, a);
            return 2;
        }
        if (bad) {
            fprintf(stderr, "hnet sample: bad value '%s' for %s (see hnet sample --help)\n", argv[i], a);
            return 2;
        }
    }
    if (!o->src) {
        usage(stderr);
        return 2;
    }
    if (!*o->prompt) {
        fprintf(stderr, "hnet sample: --prompt must not be empty (the model needs a first byte)\n");
        return 2;
    }
    return 0;
}

/* The backend named by --device, or NULL after saying why there is none. */
static const hn_backend *pick_device(const char *name) {
    const hn_backend *be = hn_backend_get(name);
    if (be) return be;
    if (strcmp(name, "cuda")) {
        fprintf(stderr, "hnet sample: unknown device '%s' (cpu or cuda)\n", name);
        return NULL;
    }
#ifdef HN_HAVE_CUDA
    fprintf(stderr, "hnet sample: --device cuda: no CUDA device here (%s)\n", hn_cuda_last_error());
#else
    fprintf(stderr, "hnet sample: --device cuda: this hnet was built without CUDA (build it with "
                    "make CUDA=1 where nvcc is)\n");
#endif
    return NULL;
}

static int ends_with(const char *s, const char *tail) {
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && !strcmp(s + a - b, tail);
}

/* The model: an experiment file's with random weights, or a checkpoint's. */
static int open_model(const sample_opts *o, const hn_registry *reg, const hn_backend *be,
                      hn_model *m, cJSON **cfg, hn_error *err) {
    if (ends_with(o->src, ".lua")) {
        if (hn_experiment_load(o->src, NULL, reg, cfg, err)) return HN_ERR;
        return hn_model_build(m, cJSON_GetObjectItem(*cfg, "model"), reg, be, (uint64_t)o->seed, err);
    }
    char db_buf[4096], resolved[1024];
    const char *db = hn_cli_db(o->db, db_buf, sizeof db_buf);
    if (hn_run_ref_checkpoint(o->src, db, resolved, sizeof resolved, err)) return HN_ERR;
    if (strcmp(resolved, o->src))
        fprintf(stderr, "hnet sample: run %s: checkpoints in %s\n", o->src, resolved);
    return hn_checkpoint_open_model(resolved, reg, be, m, cfg, err);
}

/* What the sequences produced: each one's bytes (printed at the end unless streamed). */
typedef struct outputs {
    int n, stream;
    char **buf;
    size_t *len, *cap;
    long *made;
} outputs;

static int out_put(outputs *w, int i, const void *bytes, size_t len) {
    if (w->stream) {
        fwrite(bytes, 1, len, stdout);
        fflush(stdout);
    } else if (w->buf) {
        if (w->len[i] + len > w->cap[i]) {
            size_t cap = 2 * (w->len[i] + len) + 64;
            char *p = realloc(w->buf[i], cap);
            if (!p) return HN_ERR;
            w->buf[i] = p;
            w->cap[i] = cap;
        }
        memcpy(w->buf[i] + w->len[i], bytes, len);
        w->len[i] += len;
    }
    return HN_OK;
}

static void outputs_free(outputs *w) {
    for (int i = 0; w->buf && i < w->n; i++) free(w->buf[i]);
    free(w->buf);
    free(w->len);
    free(w->cap);
    free(w->made);
}

typedef struct timing {
    double prefill_s, gen_s;
    long drawn;
} timing;

/* Feeds the prompt's ids to every sequence, then draws until every sequence has its
 * bytes (tokens: the last token whole). */
static int generate(const sample_opts *o, hn_generator *g, const hn_tokenizer *tok,
                    const int32_t *ids, size_t n_ids, long max_new, outputs *w, timing *tm,
                    hn_error *err) {
    int n = g->n;
    int32_t *feed = malloc((size_t)n * sizeof *feed);
    if (!feed) return hn_fail(err, "out of memory");
    hn_rng rng;
    hn_rng_seed(&rng, (uint64_t)o->seed);
    int rc = HN_ERR;
    double t0 = now();
    for (size_t t = 0; t < n_ids; t++) {
        for (int i = 0; i < n; i++) feed[i] = ids[t];
        if (hn_generator_step_batch(g, feed, NULL, err)) goto done;
    }
    double t1 = now();
    long drawn = 0;
    for (;;) {
        if (hn_generator_sample(g, o->temperature, o->top_p, &rng, feed, err)) goto done;
        drawn++;
        int all = 1;
        for (int i = 0; i < n; i++) {
            if (w->made[i] >= o->n_bytes) continue;
            size_t len = 1;
            const uint8_t *bytes = tok ? hn_tokenizer_token(tok, feed[i], &len) : NULL;
            char c = (char)(tok || feed[i] > 255 ? '?' : feed[i]); /* ids past the tokenizer's or the 256 bytes */
            if (out_put(w, i, tok && bytes ? (const void *)bytes : &c, tok && bytes ? len : 1)) {
                hn_fail(err, "out of memory for the output");
                goto done;
            }
            w->made[i] += (long)len;
            all &= w->made[i] >= o->n_bytes;
        }
        if (all || drawn >= max_new) break;
        if (hn_generator_step_batch(g, feed, NULL, err)) goto done;
    }
    tm->prefill_s = t1 - t0;
    tm->gen_s = now() - t1;
    tm->drawn = drawn;
    rc = HN_OK;
done:
    free(feed);
    return rc;
}

static double per_s(double count, double secs) { return count / (secs > 0 ? secs : 1e-9); }

static void report(const sample_opts *o, const hn_generator *g, int tokens, size_t n_ids,
                   size_t plen, const outputs *w, const timing *tm) {
    int n = g->n;
    double steps = (double)(tm->drawn > 0 ? tm->drawn - 1 : 0);
    char seqs[64] = "";
    if (n > 1) snprintf(seqs, sizeof seqs, " x %d sequences", n);
    if (tokens)
        fprintf(stderr, "prefill: %zu tokens (%zu bytes), %.0f tokens/s; generation: %ld tokens, %ld "
                        "bytes%s, %.0f tokens/s\n", n_ids, plen,
                per_s((double)n_ids * n, tm->prefill_s), tm->drawn, w->made[0], seqs,
                per_s(steps * n, tm->gen_s));
    else
        fprintf(stderr, "prefill: %zu bytes, %.0f bytes/s; generation: %ld bytes%s, %.0f bytes/s\n",
                plen, per_s((double)plen * n, tm->prefill_s), o->n_bytes, seqs,
                per_s((double)(o->n_bytes > 0 ? o->n_bytes - 1 : 0) * n, tm->gen_s));
    if (o->bench)
        fprintf(stderr, "bench: device %s, batch %d: %.1f ms per step, %.0f %s/s per sequence\n",
                g->m->be->name, n, 1e3 * tm->gen_s / (steps > 0 ? steps : 1),
                per_s(steps, tm->gen_s), tokens ? "tokens" : "bytes");
    fprintf(stderr, "positions reaching each stage:");
    for (int s = 0; s < g->depth; s++)
        fprintf(stderr, " stage %d %.3f%s", s, (double)g->reached[s] / ((double)g->pos * n),
                s + 1 < g->depth ? "," : "\n");
}

int hn_cmd_sample(int argc, char **argv) {
    sample_opts o = {.prompt = "\n", .device = "cpu", .n_bytes = 200, .seed = 1, .batch = 1,
                     .temperature = 1.0, .top_p = 1.0};
    int prc = parse(argc, argv, &o);
    if (prc) return prc == 1 ? 0 : 2;
    const hn_backend *be = pick_device(o.device);
    if (!be) return 2;
    hn_error err;
    hn_registry reg;
    hn_registry_init(&reg);
    hn_model m;
    memset(&m, 0, sizeof m);
    cJSON *cfg = NULL;
    hn_generator g = {0};
    hn_tokenizer *tok = NULL;
    int32_t *ids = NULL;
    outputs w = {.n = (int)o.batch, .stream = o.batch == 1 && !o.bench};
    int rc = 1;
    if (hn_registry_load_default(&reg, &err) || open_model(&o, &reg, be, &m, &cfg, &err)) {
        fprintf(stderr, "hnet sample: %s\n", err.msg);
        cJSON_Delete(cfg);
        hn_registry_close(&reg);
        return 1;
    }
    size_t plen = strlen(o.prompt);
    /* the positions fed: the prompt's bytes, or its tokens for a model over tokens */
    size_t n_ids = plen;
    const cJSON *data = cJSON_GetObjectItem(cfg, "data");
    if (hn_data_is_tokenized(data)) {
        if (hn_tokenizer_load(cJSON_GetObjectItem(data, "tokenizer"), &tok, &err) ||
            hn_tokenizer_encode(tok, (const uint8_t *)o.prompt, plen, &ids, &n_ids, &err)) {
            hn_fail_prefix(&err, "%s reads tokens (data.tokenizer)", o.src);
            goto done;
        }
    } else {
        ids = malloc((plen ? plen : 1) * sizeof *ids);
        if (!ids) {
            hn_fail(&err, "out of memory");
            goto done;
        }
        for (size_t i = 0; i < plen; i++) ids[i] = (unsigned char)o.prompt[i];
    }
    /* a token stands for a byte at least (special pieces aside): n_bytes tokens suffice */
    long max_new = tok ? o.n_bytes + 64 : o.n_bytes;
    size_t N = (size_t)o.batch;
    w.made = calloc(N, sizeof *w.made);
    if (!w.stream && !o.bench) {
        w.buf = calloc(N, sizeof *w.buf);
        w.len = calloc(N, sizeof *w.len);
        w.cap = calloc(N, sizeof *w.cap);
    }
    if (!w.made || (!w.stream && !o.bench && (!w.buf || !w.len || !w.cap))) {
        hn_fail(&err, "out of memory");
        goto done;
    }
    if (hn_generator_init_batch(&g, &m, (int)o.batch, (int)(n_ids + (size_t)max_new), &err))
        goto done;
    if (w.stream) fwrite(o.prompt, 1, plen, stdout);
    timing tm = {0};
    if (generate(&o, &g, tok, ids, n_ids, max_new, &w, &tm, &err)) goto done;
    if (w.stream) putchar('\n');
    for (int i = 0; w.buf && i < w.n; i++) {
        printf("--- sequence %d\n", i);
        fwrite(o.prompt, 1, plen, stdout);
        fwrite(w.buf[i], 1, w.len[i], stdout);
        putchar('\n');
    }
    report(&o, &g, tok != NULL, n_ids, plen, &w, &tm);
    rc = 0;
done:
    if (rc) fprintf(stderr, "hnet sample: %s\n", err.msg);
    hn_generator_free(&g);
    hn_tokenizer_free(tok);
    free(ids);
    outputs_free(&w);
    cJSON_Delete(cfg);
    hn_model_free(&m);
    hn_registry_close(&reg);
    return rc;
}
