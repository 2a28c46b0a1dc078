#include "support/fixtures.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

float *falloc(size_t n) {
    float *p = calloc(n ? n : 1, sizeof(float));
    assert_non_null(p);
    return p;
}

int registry_open(hn_registry *reg) {
    hn_error err = {{0}};
    hn_registry_init(reg);
    if (hn_registry_load_default(reg, &err)) {
        fprintf(stderr, "loading plugins: %s\n", err.msg);
        return -1;
    }
    return 0;
}
