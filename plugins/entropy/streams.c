/* The entropy model's per-sequence generation states. */
#include <string.h>

#include "streams.h"

int entropy_stream_get(entropy_streams *s, hn_byte_lm *lm, const void *key, int restart,
                       hn_lm_stream **out, hn_error *err) {
    int slot = -1, oldest = 0;
    for (int i = 0; i < ENTROPY_MAX_STREAMS && slot < 0; i++)
        if (s->stream[i] && s->key[i] == key) slot = i;
    if (slot < 0 && !restart)
        return hn_fail(err, "entropy: a sequence stepped from position > 0 that this chunker never "
                            "saw start (or one of more than %d at once)", ENTROPY_MAX_STREAMS);
    if (slot < 0) {
        for (int i = 0; i < ENTROPY_MAX_STREAMS; i++) {
            if (!s->stream[i]) {
                oldest = i;
                break;
            }
            if (s->used[i] < s->used[oldest]) oldest = i;
        }
        slot = oldest;
    }
    if (restart) { /* a new sequence: the model reads it from its first byte */
        hn_lm_stream_close(s->stream[slot]);
        s->stream[slot] = NULL;
        if (hn_lm_stream_open(lm, ENTROPY_STREAM_BYTES, &s->stream[slot], err)) return HN_ERR;
        s->key[slot] = key;
    }
    s->used[slot] = ++s->clock;
    *out = s->stream[slot];
    return HN_OK;
}

void entropy_streams_close(entropy_streams *s) {
    for (int i = 0; i < ENTROPY_MAX_STREAMS; i++) hn_lm_stream_close(s->stream[i]);
    memset(s, 0, sizeof *s);
}
