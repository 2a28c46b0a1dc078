/* hnet diff RUN RUN: how the resolved configs of two runs differ. */
#include <stdio.h>
#include <string.h>

#include "analysis/run_config.h"
#include "cli/commands.h"
#include "cli/run_ref.h"
#include "cli/util.h"

#define DEFAULT_DB "results/results.db"

static void usage(FILE *out) {
    fprintf(out,
            "usage: hnet diff RUN RUN [--db PATH]\n\n"
            "Prints every key of the resolved config that differs between two runs, by its\n"
            "path (train.lr, model.d[2]) with both values: \"path: A -> B\", \"(absent)\" for a\n"
            "key only one has. A RUN is a run id or a name (the run that counts of that name).\n"
            "Exit status 0 when the configs are equal, 1 when they differ, 2 on an error.\n\n"
            "  --db PATH   results database (default " DEFAULT_DB ")\n");
}

int hn_cmd_diff(int argc, char **argv) {
    const char *db = NULL, *ref[2] = {NULL, NULL};
    int n = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--db")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "hnet diff: --db needs a path\n");
                return 2;
            }
            db = argv[++i];
        } else if (a[0] != '-' && n < 2) {
            ref[n++] = a;
        } else {
            fprintf(stderr, "hnet diff: unexpected argument '%s' (see hnet diff --help)\n", a);
            return 2;
        }
    }
    char db_buf[4096];
    db = hn_cli_db(db, db_buf, sizeof db_buf);
    if (n != 2) {
        usage(stderr);
        return 2;
    }
    hn_note_db("diff", db);
    hn_run_ref a, b;
    hn_error err;
    if (hn_run_ref_resolve(db, ref[0], &a, &err)) {
        fprintf(stderr, "hnet diff: %s\n", err.msg);
        return 2;
    }
    if (hn_run_ref_resolve(db, ref[1], &b, &err)) {
        fprintf(stderr, "hnet diff: %s\n", err.msg);
        hn_run_ref_free(&a);
        return 2;
    }
    printf("--- run %lld (%s)\n+++ run %lld (%s)\n", (long long)a.id, a.name, (long long)b.id, b.name);
    int d = hn_config_diff(a.config, b.config, stdout);
    if (d == 0) printf("(the configs are equal)\n");
    hn_run_ref_free(&a);
    hn_run_ref_free(&b);
    return d ? 1 : 0;
}
