/* SentencePiece through libsentencepiece (runtime/data/sentencepiece.cc): the encodings of
 * tests/fixtures/tokenizers/tiny_spm.model against spm_encode's (README.md there), exact
 * round trips on any bytes (invalid UTF-8 through byte pieces, long texts in chunks),
 * that cutting a text before a space changes no piece, and the errors for models that
 * cannot reproduce bytes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "support/token_ids.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "data/read.h"
#include "data/sentencepiece.h"
#include "data/tokenizer.h"

#define FIX "tests/fixtures/tokenizers/"

static void assert_contains(const char *s, const char *part) {
    if (!strstr(s, part)) fail_msg("\"%s\" does not contain \"%s\"", s, part);
}

static hn_spm *load(const char *name) {
    hn_error err = {{0}};
    hn_spm *t = NULL;
    if (hn_spm_load(name, &t, &err) != HN_OK) fail_msg("%s", err.msg);
    return t;
}

static void encode(const hn_spm *t, const uint8_t *x, size_t n, int32_t **ids, size_t *nids) {
    hn_error err = {{0}};
    if (hn_spm_encode(t, x, n, ids, nids, &err) != HN_OK) fail_msg("%s", err.msg);
}

static void round_trip(const hn_spm *t, const int32_t *ids, size_t nids, const uint8_t *x, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < nids; i++) {
        size_t len;
        const uint8_t *b = hn_spm_token(t, ids[i], &len);
        assert_non_null(b);
        assert_true(len > 0 && k + len <= n);
        assert_memory_equal(b, x + k, len);
        k += len;
    }
    assert_int_equal(k, n);
}

static void expect_encoding(const hn_spm *t, const char *text, size_t n, const int32_t *want,
                            size_t nwant) {
    int32_t *ids;
    size_t nids;
    encode(t, (const uint8_t *)text, n, &ids, &nids);
    expect_ids(text, ids, nids, want, nwant);
    round_trip(t, ids, nids, (const uint8_t *)text, n);
    free(ids);
}

#define EXPECT(t, text, ...) EXPECT_IDS(expect_encoding, t, text, __VA_ARGS__)

/* spm_encode --model=tiny_spm.model --output_format=id, one string a line. Pieces:
 * 261 is "▁" (a space), 262 "e", 3 + b the byte piece <0xb>. */
static void test_matches_spm_encode(void **state) {
    (void)state;
    hn_spm *t = load(FIX "tiny_spm.model");
    assert_int_equal(hn_spm_vocab_size(t), 400);
    EXPECT(t, "the king", 308, 262, 261, 304, 293);
    EXPECT(t, "Hello, world!", 384, 262, 307, 268, 259, 261, 294, 326, 275, 270, 313);
    EXPECT(t, "what  is   this\ttab", 294, 281, 377, 261, 332, 261, 261, 261, 308, 347, 12, 264, 269, 306);
    EXPECT(t, "caf\xc3\xa9 na\xc3\xafve \xe6\x9d\xb1\xe4\xba\xac", 286, 269, 285, 396, 261, 274, 269, 397,
           334, 262, 261, 399, 398);
    EXPECT(t, "zzqx 42", 390, 390, 394, 389, 261, 55, 53); /* digits the model never saw: byte pieces */
    EXPECT(t, "  leading", 261, 319, 262, 364, 293);
    EXPECT(t, "trailing   ", 264, 267, 269, 349, 293, 261, 261, 261);
    hn_spm_free(t);
}

/* Bytes that are not valid UTF-8 become their byte pieces; the rest goes through the model. */
static void test_invalid_utf8(void **state) {
    (void)state;
    hn_spm *t = load(FIX "tiny_spm.model");
    EXPECT(t, "\xff" "the\x80", 3 + 0xff, 308, 262, 3 + 0x80);
    EXPECT(t, "\xc3" "e", 3 + 0xc3, 262);             /* a lead byte without its continuation */
    EXPECT(t, "\xed\xa0\x80", 3 + 0xed, 3 + 0xa0, 3 + 0x80); /* a surrogate is not UTF-8 */
    hn_spm_free(t);
}

static void test_round_trips(void **state) {
    (void)state;
    hn_spm *t = load(FIX "tiny_spm.model");
    hn_rng r;
    hn_rng_seed(&r, 22);
    static const char alphabet[] = "the king  \n\t\xc3\xa9\xe6\x9d\xb1 ";
    for (int round = 0; round < 100; round++) {
        size_t n = (size_t)hn_rng_below(&r, 400);
        uint8_t *x = malloc(n + 1);
        assert_non_null(x);
        for (size_t i = 0; i < n; i++)
            x[i] = round % 2 && hn_rng_below(&r, 8) ? (uint8_t)alphabet[hn_rng_below(&r, sizeof alphabet - 1)]
                                                   : (uint8_t)hn_rng_below(&r, 256);
        int32_t *ids;
        size_t nids;
        encode(t, x, n, &ids, &nids);
        round_trip(t, ids, nids, x, n);
        free(ids), free(x);
    }
    /* 400 KB of text: encoded in chunks of at most 64 KiB */
    hn_bytebuf text = {0};
    hn_error err = {{0}};
    if (hn_read_file_append("tests/fixtures/shakespeare-400k.txt", &text, &err)) fail_msg("%s", err.msg);
    int32_t *ids;
    size_t nids;
    encode(t, text.p, text.n, &ids, &nids);
    round_trip(t, ids, nids, text.p, text.n);
    assert_true(nids < text.n); /* it compresses */
    free(ids);
    hn_bytebuf_free(&text);
    hn_spm_free(t);
}

/* The chunks are cut just before a space: for a model trained with split_by_whitespace
 * (the default) no piece spans a word start, so the cut changes nothing. */
static void test_cut_before_space_changes_nothing(void **state) {
    (void)state;
    hn_spm *t = load(FIX "tiny_spm.model");
    hn_bytebuf text = {0};
    hn_error err = {{0}};
    if (hn_read_file_append("tests/fixtures/shakespeare-400k.txt", &text, &err)) fail_msg("%s", err.msg);
    size_t n = 60000; /* one chunk */
    int32_t *whole, *a, *b;
    size_t nw, na, nb;
    encode(t, text.p, n, &whole, &nw);
    for (size_t cut = 1000; cut < n; cut += 7919) {
        while (text.p[cut] != ' ') cut++;
        encode(t, text.p, cut, &a, &na);
        encode(t, text.p + cut, n - cut, &b, &nb);
        assert_int_equal(na + nb, nw);
        assert_memory_equal(a, whole, na * sizeof *a);
        assert_memory_equal(b, whole + na, nb * sizeof *b);
        free(a), free(b);
    }
    free(whole);
    hn_bytebuf_free(&text);
    hn_spm_free(t);
}

static void expect_load_error(const char *path, const char *part) {
    hn_error err = {{0}};
    hn_spm *t = (hn_spm *)&err;
    assert_int_equal(hn_spm_load(path, &t, &err), HN_ERR);
    assert_null(t);
    assert_contains(err.msg, part);
}

static void test_refused_models(void **state) {
    (void)state;
    expect_load_error(FIX "nope.model", FIX "nope.model");
    expect_load_error("tests/fixtures/tokenizers/README.md", "README.md"); /* not a model */
    expect_load_error(FIX "tiny_spm_no_bytes.model", "has no byte piece <0x00>");
    expect_load_error(FIX "tiny_spm_no_bytes.model", "--byte_fallback=true");
    /* a dummy prefix spells a space the text does not have: refused when it encodes */
    hn_spm *t = load(FIX "tiny_spm_dummy_prefix.model");
    hn_error err = {{0}};
    int32_t *ids;
    size_t n;
    assert_int_equal(hn_spm_encode(t, (const uint8_t *)"the king", 8, &ids, &n, &err), HN_ERR);
    assert_contains(err.msg, "tiny_spm_dummy_prefix.model does not reproduce the text");
    assert_contains(err.msg, "--add_dummy_prefix=false");
    hn_spm_free(t);
}

/* Through the format-generic interface: a spec, the vocab size, one token per byte. */
static void test_generic_interface(void **state) {
    (void)state;
    cJSON *spec = cJSON_Parse("{\"format\":\"sentencepiece\",\"model\":\"" FIX "tiny_spm.model\"}");
    hn_tokenizer *t;
    hn_error err = {{0}};
    if (hn_tokenizer_load(spec, &t, &err)) fail_msg("%s", err.msg);
    assert_int_equal(hn_tokenizer_vocab_size(t), 400);
    assert_string_equal(hn_tokenizer_format(t), "sentencepiece");
    assert_int_equal(hn_tokenizer_byte_token(t, 0xff), 3 + 0xff);
    assert_int_equal(hn_tokenizer_byte_token(t, ' '), 261);
    assert_int_equal(hn_tokenizer_byte_token(t, 'e'), 262);
    const int32_t ids[] = {308, 262, 261, 304, 293};
    uint8_t *out;
    size_t n;
    if (hn_tokenizer_decode(t, ids, 5, &out, &n, &err)) fail_msg("%s", err.msg);
    assert_string_equal((char *)out, "the king");
    free(out);
    const int32_t bad[] = {400};
    assert_int_equal(hn_tokenizer_decode(t, bad, 1, &out, &n, &err), HN_ERR);
    assert_contains(err.msg, "id 400 (at 0) is not a token");
    hn_tokenizer_free(t);
    cJSON_Delete(spec);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_spm_encode),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_cut_before_space_changes_nothing),
        cmocka_unit_test(test_refused_models),
        cmocka_unit_test(test_generic_interface),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
