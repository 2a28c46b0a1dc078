#include "token_ids.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

void expect_ids(const char *text, const int32_t *got, size_t ngot, const int32_t *want,
                size_t nwant) {
    if (ngot != nwant) fail_msg("encoding of \"%s\": %zu ids, expected %zu", text, ngot, nwant);
    for (size_t i = 0; i < ngot; i++)
        if (got[i] != want[i])
            fail_msg("encoding of \"%s\": id %zu is %d, expected %d", text, i, (int)got[i],
                     (int)want[i]);
}
