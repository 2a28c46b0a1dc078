/* PCRE2 pre-tokenisation (see pretokenize.h). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "data/pretokenize.h"

#include <pcre2.h>
#include <stdlib.h>

struct hn_pretokenizer {
    pcre2_code *re;
};

int hn_pretokenizer_compile(const char *pattern, const char *what, hn_pretokenizer **out,
                            hn_error *err) {
    *out = NULL;
    hn_pretokenizer *p = calloc(1, sizeof *p);
    if (!p) return hn_fail(err, "%s: out of memory", what);
    int code;
    PCRE2_SIZE off;
    p->re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                          PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &code, &off, NULL);
    if (!p->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        free(p);
        return hn_fail(err, "%s: PCRE2 refuses the pre-tokenisation pattern at offset %zu: %s", what,
                       (size_t)off, (const char *)msg);
    }
    pcre2_jit_compile(p->re, PCRE2_JIT_COMPLETE); /* faster when available; fine without */
    *out = p;
    return HN_OK;
}

void hn_pretokenizer_free(hn_pretokenizer *p) {
    if (!p) return;
    pcre2_code_free(p->re);
    free(p);
}

int hn_pretokenize(const hn_pretokenizer *p, const uint8_t *text, size_t n, hn_piece_fn piece,
                   void *ctx, hn_error *err) {
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(p->re, NULL);
    if (!md) return hn_fail(err, "pre-tokenisation: out of memory");
    static const uint8_t empty[1];
    PCRE2_SPTR subject = n ? (PCRE2_SPTR)text : (PCRE2_SPTR)empty;
    size_t at = 0;
    int rc = HN_OK;
    while (at < n) {
        int m = pcre2_match(p->re, subject, n, at, 0, md, NULL);
        if (m < 0 && m != PCRE2_ERROR_NOMATCH) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(m, msg, sizeof msg);
            rc = hn_fail(err, "pre-tokenisation: PCRE2 match failed at byte %zu: %s", at,
                         (const char *)msg);
            break;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t start = m < 0 ? n : ov[0], end = m < 0 ? n : ov[1];
        /* bytes the pattern skipped (invalid UTF-8) form a piece of their own */
        if ((start > at && piece(text + at, start - at, ctx) != 0) ||
            (end > start && piece(text + start, end - start, ctx) != 0)) {
            rc = hn_fail(err, "pre-tokenisation: out of memory");
            break;
        }
        if (end == start && start < n) { /* an empty match: take one byte as its own piece */
            if (piece(text + start, 1, ctx) != 0) {
                rc = hn_fail(err, "pre-tokenisation: out of memory");
                break;
            }
            end = start + 1;
        }
        at = end;
    }
    pcre2_match_data_free(md);
    return rc;
}
