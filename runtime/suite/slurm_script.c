/* The batch script of a suite's job array: #SBATCH lines (name, array, logs), a table
 * of the runs by index, hnet's environment at submission, and one command per task. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suite/slurm.h"

int hn_slurm_array_spec(const int *idx, int n, int max_running, char *out, size_t cap,
                        hn_error *err) {
    size_t used = 0;
    out[0] = 0;
    for (int i = 0; i < n;) {
        int j = i;
        while (j + 1 < n && idx[j + 1] == idx[j] + 1) j++;
        int w = j > i ? snprintf(out + used, cap - used, "%s%d-%d", used ? "," : "", idx[i], idx[j])
                      : snprintf(out + used, cap - used, "%s%d", used ? "," : "", idx[i]);
        if (w < 0 || (size_t)w >= cap - used) return hn_fail(err, "the job array specification is too long");
        used += (size_t)w;
        i = j + 1;
    }
    if (max_running > 0) {
        int w = snprintf(out + used, cap - used, "%%%d", max_running);
        if (w < 0 || (size_t)w >= cap - used) return hn_fail(err, "the job array specification is too long");
    }
    return HN_OK;
}

void hn_slurm_quote(FILE *out, const char *text, int always) {
    if (!always && *text && strspn(text, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                         "0123456789_./:=,@%+-") == strlen(text)) {
        fputs(text, out);
        return;
    }
    fputc('\'', out);
    for (const char *c = text; *c; c++)
        if (*c == '\'') fputs("'\\''", out);
        else fputc(*c, out);
    fputc('\'', out);
}

/* Text in a comment line: a control character (a newline would end the comment and
 * make the rest a command) shown as '?'. */
static void comment_text(FILE *f, const char *text) {
    for (const unsigned char *c = (const unsigned char *)text; *c; c++)
        fputc(*c < 0x20 || *c == 0x7f ? '?' : *c, f);
}

/* An HNET_* variable whose name bash can export. */
static int hnet_variable(const char *entry, size_t *name_len) {
    const char *eq = strchr(entry, '=');
    if (!eq || strncmp(entry, "HNET_", 5)) return 0;
    *name_len = (size_t)(eq - entry);
    return strspn(entry, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") == *name_len;
}

static void header(FILE *f, const hn_slurm_job *job, const char *array) {
    fprintf(f, "#!/bin/bash\n"
               "# hnet suite on Slurm, written by `hnet suite FILE --slurm` at %s.\n"
               "# Suite %s (",
            job->written_at, job->name);
    comment_text(f, job->suite_file);
    fprintf(f, "): %d runs, %d of them in this job array.\n"
               "# Array task K trains run K of the suite (table below) with `hnet suite FILE\n"
               "# --config-hash HASH`, which claims the run's config in results.db first: a run\n"
               "# finished or being trained by another process is skipped, an interrupted one\n"
               "# resumes from its newest checkpoint. Submitting the suite again finishes what\n"
               "# is missing.\n"
               "# Submitted with: sbatch --parsable",
            job->n_runs, job->n_todo);
    for (int i = 0; i < job->n_sbatch_args; i++) {
        char *shown = NULL;
        size_t len = 0;
        FILE *q = open_memstream(&shown, &len);
        if (!q) continue;
        hn_slurm_quote(q, job->sbatch_args[i], 0);
        fclose(q);
        fputc(' ', f);
        comment_text(f, shown);
        free(shown);
    }
    fprintf(f, " SCRIPT\n"
               "# (options on sbatch's command line override these #SBATCH lines)\n"
               "#SBATCH --job-name=hnet-%s\n"
               "#SBATCH --array=%s\n"
               "#SBATCH --output=",
            job->name, array);
    /* sbatch reads an #SBATCH value in double quotes whole (the caller refuses a folder
     * with a double quote or a control character in its name) */
    int spaced = strpbrk(job->log_dir, " \t") != NULL;
    fprintf(f, "%s%s/%s-%%A_%%a.out%s\n", spaced ? "\"" : "", job->log_dir, job->name, spaced ? "\"" : "");
}

static void run_table(FILE *f, const hn_slurm_job *job) {
    fprintf(f, "#\n#    K  config hash       run%s\n", job->n_todo < job->n_runs ? " (* in this array)" : "");
    int next = 0;
    for (int k = 0; k < job->n_runs; k++) {
        int in_array = next < job->n_todo && job->todo[next] == k;
        if (in_array) next++;
        fprintf(f, "# %c%3d  %s  ", in_array && job->n_todo < job->n_runs ? '*' : ' ', k,
                job->run_hashes[k]);
        comment_text(f, job->run_names[k]);
        fputc('\n', f);
    }
}

static void task_command(FILE *f, const hn_slurm_job *job) {
    fputs("set -eu\nhashes=(", f);
    for (int k = 0; k < job->n_runs; k++) fprintf(f, "%s%s", k ? " " : "", job->run_hashes[k]);
    fputs(")\ncd ", f);
    hn_slurm_quote(f, job->workdir, 1);
    fputs("\n# hnet's settings where the suite was submitted (whatever sbatch --export passes)\n", f);
    for (char *const *e = job->env; e && *e; e++) {
        size_t n;
        if (!hnet_variable(*e, &n)) continue;
        fprintf(f, "export %.*s=", (int)n, *e);
        hn_slurm_quote(f, *e + n + 1, 1);
        fputc('\n', f);
    }
    fputs("# OpenBLAS: as many threads as the CPUs Slurm gave the task (--cpus-per-task)\n"
          "if [ -n \"${SLURM_CPUS_PER_TASK:-}\" ] && [ -z \"${OPENBLAS_NUM_THREADS:-}\" ]; then\n"
          "    export OPENBLAS_NUM_THREADS=$SLURM_CPUS_PER_TASK\n"
          "fi\n"
          "exec ", f);
    hn_slurm_quote(f, job->hnet, 1);
    fputs(" suite ", f);
    hn_slurm_quote(f, job->suite_file, 1);
    fputs(" --config-hash \"${hashes[$SLURM_ARRAY_TASK_ID]}\"", f);
    if (job->db) {
        fputs(" --db ", f);
        hn_slurm_quote(f, job->db, 1);
    }
    if (job->force) fputs(" --force", f);
    if (job->unsafe_lua) fputs(" --unsafe-lua", f);
    if (job->quiet) fputs(" --quiet", f);
    fputc('\n', f);
}

char *hn_slurm_script(const hn_slurm_job *job) {
    char array[8192];
    hn_error err;
    if (hn_slurm_array_spec(job->todo, job->n_todo, job->max_running, array, sizeof array, &err))
        snprintf(array, sizeof array, "?"); /* (the caller checks the specification first) */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return NULL;
    header(f, job, array);
    run_table(f, job);
    task_command(f, job);
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}
