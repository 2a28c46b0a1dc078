#include "dist/watch.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROBE_EVERY 0.2         /* seconds between probes of the ranks on this host */
#define PROBE_EVERY_STOPPING 0.02 /* after a stop signal: the launcher's SIGKILL is near */
#define DEFAULT_TIMEOUT 600.0
#define DEFAULT_GRACE 0.5       /* Open MPI sends SIGKILL 1 s after SIGTERM by default */

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A positive number of seconds from the environment, or fallback. */
static double env_seconds(const char *name, double fallback) {
    const char *v = getenv(name);
    char *end;
    double x = v ? strtod(v, &end) : 0;
    return v && *v && !*end && x > 0 ? x : fallback;
}

void hn_dist_card_mine(hn_dist_card *c, int rank) {
    memset(c, 0, sizeof *c);
    c->rank = rank;
    c->pid = (int32_t)getpid();
    gethostname(c->host, sizeof c->host - 1);
}

int hn_dist_local_peers(const hn_dist_card *all, int world, int rank, hn_dist_peer *peers,
                        int *deputy) {
    const char *host = all[rank].host;
    int n = 0, lower = 0; /* ranks of this host below this one, 0 aside */
    for (int i = 0; i < world; i++)
        if (i != rank && !strncmp(all[i].host, host, sizeof all[i].host)) {
            peers[n++] = (hn_dist_peer){.rank = all[i].rank, .pid = all[i].pid};
            lower += i > 0 && i < rank;
        }
    *deputy = rank > 0 && !strncmp(all[0].host, host, sizeof all[0].host) && lower == 0;
    return n;
}

void hn_dist_watch_init(hn_dist_watch *w, int rank, int world, const char *host,
                        const hn_dist_peer *peers, int n_peers) {
    memset(w, 0, sizeof *w);
    w->rank = rank;
    w->world = world;
    snprintf(w->host, sizeof w->host, "%s", host);
    w->peers = peers;
    w->n_peers = n_peers;
    w->timeout = env_seconds("HNET_DIST_TIMEOUT", DEFAULT_TIMEOUT);
    /* mpirun's SIGKILL follows its SIGTERM by odls_base_sigkill_timeout seconds (passed to
     * the ranks as OMPI_MCA_*): wait for the others until half a second before it */
    double kill_after = env_seconds("OMPI_MCA_odls_base_sigkill_timeout", 0);
    w->grace = kill_after > 0.7 ? kill_after - 0.5 : DEFAULT_GRACE;
    if (kill_after > 0 && kill_after <= 0.7) w->grace = 0.2;
}

void hn_dist_watch_begin(hn_dist_watch *w) {
    w->start = now();
    w->next_probe = w->start + PROBE_EVERY;
    w->stop_seen = 0;
}

int hn_dist_pid_gone(pid_t pid) {
    if (kill(pid, 0) != 0) return errno == ESRCH; /* EPERM: it runs, as another user */
    /* a killed rank stays a zombie until its launcher reaps it */
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *paren = strrchr(buf, ')'); /* "pid (comm) S ...": comm may hold spaces */
    return paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X');
}

static const char *signal_name(int sig) {
    return sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : sig == SIGHUP ? "SIGHUP" : "a signal";
}

int hn_dist_watch_check(hn_dist_watch *w, const char *what, hn_dist_failure *failure,
                        hn_error *err) {
    double t = now();
    int sig = w->stop ? (int)*w->stop : 0;
    if (sig && !w->stop_seen) {
        w->stop_seen = t;
        w->next_probe = t; /* the usual reason: the launcher stops every rank because one died */
    }
    if (t >= w->next_probe) {
        for (int i = 0; i < w->n_peers; i++)
            if (hn_dist_pid_gone(w->peers[i].pid)) {
                *failure = HN_DIST_PEER_GONE;
                w->gone_rank = w->peers[i].rank;
                return hn_fail(err,
                               "rank %d of %d (pid %d on %s) is gone (killed or crashed) while rank %d "
                               "waited for it in %s; every rank stops",
                               w->peers[i].rank, w->world, (int)w->peers[i].pid, w->host, w->rank, what);
            }
        w->next_probe = t + (w->stop_seen ? PROBE_EVERY_STOPPING : PROBE_EVERY);
    }
    if (w->stop_seen && t - w->stop_seen > w->grace) {
        *failure = HN_DIST_STOPPED;
        return hn_fail(err,
                       "stopped by %s while rank %d waited %.1f s for the other ranks in %s; no rank on "
                       "this host had died, so the launcher stopped the job or a rank on another host "
                       "died",
                       signal_name(sig), w->rank, t - w->start, what);
    }
    if (t - w->start > w->timeout) {
        *failure = HN_DIST_TIMEOUT;
        return hn_fail(err,
                       "rank %d waited %.0f s in %s without the other ranks arriving "
                       "(HNET_DIST_TIMEOUT=%.0f): one of them is stuck, or died on another host",
                       w->rank, t - w->start, what, w->timeout);
    }
    return HN_OK;
}
