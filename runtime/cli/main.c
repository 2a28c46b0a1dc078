/* hnet: the command-line entry point; dispatches to the subcommands. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

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
    {"show", hn_cmd_show, "list the runs in results.db with status and final BPB"},
    {"upload", hn_cmd_upload, "send runs and curves to MLflow, W&B or TensorBoard files (idempotent)"},
    {"plugins", hn_cmd_plugins, "list the loaded layer plugins: name, version, letters, file"},
    {"sample", hn_cmd_sample, "generate bytes from a checkpoint (H-Net stepping, nucleus sampling)"},
    {"chunks", hn_cmd_chunks, "show where each stage of a checkpoint draws boundaries (text, HTML)"},
    {"eval", hn_cmd_eval, "bits per byte of a checkpoint over a corpus split (batched, into results.db)"},
    {"fetch", hn_cmd_fetch, "download a well-known corpus once (e.g. enwik8), checksum-verified"},
    {"bench", hn_cmd_bench, "time training steps: ms/step, bytes/s, MFU, peak memory"},
};

static void usage(FILE *out) {
    fprintf(out, "usage: hnet COMMAND [ARGS]   (hnet COMMAND --help for details)\n\n"
                 "A harness for byte-level hierarchical language models (H-Net and baselines).\n\n"
                 "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv) {
    /* A file-size limit must surface as a write error that is reported (results.db,
     * checkpoints), not as a signal that kills the run mid-write. */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "hnet: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
