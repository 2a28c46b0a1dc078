/* hnet suite FILE: run every experiment of a suite file, skipping finished ones, and
 * end with the comparison table. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/compare.h"
#include "cli/commands.h"
#include "cli/suite_slurm.h"
#include "cli/util.h"
#include "lua/experiment.h"
#include "plugin/registry.h"
#include "suite/flops_match.h"
#include "suite/suite.h"

static volatile sig_atomic_t stop_requested = 0;
static void on_signal(int sig) {
    stop_requested = sig; /* which signal: the run records it as its reason */
}

static void usage(FILE *out) {
    fprintf(out,
            "usage: hnet suite FILE [options]\n"
            "       hnet suite FILE [options] --slurm [sbatch options] [--dry-run]\n\n"
            "Runs every experiment of the suite file FILE (a file returning suite{...} or one\n"
            "experiment) and ends with the comparison table (as `hnet compare FILE`).\n"
            "A run already finished with the same resolved config (runs.config_hash) in the\n"
            "database is skipped, so the same command again does nothing, and after an\n"
            "interruption it runs only what is missing. Each config is claimed in the database\n"
            "before it trains, so two suites of one file at once train each config once.\n"
            "A failed run is reported and the\n"
            "others go on. Runs with match_flops = \"NAME\" are FLOP-matched to run NAME first.\n\n"
            "options:\n"
            "  -j N             N runs at once, each in its own process (default 1: one after\n"
            "                   another in this process); cuda runs get one GPU each; -j alone:\n"
            "                   one per CPU core. While they run, their live state (step, train\n"
            "                   and valid BPB) is printed every 10 s\n"
            "  --status-every S seconds between those live states (default 10)\n"
            "  --gpus N         GPUs to spread cuda runs over (default: count /dev/nvidiaN)\n"
            "  --db PATH        results database for every run (default: each run's log.db)\n"
            "  --force          run finished runs again too\n"
            "  --dry-run        resolve and FLOP-match, print what would run, run nothing\n"
            "  --format F       the closing table: text (default), csv or markdown\n"
            "  --unsafe-lua     let the suite file use os.execute, io.popen, package.loadlib\n"
            "  --quiet          no progress lines\n"
            "  --slurm [OPTIONS]  submit the runs left to do to Slurm as one job array instead\n"
            "                   (sbatch --parsable, a task per run, at most N at once with -j N);\n"
            "                   everything after --slurm but --dry-run goes to sbatch verbatim\n"
            "                   (--partition, --time, --gpus-per-task, ...). The batch script and\n"
            "                   the tasks' logs go to results/slurm/ next to results.db; submitting\n"
            "                   again skips finished runs and resumes interrupted ones. With\n"
            "                   --dry-run: print the script, submit nothing\n"
            "  --config-hash H  run only the suite's run whose config hash is H (what each\n"
            "                   Slurm task runs; hnet suite FILE --dry-run lists the hashes)\n");
}

/* The suite reduced to its run with config hash `hash` (what one Slurm task trains).
 * Fails when the file no longer has it: changed since the job was submitted. */
static int only_config(cJSON *runs, const char *file, const char *hash, hn_error *err) {
    int n = cJSON_GetArraySize(runs), keep = -1;
    for (int i = 0; i < n && keep < 0; i++) {
        char h[17];
        hn_suite_config_hash(cJSON_GetArrayItem(runs, i), h);
        if (!strcmp(h, hash)) keep = i;
    }
    if (keep < 0)
        return hn_fail(err, "no run of %s has config hash %s (hnet suite %s --dry-run lists them): the "
                            "file changed since this run was submitted; submit the suite again",
                       file, hash, file);
    for (int i = n - 1; i >= 0; i--)
        if (i != keep) cJSON_DeleteItemFromArray(runs, i);
    return HN_OK;
}

int hn_cmd_suite(int argc, char **argv) {
    const char *file = NULL;
    hn_suite_options opt = {.jobs = 1};
    hn_lua_options lua_opt = {0};
    hn_table_format fmt = HN_FMT_TEXT;
    int dry = 0, jobs_given = 0;
    const char *only_hash = NULL;
    hn_suite_slurm_request slurm = {0};
    int use_slurm = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long v;
        if (!strcmp(a, "--slurm")) { /* the rest is sbatch's, but our --dry-run */
            use_slurm = 1;
            slurm.sbatch_args = calloc((size_t)argc, sizeof *slurm.sbatch_args);
            if (!slurm.sbatch_args) return 1;
            for (i++; i < argc; i++)
                if (!strcmp(argv[i], "--dry-run")) dry = 1;
                else slurm.sbatch_args[slurm.n_sbatch_args++] = argv[i];
            break;
        }
        if (!strncmp(a, "-j", 2) || !strcmp(a, "--jobs")) jobs_given = 1;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if ((!strcmp(a, "-j") || !strcmp(a, "--jobs")) &&
                   (i + 1 == argc || hn_parse_long(argv[i + 1], &v) != 0)) {
            long cores = sysconf(_SC_NPROCESSORS_ONLN); /* -j alone, as make -j: all cores */
            opt.jobs = cores > 0 ? (int)(cores < 1024 ? cores : 1024) : 1;
        } else if (!strcmp(a, "--status-every") && i + 1 < argc) {
            char *end;
            opt.status_every = strtod(argv[++i], &end);
            if (*end || !(opt.status_every > 0)) {
                fprintf(stderr, "hnet suite: --status-every expects seconds > 0, found '%s'\n", argv[i]);
                return 2;
            }
        } else if ((!strcmp(a, "-j") || !strcmp(a, "--jobs") || !strcmp(a, "--gpus")) && i + 1 < argc) {
            if (hn_parse_long(argv[++i], &v) || v < 1 || v > 1024) {
                fprintf(stderr, "hnet suite: %s expects a positive integer, found '%s'\n", a, argv[i]);
                return 2;
            }
            if (!strcmp(a, "--gpus")) opt.gpus = (int)v;
            else opt.jobs = (int)v;
        } else if (!strncmp(a, "-j", 2) && a[2]) {
            if (hn_parse_long(a + 2, &v) || v < 1 || v > 1024) {
                fprintf(stderr, "hnet suite: -j expects a positive integer, found '%s'\n", a + 2);
                return 2;
            }
            opt.jobs = (int)v;
        } else if (!strcmp(a, "--config-hash") && i + 1 < argc) {
            only_hash = argv[++i];
            if (strlen(only_hash) != 16 || strspn(only_hash, "0123456789abcdef") != 16) {
                fprintf(stderr, "hnet suite: --config-hash expects 16 hex digits, found '%s'\n", only_hash);
                return 2;
            }
        } else if (!strcmp(a, "--db") && i + 1 < argc) {
            opt.db_path = argv[++i];
        } else if (!strcmp(a, "--force")) {
            opt.force = 1;
        } else if (!strcmp(a, "--dry-run")) {
            dry = 1;
        } else if (!strcmp(a, "--format") && i + 1 < argc) {
            const char *f = argv[++i];
            if (strcmp(f, "text") && strcmp(f, "csv") && strcmp(f, "markdown")) {
                fprintf(stderr, "hnet suite: --format expects text, csv or markdown, found '%s'\n", f);
                return 2;
            }
            fmt = !strcmp(f, "csv") ? HN_FMT_CSV : !strcmp(f, "markdown") ? HN_FMT_MARKDOWN : HN_FMT_TEXT;
        } else if (!strcmp(a, "--unsafe-lua")) {
            lua_opt.allow_unsafe = 1;
        } else if (!strcmp(a, "--quiet")) {
            opt.quiet = 1;
        } else if (a[0] == '-') {
            fprintf(stderr, "hnet suite: unknown option '%s' (see hnet suite --help)\n", a);
            return 2;
        } else if (!file) {
            file = a;
        } else {
            fprintf(stderr, "hnet suite: one suite file at a time ('%s' and '%s')\n", file, a);
            return 2;
        }
    }
    if (!file || (use_slurm && only_hash)) {
        if (file) fprintf(stderr, "hnet suite: --config-hash runs one run here; --slurm submits the "
                                  "suite (its tasks use --config-hash): one or the other\n");
        else usage(stderr);
        free(slurm.sbatch_args);
        return 2;
    }

    hn_registry reg;
    hn_registry_init(&reg);
    hn_error err;
    cJSON *runs = NULL;
    char *text = NULL;
    hn_suite_entry *entries = NULL;
    int status = 1;
    if (hn_registry_load_default(&reg, &err) || hn_suite_load(file, &lua_opt, &reg, &runs, &err) ||
        hn_suite_prepare(runs, &reg, stderr, &err)) {
        fprintf(stderr, "hnet suite: %s\n", err.msg);
        goto done;
    }
    if (only_hash && only_config(runs, file, only_hash, &err)) {
        fprintf(stderr, "hnet suite: %s\n", err.msg);
        goto done;
    }
    if (use_slurm) {
        slurm.file = file;
        slurm.db = opt.db_path;
        slurm.force = opt.force;
        slurm.unsafe_lua = lua_opt.allow_unsafe;
        slurm.quiet = opt.quiet;
        slurm.max_running = jobs_given ? opt.jobs : 0;
        slurm.dry_run = dry;
        status = hn_suite_slurm(&slurm, runs);
        goto done;
    }
    int n = cJSON_GetArraySize(runs);
    if (dry) {
        const cJSON *cfg;
        cJSON_ArrayForEach(cfg, runs) {
            char hash[17], st[16];
            int64_t id;
            hn_suite_config_hash(cfg, hash);
            const char *db = hn_suite_db_path(cfg, opt.db_path);
            if (hn_suite_find_run(db, hash, &id, st, &err)) {
                fprintf(stderr, "hnet suite: %s\n", err.msg);
                goto done;
            }
            const cJSON *nm = cJSON_GetObjectItemCaseSensitive(cfg, "name");
            printf("%-28s %s  %s\n", nm ? nm->valuestring : "?", hash,
                   id && !strcmp(st, "finished") && !opt.force ? "finished: skip"
                   : id && !strcmp(st, "active")               ? "running in another process: skip"
                   : id && !strcmp(st, "interrupted")          ? "interrupted: would resume"
                                                               : "would run");
        }
        status = 0;
        goto done;
    }
    text = hn_read_text_file(file);
    char commit[64];
    hn_git_commit(commit, sizeof commit);
    opt.experiment_file = file;
    opt.experiment_text = text;
    opt.git_commit = commit;
    opt.stop = &stop_requested;
    struct sigaction sa = {0};
    sa.sa_handler = on_signal; /* no SA_RESTART: waiting for runs wakes up on a signal */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    if (only_hash) { /* a Slurm task's log starts with what it trains */
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(runs, 0), "name");
        fprintf(stderr, "hnet suite: %s, the run of %s with config hash %s\n",
                cJSON_IsString(nm) ? nm->valuestring : "?", file, only_hash);
    }
    entries = calloc((size_t)(n ? n : 1), sizeof *entries);
    int rc = hn_suite_run(runs, &reg, &opt, entries, &err);

    if (only_hash) { /* one run of the suite (a Slurm task): no table */
        if (rc && !strcmp(entries[0].status, "running")) { /* another process trains it */
            fprintf(stderr, "hnet suite: %s: %s; leaving it to that one\n", entries[0].name, entries[0].error);
            rc = 0;
        }
        status = rc ? (stop_requested ? 130 : 1) : 0;
        if (rc) fprintf(stderr, "hnet suite: %s\n", err.msg);
        goto done;
    }
    /* the closing table: the run that counts for each entry */
    int64_t *ids = calloc((size_t)(n ? n : 1), sizeof *ids);
    int m = 0;
    for (int i = 0; i < n; i++) /* (runs logging to another database are left out) */
        if (entries[i].run_id > 0 && !strcmp(entries[i].db, entries[0].db)) ids[m++] = entries[i].run_id;
    if (m > 0) {
        hn_cmp_set set;
        hn_error e2;
        if (hn_cmp_load_ids(entries[0].db, ids, m, &set, &e2) == HN_OK) {
            printf("\n");
            hn_note_db("suite", entries[0].db);
            hn_cmp_warn_corpora(&set, "hnet suite: ", stderr);
            hn_cmp_print_table(&set, fmt, 0, stdout);
            if (fmt != HN_FMT_CSV) {
                hn_crossover *c;
                int nc = hn_cmp_crossovers(&set, &c);
                printf("\ncrossovers:\n");
                hn_cmp_print_crossovers(&set, c, nc, fmt, stdout);
                free(c);
            }
            hn_cmp_free(&set);
        } else {
            fprintf(stderr, "hnet suite: %s\n", e2.msg);
        }
    }
    free(ids);
    if (rc) {
        for (int i = 0; i < n; i++)
            if (entries[i].name[0] && strcmp(entries[i].status, "finished"))
                fprintf(stderr, "  %-28s %s%s%s\n", entries[i].name, entries[i].status,
                        entries[i].error[0] ? ": " : "", entries[i].error);
        fprintf(stderr, "hnet suite: %s\n", err.msg);
        status = stop_requested ? 130 : 1;
        goto done;
    }
    status = 0;
done:
    free(slurm.sbatch_args);
    free(entries);
    free(text);
    cJSON_Delete(runs);
    hn_registry_close(&reg);
    return status;
}
