/* Bits per byte of a model over a byte range of a corpus, batched through the backend as
 * a training forward (no gradients): consecutive non-overlapping windows of seq_len
 * inputs and their next-byte targets starting at `begin` (as the trainer's validation
 * windows: hn_valid_fill), at most max_bytes of them (0: all that fit). */
#ifndef HN_EVAL_BPB_H
#define HN_EVAL_BPB_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

#define HN_EVAL_MAX_STAGES 8

typedef struct hn_eval_bpb {
    double bpb;
    long bytes;          /* predicted bytes */
    double seconds;      /* wall time of the forwards */
    int stages;          /* chunking stages */
    double compression[HN_EVAL_MAX_STAGES]; /* L^{s+1} / L^s, over all windows */
} hn_eval_bpb;

int hn_eval_bpb_range(hn_model *m, const uint8_t *bytes, size_t begin, size_t end, int seq_len,
                      int batch, long max_bytes, hn_eval_bpb *out, hn_error *err);

#endif
