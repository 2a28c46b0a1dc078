/* tiktoken-format BPE (Llama 3's tokenizer.model format and pre-tokenisation): the
 * encodings of tests/fixtures/tokenizers/tiny.tiktoken (the 256 bytes at ranks 0..255 in
 * byte order, then 23 merged tokens, README.md there), each expectation produced by the
 * real tiktoken (its Rust core, npm package tiktoken 1.0.22, Tiktoken(file, {}, Llama 3's
 * pat_str).encode_ordinary); exact round trips on any bytes; the errors a user sees for a
 * missing or malformed file. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "data/tiktoken.h"
#include "data/tokenizer.h"
#include "support/token_ids.h"
#include "support/fixtures.h"

#define FIX "tests/fixtures/tokenizers/tiny.tiktoken"

static void assert_contains(const char *s, const char *part) {
    if (!strstr(s, part)) fail_msg("\"%s\" does not contain \"%s\"", s, part);
}

static hn_tiktoken *load_fixture(void) {
    hn_error err = {{0}};
    hn_tiktoken *t = NULL;
    if (hn_tiktoken_load(FIX, &t, &err) != HN_OK) fail_msg("%s", err.msg);
    return t;
}

static void round_trip(const hn_tiktoken *t, const int32_t *ids, size_t nids, const uint8_t *x,
                       size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < nids; i++) {
        size_t len;
        const uint8_t *b = hn_tiktoken_token(t, ids[i], &len);
        assert_non_null(b);
        assert_true(k + len <= n);
        if (len) assert_memory_equal(b, x + k, len);
        k += len;
    }
    assert_int_equal(k, n);
}

static void expect_encoding(const hn_tiktoken *t, const char *text, size_t n, const int32_t *want,
                            size_t nwant) {
    hn_error err = {{0}};
    int32_t *ids;
    size_t nids;
    if (hn_tiktoken_encode(t, (const uint8_t *)text, n, &ids, &nids, &err) != HN_OK) fail_msg("%s", err.msg);
    expect_ids(text, ids, nids, want, nwant);
    round_trip(t, ids, nids, (const uint8_t *)text, n);
    free(ids);
}

#define EXPECT(t, text, ...) EXPECT_IDS(expect_encoding, t, text, __VA_ARGS__)

/* Merged tokens (rank: bytes): 256 th, 257 the, 258 " the", 259 in, 260 ing, 261 's,
 * 262 12, 263 123, 264 \n\n, 265 "  ", 266 é, 267 e6 9d, 268 東, 269 He, 270 ll, 271 llo,
 * 272 Hello, 273 xyz, 274 !!, 275 "!!\n", 276 " a", 277 aa, 278 'S. */
static void test_merges_by_rank(void **state) {
    (void)state;
    hn_tiktoken *t = load_fixture();
    assert_int_equal(hn_tiktoken_vocab_size(t), 279);
    EXPECT(t, "the the", 257, 258);
    EXPECT(t, "Hello world", 272, 32, 119, 111, 114, 108, 100); /* He + llo -> Hello */
    EXPECT(t, "ringing in", 114, 260, 260, 32, 259);
    EXPECT(t, "  aaa aa", 32, 276, 277, 276, 97);                /* lowest rank first, leftmost */
    EXPECT(t, "Hi!!\n\nok", 72, 105, 274, 264, 111, 107);         /* \n\n (264) before !! (274) */
    hn_tiktoken_free(t);
}

/* A piece that is a token whole is that token, even where merging could not reach it. */
static void test_whole_piece_is_a_token(void **state) {
    (void)state;
    hn_tiktoken *t = load_fixture();
    EXPECT(t, "xyz xyzw", 273, 32, 120, 121, 122, 119);
    hn_tiktoken_free(t);
}

/* Llama 3's pre-tokenisation: case-insensitive contractions, a leading non-letter joins a
 * word, digits in groups of at most three, whitespace runs. */
static void test_llama3_pieces(void **state) {
    (void)state;
    hn_tiktoken *t = load_fixture();
    EXPECT(t, "it's IT'S It'S", 105, 116, 261, 32, 73, 84, 278, 32, 73, 116, 278);
    EXPECT(t, "don't", 100, 111, 110, 39, 116);
    EXPECT(t, "12345 1234567", 263, 52, 53, 32, 263, 52, 53, 54, 55);
    EXPECT(t, "123abc", 263, 97, 98, 99);
    EXPECT(t, "(the)", 40, 257, 41);
    EXPECT(t, "a  b", 97, 32, 32, 98);
    EXPECT(t, "a   b\n\n\nc", 97, 265, 32, 98, 264, 10, 99);
    EXPECT(t, "\tthe\r\n the", 9, 257, 13, 10, 258);
    hn_tiktoken_free(t);
}

static void test_unicode(void **state) {
    (void)state;
    hn_tiktoken *t = load_fixture();
    EXPECT(t, "caf\xc3\xa9 \xe6\x9d\xb1\xe4\xba\xac", 99, 97, 102, 266, 32, 268, 228, 186, 172);
    EXPECT(t, "x\xc2\xa0the", 120, 194, 160, 257); /* U+00A0 joins the word after it */
    hn_tiktoken_free(t);
}

static void test_round_trip_random_bytes(void **state) {
    (void)state;
    hn_tiktoken *t = load_fixture();
    hn_rng r;
    hn_rng_seed(&r, 21);
    static const char alphabet[] = "the Hello xyz 123 !!\n\n  'S \xc3\xa9\xe6\x9d\xb1";
    for (int round = 0; round < 200; round++) {
        size_t n = (size_t)hn_rng_below(&r, round < 199 ? 300 : 100000);
        uint8_t *x = malloc(n + 1);
        assert_non_null(x);
        for (size_t i = 0; i < n; i++)
            x[i] = round % 2 && hn_rng_below(&r, 8) ? (uint8_t)alphabet[hn_rng_below(&r, sizeof alphabet - 1)]
                                                   : (uint8_t)hn_rng_below(&r, 256);
        hn_error err = {{0}};
        int32_t *ids;
        size_t nids;
        if (hn_tiktoken_encode(t, x, n, &ids, &nids, &err) != HN_OK) fail_msg("%s", err.msg);
        assert_true(nids <= n);
        round_trip(t, ids, nids, x, n);
        free(ids), free(x);
    }
    hn_tiktoken_free(t);
}

/* ---- errors ---- */

static char dir[128];

static const char *write_file(const char *text) {
    static char path[256];
    snprintf(path, sizeof path, "%s/t.tiktoken", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* The 256 byte tokens (ranks 0..255) except `skip`, then `extra`. */
static const char *write_bytes_and(const char *extra, int skip) {
    static char text[8192];
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t k = 0;
    for (int b = 0; b < 256; b++)
        if (b != skip)
            k += (size_t)snprintf(text + k, sizeof text - k, "%c%c== %d\n", b64[b >> 2], b64[(b & 3) << 4], b);
    snprintf(text + k, sizeof text - k, "%s", extra);
    return write_file(text);
}

static void expect_load_error(const char *path, const char *part) {
    hn_error err = {{0}};
    hn_tiktoken *t = (hn_tiktoken *)&err;
    assert_int_equal(hn_tiktoken_load(path, &t, &err), HN_ERR);
    assert_null(t);
    assert_contains(err.msg, part);
}

static int make_dir(void **state) { return tmpdir_make(dir, sizeof dir, "hn-test-tiktoken"); }
static int remove_dir(void **state) { return tmpdir_remove(dir), 0; }

static void test_errors(void **state) {
    (void)state;
    char missing[256];
    snprintf(missing, sizeof missing, "%s/nope.tiktoken", dir);
    expect_load_error(missing, "nope.tiktoken");
    expect_load_error(write_file(""), "no tokens");
    expect_load_error(write_bytes_and("aGU= 300\nnot base64! 301\n", -1), "t.tiktoken:258: expected a base64 token");
    expect_load_error(write_bytes_and("aGU=300\n", -1), "t.tiktoken:257: expected a base64 token");
    expect_load_error(write_bytes_and("aGU= x\n", -1), ":257: expected a base64 token");
    expect_load_error(write_bytes_and("aGU= 3\n", -1), "rank 3 is given to two tokens");
    expect_load_error(write_bytes_and("aGU= 300\naGU= 301\n", -1), "ranks 300 and 301 are the same bytes");
    expect_load_error(write_bytes_and("aGU= 300\n", 'q'), "no token for byte 0x71");
    /* CRLF lines and a missing final newline are fine; "he" (aGU=) merges */
    hn_error err = {{0}};
    hn_tiktoken *t;
    if (hn_tiktoken_load(write_bytes_and("aGU= 300\r\n", -1), &t, &err)) fail_msg("%s", err.msg);
    EXPECT(t, "hehe", 300, 300);
    hn_tiktoken_free(t);
}

/* A spec that records its files' sha256 (as resolved experiments do) refuses files that
 * changed since. */
static void test_changed_file_refused(void **state) {
    (void)state;
    const char *path = write_bytes_and("aGU= 300\n", -1);
    char text[512];
    snprintf(text, sizeof text, "{\"format\":\"tiktoken\",\"file\":\"%s\"}", path);
    cJSON *spec = cJSON_Parse(text);
    hn_error err = {{0}};
    char sha[65];
    if (hn_tokenizer_files_sha256(spec, sha, &err)) fail_msg("%s", err.msg);
    cJSON_AddStringToObject(spec, "sha256", sha);
    hn_tokenizer *t;
    if (hn_tokenizer_load(spec, &t, &err)) fail_msg("%s", err.msg);
    hn_tokenizer_free(t);
    write_bytes_and("aGU= 300\naGVo 301\n", -1); /* one more token */
    t = (hn_tokenizer *)&err;
    assert_int_equal(hn_tokenizer_load(spec, &t, &err), HN_ERR);
    assert_null(t);
    assert_contains(err.msg, "its files changed since the config was written");
    cJSON_Delete(spec);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merges_by_rank),
        cmocka_unit_test(test_whole_piece_is_a_token),
        cmocka_unit_test(test_llama3_pieces),
        cmocka_unit_test(test_unicode),
        cmocka_unit_test(test_round_trip_random_bytes),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_changed_file_refused),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
