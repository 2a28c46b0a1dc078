/* Small fixtures shared by the unit tests. */
#ifndef HN_TEST_FIXTURES_H
#define HN_TEST_FIXTURES_H

#include <stddef.h>

#include "plugin/registry.h"

/* n zeroed floats (at least one); fails the running test when out of memory. */
float *falloc(size_t n);
/* Initialises reg and loads the plugins hnet finds by default (build/layers, build/plugins);
 * 0, or -1 after printing why (for a cmocka group setup). */
int registry_open(hn_registry *reg);

#endif
