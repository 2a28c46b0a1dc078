/* hnet: the command-line entry point; dispatches to the subcommands. */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/util.h"
#include "dist/dist.h"
#include "plugin/chunker_abi.h"
#include "plugin/layer_abi.h"
#include "plugin/sink_abi.h"
#include "results/store.h"

/* The release of the command line and formats; the commit says exactly which code. */
#define HN_VERSION "0.9.0"

typedef struct command {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} command;

static const command commands[] = {
    {"run", hn_cmd_run, "train one experiment file and record it in results.db"},
    {"suite", hn_cmd_suite, "run a suite of experiments (skips finished runs, -j N at once)"},
    {"compare", hn_cmd_compare, "table of runs (params, GFLOPs/byte, BPB, ...) and curve crossovers"},
    {"plot", hn_cmd_plot, "PNG/SVG figures: BPB or compression against bytes seen"},
    {"report", hn_cmd_report, "one self-contained HTML page with the table and figures"},
    {"show", hn_cmd_show, "list the runs in results.db, or one run in detail (hnet show RUN)"},
    {"diff", hn_cmd_diff, "how the configs of two runs differ (hnet diff RUN RUN)"},
    {"upload", hn_cmd_upload, "send runs and curves to MLflow, W&B or TensorBoard files (idempotent)"},
    {"plugins", hn_cmd_plugins, "list the plugins; --settings NAME: a plugin's settings"},
    {"sample", hn_cmd_sample, "generate bytes from a run or checkpoint (H-Net stepping, nucleus sampling)"},
    {"chunks", hn_cmd_chunks, "show where each stage of a run's model draws boundaries (text, HTML)"},
    {"eval", hn_cmd_eval, "bits per byte of a checkpoint over a corpus split (batched, into results.db)"},
    {"fetch", hn_cmd_fetch, "download a well-known corpus once (e.g. enwik8), checksum-verified"},
    {"bench", hn_cmd_bench, "time training steps: ms/step, bytes/s, MFU, peak memory"},
};

static void usage(FILE *out) {
    fprintf(out, "usage: hnet COMMAND [ARGS]   (hnet help COMMAND, or hnet COMMAND --help, for details)\n"
                 "       hnet --version\n\n"
                 "A harness for byte-level hierarchical language models (H-Net and baselines).\n\n"
                 "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
}

/* The commit of the source tree this binary was built in (its build folder's repo),
 * whatever the current directory. */
static void build_commit(char *out, size_t size) {
    char exe[PATH_MAX];
    snprintf(out, size, "unknown");
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) *slash = 0;
    hn_git_commit_at(exe, out, size);
}

static void version(void) {
    char commit[64];
    build_commit(commit, sizeof commit);
    printf("hnet %s (commit %s)\n", HN_VERSION, commit);
    printf("results.db schema %d; plugin ABIs: layer %d, chunker %d, sink %d\n",
           HN_RESULTS_SCHEMA_VERSION, (int)HN_LAYER_ABI_VERSION, (int)HN_CHUNKER_ABI_VERSION,
           (int)HN_SINK_ABI_VERSION);
#ifdef HN_HAVE_MPI
    printf("data parallel: MPI (mpirun -np N hnet run FILE)\n");
#else
    printf("data parallel: not built (no MPI when it was built: install libopenmpi-dev, rebuild)\n");
#endif
#ifdef HN_HAVE_CUDA
    printf("data parallel on GPUs: NCCL (libnccl.so.2 or HNET_NCCL_LIB, loaded when used)\n");
#endif
}

/* Only hnet run trains as several processes: any other command started as one of many
 * (mpirun -np N, srun) would do its work N times over; refused, rank 0 saying why. */
static int several_processes(const char *cmd) {
    hn_dist_launch l;
    hn_error err;
    if (hn_dist_detect(&l, &err) != HN_OK || (l.world <= 1 && l.rank == 0)) return 0;
    if (l.rank == 0)
        fprintf(stderr, "hnet %s: started as one of several processes (%s); only hnet run trains "
                        "data-parallel: run hnet %s as one process\n", cmd, l.how, cmd);
    return 1;
}

int main(int argc, char **argv) {
    /* A file-size limit must surface as a write error that is reported (results.db,
     * checkpoints), not as a signal that kills the run mid-write. */
    signal(SIGXFSZ, SIG_IGN);
    if (argc >= 2 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version"))) {
        version();
        return 0;
    }
    if (argc >= 3 && !strcmp(argv[1], "help")) { /* hnet help CMD = hnet CMD --help */
        for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
            if (!strcmp(argv[2], commands[i].name)) {
                char *args[] = {argv[2], "--help", NULL};
                return commands[i].fn(2, args);
            }
        fprintf(stderr, "hnet help: unknown command '%s'\n\n", argv[2]);
        usage(stderr);
        return 2;
    }
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) {
            if (strcmp(argv[1], "run") && several_processes(argv[1])) return 2;
            return commands[i].fn(argc - 1, argv + 1);
        }
    fprintf(stderr, "hnet: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
