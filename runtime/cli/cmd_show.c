/* hnet show: the table of runs in results.db. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/show_run.h"
#include "cli/util.h"
#include "results/store.h"

#define DEFAULT_DB "results/results.db"

static void show_usage(FILE *f) {
    fprintf(f,
            "usage: hnet show [RUN] [--db PATH] [--all] [--no-config]\n"
            "\n"
            "Lists the runs recorded in the results database: id, name, status, parameters,\n"
            "steps, bytes seen, final validation bits-per-byte, start time (UTC), duration,\n"
            "overrides, corpus. A run whose process died without closing it shows as\n"
            "'interrupted'.\n"
            "\n"
            "With RUN (a run id, or a name: the run that counts of that name), that run in\n"
            "detail: status and its reason, corpus, file, overrides, environment, a summary of\n"
            "every curve, its checkpoints, and its resolved config.\n"
            "\n"
            "  --db PATH   results database (default " DEFAULT_DB ")\n"
            "  --all       every run, not only the last 50\n"
            "  --no-config (with RUN) leave the config out\n"
            "  --help      this text\n"
            "\n"
            "For anything else, query the database directly: sqlite3 " DEFAULT_DB "\n"
            "(tables, views and example queries: results/README.md).\n");
}

/* argv[0] is the command name ("show"); options follow. */
int hn_cmd_show(int argc, char **argv) {
    const char *db = NULL, *run = NULL;
    int all = 0, with_config = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            show_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--all")) {
            all = 1;
        } else if (!strcmp(a, "--db")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "hnet show: --db needs a path\n");
                return 2;
            }
            db = argv[++i];
        } else if (!strncmp(a, "--db=", 5)) {
            db = a + 5;
        } else if (!strcmp(a, "--no-config")) {
            with_config = 0;
        } else if (a[0] != '-' && !run) {
            run = a;
        } else {
            fprintf(stderr, "hnet show: unknown argument '%s' (see hnet show --help)\n", a);
            return 2;
        }
    }
    char db_buf[4096];
    db = hn_cli_db(db, db_buf, sizeof db_buf);
    /* Showing must not create an empty database where none was. */
    if (access(db, F_OK) != 0) {
        fprintf(stderr,
                "hnet show: no results database at %s (runs create it; --db picks another)\n",
                db);
        return 1;
    }
    hn_note_db("show", db);
    hn_error err = {{0}};
    if (run) {
        if (hn_show_run(db, run, with_config, stdout, &err)) {
            fprintf(stderr, "hnet show: %s\n", err.msg);
            return 1;
        }
        return 0;
    }
    hn_results *r = NULL;
    if (hn_results_open(db, &r, &err) || hn_results_print_runs(r, stdout, all, &err)) {
        fprintf(stderr, "hnet show: %s\n", err.msg);
        hn_results_close(r);
        return 1;
    }
    hn_results_close(r);
    return 0;
}
