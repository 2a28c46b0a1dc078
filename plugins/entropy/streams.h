/* Generation: one incremental entropy-model state per generated sequence. The state the
 * stage keeps for a chunker is a few floats per sequence; the entropy model's state
 * (its KV caches and SSM states) is neither small nor floats, so the chunker keeps it
 * here, keyed by the address of the sequence's state row, and starts it afresh at
 * position 0. At most ENTROPY_MAX_STREAMS sequences at once; the least recently used
 * one gives way to a new one. */
#ifndef HN_ENTROPY_STREAMS_H
#define HN_ENTROPY_STREAMS_H

#include "plugin/plugin.h"

#define ENTROPY_MAX_STREAMS 16
#define ENTROPY_STREAM_BYTES (1 << 16) /* the longest generated sequence */

typedef struct entropy_streams {
    const void *key[ENTROPY_MAX_STREAMS];
    hn_lm_stream *stream[ENTROPY_MAX_STREAMS];
    long used[ENTROPY_MAX_STREAMS]; /* last use, for eviction */
    long clock;
} entropy_streams;

/* The stream of key: a fresh one when restart (position 0), else the one it has. */
int entropy_stream_get(entropy_streams *s, hn_byte_lm *lm, const void *key, int restart,
                       hn_lm_stream **out, hn_error *err);
void entropy_streams_close(entropy_streams *s);

#endif
