/* hnet suite FILE --slurm: plan what is left of the suite as hnet suite would run it,
 * write the job array's batch script into results/slurm/ (next to results.db), hand it
 * to sbatch and say how to follow the job. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/suite_slurm.h"
#include "core/fs.h"
#include "suite/slurm.h"
#include "suite/suite.h"

extern char **environ;

/* The user's sbatch option `lng` (e.g. "--array") or its short form `shrt` ("-a"), in
 * any of the spellings sbatch takes: --array=X, --array X, -aX, -a X. */
static int has_option(const hn_suite_slurm_request *rq, const char *lng, const char *shrt) {
    size_t n = strlen(lng);
    for (int i = 0; i < rq->n_sbatch_args; i++) {
        const char *a = rq->sbatch_args[i];
        if ((!strncmp(a, lng, n) && (a[n] == 0 || a[n] == '=')) || !strncmp(a, shrt, 2)) return 1;
    }
    return 0;
}

/* The name of the job and its files: the suite's name (else the file's, without .lua),
 * kept to letters, digits and ._- */
static void job_stem(const cJSON *runs, const char *file, char *out, size_t cap) {
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(runs, 0), "suite");
    if (cJSON_IsString(s) && s->valuestring[0]) {
        snprintf(out, cap, "%s", s->valuestring);
    } else {
        const char *base = strrchr(file, '/');
        snprintf(out, cap, "%s", base ? base + 1 : file);
        size_t n = strlen(out);
        if (n > 4 && !strcmp(out + n - 4, ".lua")) out[n - 4] = 0;
    }
    for (char *c = out; *c; c++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", *c)) *c = '_';
    if (!out[0] || out[0] == '.') snprintf(out, cap, "suite");
}

/* path made absolute against the current directory (it need not exist yet). */
static int absolute(const char *path, char *out, size_t cap) {
    if (path[0] == '/') return (size_t)snprintf(out, cap, "%s", path) < cap ? 0 : -1;
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) return -1;
    return (size_t)snprintf(out, cap, "%s/%s", cwd, path) < cap ? 0 : -1;
}

/* Writes the script to a fresh file of dir (two submissions at once never share one). */
static int write_script(const char *dir, const char *stem, const char *text, char *path,
                        size_t cap, hn_error *err) {
    if (hn_mkdir_p(dir, err)) return HN_ERR;
    if ((size_t)snprintf(path, cap, "%s/%s-submit-XXXXXX.sbatch", dir, stem) >= cap) {
        path[0] = 0;
        return hn_fail(err, "%s: path too long", dir);
    }
    int fd = mkstemps(path, (int)strlen(".sbatch"));
    if (fd < 0) {
        path[0] = 0;
        return hn_fail(err, "cannot create the batch script in %s: %s", dir, strerror(errno));
    }
    fchmod(fd, 0644); /* to be read, like the logs beside it */
    FILE *f = fdopen(fd, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        if (!f) close(fd);
        hn_fail(err, "cannot write the batch script %s: %s", path, strerror(errno));
        unlink(path);
        path[0] = 0;
        return HN_ERR;
    }
    return HN_OK;
}

static void print_sbatch_line(FILE *out, const hn_suite_slurm_request *rq, const char *script) {
    fputs("sbatch --parsable", out);
    for (int i = 0; i < rq->n_sbatch_args; i++) {
        fputc(' ', out);
        hn_slurm_quote(out, rq->sbatch_args[i], 0);
    }
    fputc(' ', out);
    hn_slurm_quote(out, script, 0);
    fputc('\n', out);
}

static void print_follow_up(const hn_suite_slurm_request *rq, const hn_slurm_job *job,
                            const char *job_id, const char *array, const char *script,
                            const char *db) {
    int custom_logs = has_option(rq, "--output", "-o");
    printf("hnet suite: submitted Slurm job %s: %d runs of suite %s as array %s", job_id,
           job->n_todo, job->name, array);
    if (job->n_todo < job->n_runs)
        printf(" (the other %d finished or being trained elsewhere)", job->n_runs - job->n_todo);
    putchar('\n');
    printf("  script  %s\n", script);
    if (custom_logs) printf("  logs    where your --output names them\n");
    else printf("  logs    %s/%s-%s_K.out, K the run's index below\n", job->log_dir, job->name, job_id);
    printf("  follow  squeue -j %s    sacct -j %s", job_id, job_id);
    if (!custom_logs) printf("    tail -f %s/%s-%s_%d.out", job->log_dir, job->name, job_id, job->todo[0]);
    printf("\n          hnet show --db %s   (each run's status and curves)\n", db);
    printf("  cancel  scancel %s   (a run it stops resumes when the suite is submitted again)\n", job_id);
    printf("      K  run\n");
    for (int i = 0; i < job->n_todo; i++)
        printf("  %5d  %s\n", job->todo[i], job->run_names[job->todo[i]]);
}

/* Whether this folder can be named in an #SBATCH --output line. */
static int nameable(const char *dir) {
    for (const unsigned char *c = (const unsigned char *)dir; *c; c++)
        if (*c < 0x20 || *c == 0x7f || *c == '"' || *c == '%' || *c == '\\') return 0;
    return 1;
}

int hn_suite_slurm(const hn_suite_slurm_request *rq, const cJSON *runs) {
    if (has_option(rq, "--array", "-a")) {
        fprintf(stderr, "hnet suite: --array is hnet's own with --slurm: the array holds one task per "
                        "run left to do (hnet suite FILE -j N --slurm: at most N at once)\n");
        return 2;
    }
    int n = cJSON_GetArraySize(runs), n_todo = 0, status = 1;
    hn_suite_entry *entries = calloc((size_t)(n ? n : 1), sizeof *entries);
    int *todo = calloc((size_t)(n ? n : 1), sizeof *todo);
    const char **names = calloc((size_t)(n ? n : 1), sizeof *names);
    const char **hashes = calloc((size_t)(n ? n : 1), sizeof *hashes);
    char *text = NULL;
    hn_error err;
    char db_abs[PATH_MAX] = "", hnet[PATH_MAX], suite_file[PATH_MAX], cwd[PATH_MAX];
    char log_dir[PATH_MAX], stem[128], array[8192], script[PATH_MAX] = "", job_id[64], when[32];
    if (!entries || !todo || !names || !hashes) {
        fprintf(stderr, "hnet suite: out of memory\n");
        goto done;
    }
    hn_suite_options opt = {.db_path = rq->db, .force = rq->force};
    if (hn_suite_plan(runs, &opt, entries, todo, &n_todo, &err)) {
        fprintf(stderr, "hnet suite: %s\n", err.msg);
        goto done;
    }
    int finished = 0;
    for (int i = 0; i < n; i++) {
        names[i] = entries[i].name;
        hashes[i] = entries[i].hash;
        finished += !strcmp(entries[i].status, "finished");
    }
    if (n_todo == 0) {
        if (finished == n) printf("hnet suite: all %d runs finished: nothing to submit (--force trains them again)\n", n);
        else printf("hnet suite: %d runs: %d finished, %d being trained by other processes: nothing to submit\n",
                    n, finished, n - finished);
        status = 0;
        goto done;
    }

    ssize_t len = readlink("/proc/self/exe", hnet, sizeof hnet - 1);
    char *real_file = realpath(rq->file, NULL);
    if (len <= 0 || !real_file || !getcwd(cwd, sizeof cwd) ||
        (rq->db && absolute(rq->db, db_abs, sizeof db_abs)) ||
        absolute(entries[0].db, log_dir, sizeof log_dir)) {
        fprintf(stderr, "hnet suite: cannot resolve the paths the Slurm tasks need (hnet, %s, the "
                        "results database): %s\n", rq->file, strerror(errno));
        free(real_file);
        goto done;
    }
    hnet[len] = 0;
    snprintf(suite_file, sizeof suite_file, "%s", real_file);
    free(real_file);
    char *slash = strrchr(log_dir, '/'); /* results/slurm/, next to results.db */
    if ((size_t)(slash - log_dir) + sizeof "/slurm" > sizeof log_dir) {
        fprintf(stderr, "hnet suite: %s: path too long\n", log_dir);
        goto done;
    }
    strcpy(slash, "/slurm");
    if (!nameable(log_dir)) {
        fprintf(stderr, "hnet suite: the folder for the Slurm logs, %s, cannot be named in an #SBATCH "
                        "line (it holds a double quote, %%, \\ or a control character); put the "
                        "results elsewhere (--db, HNET_RESULTS)\n", log_dir);
        goto done;
    }
    job_stem(runs, rq->file, stem, sizeof stem);
    if (hn_slurm_array_spec(todo, n_todo, rq->max_running, array, sizeof array, &err)) {
        fprintf(stderr, "hnet suite: %s (%d runs to submit)\n", err.msg, n_todo);
        goto done;
    }
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    hn_slurm_job job = {.name = stem, .hnet = hnet, .suite_file = suite_file, .workdir = cwd,
                        .log_dir = log_dir, .db = rq->db ? db_abs : NULL, .force = rq->force,
                        .unsafe_lua = rq->unsafe_lua, .quiet = rq->quiet,
                        .max_running = rq->max_running, .n_runs = n, .run_names = names,
                        .run_hashes = hashes, .todo = todo, .n_todo = n_todo,
                        .sbatch_args = rq->sbatch_args, .n_sbatch_args = rq->n_sbatch_args,
                        .env = environ, .written_at = when};
    text = hn_slurm_script(&job);
    if (!text) {
        fprintf(stderr, "hnet suite: out of memory\n");
        goto done;
    }
    if (rq->dry_run) {
        fputs(text, stdout);
        fprintf(stderr, "hnet suite: --dry-run: nothing submitted; a submission writes the script "
                        "above into %s and runs: ", log_dir);
        print_sbatch_line(stderr, rq, "SCRIPT");
        status = 0;
        goto done;
    }
    if (write_script(log_dir, stem, text, script, sizeof script, &err) ||
        hn_slurm_submit(script, rq->sbatch_args, rq->n_sbatch_args, job_id, sizeof job_id, &err)) {
        fprintf(stderr, "hnet suite: %s%s%s%s\n", err.msg, script[0] ? " (the batch script: " : "",
                script[0] ? script : "", script[0] ? ")" : "");
        goto done;
    }
    char kept[PATH_MAX]; /* named after its job, as the logs are */
    if ((size_t)snprintf(kept, sizeof kept, "%s/%s-%s.sbatch", log_dir, stem, job_id) < sizeof kept &&
        rename(script, kept) == 0)
        snprintf(script, sizeof script, "%s", kept);
    print_follow_up(rq, &job, job_id, array, script, rq->db ? db_abs : entries[0].db);
    status = 0;
done:
    free(text);
    free(names);
    free(hashes);
    free(todo);
    free(entries);
    return status;
}
