/* hnet run FILE: resolve a Lua experiment, train it, print the BPB table. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_threads.h"
#include "cli/commands.h"
#include "cli/upload_cli.h"
#include "cli/util.h"
#include "dist/dist.h"
#include "identity/overrides.h"
#include "lua/experiment.h"
#include "plugin/registry.h"
#include "train/progress.h"
#include "train/trainer.h"

static volatile sig_atomic_t stop_requested = 0;
static void on_signal(int sig) {
    stop_requested = sig; /* which signal: the run records it as its reason */
}

static void usage(FILE *out) {
    fprintf(out,
            "usage: hnet run FILE [options]\n\n"
            "Trains the experiment in the Lua file FILE and records its curves in results.db.\n\n"
            "options:\n"
            "  --steps N        train N steps instead of train.steps\n"
            "  --batch N        N sequences per step instead of train.batch\n"
            "  --db PATH        results database (default: log.db of the experiment,\n"
            "                   results/results.db)\n"
            "  --device NAME    cpu or cuda (default: the experiment's backend)\n"
            "                   (--steps, --batch and --device are written into the run's\n"
            "                   config and its hash, and listed under \"overrides\")\n"
            "  --unsafe-lua     let the experiment file use os.execute, io.popen, package.loadlib\n"
            "  --quiet          no progress line\n"
            "  --resume         continue from the run's newest good checkpoint (checkpoint =\n"
            "                   { every = N } in the experiment), logging into the same run\n"
            "  --print-config   print the resolved config as JSON and exit\n"
            "  --upload SINK=DEST  upload the curves live while training, off the training\n"
            "                   thread (e.g. mlflow=http://host:5000, wandb, tensorboard=DIR);\n"
            "                   what fails to go is left for `hnet upload`\n"
            "  --upload-set K=V a sink option for --upload (see hnet upload --help)\n\n"
            "Several processes (data parallel): mpirun -np N hnet run FILE trains one global\n"
            "batch of train.batch sequences split over N ranks (the same run as one process, to\n"
            "float rounding); rank 0 alone writes results.db, checkpoints and the progress line.\n"
            "srun --mpi=pmix hnet run FILE under Slurm. On GPUs (--device cuda) the ranks\n"
            "exchange gradients through NCCL, one GPU per process; torchrun-style variables\n"
            "(RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) or srun with MASTER_ADDR\n"
            "and MASTER_PORT start them without MPI; HNET_COMM=nccl takes NCCL for one process\n"
            "too (HNET_COMM=mpi: MPI's collectives under mpirun -np 1). See README.md.\n");
}

/* Whether every rank got through a step that may fail on some and not others; the lowest
 * failing rank reports (*report), so a mistake every rank makes is printed once. A world of
 * one reports its own failure. *alone: the agreement itself failed (a rank is gone). */
static int agree_failed(hn_dist *d, int failed, int *report, int *alone) {
    int64_t v = failed ? d->world - d->rank : 0;
    hn_error e;
    *report = *alone = 0;
    if (hn_dist_max_i64(d, &v, 1, &e)) {
        fprintf(stderr, "hnet run (rank %d): %s\n", d->rank, e.msg);
        *alone = 1;
        return 1;
    }
    *report = failed && d->world - v == d->rank;
    return v != 0;
}

/* Ranks sharing a host share its cores: OpenBLAS gets this rank's part of them, unless
 * the user chose (OPENBLAS_NUM_THREADS, OMP_NUM_THREADS). */
static void share_cores(const hn_dist *d) {
    if (d->world == 1 || getenv("OPENBLAS_NUM_THREADS") || getenv("OMP_NUM_THREADS")) return;
    hn_cpu_set_threads(hn_dist_cores_per_rank(d));
}

static void print_table(const hn_train_result *r) {
    char params[32], bytes[32];
    hn_human_count(params, sizeof params, (double)r->n_params);
    hn_human_count(bytes, sizeof bytes, (double)r->bytes_seen);
    printf("\n%-24s %-11s %8s %7s %9s %10s %10s %9s %8s\n", "run", "status", "params", "steps",
           "bytes", "GFLOPs/B", "start BPB", "valid BPB", "time");
    printf("%-24s %-11s %8s %7ld %9s %10.4f %10.3f %9.3f %7.1fs\n", r->name, r->status, params,
           r->steps_done, bytes, r->flops_per_byte / 1e9, r->first_valid_bpb, r->final_valid_bpb,
           r->seconds);
    if (r->n_params_active > 0 && r->n_params_active < r->n_params) {
        hn_human_count(params, sizeof params, (double)r->n_params_active);
        printf("(sparse: %s of the params are active per byte)\n", params);
    }
}

int hn_cmd_run(int argc, char **argv) {
    const char *file = NULL;
    hn_train_options opt = {0};
    hn_lua_options lua_opt = {0};
    hn_config_overrides over = {0};
    int print_config = 0;
    const char *upload_spec = NULL; /* --upload: live dashboard upload */
    char *upload_sets[16];
    int n_upload_sets = 0;
    hn_cli_live *live = NULL;
    static const char *const with_value[] = {"--steps", "--batch", "--db", "--device", "--upload", "--upload-set"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        for (size_t v = 0; v < sizeof with_value / sizeof with_value[0]; v++)
            if (!strcmp(a, with_value[v]) && i + 1 == argc) {
                fprintf(stderr, "hnet run: %s needs a value (see hnet run --help)\n", a);
                return 2;
            }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--steps") && i + 1 < argc) {
            if (hn_parse_long(argv[++i], &over.steps) || over.steps < 1) {
                fprintf(stderr, "hnet run: --steps expects a positive integer, found '%s'\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "--batch") && i + 1 < argc) {
            if (hn_parse_long(argv[++i], &over.batch) || over.batch < 1 || over.batch > 1L << 20) {
                fprintf(stderr, "hnet run: --batch expects a positive integer, found '%s'\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "--db") && i + 1 < argc) {
            opt.db_path = argv[++i];
        } else if (!strcmp(a, "--device") && i + 1 < argc) {
            over.device = argv[++i];
        } else if (!strcmp(a, "--unsafe-lua")) {
            lua_opt.allow_unsafe = 1;
        } else if (!strcmp(a, "--quiet")) {
            opt.quiet = 1;
        } else if (!strcmp(a, "--resume")) {
            opt.resume = 1;
        } else if (!strcmp(a, "--print-config")) {
            print_config = 1;
        } else if (!strcmp(a, "--upload") && i + 1 < argc) {
            upload_spec = argv[++i];
        } else if (!strcmp(a, "--upload-set") && i + 1 < argc && n_upload_sets < 16) {
            upload_sets[n_upload_sets++] = argv[++i];
        } else if (a[0] == '-') {
            fprintf(stderr, "hnet run: unknown option '%s' (see hnet run --help)\n", a);
            return 2;
        } else if (!file) {
            file = a;
        } else {
            fprintf(stderr, "hnet run: one experiment file at a time ('%s' and '%s')\n", file, a);
            return 2;
        }
    }
    if (!file) {
        usage(stderr);
        return 2;
    }

    hn_error err;
    /* launched as one of several processes? (before MPI starts: it forks nothing after) */
    hn_dist_launch launch;
    if (hn_dist_detect(&launch, &err)) {
        fprintf(stderr, "hnet run: %s\n", err.msg);
        return 2;
    }
    char commit[64];
    hn_git_commit(commit, sizeof commit);
    hn_dist *dist = NULL;
    if (hn_dist_open(&launch, &dist, &err)) {
        fprintf(stderr, "hnet run (rank %d): %s\n", launch.rank, err.msg);
        hn_dist_abort(dist, 1);
        return 1;
    }
    int lead = dist->rank == 0; /* the one rank that prints */
    share_cores(dist);

    hn_registry reg;
    hn_registry_init(&reg);
    cJSON *cfg = NULL;
    char *text = NULL;
    int status = 1, report = 0, failed_alone = 0;
    int failed = hn_registry_load_default(&reg, &err) || hn_experiment_load(file, &lua_opt, &reg, &cfg, &err) ||
                 hn_config_apply_overrides(cfg, &over, &err);
    if (agree_failed(dist, failed, &report, &failed_alone)) {
        if (report) fprintf(stderr, "hnet run: %s\n", err.msg);
        goto done;
    }
    if (print_config) {
        char *s = cJSON_Print(cfg);
        if (lead) printf("%s\n", s);
        free(s);
        status = 0;
        goto done;
    }
    text = hn_read_text_file(file);
    opt.experiment_file = file;
    opt.experiment_text = text;
    opt.git_commit = commit;
    opt.stop = &stop_requested;
    opt.dist = dist;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    if (lead && upload_spec &&
        !(live = hn_cli_live_start(upload_spec, upload_sets, n_upload_sets, &reg, cfg, opt.db_path))) {
        failed_alone = dist->world > 1;
        goto done;
    }
    hn_train_result res;
    int rc = hn_train(cfg, &reg, &opt, &res, &err);
    hn_cli_live_stop(live); /* a last pass, bounded; the run's outcome stands either way */
    live = NULL;
    failed_alone = rc && res.failed_alone;
    if (rc == HN_OK && res.skipped && res.note[0]) {
        if (lead) fprintf(stderr, "hnet run: %s\n", res.note);
        status = 0;
        goto done;
    }
    if (lead && res.run_id > 0) {
        print_table(&res);
        printf("run %lld in %s; checkpoints: %s\n", (long long)res.run_id, res.db_path,
               res.checkpoint_dir[0] ? res.checkpoint_dir : "none (checkpoint = { every = N } writes them)");
        hn_note_db("run", res.db_path);
    }
    if (rc) {
        if (!res.quiet_failure) {
            if (res.failed_alone && dist->world > 1) /* which rank saw it matters */
                fprintf(stderr, "hnet run (rank %d of %d): %s\n", dist->rank, dist->world, err.msg);
            else fprintf(stderr, "hnet run: %s\n", err.msg);
        }
        status = !strcmp(res.status, "interrupted") ? 130 : 1;
        goto done;
    }
    if (!strcmp(res.status, "interrupted")) {
        if (lead)
            fprintf(stderr, "hnet run: interrupted; run %lld is recorded as interrupted\n",
                    (long long)res.run_id);
        status = 130;
        goto done;
    }
    status = 0;
done:
    free(text);
    cJSON_Delete(cfg);
    hn_registry_close(&reg);
    /* a failure the other ranks cannot know of would leave them waiting: end them all */
    if (failed_alone) {
        fflush(NULL);
        hn_dist_abort(dist, status);
    }
    hn_dist_close(dist);
    return status;
}
