/* The TCP meeting of ranks launched without MPI (runtime/dist/rendezvous.h): rank 0 hands
 * its id (here a fake 128-byte blob, as NCCL's unique id) and every rank's card to the
 * others, whichever starts first; the mistakes a launch can make (a size that differs, a
 * rank given twice, no rank 0, a port in use) end it with a message that names them. The
 * ranks are forked processes on localhost. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dist/rendezvous.h"
#include "support/fixtures.h"

#define BLOB 128

static void fill_blob(unsigned char *b, unsigned seed) {
    for (int i = 0; i < BLOB; i++) b[i] = (unsigned char)(seed * 31u + (unsigned)i * 7u);
}

static void sleep_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* Forks a rank that joins (rank, world) at port after `delay` seconds and exits 0 when it
 * got rank 0's blob and cards, 3 when it was refused with a message holding `refusal`
 * (NULL: any refusal is a failure), 1 otherwise. */
static pid_t spawn_rank(int port, int rank, int world, double delay, const char *refusal) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid) return pid;
    sleep_s(delay);
    hn_rdv_settings s = {.addr = "localhost", .port = port, .rank = rank, .world = world, .timeout = 5};
    unsigned char blob[BLOB] = {0}, want[BLOB];
    hn_dist_card cards[4];
    memset(cards, 0, sizeof cards);
    hn_error err = {{0}};
    if (hn_rendezvous(&s, blob, BLOB, cards, &err)) {
        fprintf(stderr, "rank %d: %s\n", rank, err.msg);
        _exit(refusal && strstr(err.msg, refusal) ? 3 : 1);
    }
    fill_blob(want, 42);
    int ok = !memcmp(blob, want, BLOB) && cards[0].rank == 0 && cards[0].pid == getppid() &&
             cards[rank].rank == rank && cards[rank].pid == getpid();
    _exit(ok ? 0 : 1);
}

static int exit_status(pid_t pid) {
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static hn_rdv_settings rank0(int port, int world, double timeout) {
    return (hn_rdv_settings){.addr = "localhost", .port = port, .rank = 0, .world = world,
                             .timeout = timeout};
}

/* Rank 0 of a world of `world` on port, serving the test blob: what hn_rendezvous says. */
static int serve(int port, int world, double timeout, hn_dist_card *cards, hn_error *err) {
    unsigned char blob[BLOB];
    fill_blob(blob, 42);
    hn_rdv_settings s = rank0(port, world, timeout);
    return hn_rendezvous(&s, blob, BLOB, cards, err);
}

static void test_ranks_receive_the_id_and_the_cards(void **state) {
    int port = free_port();
    /* rank 2 comes before rank 0 listens (it retries), rank 1 after */
    pid_t early = spawn_rank(port, 2, 3, 0, NULL);
    sleep_s(0.3);
    pid_t late = spawn_rank(port, 1, 3, 0.3, NULL);
    hn_dist_card cards[3];
    hn_error err = {{0}};
    int rc = serve(port, 3, 10, cards, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, HN_OK);
    assert_int_equal(exit_status(early), 0);
    assert_int_equal(exit_status(late), 0);
    assert_int_equal(cards[1].pid, late);
    assert_int_equal(cards[2].pid, early);
    assert_int_equal(cards[0].pid, getpid());
    assert_string_equal(cards[1].host, cards[0].host);
}

static void test_a_world_of_one_meets_itself(void **state) {
    unsigned char blob[BLOB];
    fill_blob(blob, 1);
    hn_dist_card cards[1];
    hn_rdv_settings s = rank0(free_port(), 1, 1);
    hn_error err = {{0}};
    assert_int_equal(hn_rendezvous(&s, blob, BLOB, cards, &err), HN_OK);
    assert_int_equal(cards[0].pid, getpid());
}

static void test_a_different_world_size_is_refused(void **state) {
    int port = free_port();
    pid_t other = spawn_rank(port, 1, 3, 0, "WORLD_SIZE=3 here but 2 on rank 0");
    hn_dist_card cards[2];
    hn_error err = {{0}};
    assert_int_equal(serve(port, 2, 1.5, cards, &err), HN_ERR);
    assert_non_null(strstr(err.msg, "missing: 1"));
    assert_non_null(strstr(err.msg, "waited"));
    assert_int_equal(exit_status(other), 3);
}

static void test_a_rank_given_twice_is_refused(void **state) {
    int port = free_port();
    pid_t a = spawn_rank(port, 1, 3, 0, "joined twice");
    pid_t b = spawn_rank(port, 1, 3, 0.2, "joined twice");
    hn_dist_card cards[3];
    hn_error err = {{0}};
    assert_int_equal(serve(port, 3, 5, cards, &err), HN_ERR);
    assert_non_null(strstr(err.msg, "rank 1 joined twice"));
    /* the first is dropped unanswered, the second refused: both end, neither with an id */
    int sa = exit_status(a), sb = exit_status(b);
    assert_true(sa != 0 && sb != 0);
    assert_true(sa == 3 || sb == 3);
}

static void test_no_rank_0_times_out(void **state) {
    hn_rdv_settings s = {.addr = "127.0.0.1", .port = free_port(), .rank = 1, .world = 2, .timeout = 0.5};
    unsigned char blob[BLOB];
    hn_dist_card cards[2];
    hn_error err = {{0}};
    time_t t0 = time(NULL);
    assert_int_equal(hn_rendezvous(&s, blob, BLOB, cards, &err), HN_ERR);
    assert_true(time(NULL) - t0 < 5);
    assert_non_null(strstr(err.msg, "waited"));
    assert_non_null(strstr(err.msg, "MASTER_ADDR=127.0.0.1"));
}

static void test_a_port_in_use_is_refused(void **state) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 1), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    unsigned char blob[BLOB] = {0};
    hn_dist_card cards[2];
    hn_rdv_settings s = rank0(ntohs(a.sin_port), 2, 1);
    hn_error err = {{0}};
    assert_int_equal(hn_rendezvous(&s, blob, BLOB, cards, &err), HN_ERR);
    assert_non_null(strstr(err.msg, "cannot listen on MASTER_PORT"));
    assert_non_null(strstr(err.msg, "choose another MASTER_PORT"));
    close(fd);
}

static void test_bad_settings_are_refused(void **state) {
    unsigned char blob[BLOB] = {0};
    hn_dist_card cards[2];
    hn_error err = {{0}};
    hn_rdv_settings s = rank0(0, 2, 1);
    assert_int_equal(hn_rendezvous(&s, blob, BLOB, cards, &err), HN_ERR);
    assert_non_null(strstr(err.msg, "MASTER_PORT=0"));
    s = rank0(free_port(), 2, 1);
    s.rank = 2;
    assert_int_equal(hn_rendezvous(&s, blob, BLOB, cards, &err), HN_ERR);
    assert_non_null(strstr(err.msg, "rank 2 of a world of 2"));
    s.rank = 1;
    s.addr = "no-such-host.invalid";
    assert_int_equal(hn_rendezvous(&s, blob, BLOB, cards, &err), HN_ERR);
    assert_non_null(strstr(err.msg, "cannot resolve MASTER_ADDR=no-such-host.invalid"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ranks_receive_the_id_and_the_cards),
        cmocka_unit_test(test_a_world_of_one_meets_itself),
        cmocka_unit_test(test_a_different_world_size_is_refused),
        cmocka_unit_test(test_a_rank_given_twice_is_refused),
        cmocka_unit_test(test_no_rank_0_times_out),
        cmocka_unit_test(test_a_port_in_use_is_refused),
        cmocka_unit_test(test_bad_settings_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
