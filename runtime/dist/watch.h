/* How a rank waiting in a collective notices that it will never complete (internal to
 * runtime/dist). Plain MPI has no failure notification: a collective whose peer died
 * waits forever. So every wait polls, and between polls this watch
 *   - probes the other ranks of this host (their pids, exchanged at start-up): one that is
 *     gone ends the wait at once (every 0.2 s; every 20 ms after a stop signal);
 *   - after a stop signal (mpirun sends SIGTERM to every rank when one dies, and SIGKILL
 *     odls_base_sigkill_timeout seconds later, 1 by default), gives the others `grace`
 *     seconds to arrive before giving up, so the reason is recorded before the SIGKILL;
 *   - gives up after `timeout` seconds without completion (HNET_DIST_TIMEOUT, default
 *     600): a rank on another host that died without its launcher stopping the job. */
#ifndef HN_DIST_WATCH_H
#define HN_DIST_WATCH_H

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#include "dist/dist.h"

typedef struct hn_dist_peer {
    int rank;
    pid_t pid;
} hn_dist_peer;

/* Rank, pid and host of one rank, exchanged at start-up (MPI, or the TCP rendezvous) so
 * each rank can watch those on its own host. Fixed layout: sent as bytes. */
typedef struct hn_dist_card {
    int32_t rank, pid;
    char host[64];
} hn_dist_card;

/* This process's card. */
void hn_dist_card_mine(hn_dist_card *c, int rank);
/* From every rank's card: the other ranks on this rank's host into peers (world entries at
 * most; returns how many), and *deputy: whether this is the lowest rank but 0 on rank 0's
 * host (hn_dist.deputy). */
int hn_dist_local_peers(const hn_dist_card *all, int world, int rank, hn_dist_peer *peers,
                        int *deputy);

typedef struct hn_dist_watch {
    int rank, world;
    char host[64];
    const hn_dist_peer *peers; /* the other ranks on this host */
    int n_peers;
    double grace, timeout;     /* seconds */
    volatile sig_atomic_t *stop;
    /* the wait in progress */
    double start, next_probe, stop_seen;
    int gone_rank; /* the rank found gone */
} hn_dist_watch;

/* grace and timeout from the environment (HNET_DIST_TIMEOUT; Open MPI's kill timeout). */
void hn_dist_watch_init(hn_dist_watch *w, int rank, int world, const char *host,
                        const hn_dist_peer *peers, int n_peers);
/* Starts watching one wait. */
void hn_dist_watch_begin(hn_dist_watch *w);
/* Between polls of the wait on `what`: HN_OK to keep waiting, HN_ERR to give up (err says
 * why, *failure the kind). */
int hn_dist_watch_check(hn_dist_watch *w, const char *what, hn_dist_failure *failure,
                        hn_error *err);
/* The process pid no longer runs (gone, or a zombie its launcher has not reaped yet). */
int hn_dist_pid_gone(pid_t pid);

#endif
