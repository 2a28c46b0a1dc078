/* hnet sample CKPT: generate bytes from a checkpoint with H-Net's stepping (Section 2.4). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"
#include "cli/run_ref.h"
#include "cli/util.h"
#include "data/token_corpus.h"
#include "model/generate.h"
#include "train/checkpoint.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: hnet sample RUN|CKPT [options]\n\n"
            "Generates bytes from a checkpoint (a .safetensors file, or a run's checkpoint\n"
            "folder: its newest intact file; or a run id or name in results.db: that run's\n"
            "checkpoint folder, the run that counts for a name), stepping the model byte by byte as the H-Net\n"
            "paper's inference (Section 2.4): the encoder every byte, the main network only\n"
            "at boundaries. Prints the prompt and continuation on stdout; on stderr the\n"
            "speed and the fraction of positions that reached each stage.\n\n"
            "A model over tokens (data.tokenizer) steps token by token: the prompt is encoded\n"
            "with the run's tokenizer, and tokens are drawn until their bytes reach --bytes\n"
            "(the last token whole, so a few bytes more).\n\n"
            "options:\n"
            "  --prompt TEXT       text to continue (default: a newline)\n"
            "  --bytes N           bytes to generate (default 200)\n"
            "  --temperature T     softmax temperature; 0 = most likely byte or token (default 1)\n"
            "  --top-p P           nucleus sampling mass (default 1: off)\n"
            "  --seed S            sampling seed (default 1)\n"
            "  --db PATH           results database where RUN is looked up (default\n"
            "                      results/results.db)\n");
}

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

int hn_cmd_sample(int argc, char **argv) {
    const char *ckpt = NULL, *prompt = "\n", *db = NULL;
    long n_bytes = 200, seed = 1;
    double temperature = 1.0, top_p = 1.0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int bad = 0;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--db") && i + 1 < argc) {
            db = argv[++i];
        } else if (!strcmp(a, "--prompt") && i + 1 < argc) {
            prompt = argv[++i];
        } else if (!strcmp(a, "--bytes") && i + 1 < argc) {
            bad = hn_parse_long(argv[++i], &n_bytes) || n_bytes < 0;
        } else if (!strcmp(a, "--seed") && i + 1 < argc) {
            bad = hn_parse_long(argv[++i], &seed);
        } else if (!strcmp(a, "--temperature") && i + 1 < argc) {
            bad = parse_double(argv[++i], &temperature) || temperature < 0;
        } else if (!strcmp(a, "--top-p") && i + 1 < argc) {
            bad = parse_double(argv[++i], &top_p) || !(top_p > 0 && top_p <= 1);
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "hnet sample: unknown option '%s' (see hnet sample --help)\n", a);
            return 2;
        } else if (!ckpt) {
            ckpt = a;
        } else {
            fprintf(stderr, "hnet sample: one checkpoint at a time ('%s' and '%s')\n", ckpt, a);
            return 2;
        }
        if (bad) {
            fprintf(stderr, "hnet sample: bad value '%s' for %s (see hnet sample --help)\n", argv[i], a);
            return 2;
        }
    }
    char db_buf[4096];
    db = hn_cli_db(db, db_buf, sizeof db_buf);
    if (!ckpt) {
        usage(stderr);
        return 2;
    }
    if (!*prompt) {
        fprintf(stderr, "hnet sample: --prompt must not be empty (the model needs a first byte)\n");
        return 2;
    }
    hn_error err;
    char resolved[1024];
    if (hn_run_ref_checkpoint(ckpt, db, resolved, sizeof resolved, &err)) {
        fprintf(stderr, "hnet sample: %s\n", err.msg);
        return 1;
    }
    if (strcmp(resolved, ckpt)) fprintf(stderr, "hnet sample: run %s: checkpoints in %s\n", ckpt, resolved);
    ckpt = resolved;
    hn_registry reg;
    hn_registry_init(&reg);
    hn_model m;
    cJSON *cfg = NULL;
    hn_generator g = {0};
    hn_tokenizer *tok = NULL;
    int32_t *ids = NULL;
    float *logits = NULL;
    int rc = 1;
    if (hn_registry_load_default(&reg, &err) ||
        hn_checkpoint_open_model(ckpt, &reg, hn_backend_cpu(), &m, &cfg, &err)) {
        fprintf(stderr, "hnet sample: %s\n", err.msg);
        hn_registry_close(&reg);
        return 1;
    }
    size_t plen = strlen(prompt);
    logits = malloc((size_t)m.vocab * sizeof *logits);
    hn_rng rng;
    hn_rng_seed(&rng, (uint64_t)seed);
    /* the positions fed: the prompt's bytes, or its tokens for a model over tokens */
    size_t n_ids = plen;
    const cJSON *data = cJSON_GetObjectItem(cfg, "data");
    if (hn_data_is_tokenized(data)) {
        if (hn_tokenizer_load(cJSON_GetObjectItem(data, "tokenizer"), &tok, &err) ||
            hn_tokenizer_encode(tok, (const uint8_t *)prompt, plen, &ids, &n_ids, &err)) {
            hn_fail_prefix(&err, "%s reads tokens (data.tokenizer)", ckpt);
            goto done;
        }
    }
    /* a token stands for a byte at least (special pieces aside): n_bytes tokens suffice */
    long max_new = tok ? n_bytes + 64 : n_bytes;
    if (!logits || hn_generator_init(&g, &m, (int)(n_ids + (size_t)max_new), &err)) goto done;
    double t0 = now();
    for (size_t i = 0; i < n_ids; i++)
        if (hn_generator_step(&g, tok ? ids[i] : (unsigned char)prompt[i], logits, &err)) goto done;
    double t1 = now();
    fwrite(prompt, 1, plen, stdout);
    long made = 0, drawn = 0;
    while (made < n_bytes && drawn < max_new) {
        int b = hn_sample_byte(logits, m.vocab, temperature, top_p, &rng);
        drawn++;
        size_t len = 1;
        const uint8_t *bytes = tok ? hn_tokenizer_token(tok, b, &len) : NULL;
        if (tok && bytes) fwrite(bytes, 1, len, stdout);
        else putchar(tok || b > 255 ? '?' : b); /* ids past the tokenizer's or the 256 bytes */
        made += (long)len;
        fflush(stdout);
        if (made < n_bytes && drawn < max_new && hn_generator_step(&g, b, logits, &err)) goto done;
    }
    double t2 = now();
    putchar('\n');
    if (tok)
        fprintf(stderr, "prefill: %zu tokens (%zu bytes), %.0f tokens/s; generation: %ld tokens, %ld "
                        "bytes, %.0f tokens/s\n", n_ids, plen,
                (double)n_ids / (t1 - t0 > 0 ? t1 - t0 : 1e-9), drawn, made,
                (double)(drawn > 0 ? drawn - 1 : 0) / (t2 - t1 > 0 ? t2 - t1 : 1e-9));
    else
        fprintf(stderr, "prefill: %zu bytes, %.0f bytes/s; generation: %ld bytes, %.0f bytes/s\n", plen,
                (double)plen / (t1 - t0 > 0 ? t1 - t0 : 1e-9), n_bytes,
                (double)(n_bytes > 0 ? n_bytes - 1 : 0) / (t2 - t1 > 0 ? t2 - t1 : 1e-9));
    fprintf(stderr, "positions reaching each stage:");
    for (int s = 0; s < g.depth; s++)
        fprintf(stderr, " stage %d %.3f%s", s, (double)g.reached[s] / (double)g.pos,
                s + 1 < g.depth ? "," : "\n");
    rc = 0;
done:
    if (rc) fprintf(stderr, "hnet sample: %s\n", err.msg);
    hn_generator_free(&g);
    hn_tokenizer_free(tok);
    free(ids);
    free(logits);
    cJSON_Delete(cfg);
    hn_model_free(&m);
    hn_registry_close(&reg);
    return rc;
}
