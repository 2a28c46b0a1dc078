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
/* A fresh folder /tmp/<prefix>-XXXXXX into dir (at least 64 bytes); 0, or -1. */
int tmpdir_make(char *dir, size_t cap, const char *prefix);
/* Removes dir and everything in it. */
void tmpdir_remove(const char *dir);
/* A TCP port of localhost free now (bound to 0, read back, released), or -1. */
int free_port(void);

/* SQL that takes a results.db of schema version 5 back to the shape of version 2 (the v5
 * world_size column, the v4 evaluations and v3 columns, indexes and views removed), for
 * migration tests. */
#define HN_TEST_UNDO_V5 "ALTER TABLE runs DROP COLUMN world_size;"
#define HN_TEST_UNDO_V4 HN_TEST_UNDO_V5 "DROP VIEW evaluation_results; DROP TABLE evaluations;"
#define HN_TEST_UNDO_V3                                                                    \
    HN_TEST_UNDO_V4                                                                         \
    "DROP VIEW current_runs; DROP VIEW latest_runs; DROP VIEW final_bpb;"                   \
    "DROP INDEX runs_by_uuid; DROP INDEX runs_by_name;"                                     \
    "ALTER TABLE runs DROP COLUMN uuid; ALTER TABLE runs DROP COLUMN overrides;"

#endif
