/* Checking a tokenizer's ids against the expected ones, shared by the tokenizer tests. */
#ifndef HN_TEST_TOKEN_IDS_H
#define HN_TEST_TOKEN_IDS_H

#include <stddef.h>
#include <stdint.h>

/* Fails the running test, naming text and the first difference, unless got == want. */
void expect_ids(const char *text, const int32_t *got, size_t ngot, const int32_t *want,
                size_t nwant);

/* EXPECT_IDS(check, t, "literal", id, id, ...) calls check(t, text, its length, want, n):
 * the per-format encode-and-compare function of a test file. */
#define EXPECT_IDS(check, t, text, ...)                                                     \
    do {                                                                                    \
        const int32_t want_[] = {__VA_ARGS__};                                              \
        check(t, text, sizeof(text) - 1, want_, sizeof want_ / sizeof *want_);              \
    } while (0)

#endif
