/* The meeting of ranks launched without MPI (torchrun-style variables, srun without
 * --mpi=pmix): rank 0 listens on MASTER_PORT, every other rank connects to
 * MASTER_ADDR:MASTER_PORT and sends its card; rank 0 answers each with its blob (the NCCL
 * unique id) and the cards of all ranks (whose pids the watch probes). Internal to
 * runtime/dist; plain TCP, one exchange at start-up, nothing after. */
#ifndef HN_DIST_RENDEZVOUS_H
#define HN_DIST_RENDEZVOUS_H

#include <stddef.h>

#include "core/error.h"
#include "dist/watch.h"

#define HN_RDV_BLOB_MAX 256

typedef struct hn_rdv_settings {
    const char *addr; /* MASTER_ADDR: rank 0's host (name or address) */
    int port;         /* MASTER_PORT */
    int rank, world;
    double timeout;   /* seconds for the whole meeting (rank 0 waits this long for the rest) */
} hn_rdv_settings;

/* Rank 0: blob (blob_len bytes) is sent to every rank. Others: blob receives it, and a
 * blob_len that differs from rank 0's is refused. cards[world] receives every rank's card
 * (its own included). Fails with a message naming the address, port and missing ranks. */
int hn_rendezvous(const hn_rdv_settings *s, void *blob, size_t blob_len, hn_dist_card *cards,
                  hn_error *err);

#endif
