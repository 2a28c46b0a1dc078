/* GPT-2-format byte-level BPE: encodings worked out by hand on a small tokenizer
 * (tests/unit/fixtures/tokenizer: GPT-2's 256 byte tokens in GPT-2's id order and 12
 * merges; each expectation was also checked against GPT-2's encoder.py algorithm run
 * with Python's `regex`), exact round trips on any bytes, and the errors a user sees for
 * a missing or malformed vocab or merges file. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "data/gpt2_bpe.h"
#include "support/token_ids.h"
#include "support/fixtures.h"

#define FIX "tests/unit/fixtures/tokenizer/"

static void assert_contains(const char *s, const char *part) {
    if (!strstr(s, part)) fail_msg("\"%s\" does not contain \"%s\"", s, part);
}

static hn_bpe *load_fixture(void) {
    hn_error err = {{0}};
    hn_bpe *t = NULL;
    if (hn_bpe_load(FIX "vocab.json", FIX "merges.txt", &t, &err) != HN_OK) fail_msg("%s", err.msg);
    return t;
}

static void expect_encoding(const hn_bpe *t, const char *text, size_t n, const int32_t *want,
                            size_t nwant) {
    hn_error err = {{0}};
    int32_t *ids;
    size_t nids;
    if (hn_bpe_encode(t, (const uint8_t *)text, n, &ids, &nids, &err) != HN_OK) fail_msg("%s", err.msg);
    expect_ids(text, ids, nids, want, nwant);
    uint8_t *back;
    size_t nback;
    assert_int_equal(hn_bpe_decode(t, ids, nids, &back, &nback, &err), HN_OK);
    assert_int_equal(nback, n);
    assert_memory_equal(back, text, n);
    free(back);
    free(ids);
}

#define EXPECT(t, text, ...) EXPECT_IDS(expect_encoding, t, text, __VA_ARGS__)

/* Byte ids follow GPT-2's order: '!'..'~' are 0..93 (byte - 33), the bytes GPT-2 remaps
 * (0..32, 127..160, 173) are 188.. in byte order, so ' ' is 220 and '\n' 198.
 * Merges (rank: result id): Ġ t 256, h e 257, Ġt he 258, i n 259, Ġ a 260, a a 261,
 * Ã © 262 (é = c3 a9), Ċ Ċ 263, Ġ Ġ 264, n ' 265, Ġ 1 266, 1 2 267. */
static void test_known_encodings(void **state) {
    (void)state;
    hn_bpe *t = load_fixture();
    assert_int_equal(hn_bpe_vocab_size(t), 268);
    EXPECT(t, "the the", 83, 257, 258);        /* "the" then " the": ranks applied in order */
    EXPECT(t, "aaa", 261, 64);                 /* left to right, no overlap */
    EXPECT(t, " 123", 266, 17, 18);            /* Ġ 1 outranks 1 2 */
    EXPECT(t, "don't", 67, 78, 77, 6, 83);     /* "'t" is its own piece: n ' never merges */
    EXPECT(t, "it's 2024.", 72, 83, 6, 82, 220, 17, 15, 17, 19, 13);
    EXPECT(t, "\n\n", 263);
    hn_bpe_free(t);
}

/* Whitespace runs: \s+(?!\S) leaves the last space to the word that follows. */
static void test_whitespace_runs(void **state) {
    (void)state;
    hn_bpe *t = load_fixture();
    EXPECT(t, "a   b", 64, 264, 220, 65);
    EXPECT(t, "a  ", 64, 264);                 /* trailing run stays whole */
    EXPECT(t, "Hello,\tworld!\r\n  x", 39, 68, 75, 75, 78, 11, 197, 86, 78, 81, 75, 67, 0, 201,
           198, 220, 220, 87);
    EXPECT(t, "a \xc2\xa0" "b", 64, 220, 126, 254, 65); /* U+00A0 is whitespace */
    hn_bpe_free(t);
}

/* Unicode letters join words; invalid UTF-8 bytes become pieces of their own. */
static void test_unicode_and_invalid_utf8(void **state) {
    (void)state;
    hn_bpe *t = load_fixture();
    EXPECT(t, "caf\xc3\xa9", 66, 64, 69, 262);
    EXPECT(t, " \xe6\x9d\xb1\xe4\xba\xac", 220, 162, 251, 109, 160, 118, 105); /* " 東京" */
    EXPECT(t, "\xff\xfe a", 187, 186, 260);
    EXPECT(t, "a\x80the", 64, 222, 83, 257); /* a lone continuation byte splits the word */
    hn_bpe_free(t);
}

/* More Unicode and whitespace, each expectation from the real tiktoken (npm tiktoken
 * 1.0.22) with GPT-2's pattern over this fixture as ranks (the byte tokens at their ids,
 * each merge's token at its id: ids follow merge order, so merging by the rank of the
 * joined token is merging by the merge's rank, GPT-2's rule). */
static void test_against_tiktoken(void **state) {
    (void)state;
    hn_bpe *t = load_fixture();
    EXPECT(t, "the\x0a\x0a\x0athe  in  ", 83, 257, 263, 198, 83, 257, 220, 220, 259, 264);
    EXPECT(t, "  \x09  x", 264, 197, 220, 220, 87);
    EXPECT(t, "na\xc3\xafve caf\xc3\xa9 12 aa", 77, 64, 127, 107, 85, 68, 220, 66, 64, 69, 262, 266, 17, 260, 64);
    EXPECT(t, "I'll've it's", 40, 6, 75, 75, 6, 85, 68, 220, 72, 83, 6, 82);
    EXPECT(t, "\xe3\x80\x80the\xe2\x80\x83" "a", 159, 222, 222, 83, 257, 158, 222, 225, 64); /* U+3000, U+2003 */
    EXPECT(t, "\xf0\x9f\x99\x82 the", 172, 253, 247, 224, 258);
    EXPECT(t, "x\x0d\x0a\x0d\x0a  y", 87, 201, 198, 201, 198, 220, 220, 88);
    EXPECT(t, "12 123 1234 \xc4\xa0", 267, 266, 17, 18, 266, 17, 18, 19, 220, 128, 254);
    hn_bpe_free(t);
}

static void test_round_trip_random_bytes(void **state) {
    (void)state;
    hn_bpe *t = load_fixture();
    hn_rng r;
    hn_rng_seed(&r, 20);
    static const char alphabet[] = "the a in aa\n\n  12 \xc3\xa9'";
    for (int round = 0; round < 200; round++) {
        size_t n = (size_t)hn_rng_below(&r, round < 199 ? 300 : 100000);
        uint8_t *x = malloc(n + 1);
        assert_non_null(x);
        int mostly_text = round % 2;
        for (size_t i = 0; i < n; i++)
            x[i] = mostly_text && hn_rng_below(&r, 8) ? (uint8_t)alphabet[hn_rng_below(&r, sizeof alphabet - 1)]
                                                      : (uint8_t)hn_rng_below(&r, 256);
        hn_error err = {{0}};
        int32_t *ids;
        size_t nids;
        uint8_t *back;
        size_t nback;
        if (hn_bpe_encode(t, x, n, &ids, &nids, &err) != HN_OK) fail_msg("%s", err.msg);
        assert_true(nids <= n);
        if (hn_bpe_decode(t, ids, nids, &back, &nback, &err) != HN_OK) fail_msg("%s", err.msg);
        assert_int_equal(nback, n);
        if (n) assert_memory_equal(back, x, n);
        free(back), free(ids), free(x);
    }
    hn_bpe_free(t);
}

static void test_decode_unknown_id(void **state) {
    (void)state;
    hn_bpe *t = load_fixture();
    hn_error err = {{0}};
    const int32_t ids[] = {83, 268};
    uint8_t *out;
    size_t n;
    assert_int_equal(hn_bpe_decode(t, ids, 2, &out, &n, &err), HN_ERR);
    assert_contains(err.msg, "id 268");
    const int32_t neg[] = {-1};
    assert_int_equal(hn_bpe_decode(t, neg, 1, &out, &n, &err), HN_ERR);
    hn_bpe_free(t);
}

/* ---- errors: each case writes its own vocab/merges into a fresh folder ---- */

static char dir[128];

static void write_text(const char *name, const char *text) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A vocab.json of the 256 byte tokens (GPT-2's spelling, any id order) plus `extra`. */
static void write_vocab(const char *extra, int skip_byte) {
    size_t cap = 16384, k = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    k += (size_t)snprintf(s + k, cap - k, "{");
    int id = 0;
    for (int b = 0; b < 256; b++) {
        if (b == skip_byte) continue;
        int printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
        int n = 0;
        for (int c = 0; c < b; c++) n += !((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174));
        unsigned cp = printable ? (unsigned)b : 256u + (unsigned)n;
        if (cp == '"' || cp == '\\') k += (size_t)snprintf(s + k, cap - k, "\"\\%c\": %d,", cp, id++);
        else k += (size_t)snprintf(s + k, cap - k, "\"\\u%04x\": %d,", cp, id++);
    }
    snprintf(s + k, cap - k, "%s}", extra);
    write_text("vocab.json", s);
    free(s);
}

static void expect_load_error(const char *part) {
    char vocab[256], merges[256];
    snprintf(vocab, sizeof vocab, "%s/vocab.json", dir);
    snprintf(merges, sizeof merges, "%s/merges.txt", dir);
    hn_error err = {{0}};
    hn_bpe *t = (hn_bpe *)&err; /* must come back NULL */
    assert_int_equal(hn_bpe_load(vocab, merges, &t, &err), HN_ERR);
    assert_null(t);
    assert_contains(err.msg, part);
}

static int make_dir(void **state) { return tmpdir_make(dir, sizeof dir, "hn-test-tokenizer"); }
static int remove_dir(void **state) { return tmpdir_remove(dir), 0; }

static void test_missing_files(void **state) {
    (void)state;
    write_text("merges.txt", "#version: 0.2\n");
    expect_load_error("vocab.json"); /* names the file that is missing */
    write_vocab("\"he\": 300", -1);
    remove(strcat(strcpy((char[256]){0}, dir), "/merges.txt"));
    expect_load_error("merges.txt");
}

static void test_malformed_vocab(void **state) {
    (void)state;
    write_text("merges.txt", "#version: 0.2\n");
    write_text("vocab.json", "{\"a\": 0,");
    expect_load_error("not a JSON object");
    write_text("vocab.json", "[1, 2]");
    expect_load_error("not a JSON object");
    write_vocab("\"he\": \"x\"", -1);
    expect_load_error("\"he\" is not an integer");
    write_vocab("\"he\": 1.5", -1);
    expect_load_error("\"he\" is not an integer");
    write_vocab("\"he\": 3", -1);
    expect_load_error("id 3 is given to two tokens");
    write_vocab("\"h\\u0001\": 300", -1); /* U+0001 is not one of GPT-2's byte characters */
    expect_load_error("not spelled in GPT-2's byte-to-unicode characters");
    write_vocab("\"he\": 300", 'q');
    expect_load_error("no token for byte 0x71");
}

static void test_malformed_merges(void **state) {
    (void)state;
    write_vocab("\"he\": 300", -1);
    write_text("merges.txt", "#version: 0.2\nh e\nhe\n");
    expect_load_error("merges.txt:3: expected two tokens separated by one space, got \"he\"");
    write_text("merges.txt", "h e x\n");
    expect_load_error("merges.txt:1: expected two tokens");
    write_text("merges.txt", "h e\nhe zz\n");
    expect_load_error("merges.txt:2: token \"zz\" is not in the vocab");
    write_text("merges.txt", "h e\nt h\n");
    expect_load_error("merges.txt:2: the merge of \"t h\" is not in the vocab");
    write_text("merges.txt", "#version: 0.2\r\nh e\r\n"); /* CRLF lines are fine */
    char vocab[256], merges[256];
    snprintf(vocab, sizeof vocab, "%s/vocab.json", dir);
    snprintf(merges, sizeof merges, "%s/merges.txt", dir);
    hn_error err = {{0}};
    hn_bpe *t;
    if (hn_bpe_load(vocab, merges, &t, &err) != HN_OK) fail_msg("%s", err.msg);
    EXPECT(t, "hehe", 300, 300);
    hn_bpe_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_encodings),
        cmocka_unit_test(test_whitespace_runs),
        cmocka_unit_test(test_unicode_and_invalid_utf8),
        cmocka_unit_test(test_against_tiktoken),
        cmocka_unit_test(test_round_trip_random_bytes),
        cmocka_unit_test(test_decode_unknown_id),
        cmocka_unit_test(test_missing_files),
        cmocka_unit_test(test_malformed_vocab),
        cmocka_unit_test(test_malformed_merges),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
