#include "dist/rendezvous.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAGIC 0x484e5256u /* "HNRV" */
#define VERSION 1

/* What a rank sends rank 0, and what rank 0 answers before the blob and the cards. */
typedef struct hello {
    uint32_t magic, version;
    int32_t world;
    uint32_t blob_len;
    hn_dist_card card;
} hello;

typedef struct answer {
    uint32_t magic;
    int32_t ok;
    uint32_t blob_len;
    char why[200]; /* !ok: why rank 0 refused this rank */
} answer;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int ms_left(double deadline) {
    double left = deadline - now();
    return left <= 0 ? 0 : left > 1e6 ? 1000000000 : (int)(left * 1000) + 1;
}

/* All of buf over fd before the deadline: 0, or -1 (errno ETIMEDOUT, or the peer's end:
 * ECONNRESET). */
static int io_all(int fd, void *buf, size_t n, int sending, double deadline) {
    char *p = buf;
    while (n) {
        struct pollfd pf = {.fd = fd, .events = sending ? POLLOUT : POLLIN};
        int r = poll(&pf, 1, ms_left(deadline));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            if (r == 0) errno = ETIMEDOUT;
            return -1;
        }
        ssize_t k = sending ? send(fd, p, n, MSG_NOSIGNAL) : recv(fd, p, n, 0);
        if (k < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (k <= 0) {
            if (k == 0) errno = ECONNRESET;
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* ---- rank 0 ---- */

/* A listening socket on port of every address: dual stack where the host has IPv6 (so a
 * MASTER_ADDR resolving to ::1 works too), else IPv4. */
static int listen_family(int family, int port) {
    int fd = socket(family, SOCK_STREAM, 0), one = 1, zero = 0;
    if (fd < 0) return -1;
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_addr = in6addr_any,
                              .sin6_port = htons((uint16_t)port)};
    struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY),
                             .sin_port = htons((uint16_t)port)};
    if (family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int rc = family == AF_INET6 ? bind(fd, (struct sockaddr *)&a6, sizeof a6)
                                : bind(fd, (struct sockaddr *)&a4, sizeof a4);
    if (rc || listen(fd, 128)) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static int listen_on(int port, hn_error *err) {
    int fd = listen_family(AF_INET6, port);
    if (fd < 0 && errno != EADDRINUSE) fd = listen_family(AF_INET, port);
    if (fd >= 0) return fd;
    int e = errno;
    return hn_fail(err, "rank 0 cannot listen on MASTER_PORT=%d: %s%s", port, strerror(e),
                   e == EADDRINUSE ? " (another job or a run still ending holds it: choose "
                                     "another MASTER_PORT)" : "");
}

/* Refuses one rank, telling it why; the meeting goes on without it. */
static void refuse(int fd, const char *why, double deadline) {
    answer a = {.magic = MAGIC, .ok = 0};
    snprintf(a.why, sizeof a.why, "%s", why);
    io_all(fd, &a, sizeof a, 1, deadline);
    close(fd);
}

static int serve(const hn_rdv_settings *s, const void *blob, size_t blob_len, hn_dist_card *cards,
                 hn_error *err) {
    int lfd = listen_on(s->port, err);
    if (lfd < 0) return HN_ERR;
    int *fds = malloc((size_t)s->world * sizeof *fds);
    if (!fds) {
        close(lfd);
        return hn_fail(err, "out of memory for %d ranks", s->world);
    }
    for (int i = 0; i < s->world; i++) fds[i] = -1;
    hn_dist_card_mine(&cards[0], 0);
    double deadline = now() + s->timeout;
    int joined = 1, rc = HN_OK;
    while (joined < s->world) {
        struct pollfd pf = {.fd = lfd, .events = POLLIN};
        int r = poll(&pf, 1, ms_left(deadline));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            char missing[256] = "";
            size_t used = 0;
            for (int i = 1; i < s->world && used + 16 < sizeof missing; i++)
                if (fds[i] < 0) used += (size_t)snprintf(missing + used, sizeof missing - used, "%s%d", used ? ", " : "", i);
            rc = hn_fail(err, "rank 0 waited %.0f s on port %d for %d of the %d ranks (missing: %s): "
                              "they did not start, or cannot reach MASTER_ADDR=%s:%d",
                         s->timeout, s->port, s->world - joined, s->world, missing, s->addr, s->port);
            break;
        }
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) continue;
        hello h;
        /* a stray connection (a port scanner) gets a few seconds, not the whole meeting */
        double by = now() + 5 < deadline ? now() + 5 : deadline;
        if (io_all(fd, &h, sizeof h, 0, by) || h.magic != MAGIC) {
            close(fd);
            continue;
        }
        char why[200] = "";
        h.card.host[sizeof h.card.host - 1] = 0;
        if (h.version != VERSION)
            snprintf(why, sizeof why, "rank 0 speaks rendezvous version %d, this rank %u: the ranks "
                                      "run different hnet builds", VERSION, h.version);
        else if (h.world != s->world)
            snprintf(why, sizeof why, "WORLD_SIZE=%d here but %d on rank 0: the ranks were launched "
                                      "with different sizes", h.world, s->world);
        else if (h.card.rank < 1 || h.card.rank >= s->world)
            snprintf(why, sizeof why, "rank %d is not a rank of a world of %d besides rank 0 (two "
                                      "ranks 0?)", h.card.rank, s->world);
        else if (fds[h.card.rank] >= 0)
            snprintf(why, sizeof why, "rank %d joined twice (two processes were given RANK=%d)",
                     h.card.rank, h.card.rank);
        else if (h.blob_len != blob_len)
            snprintf(why, sizeof why, "this rank expects %u bytes of id, rank 0 has %zu: the ranks "
                                      "run different hnet builds", h.blob_len, blob_len);
        if (why[0]) {
            /* a duplicate rank is the job's mistake: rank 0 fails too, not only the newcomer */
            refuse(fd, why, by);
            if (h.version == VERSION && h.world == s->world && h.card.rank >= 1 &&
                h.card.rank < s->world && fds[h.card.rank] >= 0) {
                rc = hn_fail(err, "rendezvous on port %d: %s", s->port, why);
                break;
            }
            continue;
        }
        cards[h.card.rank] = h.card;
        fds[h.card.rank] = fd;
        joined++;
    }
    close(lfd);
    answer a = {.magic = MAGIC, .ok = 1, .blob_len = (uint32_t)blob_len};
    for (int i = 1; i < s->world; i++) {
        if (fds[i] < 0) continue;
        if (rc == HN_OK &&
            (io_all(fds[i], &a, sizeof a, 1, deadline) || io_all(fds[i], (void *)blob, blob_len, 1, deadline) ||
             io_all(fds[i], cards, (size_t)s->world * sizeof *cards, 1, deadline)))
            rc = hn_fail(err, "rank 0 could not send the id to rank %d (%s): it died during start-up?",
                         i, strerror(errno));
        close(fds[i]); /* on failure, closing unanswered tells the others at once */
    }
    free(fds);
    return rc;
}

/* ---- the other ranks ---- */

/* Connects to addr:port, retrying (rank 0 may start later) until the deadline. */
static int connect_to(const hn_rdv_settings *s, double deadline, hn_error *err) {
    char port[16];
    snprintf(port, sizeof port, "%d", s->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int g = getaddrinfo(s->addr, port, &hints, &res);
    /* "localhost" is the loopback (RFC 6761) even where nothing resolves it: a bare
     * container or chroot without /etc/hosts */
    if (g && !strcasecmp(s->addr, "localhost")) g = getaddrinfo("127.0.0.1", port, &hints, &res);
    if (g)
        return hn_fail(err, "rank %d cannot resolve MASTER_ADDR=%s: %s", s->rank, s->addr, gai_strerror(g));
    int last = 0;
    for (;;) {
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
            int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
            if (fd < 0) continue;
            if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
                freeaddrinfo(res);
                return fd;
            }
            last = errno;
            close(fd);
        }
        if (now() >= deadline) break;
        struct timespec pause = {0, 100 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    freeaddrinfo(res);
    return hn_fail(err, "rank %d waited %.0f s for rank 0 at MASTER_ADDR=%s MASTER_PORT=%d (%s): rank 0 "
                        "did not start, failed, or listens elsewhere",
                   s->rank, s->timeout, s->addr, s->port, strerror(last));
}

static int join(const hn_rdv_settings *s, void *blob, size_t blob_len, hn_dist_card *cards,
                hn_error *err) {
    double deadline = now() + s->timeout;
    int fd = connect_to(s, deadline, err);
    if (fd < 0) return HN_ERR;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    hello h = {.magic = MAGIC, .version = VERSION, .world = s->world, .blob_len = (uint32_t)blob_len};
    hn_dist_card_mine(&h.card, s->rank);
    answer a;
    memset(&a, 0, sizeof a);
    int rc = HN_OK;
    if (io_all(fd, &h, sizeof h, 1, deadline) || io_all(fd, &a, sizeof a, 0, deadline))
        rc = hn_fail(err, "rank %d lost rank 0 (MASTER_ADDR=%s MASTER_PORT=%d) before it answered: %s; "
                          "rank 0 waits for every rank (%.0f s at most) and stops when one is refused",
                     s->rank, s->addr, s->port, strerror(errno), s->timeout);
    else if (a.magic != MAGIC)
        rc = hn_fail(err, "rank %d: what listens on MASTER_ADDR=%s MASTER_PORT=%d is not an hnet rank 0",
                     s->rank, s->addr, s->port);
    else if (!a.ok) {
        a.why[sizeof a.why - 1] = 0;
        rc = hn_fail(err, "rank 0 refused rank %d: %s", s->rank, a.why);
    } else if (a.blob_len != blob_len)
        rc = hn_fail(err, "rank 0 sent %u bytes of id, rank %d expects %zu", a.blob_len, s->rank, blob_len);
    else if (io_all(fd, blob, blob_len, 0, deadline) ||
             io_all(fd, cards, (size_t)s->world * sizeof *cards, 0, deadline))
        rc = hn_fail(err, "rank %d lost rank 0 while receiving the id: %s", s->rank, strerror(errno));
    close(fd);
    return rc;
}

int hn_rendezvous(const hn_rdv_settings *s, void *blob, size_t blob_len, hn_dist_card *cards,
                  hn_error *err) {
    if (s->world < 1 || s->rank < 0 || s->rank >= s->world)
        return hn_fail(err, "rendezvous: rank %d of a world of %d", s->rank, s->world);
    if (s->port < 1 || s->port > 65535)
        return hn_fail(err, "MASTER_PORT=%d: expected a TCP port, 1 to 65535", s->port);
    if (blob_len > HN_RDV_BLOB_MAX)
        return hn_fail(err, "rendezvous: an id of %zu bytes (at most %d)", blob_len, HN_RDV_BLOB_MAX);
    errno = 0;
    if (s->rank == 0) return serve(s, blob, blob_len, cards, err);
    return join(s, blob, blob_len, cards, err);
}
