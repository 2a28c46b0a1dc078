/* Data-parallel start-up and its single-process world (runtime/dist): how each launcher's
 * variables map to rank and world, the mistakes refused with a message that says what to
 * do, the world of one whose collectives change nothing; the watch that ends a wait in a
 * collective (a rank gone, a stop signal, a timeout); and the split of a global batch
 * into the ranks' parts (train/batches.h). The collectives over MPI are tested end to
 * end under mpirun (tests/e2e/test_dist_*.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend.h"
#include "dist/dist.h"
#include "dist/watch.h"
#include "train/batches.h"

static const char *const launch_vars[] = {
    "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
    "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "SLURM_PROCID", "SLURM_NTASKS",
    "SLURM_STEP_NUM_TASKS", "SLURM_LOCALID", "RANK", "WORLD_SIZE", "LOCAL_RANK",
    "MASTER_ADDR", "MASTER_PORT", "HNET_COMM"};

static void clear_launch(void) {
    for (size_t i = 0; i < sizeof launch_vars / sizeof *launch_vars; i++) unsetenv(launch_vars[i]);
}

static int setup(void **state) {
    clear_launch();
    return 0;
}

/* Sets NAME=VALUE pairs (NULL-terminated) after clearing every launch variable. */
static void launch_env(const char *first, ...) {
    clear_launch();
    va_list ap;
    va_start(ap, first);
    for (const char *k = first; k; k = va_arg(ap, const char *)) setenv(k, va_arg(ap, const char *), 1);
    va_end(ap);
}

static void detect_ok(hn_dist_launch *l) {
    hn_error err = {{0}};
    int rc = hn_dist_detect(l, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, HN_OK);
}

static void detect_fails(const char *needle1, const char *needle2) {
    hn_dist_launch l;
    hn_error err = {{0}};
    assert_int_equal(hn_dist_detect(&l, &err), HN_ERR);
    if (!strstr(err.msg, needle1) || (needle2 && !strstr(err.msg, needle2)))
        fail_msg("message '%s' lacks '%s' / '%s'", err.msg, needle1, needle2 ? needle2 : "");
}

/* The launch detected: who started it, through what, and which rank of how many. */
static void assert_launch(const hn_dist_launch *l, int mpi, int nccl, int rank, int world,
                          int local_rank, const char *how) {
    assert_int_equal(l->mpi, mpi);
    assert_int_equal(l->nccl, nccl);
    assert_int_equal(l->rank, rank);
    assert_int_equal(l->world, world);
    assert_int_equal(l->local_rank, local_rank);
    assert_non_null(strstr(l->how, how));
}

static void test_no_launcher_is_one_process(void **state) {
    hn_dist_launch l;
    detect_ok(&l);
    assert_int_equal(l.world, 1);
    assert_int_equal(l.rank, 0);
    assert_false(l.mpi);
    /* a Slurm batch script's own environment: the allocation's task count, no step */
    launch_env("SLURM_NTASKS", "4", "SLURM_PROCID", "0", "SLURM_LOCALID", "0", NULL);
    detect_ok(&l);
    assert_int_equal(l.world, 1);
    assert_false(l.mpi);
    launch_env("WORLD_SIZE", "1", "RANK", "0", NULL);
    detect_ok(&l);
    assert_int_equal(l.world, 1);
}

static void test_mpirun_variables(void **state) {
    hn_dist_launch l;
    launch_env("OMPI_COMM_WORLD_RANK", "2", "OMPI_COMM_WORLD_SIZE", "4",
               "OMPI_COMM_WORLD_LOCAL_RANK", "0", "PMIX_RANK", "2", NULL);
    detect_ok(&l);
    assert_launch(&l, 1, 0, 2, 4, 0, "mpirun");
}

static void test_srun_with_pmix(void **state) {
    hn_dist_launch l;
    launch_env("PMIX_RANK", "3", "SLURM_PROCID", "3", "SLURM_STEP_NUM_TASKS", "8", "SLURM_NTASKS", "8",
               "SLURM_LOCALID", "1", NULL);
    detect_ok(&l);
    assert_launch(&l, 1, 0, 3, 8, 1, "PMIx");
    /* PMIx alone names no size: MPI says */
    launch_env("PMIX_RANK", "0", NULL);
    detect_ok(&l);
    assert_true(l.mpi);
    assert_int_equal(l.world, 0);
}

/* srun or torchrun-style variables asking for several ranks without MPI meet through NCCL,
 * rank 0 serving its id on MASTER_ADDR:MASTER_PORT */
static void test_several_without_mpi_meet_through_nccl(void **state) {
    hn_dist_launch l;
    launch_env("RANK", "1", "WORLD_SIZE", "4", "LOCAL_RANK", "1", "MASTER_ADDR", "node7",
               "MASTER_PORT", "29500", NULL);
    detect_ok(&l);
    assert_launch(&l, 0, 1, 1, 4, 1, "torchrun-style");
    assert_string_equal(l.master_addr, "node7");
    assert_int_equal(l.master_port, 29500);
    launch_env("SLURM_PROCID", "5", "SLURM_STEP_NUM_TASKS", "8", "SLURM_NTASKS", "8",
               "SLURM_LOCALID", "1", "MASTER_ADDR", "node1", "MASTER_PORT", "1234", NULL);
    detect_ok(&l);
    assert_launch(&l, 0, 1, 5, 8, 1, "srun");
}

static void test_several_without_an_address_refused(void **state) {
    launch_env("SLURM_PROCID", "1", "SLURM_STEP_NUM_TASKS", "4", "SLURM_NTASKS", "4", NULL);
    detect_fails("SLURM_STEP_NUM_TASKS=4 ranks", "srun --mpi=pmix");
    launch_env("RANK", "1", "WORLD_SIZE", "4", "LOCAL_RANK", "1", NULL);
    detect_fails("MASTER_ADDR and MASTER_PORT are not both set", "mpirun -np 4 hnet run FILE");
    launch_env("RANK", "1", "WORLD_SIZE", "4", "MASTER_ADDR", "h", NULL);
    detect_fails("MASTER_ADDR is set but MASTER_PORT is not", NULL);
    launch_env("RANK", "1", "WORLD_SIZE", "4", "MASTER_PORT", "29500", NULL);
    detect_fails("MASTER_PORT is set but MASTER_ADDR is not", NULL);
    launch_env("RANK", "1", "WORLD_SIZE", "4", "MASTER_ADDR", "h", "MASTER_PORT", "70000", NULL);
    detect_fails("MASTER_PORT=70000 is not a TCP port", NULL);
    launch_env("WORLD_SIZE", "4", "MASTER_ADDR", "h", "MASTER_PORT", "29500", NULL);
    detect_fails("WORLD_SIZE=4 but no RANK", NULL);
    /* srun running a script that also sets torchrun-style variables: they must agree */
    launch_env("SLURM_PROCID", "1", "SLURM_STEP_NUM_TASKS", "4", "RANK", "2", "WORLD_SIZE", "4",
               "MASTER_ADDR", "h", "MASTER_PORT", "29500", NULL);
    detect_fails("RANK says rank 2", "disagree");
}

/* HNET_COMM=nccl: NCCL for any launch, a world of one included */
static void test_nccl_forced(void **state) {
    hn_dist_launch l;
    launch_env("HNET_COMM", "nccl", NULL);
    detect_ok(&l);
    assert_true(l.nccl);
    assert_false(l.mpi);
    assert_int_equal(l.world, 1);
    assert_string_equal(l.master_addr, "");
    launch_env("HNET_COMM", "nccl", "WORLD_SIZE", "1", "RANK", "0", "LOCAL_RANK", "0",
               "MASTER_ADDR", "127.0.0.1", "MASTER_PORT", "29501", NULL);
    detect_ok(&l);
    assert_true(l.nccl);
    assert_int_equal(l.world, 1);
    assert_int_equal(l.master_port, 29501);
    launch_env("HNET_COMM", "nccl", "OMPI_COMM_WORLD_RANK", "0", "OMPI_COMM_WORLD_SIZE", "2", NULL);
    detect_ok(&l);
    assert_true(l.mpi && l.nccl);
    launch_env("HNET_COMM", "auto", "WORLD_SIZE", "1", "RANK", "0", NULL);
    detect_ok(&l);
    assert_false(l.nccl);
    launch_env("HNET_COMM", "gloo", NULL);
    detect_fails("HNET_COMM='gloo'", "expected nccl");
}

/* HNET_COMM=mpi: MPI's collectives in a world of one too (mpirun -np 1: the cpu's check
 * of the path NCCL takes on one GPU); without an MPI launcher, refused saying how */
static void test_mpi_alone(void **state) {
    hn_dist_launch l;
    launch_env("HNET_COMM", "mpi", "OMPI_COMM_WORLD_RANK", "0", "OMPI_COMM_WORLD_SIZE", "1", NULL);
    detect_ok(&l);
    assert_true(l.mpi && l.mpi_alone);
    assert_false(l.nccl);
    assert_int_equal(l.world, 1);
    launch_env("OMPI_COMM_WORLD_RANK", "0", "OMPI_COMM_WORLD_SIZE", "1", NULL);
    detect_ok(&l);
    assert_false(l.mpi_alone);
    launch_env("HNET_COMM", "mpi", NULL);
    detect_fails("HNET_COMM=mpi runs MPI's collectives, but this is one process", "mpirun -np N");
}

/* Without CUDA, a launch that meets through NCCL cannot start: one message saying what to
 * do instead (a CUDA build on a GPU machine would open the GPU here) */
static void test_nccl_without_cuda_refused(void **state) {
#ifndef HN_HAVE_CUDA
    launch_env("RANK", "1", "WORLD_SIZE", "2", "MASTER_ADDR", "h", "MASTER_PORT", "29500", NULL);
    hn_dist_launch l;
    detect_ok(&l);
    hn_dist *d = NULL;
    hn_error err = {{0}};
    assert_int_equal(hn_dist_open(&l, &d, &err), HN_ERR);
    assert_null(d);
    assert_non_null(strstr(err.msg, "built without CUDA"));
    assert_non_null(strstr(err.msg, "mpirun -np 2 hnet run FILE"));
#else
    skip();
#endif
}

static void test_bad_variables_refused(void **state) {
    launch_env("OMPI_COMM_WORLD_RANK", "0", "OMPI_COMM_WORLD_SIZE", "two", NULL);
    detect_fails("OMPI_COMM_WORLD_SIZE='two'", NULL);
    launch_env("OMPI_COMM_WORLD_RANK", "4", "OMPI_COMM_WORLD_SIZE", "4", NULL);
    detect_fails("OMPI_COMM_WORLD_RANK=4 is not below OMPI_COMM_WORLD_SIZE=4", NULL);
    launch_env("WORLD_SIZE", "0", NULL);
    detect_fails("WORLD_SIZE=0", NULL);
    /* two launchers that disagree: an environment left over from another job */
    launch_env("OMPI_COMM_WORLD_RANK", "1", "OMPI_COMM_WORLD_SIZE", "2", "RANK", "0", "WORLD_SIZE", "2", NULL);
    detect_fails("RANK says rank 0", "disagree");
    launch_env("OMPI_COMM_WORLD_RANK", "1", "OMPI_COMM_WORLD_SIZE", "2", "SLURM_PROCID", "1",
               "SLURM_STEP_NUM_TASKS", "3", NULL);
    detect_fails("SLURM_STEP_NUM_TASKS says 3 processes", NULL);
}

static void test_one_process_opens_the_single_world(void **state) {
    hn_dist_launch l = {.rank = 0, .world = 1, .mpi = 0};
    hn_dist *d = NULL;
    hn_error err;
    assert_int_equal(hn_dist_open(&l, &d, &err), HN_OK);
    assert_ptr_equal(d, hn_dist_single());
    hn_dist_close(d);
}

/* The world of one: every collective returns at once and changes nothing. */
static void test_single_world_changes_nothing(void **state) {
    hn_dist *d = hn_dist_single();
    const hn_backend *be = hn_backend_cpu();
    hn_error err;
    assert_int_equal(d->world, 1);
    assert_int_equal(d->rank, 0);
    double v[3] = {1.5, -2, 3};
    int64_t m[2] = {7, -1};
    float g[4] = {1, 2, 3, 4};
    char bytes[5] = "abcd";
    assert_int_equal(hn_dist_sum_f64(d, v, 3, &err), HN_OK);
    assert_int_equal(hn_dist_max_i64(d, m, 2, &err), HN_OK);
    assert_int_equal(hn_dist_sum_max(d, v, 3, m, 2, &err), HN_OK);
    assert_int_equal(hn_dist_broadcast(d, bytes, 5, &err), HN_OK);
    assert_int_equal(hn_dist_barrier(d, &err), HN_OK);
    assert_int_equal(hn_dist_average_grads(d, be, g, 4, 1.0, &err), HN_OK);
    assert_int_equal(hn_dist_broadcast_floats(d, be, g, 4, &err), HN_OK);
    assert_true(v[0] == 1.5 && v[1] == -2 && v[2] == 3);
    assert_true(m[0] == 7 && m[1] == -1);
    assert_true(g[0] == 1 && g[1] == 2 && g[2] == 3 && g[3] == 4);
    assert_string_equal(bytes, "abcd");
    assert_int_equal(hn_dist_supports(d, be, &err), HN_OK);
    assert_true(hn_dist_cores_per_rank(d) >= 1);
    hn_dist_abort(d, 1); /* a world of one: returns, nothing to end */
}

/* ---- the watch ---- */

static void sleep_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

static pid_t spawn_sleeper(void) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        pause();
        _exit(0);
    }
    return pid;
}

/* Polls the watch for up to `seconds`; returns what it said (HN_OK: still waiting). */
static int watch_for(hn_dist_watch *w, double seconds, hn_dist_failure *f, hn_error *err) {
    hn_dist_watch_begin(w);
    for (double t = 0; t < seconds; t += 0.01) {
        if (hn_dist_watch_check(w, "a test collective", f, err)) return HN_ERR;
        sleep_s(0.01);
    }
    return HN_OK;
}

static void test_watch_sees_a_killed_rank(void **state) {
    pid_t child = spawn_sleeper();
    hn_dist_peer peers[1] = {{.rank = 1, .pid = child}};
    hn_dist_watch w;
    hn_dist_watch_init(&w, 0, 2, "testhost", peers, 1);
    hn_dist_failure f = HN_DIST_OK;
    hn_error err = {{0}};
    assert_int_equal(watch_for(&w, 0.5, &f, &err), HN_OK); /* alive: keeps waiting */
    assert_false(hn_dist_pid_gone(child));
    kill(child, SIGKILL);
    /* not reaped yet: a zombie counts as gone */
    sleep_s(0.05);
    assert_true(hn_dist_pid_gone(child));
    assert_int_equal(watch_for(&w, 2, &f, &err), HN_ERR);
    assert_int_equal(f, HN_DIST_PEER_GONE);
    assert_int_equal(w.gone_rank, 1);
    char want[96];
    snprintf(want, sizeof want, "rank 1 of 2 (pid %d on testhost) is gone", (int)child);
    if (!strstr(err.msg, want)) fail_msg("'%s' lacks '%s'", err.msg, want);
    assert_non_null(strstr(err.msg, "a test collective"));
    waitpid(child, NULL, 0);
    assert_true(hn_dist_pid_gone(child)); /* reaped: no such process */
}

static void test_watch_gives_up_after_a_stop_signal(void **state) {
    pid_t child = spawn_sleeper();
    hn_dist_peer peers[1] = {{.rank = 1, .pid = child}};
    hn_dist_watch w;
    hn_dist_watch_init(&w, 0, 2, "h", peers, 1);
    volatile sig_atomic_t stop = 0;
    w.stop = &stop;
    w.grace = 0.1;
    hn_dist_failure f = HN_DIST_OK;
    hn_error err = {{0}};
    hn_dist_watch_begin(&w);
    assert_int_equal(hn_dist_watch_check(&w, "x", &f, &err), HN_OK);
    stop = SIGTERM;
    assert_int_equal(watch_for(&w, 2, &f, &err), HN_ERR);
    assert_int_equal(f, HN_DIST_STOPPED);
    assert_non_null(strstr(err.msg, "stopped by SIGTERM"));
    assert_non_null(strstr(err.msg, "no rank on this host had died"));
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
}

static void test_watch_times_out(void **state) {
    hn_dist_watch w;
    hn_dist_watch_init(&w, 1, 3, "h", NULL, 0);
    w.timeout = 0.1;
    hn_dist_failure f = HN_DIST_OK;
    hn_error err = {{0}};
    assert_int_equal(watch_for(&w, 2, &f, &err), HN_ERR);
    assert_int_equal(f, HN_DIST_TIMEOUT);
    assert_non_null(strstr(err.msg, "HNET_DIST_TIMEOUT"));
}

static void test_watch_settings_from_environment(void **state) {
    hn_dist_watch w;
    setenv("HNET_DIST_TIMEOUT", "42", 1);
    setenv("OMPI_MCA_odls_base_sigkill_timeout", "30", 1);
    hn_dist_watch_init(&w, 0, 2, "h", NULL, 0);
    assert_true(w.timeout == 42);
    assert_true(w.grace == 29.5); /* half a second before mpirun's SIGKILL */
    unsetenv("HNET_DIST_TIMEOUT");
    unsetenv("OMPI_MCA_odls_base_sigkill_timeout");
    hn_dist_watch_init(&w, 0, 2, "h", NULL, 0);
    assert_true(w.timeout == 600);
    assert_true(w.grace == 0.5); /* mpirun's default kill timeout is 1 s */
}

/* ---- the global batch, split ---- */

static void test_batch_parts_cover_the_batch(void **state) {
    for (int n = 1; n <= 9; n++)
        for (int world = 1; world <= n; world++) {
            int next = 0, most = 0, least = n;
            for (int r = 0; r < world; r++) {
                int first, count;
                hn_batch_part(n, r, world, &first, &count);
                assert_int_equal(first, next);
                next += count;
                most = count > most ? count : most;
                least = count < least ? count : least;
            }
            assert_int_equal(next, n);
            assert_true(most - least <= 1 && least >= 1);
        }
}

/* ZeRO-1's shards of a flat array of n floats: contiguous, in rank order, covering it
 * once; every shard starts on a multiple of 16 floats (the parameter store's alignment),
 * all but the last have one length, the last takes the rest (fewer than 16 x world more). */
static void test_shards_cover_the_array(void **state) {
    size_t lengths[] = {0, 1, 15, 16, 17, 31, 48, 100, 1000, 4099, 130000, 130017};
    for (size_t i = 0; i < sizeof lengths / sizeof *lengths; i++)
        for (int world = 1; world <= 4; world++) {
            size_t n = lengths[i], next = 0, first_len = 0;
            for (int r = 0; r < world; r++) {
                size_t off = 99, len = 99;
                hn_dist_shard(n, world, r, &off, &len);
                assert_int_equal(off, next);
                assert_int_equal(off % 16, 0);
                if (r == 0) first_len = len;
                if (r < world - 1) assert_int_equal(len, first_len);
                else assert_true(len >= first_len && len - first_len < 16 * (size_t)world);
                next += len;
            }
            assert_int_equal(next, n);
        }
}

/* The ranks' parts, side by side, are the batch one process draws, and every rank's
 * generator ends where the one process's does. */
static void test_batch_parts_are_the_global_batch(void **state) {
    enum { N = 5000, SEQS = 7, LEN = 16 };
    uint8_t *bytes = malloc(N);
    for (int i = 0; i < N; i++) bytes[i] = (uint8_t)(i * 31 + i / 7);
    hn_corpus c = {.bytes = bytes, .n = N, .split = 4000, .valid_end = N};
    int32_t tok[SEQS * LEN], tgt[SEQS * LEN], ptok[SEQS * LEN], ptgt[SEQS * LEN];
    hn_rng one, part;
    hn_rng_seed(&one, 11);
    hn_batch_sample_train(&c, &one, SEQS, LEN, tok, tgt);
    for (int world = 1; world <= 4; world++) {
        for (int r = 0; r < world; r++) {
            int first, count;
            hn_batch_part(SEQS, r, world, &first, &count);
            hn_rng_seed(&part, 11);
            hn_batch_sample_train_part(&c, &part, SEQS, first, count, LEN, ptok, ptgt);
            assert_memory_equal(ptok, tok + first * LEN, (size_t)count * LEN * sizeof *tok);
            assert_memory_equal(ptgt, tgt + first * LEN, (size_t)count * LEN * sizeof *tgt);
            assert_memory_equal(&part, &one, sizeof part);
        }
    }
    free(bytes);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_no_launcher_is_one_process, setup),
        cmocka_unit_test_setup(test_mpirun_variables, setup),
        cmocka_unit_test_setup(test_srun_with_pmix, setup),
        cmocka_unit_test_setup(test_several_without_mpi_meet_through_nccl, setup),
        cmocka_unit_test_setup(test_several_without_an_address_refused, setup),
        cmocka_unit_test_setup(test_nccl_forced, setup),
        cmocka_unit_test_setup(test_mpi_alone, setup),
        cmocka_unit_test_setup(test_nccl_without_cuda_refused, setup),
        cmocka_unit_test_setup(test_bad_variables_refused, setup),
        cmocka_unit_test_setup(test_one_process_opens_the_single_world, setup),
        cmocka_unit_test(test_single_world_changes_nothing),
        cmocka_unit_test(test_watch_sees_a_killed_rank),
        cmocka_unit_test(test_watch_gives_up_after_a_stop_signal),
        cmocka_unit_test(test_watch_times_out),
        cmocka_unit_test(test_watch_settings_from_environment),
        cmocka_unit_test(test_batch_parts_cover_the_batch),
        cmocka_unit_test(test_batch_parts_are_the_global_batch),
        cmocka_unit_test(test_shards_cover_the_array),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
