/* The `hnet show` table: one line per run, from the latest_runs view. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "results/store_internal.h"
#include "results/uploads.h"

#define DEFAULT_ROWS 50
#define NCOL 11
#define CELL 64

typedef struct row {
    char cell[NCOL][CELL];
} row;

static const char *const header[NCOL] = {"id",    "name",      "status",        "params",
                                         "steps", "bytes",     "valid_bpb",     "started (UTC)",
                                         "duration", "overrides", "corpus"};
/* Text columns align left, numbers right. */
static const int left_aligned[NCOL] = {0, 1, 1, 0, 0, 0, 0, 1, 0, 1, 1};

/* 3 significant digits with a K/M/G/T suffix: 950, 12.3K, 1.05G. */
static void human_count(char *out, sqlite3_stmt *q, int col) {
    if (sqlite3_column_type(q, col) == SQLITE_NULL) {
        strcpy(out, "-");
        return;
    }
    double v = sqlite3_column_double(q, col);
    static const char suffix[] = " KMGTP";
    int k = 0;
    while (fabs(v) >= 999.5 && k < 5) {
        v /= 1000.0;
        k++;
    }
    if (k == 0) snprintf(out, CELL, "%.0f", v);
    else snprintf(out, CELL, fabs(v) < 9.995 ? "%.2f%c" : fabs(v) < 99.95 ? "%.1f%c" : "%.0f%c",
                  v, suffix[k]);
}

static void human_duration(char *out, double s) {
    if (!isfinite(s) || s < 0) {
        strcpy(out, "-");
        return;
    }
    long t = lround(s);
    if (t < 60) snprintf(out, CELL, "%lds", t);
    else if (t < 3600) snprintf(out, CELL, "%ldm%02lds", t / 60, t % 60);
    else if (t < 86400) snprintf(out, CELL, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
    else snprintf(out, CELL, "%ldd%02ldh", t / 86400, (t % 86400) / 3600);
}

/* Copies at most CELL-1 bytes, marking a cut with '~'. */
static void text_cell(char *out, const unsigned char *s, size_t max) {
    const char *t = s ? (const char *)s : "-";
    if (max >= CELL) max = CELL - 1;
    size_t n = strlen(t);
    if (n <= max) {
        memcpy(out, t, n + 1);
        return;
    }
    memcpy(out, t, max - 1);
    out[max - 1] = '~';
    out[max] = '\0';
}

/* {"train.steps":5,"backend":"cuda"} -> train.steps=5,backend=cuda; "" for none (the
 * config its file declares). */
static void overrides_cell(char *out, const unsigned char *json) {
    size_t o = 0;
    for (const char *p = json ? (const char *)json : ""; *p && o + 2 < CELL; p++) {
        if (*p == '{' || *p == '}' || *p == '"') continue;
        out[o++] = *p == ':' ? '=' : *p;
    }
    out[o] = 0;
}

static void fill_row(hn_results *r, sqlite3_stmt *q, row *w) {
    snprintf(w->cell[0], CELL, "%lld", (long long)sqlite3_column_int64(q, 0));
    text_cell(w->cell[1], sqlite3_column_text(q, 1), 40);
    const char *status = (const char *)sqlite3_column_text(q, 2);
    int running = status && strcmp(status, "running") == 0;
    /* A read-only open cannot mark vanished runs; show them as they are. */
    if (running && hn_results_process_gone(r, (const char *)sqlite3_column_text(q, 9),
                                           sqlite3_column_int64(q, 10))) {
        status = "interrupted";
        running = 0;
    }
    text_cell(w->cell[2], (const unsigned char *)status, 12);
    human_count(w->cell[3], q, 3);
    if (sqlite3_column_type(q, 4) == SQLITE_NULL) strcpy(w->cell[4], "-");
    else snprintf(w->cell[4], CELL, "%lld", (long long)sqlite3_column_int64(q, 4));
    human_count(w->cell[5], q, 5);
    if (sqlite3_column_type(q, 6) == SQLITE_NULL) strcpy(w->cell[6], "-");
    else snprintf(w->cell[6], CELL, "%.3f", sqlite3_column_double(q, 6));
    /* 2025-01-02T03:04:05.678Z -> 2025-01-02 03:04 */
    snprintf(w->cell[7], CELL, "%.16s", (const char *)sqlite3_column_text(q, 7));
    char *tee = strchr(w->cell[7], 'T');
    if (tee) *tee = ' ';
    human_duration(w->cell[8], sqlite3_column_double(q, running ? 11 : 8));
    overrides_cell(w->cell[9], sqlite3_column_text(q, 13));
    text_cell(w->cell[10], sqlite3_column_text(q, 14), 40);
}

static void print_table(FILE *out, const row *rows, size_t n) {
    int width[NCOL];
    for (int c = 0; c < NCOL; c++) {
        width[c] = (int)strlen(header[c]);
        for (size_t i = 0; i < n; i++)
            if ((int)strlen(rows[i].cell[c]) > width[c]) width[c] = (int)strlen(rows[i].cell[c]);
    }
    for (size_t i = 0; i <= n; i++) {
        for (int c = 0; c < NCOL; c++) {
            const char *s = i == 0 ? header[c] : rows[n - i].cell[c]; /* oldest first */
            fprintf(out, "%s%*s", c ? "  " : "", left_aligned[c] ? -width[c] : width[c], s);
        }
        fputc('\n', out);
    }
}

int hn_results_print_runs(hn_results *r, FILE *out, int all, hn_error *err) {
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(
        r->db,
        "SELECT id, name, status, params, steps, bytes_seen, valid_bpb, started_at, duration_s,"
        " host, pid, (julianday('now') - julianday(started_at)) * 86400.0,"
        " (SELECT count(*) FROM runs), overrides,"
        /* the corpus, as the views name it: the named corpus, the file, or synthetic(seed=S) */
        " (SELECT CASE json_extract(c.config_json, '$.data.source')"
        "   WHEN 'named' THEN json_extract(c.config_json, '$.data.name')"
        "   WHEN 'synthetic' THEN 'synthetic(seed=' || json_extract(c.config_json, '$.data.seed') || ')'"
        "   ELSE coalesce(json_extract(c.config_json, '$.data.path'), '?') END"
        "  FROM runs c WHERE c.id = latest_runs.id)"
        " FROM latest_runs LIMIT ?",
        -1, &q, NULL);
    if (rc != SQLITE_OK) return hn_results_sql_fail(r, err, rc, "listing runs");
    sqlite3_bind_int(q, 1, all ? -1 : DEFAULT_ROWS);

    row *rows = NULL;
    size_t n = 0, cap = 0;
    long long total = 0;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            row *a = realloc(rows, cap * sizeof *a);
            if (!a) {
                free(rows);
                sqlite3_finalize(q);
                return hn_fail(err, "%s: out of memory listing runs", r->path);
            }
            rows = a;
        }
        fill_row(r, q, &rows[n++]);
        total = sqlite3_column_int64(q, 12);
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE) {
        free(rows);
        return hn_results_sql_fail(r, err, rc, "listing runs");
    }
    if (n == 0) fprintf(out, "no runs in %s\n", r->path);
    else print_table(out, rows, n);
    if ((long long)n < total)
        fprintf(out, "(showing the last %zu of %lld runs; --all shows every run)\n", n, total);
    free(rows);
    return hn_uploads_print_failures(r, out, err); /* dashboard uploads that gave up */
}
