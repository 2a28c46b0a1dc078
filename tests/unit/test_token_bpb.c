/* Token-level models are scored on exactly the bytes byte-level models are: for each
 * tokenizer format, the validation tokens (after their one context token) spell the very
 * byte span a byte model with the same data.seq_len and eval.bytes predicts, every one of
 * them falls in exactly one window, and BPB divides their NLL by that span's bytes. A
 * model with a zero LM head predicts uniformly, so its BPB is known in closed form:
 * tokens * log2(vocab) / bytes, against 8 bits for a byte model over the same bytes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "eval/bpb.h"
#include "lua/experiment.h"
#include "model/model.h"
#include "support/fixtures.h"
#include "train/batches.h"
#include "train/data_stream.h"

static hn_registry reg;
static char dir[128];
static hn_corpus corpus;

#define SEQ_LEN 100
#define EVAL_BYTES 3000

static const char *const SPECS[] = {
    "{\"format\":\"gpt2\",\"vocab\":\"tests/unit/fixtures/tokenizer/vocab.json\","
    "\"merges\":\"tests/unit/fixtures/tokenizer/merges.txt\"}",
    "{\"format\":\"tiktoken\",\"file\":\"tests/fixtures/tokenizers/tiny.tiktoken\"}",
    "{\"format\":\"sentencepiece\",\"model\":\"tests/fixtures/tokenizers/shakespeare_bpe1k.model\"}",
};

static int setup(void **state) {
    hn_error err;
    if (registry_open(&reg) || tmpdir_make(dir, sizeof dir, "hn-test-token-bpb")) return -1;
    if (hn_corpus_from_file("tests/fixtures/shakespeare-400k.txt", &corpus, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    hn_corpus_free(&corpus);
    hn_registry_close(&reg);
    tmpdir_remove(dir);
    return 0;
}

/* The data section of a config over the corpus, with a tokenizer or without (spec NULL). */
static cJSON *data_section(const char *spec) {
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "source", "file");
    cJSON_AddStringToObject(d, "path", "tests/fixtures/shakespeare-400k.txt");
    cJSON_AddNumberToObject(d, "seq_len", SEQ_LEN);
    if (spec) cJSON_AddItemToObject(d, "tokenizer", cJSON_Parse(spec));
    return d;
}

static void test_same_validation_bytes(void **state) {
    cJSON *bd = data_section(NULL);
    hn_data_stream bytes;
    hn_error err;
    if (hn_data_stream_open(&bytes, &corpus, bd, SEQ_LEN, EVAL_BYTES, &err)) fail_msg("%s", err.msg);
    size_t begin, end;
    hn_valid_span(&corpus, EVAL_BYTES, SEQ_LEN, &begin, &end);
    assert_int_equal(begin, corpus.split + 1);
    assert_int_equal(bytes.valid_windows, (EVAL_BYTES - 1) / SEQ_LEN);
    assert_int_equal(bytes.valid_bytes, bytes.valid_windows * SEQ_LEN);
    assert_int_equal(end - begin, (size_t)bytes.valid_bytes);
    assert_int_equal(bytes.valid_tail, 0);
    for (size_t k = 0; k < sizeof SPECS / sizeof *SPECS; k++) {
        cJSON *td = data_section(SPECS[k]);
        hn_data_stream tok;
        if (hn_data_stream_open(&tok, &corpus, td, SEQ_LEN, EVAL_BYTES, &err)) fail_msg("%s", err.msg);
        const hn_token_corpus *t = &tok.tokens;
        assert_int_equal(tok.valid_bytes, bytes.valid_bytes);
        assert_int_equal(t->valid_begin, begin);
        assert_int_equal(t->valid_end, end);
        /* the context token is the byte before the span; the rest spell the span exactly */
        assert_int_equal(t->valid[0], hn_tokenizer_byte_token(t->tokenizer, corpus.bytes[begin - 1]));
        uint8_t *spelled;
        size_t n;
        if (hn_tokenizer_decode(t->tokenizer, t->valid + 1, t->n_valid - 1, &spelled, &n, &err))
            fail_msg("%s", err.msg);
        assert_int_equal(n, end - begin);
        assert_memory_equal(spelled, corpus.bytes + begin, n);
        free(spelled);
        assert_int_equal(hn_token_corpus_bytes(t, t->valid + 1, t->n_valid - 1), tok.valid_bytes);
        /* every span token is a target once: full windows and one shorter */
        assert_int_equal((size_t)tok.valid_windows * (size_t)tok.seq_len + (size_t)tok.valid_tail,
                         t->n_valid - 1);
        assert_true(tok.valid_tail < tok.seq_len);
        /* sequences of about SEQ_LEN bytes */
        assert_int_equal(tok.seq_len, (int)lround(SEQ_LEN / t->bytes_per_token));
        assert_true(fabs(t->bytes_per_token - (double)corpus.split / (double)t->n_train) < 1e-12);
        hn_data_stream_close(&tok);
        cJSON_Delete(td);
    }
    hn_data_stream_close(&bytes);
    cJSON_Delete(bd);
}

/* A tiny isotropic model over vocab ids whose LM head is zero: uniform predictions. */
static void uniform_model(hn_model *m, int vocab) {
    char path[256], text[512];
    snprintf(path, sizeof path, "%s/m.lua", dir);
    snprintf(text, sizeof text,
             "return experiment { data = corpus { synthetic = { bytes = 1e4 }, seq_len = 16 },\n"
             "  model = isotropic { layout = 'T1', d = 16, mlp = 32, vocab = %d,\n"
             "                      attention = { heads = 2, rotary_dim = 8 } } }\n", vocab);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    cJSON *cfg = NULL;
    hn_error err;
    if (hn_experiment_load(path, NULL, &reg, &cfg, &err) ||
        hn_model_build(m, cJSON_GetObjectItem(cfg, "model"), &reg, hn_backend_get("cpu"), 1, &err))
        fail_msg("%s", err.msg);
    hn_param_entry *head = &m->params.entries[m->head_param];
    memset(head->p.value, 0, head->numel * sizeof(float));
    cJSON_Delete(cfg);
}

static void test_bpb_over_the_same_bytes(void **state) {
    hn_error err;
    hn_model bm;
    uniform_model(&bm, 256);
    hn_eval_bpb b;
    if (hn_eval_bpb_range(&bm, corpus.bytes, corpus.split, corpus.valid_end, SEQ_LEN, 4, EVAL_BYTES, &b, &err))
        fail_msg("%s", err.msg);
    assert_true(fabs(b.bpb - 8.0) < 1e-4);
    assert_int_equal(b.bytes, (EVAL_BYTES - 1) / SEQ_LEN * SEQ_LEN);
    hn_model_free(&bm);
    for (size_t k = 0; k < sizeof SPECS / sizeof *SPECS; k++) {
        cJSON *spec = cJSON_Parse(SPECS[k]);
        hn_tokenizer *t;
        if (hn_tokenizer_load(spec, &t, &err)) fail_msg("%s", err.msg);
        int V = (int)hn_tokenizer_vocab_size(t);
        hn_model tm;
        uniform_model(&tm, V);
        hn_eval_bpb r;
        int S = 37; /* any window: the last one is shorter */
        if (hn_eval_bpb_tokens(&tm, t, corpus.bytes, corpus.split, corpus.valid_end, SEQ_LEN, S, 4,
                               EVAL_BYTES, &r, &err))
            fail_msg("%s", err.msg);
        assert_int_equal(r.bytes, b.bytes); /* the same bytes */
        double want = (double)r.tokens * log2((double)V) / (double)r.bytes;
        if (fabs(r.bpb - want) > 1e-4 * want)
            fail_msg("%s: bpb %.6f, expected %.6f (%ld tokens, %ld bytes)", hn_tokenizer_format(t),
                     r.bpb, want, r.tokens, r.bytes);
        assert_true(r.tokens < r.bytes); /* each format compresses this text */
        hn_model_free(&tm);
        hn_tokenizer_free(t);
        cJSON_Delete(spec);
    }
}

/* Data-parallel training over tokens: the ranks' parts of a batch, side by side, are the
 * batch one process draws (their bytes add up to its bytes), and every rank's generator
 * ends where the one process's does; the validation windows, dealt out a batch at a time
 * with the shorter last window as one batch more (as the trainer deals them), score
 * every byte of the span once. */
static void test_token_batch_parts_are_the_global_batch(void **state) {
    enum { SEQS = 7, EVAL_BATCH = 3 };
    hn_error err;
    for (size_t k = 0; k < sizeof SPECS / sizeof *SPECS; k++) {
        cJSON *td = data_section(SPECS[k]);
        hn_data_stream d;
        if (hn_data_stream_open(&d, &corpus, td, SEQ_LEN, EVAL_BYTES, &err)) fail_msg("%s", err.msg);
        size_t T = (size_t)SEQS * (size_t)d.seq_len;
        int32_t *tok = malloc(T * sizeof *tok), *tgt = malloc(T * sizeof *tgt);
        int32_t *ptok = malloc(T * sizeof *tok), *ptgt = malloc(T * sizeof *tgt);
        hn_rng one, part;
        hn_rng_seed(&one, 11);
        long whole = hn_data_stream_train(&d, &one, SEQS, tok, tgt);
        assert_int_equal(whole, hn_token_corpus_bytes(&d.tokens, tgt, T));
        for (int world = 1; world <= 4; world++) {
            long sum = 0;
            for (int r = 0; r < world; r++) {
                int first, count;
                hn_batch_part(SEQS, r, world, &first, &count);
                hn_rng_seed(&part, 11);
                sum += hn_data_stream_train_part(&d, &part, SEQS, first, count, ptok, ptgt);
                size_t at = (size_t)first * d.seq_len, n = (size_t)count * d.seq_len;
                assert_memory_equal(ptok, tok + at, n * sizeof *tok);
                assert_memory_equal(ptgt, tgt + at, n * sizeof *tgt);
                assert_memory_equal(&part, &one, sizeof part);
            }
            assert_int_equal(sum, whole);
            /* validation, dealt to the ranks in turn */
            size_t V = (size_t)EVAL_BATCH * d.seq_len;
            int32_t *vtok = malloc(V * sizeof *vtok), *vtgt = malloc(V * sizeof *vtgt);
            long vbytes = 0;
            for (int r = 0; r < world; r++) {
                long batch = 0;
                for (long w = 0; w < d.valid_windows; w += EVAL_BATCH, batch++) {
                    if (batch % world != r) continue;
                    int n = (int)(d.valid_windows - w < EVAL_BATCH ? d.valid_windows - w : EVAL_BATCH);
                    vbytes += hn_data_stream_valid(&d, w, n, vtok, vtgt);
                }
                if (d.valid_tail && batch % world == r) vbytes += hn_data_stream_valid_tail(&d, vtok, vtgt);
            }
            assert_int_equal(vbytes, d.valid_bytes);
            free(vtok), free(vtgt);
        }
        free(tok), free(tgt), free(ptok), free(ptgt);
        hn_data_stream_close(&d);
        cJSON_Delete(td);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_validation_bytes),
        cmocka_unit_test(test_bpb_over_the_same_bytes),
        cmocka_unit_test(test_token_batch_parts_are_the_global_batch),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
