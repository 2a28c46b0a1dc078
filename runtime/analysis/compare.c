/* Loading runs for comparison, the Table 2 shaped table and curve crossovers. */
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "analysis/compare.h"
#include "results/store.h"

static int open_db(const char *path, sqlite3 **db, hn_error *err) {
    /* an older schema is migrated first (where writable), so the columns read here exist */
    hn_results *r = NULL;
    hn_error ignored;
    if (access(path, F_OK) == 0 && hn_results_open(path, &r, &ignored) == HN_OK) hn_results_close(r);
    if (sqlite3_open_v2(path, db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        hn_fail(err, "%s: cannot open results database: %s", path, *db ? sqlite3_errmsg(*db) : "?");
        sqlite3_close(*db);
        *db = NULL;
        return HN_ERR;
    }
    sqlite3_busy_timeout(*db, 10000);
    return HN_OK;
}

static int sql_fail(sqlite3 *db, const char *path, hn_error *err) {
    return hn_fail(err, "%s: %s", path, sqlite3_errmsg(db));
}

/* "m4 [T1m4 [T26] m4T1] m4" for {"m4", {"T1m4", {"T26"}, "m4T1"}, "m4"}. */
static void render_layout(const cJSON *l, char *out, size_t size) {
    size_t used = strlen(out);
    if (used + 1 >= size) return;
    if (cJSON_IsString(l)) {
        snprintf(out + used, size - used, "%s", l->valuestring);
    } else if (cJSON_IsArray(l) && cJSON_GetArraySize(l) == 1) {
        render_layout(cJSON_GetArrayItem(l, 0), out, size);
    } else if (cJSON_IsArray(l) && cJSON_GetArraySize(l) == 3) {
        render_layout(cJSON_GetArrayItem(l, 0), out, size);
        used = strlen(out);
        snprintf(out + used, size - used, " [");
        render_layout(cJSON_GetArrayItem(l, 1), out, size);
        used = strlen(out);
        snprintf(out + used, size - used, "] ");
        render_layout(cJSON_GetArrayItem(l, 2), out, size);
    } else {
        snprintf(out + used, size - used, "?");
    }
}

static void describe_config(hn_cmp_run *r, const char *config_json) {
    snprintf(r->model, sizeof r->model, "?");
    cJSON *cfg = config_json ? cJSON_Parse(config_json) : NULL;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(cfg, "model");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(model, "kind");
    const cJSON *chunker = cJSON_GetObjectItemCaseSensitive(model, "chunker");
    const cJSON *ck = cJSON_GetObjectItemCaseSensitive(chunker, "kind");
    const cJSON *stages = cJSON_GetObjectItemCaseSensitive(model, "stages");
    if (cJSON_IsString(kind)) {
        if (cJSON_IsString(ck) && !strcmp(kind->valuestring, "hnet"))
            snprintf(r->model, sizeof r->model, "hnet/%s", ck->valuestring);
        else
            snprintf(r->model, sizeof r->model, "%s", kind->valuestring);
    }
    r->layout[0] = 0;
    render_layout(cJSON_GetObjectItemCaseSensitive(model, "layout"), r->layout, sizeof r->layout);
    r->n_stages = cJSON_IsNumber(stages) && stages->valueint > 1 ? stages->valueint - 1 : 0;
    cJSON_Delete(cfg);
}

static int load_curve(sqlite3 *db, int64_t id, const char *split, const char *name, hn_curve *c) {
    snprintf(c->name, sizeof c->name, "%s", name);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
                           "SELECT bytes, value FROM metrics WHERE run_id = ?1 AND split = ?2 AND "
                           "name = ?3 AND value IS NOT NULL AND bytes IS NOT NULL ORDER BY step",
                           -1, &st, NULL) != SQLITE_OK)
        return HN_ERR;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, split, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
    int cap = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (c->n == cap) {
            cap = cap ? 2 * cap : 64;
            c->x = realloc(c->x, (size_t)cap * sizeof *c->x);
            c->y = realloc(c->y, (size_t)cap * sizeof *c->y);
        }
        c->x[c->n] = sqlite3_column_double(st, 0);
        c->y[c->n] = sqlite3_column_double(st, 1);
        c->n++;
    }
    return sqlite3_finalize(st) == SQLITE_OK ? HN_OK : HN_ERR;
}

static double last_value(sqlite3 *db, int64_t id, const char *split, const char *name) {
    sqlite3_stmt *st;
    double v = NAN;
    if (sqlite3_prepare_v2(db,
                           "SELECT value FROM metrics WHERE run_id = ?1 AND split = ?2 AND name = ?3 "
                           "AND value IS NOT NULL ORDER BY step DESC LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return v;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, split, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int load_run(sqlite3 *db, const char *path, int64_t id, hn_cmp_run *r, hn_error *err) {
    memset(r, 0, sizeof *r);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
                           "SELECT r.name, r.status, r.config_json, r.n_params, f.bytes_seen, f.steps, "
                           "f.valid_bpb FROM runs r LEFT JOIN final_bpb f ON f.run_id = r.id "
                           "WHERE r.id = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return sql_fail(db, path, err);
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return hn_fail(err, "%s: no run with id %lld", path, (long long)id);
    }
    r->id = id;
    snprintf(r->name, sizeof r->name, "%s", (const char *)sqlite3_column_text(st, 0));
    snprintf(r->status, sizeof r->status, "%s", (const char *)sqlite3_column_text(st, 1));
    describe_config(r, (const char *)sqlite3_column_text(st, 2));
    r->params = sqlite3_column_int64(st, 3);
    r->bytes_seen = sqlite3_column_int64(st, 4);
    r->steps = sqlite3_column_int64(st, 5);
    r->valid_bpb = sqlite3_column_type(st, 6) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 6);
    sqlite3_finalize(st);
    r->gflops_per_byte = last_value(db, id, "train", "gflops_per_byte");
    r->bpic = last_value(db, id, "valid", "bpic");
    if (load_curve(db, id, "valid", "bpb", &r->valid)) return sql_fail(db, path, err);
    if (r->n_stages > 0) {
        r->compression = calloc((size_t)r->n_stages, sizeof *r->compression);
        for (int s = 0; s < r->n_stages; s++) {
            char name[64];
            snprintf(name, sizeof name, "stage%d.compression", s);
            if (load_curve(db, id, "train", name, &r->compression[s])) return sql_fail(db, path, err);
        }
    }
    return HN_OK;
}

int hn_cmp_load_ids(const char *db_path, const int64_t *ids, int n, hn_cmp_set *out,
                     hn_error *err) {
    memset(out, 0, sizeof *out);
    sqlite3 *db;
    if (open_db(db_path, &db, err)) return HN_ERR;
    out->runs = calloc((size_t)(n > 0 ? n : 1), sizeof *out->runs);
    for (int i = 0; i < n; i++) {
        out->n = i + 1;
        if (load_run(db, db_path, ids[i], &out->runs[i], err)) {
            sqlite3_close(db);
            hn_cmp_free(out);
            return HN_ERR;
        }
    }
    sqlite3_close(db);
    return HN_OK;
}

int hn_cmp_load_where(const char *db_path, const char *where, int latest_per_name,
                      hn_cmp_set *out, hn_error *err) {
    memset(out, 0, sizeof *out);
    sqlite3 *db;
    if (open_db(db_path, &db, err)) return HN_ERR;
    char *sql = sqlite3_mprintf(
        latest_per_name
            /* per name: the run that counts (HN_RUN_PREFERENCE: the declared config over
             * a smoke run, finished over not, newest) */
            ? "SELECT (SELECT b.id FROM runs b WHERE b.name = a.name AND (%s) "
              "ORDER BY " HN_RUN_PREFERENCE("b") " LIMIT 1) AS pick "
              "FROM runs a WHERE (%s) GROUP BY a.name ORDER BY pick"
            : "SELECT id FROM runs WHERE (%s) ORDER BY id%s",
        where && *where ? where : "1", latest_per_name ? (where && *where ? where : "1") : "");
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    sqlite3_free(sql);
    if (rc != SQLITE_OK) {
        hn_fail(err, "%s: bad run filter '%s': %s", db_path, where ? where : "", sqlite3_errmsg(db));
        sqlite3_close(db);
        return HN_ERR;
    }
    int64_t *ids = NULL;
    int n = 0, cap = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) ids = realloc(ids, (size_t)(cap = cap ? 2 * cap : 16) * sizeof *ids);
        ids[n++] = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        hn_fail(err, "%s: run filter '%s': %s", db_path, where ? where : "", sqlite3_errmsg(db));
        sqlite3_close(db);
        free(ids);
        return HN_ERR;
    }
    sqlite3_close(db);
    rc = hn_cmp_load_ids(db_path, ids, n, out, err);
    free(ids);
    return rc;
}

static void curve_free(hn_curve *c) {
    free(c->x);
    free(c->y);
}

void hn_cmp_free(hn_cmp_set *set) {
    for (int i = 0; i < set->n; i++) {
        curve_free(&set->runs[i].valid);
        for (int s = 0; s < set->runs[i].n_stages && set->runs[i].compression; s++)
            curve_free(&set->runs[i].compression[s]);
        free(set->runs[i].compression);
    }
    free(set->runs);
    memset(set, 0, sizeof *set);
}

/* ---------- crossovers ---------- */

/* The curve's value at x (x within its positive range), linear in log(x). */
static double value_at(const hn_curve *c, double x) {
    int lo = -1;
    for (int i = 0; i < c->n; i++)
        if (c->x[i] > 0 && c->x[i] <= x) lo = i;
    if (lo < 0) return NAN;
    if (c->x[lo] == x || lo + 1 >= c->n) return c->y[lo];
    double t = (log(x) - log(c->x[lo])) / (log(c->x[lo + 1]) - log(c->x[lo]));
    return c->y[lo] + t * (c->y[lo + 1] - c->y[lo]);
}

static double first_pos(const hn_curve *c) {
    for (int i = 0; i < c->n; i++)
        if (c->x[i] > 0) return c->x[i];
    return NAN;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int hn_curve_crossings(const hn_curve *a, const hn_curve *b, hn_crossover *out, int max) {
    if (a->n < 2 || b->n < 2) return 0;
    double lo = fmax(first_pos(a), first_pos(b)), hi = fmin(a->x[a->n - 1], b->x[b->n - 1]);
    if (!(lo < hi)) return 0;
    double *xs = malloc((size_t)(a->n + b->n) * sizeof *xs);
    int m = 0;
    for (int i = 0; i < a->n; i++)
        if (a->x[i] >= lo && a->x[i] <= hi) xs[m++] = a->x[i];
    for (int i = 0; i < b->n; i++)
        if (b->x[i] >= lo && b->x[i] <= hi) xs[m++] = b->x[i];
    qsort(xs, (size_t)m, sizeof *xs, cmp_double);
    int found = 0;
    double px = 0, pd = 0; /* last point with a non-zero difference */
    for (int i = 0; i < m; i++) {
        if (i > 0 && xs[i] == xs[i - 1]) continue;
        double d = value_at(a, xs[i]) - value_at(b, xs[i]);
        if (d == 0 || isnan(d)) continue;
        if (pd != 0 && (d < 0) != (pd < 0)) {
            double t = pd / (pd - d);
            double lx = log(px) + t * (log(xs[i]) - log(px));
            double x = exp(lx);
            if (found < max)
                out[found] = (hn_crossover){.a = d < 0 ? 0 : 1, .b = d < 0 ? 1 : 0, .bytes = x,
                                            .bpb = value_at(a, x)};
            found++;
        }
        px = xs[i];
        pd = d;
    }
    free(xs);
    return found < max ? found : max;
}

int hn_cmp_crossovers(const hn_cmp_set *set, hn_crossover **out) {
    int n = 0, cap = 0;
    *out = NULL;
    hn_crossover tmp[64];
    for (int i = 0; i < set->n; i++)
        for (int j = i + 1; j < set->n; j++) {
            int k = hn_curve_crossings(&set->runs[i].valid, &set->runs[j].valid, tmp, 64);
            for (int q = 0; q < k; q++) {
                if (n == cap) *out = realloc(*out, (size_t)(cap = cap ? 2 * cap : 16) * sizeof **out);
                (*out)[n] = tmp[q];
                (*out)[n].a = tmp[q].a == 0 ? i : j;
                (*out)[n].b = tmp[q].a == 0 ? j : i;
                n++;
            }
        }
    return n;
}

/* ---------- printing ---------- */

void hn_si(char *out, size_t size, double v) {
    const char *suf[] = {"", "K", "M", "G", "T", "P"};
    int k = 0;
    while (fabs(v) >= 1000 && k < 5) {
        v /= 1000;
        k++;
    }
    if (k == 0) snprintf(out, size, "%.0f", v);
    else snprintf(out, size, v < 10 ? "%.2f%s" : v < 100 ? "%.1f%s" : "%.0f%s", v, suf[k]);
}

static void fmt_num(char *out, size_t size, double v, const char *f) {
    if (isnan(v)) snprintf(out, size, "-");
    else snprintf(out, size, f, v);
}

/* One row of cells, as strings. */
enum { NCOL = 9 };
static const char *const HEAD[NCOL] = {"run", "model", "layout", "params", "GFLOPs/byte",
                                       "bytes/chunk", "valid BPB", "bytes seen", "status"};

static void cells(const hn_cmp_run *r, int raw, char c[NCOL][200]) {
    snprintf(c[0], 200, "%s", r->name);
    snprintf(c[1], 200, "%s", r->model);
    snprintf(c[2], 200, "%s", r->layout);
    if (raw) snprintf(c[3], 200, "%lld", (long long)r->params);
    else hn_si(c[3], 200, (double)r->params);
    fmt_num(c[4], 200, r->gflops_per_byte, raw ? "%.6g" : r->gflops_per_byte < 0.01 ? "%.3g" : "%.4f");
    fmt_num(c[5], 200, r->bpic, raw ? "%.6g" : "%.2f");
    fmt_num(c[6], 200, r->valid_bpb, raw ? "%.6g" : "%.4f");
    if (raw) snprintf(c[7], 200, "%lld", (long long)r->bytes_seen);
    else hn_si(c[7], 200, (double)r->bytes_seen);
    snprintf(c[8], 200, "%s", r->status);
}

static void csv_cell(FILE *out, const char *s, int last) {
    if (strpbrk(s, ",\"\n")) {
        fputc('"', out);
        for (const char *p = s; *p; p++) {
            if (*p == '"') fputc('"', out);
            fputc(*p, out);
        }
        fputc('"', out);
    } else {
        fputs(s, out);
    }
    fputc(last ? '\n' : ',', out);
}

static const char *const CSV_HEAD[NCOL] = {"run", "model", "layout", "params", "gflops_per_byte",
                                           "bytes_per_chunk", "valid_bpb", "bytes_seen", "status"};

void hn_cmp_print_table(const hn_cmp_set *set, hn_table_format fmt, FILE *out) {
    char c[NCOL][200];
    if (fmt == HN_FMT_CSV) {
        fputs("id,", out);
        for (int k = 0; k < NCOL; k++) csv_cell(out, CSV_HEAD[k], k == NCOL - 1);
        for (int i = 0; i < set->n; i++) {
            cells(&set->runs[i], 1, c);
            fprintf(out, "%lld,", (long long)set->runs[i].id);
            for (int k = 0; k < NCOL; k++) csv_cell(out, c[k], k == NCOL - 1);
        }
        return;
    }
    int w[NCOL];
    for (int k = 0; k < NCOL; k++) w[k] = (int)strlen(HEAD[k]);
    for (int i = 0; i < set->n; i++) {
        cells(&set->runs[i], 0, c);
        for (int k = 0; k < NCOL; k++)
            if ((int)strlen(c[k]) > w[k]) w[k] = (int)strlen(c[k]);
    }
    /* numbers right-aligned, words left-aligned */
    static const int right[NCOL] = {0, 0, 0, 1, 1, 1, 1, 1, 0};
    const char *sep = fmt == HN_FMT_MARKDOWN ? " | " : "  ";
    const char *l = fmt == HN_FMT_MARKDOWN ? "| " : "", *r = fmt == HN_FMT_MARKDOWN ? " |" : "";
    fputs(l, out);
    for (int k = 0; k < NCOL; k++)
        fprintf(out, "%s%*s", k ? sep : "", right[k] ? w[k] : -w[k], HEAD[k]);
    fprintf(out, "%s\n", r);
    if (fmt == HN_FMT_MARKDOWN) {
        fputs("|", out);
        for (int k = 0; k < NCOL; k++) {
            fputc(right[k] ? '-' : ':', out);
            for (int q = 0; q < w[k]; q++) fputc('-', out);
            fputs(right[k] ? ":|" : "-|", out);
        }
        fputc('\n', out);
    }
    for (int i = 0; i < set->n; i++) {
        cells(&set->runs[i], 0, c);
        fputs(l, out);
        for (int k = 0; k < NCOL; k++)
            fprintf(out, "%s%*s", k ? sep : "", right[k] ? w[k] : -w[k], c[k]);
        fprintf(out, "%s\n", r);
    }
}

void hn_cmp_print_crossovers(const hn_cmp_set *set, const hn_crossover *c, int n,
                             hn_table_format fmt, FILE *out) {
    char b[32];
    if (fmt == HN_FMT_CSV) {
        fputs("run,passes,bytes,bpb\n", out);
        for (int i = 0; i < n; i++) {
            csv_cell(out, set->runs[c[i].a].name, 0);
            csv_cell(out, set->runs[c[i].b].name, 0);
            fprintf(out, "%.0f,%.6g\n", c[i].bytes, c[i].bpb);
        }
        return;
    }
    if (fmt == HN_FMT_MARKDOWN) {
        fputs("| run | passes | at bytes | BPB |\n|:--|:--|--:|--:|\n", out);
        for (int i = 0; i < n; i++) {
            hn_si(b, sizeof b, c[i].bytes);
            fprintf(out, "| %s | %s | %s | %.4f |\n", set->runs[c[i].a].name,
                    set->runs[c[i].b].name, b, c[i].bpb);
        }
        return;
    }
    if (n == 0) {
        fputs("no crossovers: no validation curve passes another\n", out);
        return;
    }
    for (int i = 0; i < n; i++) {
        hn_si(b, sizeof b, c[i].bytes);
        fprintf(out, "%s passes %s at %s bytes (BPB %.4f)\n", set->runs[c[i].a].name,
                set->runs[c[i].b].name, b, c[i].bpb);
    }
}
