/* Handing a batch script to sbatch: run it with --parsable, read the job id from its
 * output, and turn every way it can fail into one message. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "suite/slurm.h"

typedef struct captured {
    char text[8192]; /* the first 8 KiB: sbatch says little */
    size_t len;
} captured;

static void keep(captured *c, const char *buf, ssize_t n) {
    size_t room = sizeof c->text - 1 - c->len;
    size_t take = (size_t)n < room ? (size_t)n : room;
    memcpy(c->text + c->len, buf, take);
    c->len += take;
    c->text[c->len] = 0;
}

/* Reads both pipes to their ends (neither can fill up and stall sbatch). */
static void drain(int out_fd, int err_fd, captured *out, captured *errs) {
    struct pollfd p[2] = {{.fd = out_fd, .events = POLLIN}, {.fd = err_fd, .events = POLLIN}};
    captured *dest[2] = {out, errs};
    int open_fds = 2;
    while (open_fds > 0) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            char buf[4096];
            ssize_t n = read(p[i].fd, buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                close(p[i].fd);
                p[i].fd = -1;
                open_fds--;
            } else {
                keep(dest[i], buf, n);
            }
        }
    }
    for (int i = 0; i < 2; i++)
        if (p[i].fd >= 0) close(p[i].fd);
}

/* sbatch's message on one line: its lines joined with " / ", surrounding space gone. */
static void one_line(const char *in, char *out, size_t cap) {
    size_t used = 0;
    while (isspace((unsigned char)*in)) in++;
    for (; *in && used + 4 < cap; in++) {
        if (*in == '\n') {
            while (isspace((unsigned char)in[1])) in++;
            if (in[1]) used += (size_t)snprintf(out + used, cap - used, " / ");
        } else {
            out[used++] = *in == '\r' || *in == '\t' ? ' ' : *in;
        }
    }
    while (used > 0 && isspace((unsigned char)out[used - 1])) used--;
    out[used] = 0;
}

/* The job id of --parsable's "ID" or "ID;CLUSTER" (its last line: sbatch may print
 * something before it). */
static int parse_job_id(const char *out, char *job_id, size_t cap) {
    char copy[sizeof ((captured *)0)->text];
    snprintf(copy, sizeof copy, "%s", out);
    size_t n = strlen(copy);
    while (n > 0 && isspace((unsigned char)copy[n - 1])) copy[--n] = 0;
    char *line = strrchr(copy, '\n');
    line = line ? line + 1 : copy;
    size_t digits = strspn(line, "0123456789");
    if (digits == 0 || digits >= cap || (line[digits] && line[digits] != ';')) return HN_ERR;
    memcpy(job_id, line, digits);
    job_id[digits] = 0;
    return HN_OK;
}

int hn_slurm_submit(const char *script_path, char *const *args, int n_args, char *job_id,
                    size_t cap, hn_error *err) {
    char **argv = calloc((size_t)n_args + 4, sizeof *argv);
    int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1}, exec_pipe[2] = {-1, -1};
    if (!argv) return hn_fail(err, "out of memory");
    argv[0] = "sbatch";
    argv[1] = "--parsable";
    for (int i = 0; i < n_args; i++) argv[2 + i] = args[i];
    argv[2 + n_args] = (char *)script_path;
    /* exec_pipe carries exec's errno back, so "sbatch is not there" is told apart from
     * "sbatch ran and failed" */
    if (pipe(out_pipe) || pipe(err_pipe) || pipe2(exec_pipe, O_CLOEXEC)) {
        int e = errno;
        for (int i = 0; i < 2; i++) {
            if (out_pipe[i] >= 0) close(out_pipe[i]);
            if (err_pipe[i] >= 0) close(err_pipe[i]);
            if (exec_pipe[i] >= 0) close(exec_pipe[i]);
        }
        free(argv);
        return hn_fail(err, "cannot run sbatch: %s", strerror(e));
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(out_pipe[1], STDOUT_FILENO);
        dup2(err_pipe[1], STDERR_FILENO);
        close(out_pipe[0]);
        close(out_pipe[1]);
        close(err_pipe[0]);
        close(err_pipe[1]);
        close(exec_pipe[0]);
        execvp(argv[0], argv);
        int e = errno;
        if (write(exec_pipe[1], &e, sizeof e) < 0) _exit(127);
        _exit(127);
    }
    int fork_errno = errno;
    free(argv);
    close(out_pipe[1]);
    close(err_pipe[1]);
    close(exec_pipe[1]);
    if (pid < 0) {
        close(out_pipe[0]);
        close(err_pipe[0]);
        close(exec_pipe[0]);
        return hn_fail(err, "cannot run sbatch: fork: %s", strerror(fork_errno));
    }
    captured out = {.len = 0}, errs = {.len = 0};
    out.text[0] = errs.text[0] = 0;
    drain(out_pipe[0], err_pipe[0], &out, &errs);
    int exec_errno = 0;
    ssize_t got = read(exec_pipe[0], &exec_errno, sizeof exec_errno);
    close(exec_pipe[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (got == (ssize_t)sizeof exec_errno) {
        if (exec_errno == ENOENT)
            return hn_fail(err, "sbatch was not found on PATH: --slurm submits the suite with Slurm's "
                                "sbatch; run it on a machine of the cluster (one with Slurm's client "
                                "commands: Debian's slurm-client)");
        return hn_fail(err, "cannot run sbatch: %s", strerror(exec_errno));
    }
    char msg[1024], shown[512];
    one_line(errs.text, msg, sizeof msg);
    if (WIFSIGNALED(status))
        return hn_fail(err, "sbatch was killed by signal %d%s%s", WTERMSIG(status), msg[0] ? ": " : "", msg);
    if (WEXITSTATUS(status) != 0)
        return hn_fail(err, "sbatch failed (exit status %d): %s", WEXITSTATUS(status),
                       msg[0] ? msg : "it gave no reason");
    if (parse_job_id(out.text, job_id, cap)) {
        one_line(out.text, shown, sizeof shown);
        return hn_fail(err, "sbatch printed no job id (--parsable prints \"ID\" or \"ID;CLUSTER\"); "
                            "its output: '%s'%s%s", shown, msg[0] ? ", its messages: " : "", msg);
    }
    if (errs.text[0]) fputs(errs.text, stderr); /* sbatch's warnings */
    return HN_OK;
}
