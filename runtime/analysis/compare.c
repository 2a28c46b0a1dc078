/* Loading runs for comparison, the Table 2 shaped table and curve crossovers. */
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "analysis/compare.h"
#include "analysis/run_config.h"
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
    /* a model over tokens says which: "isotropic+gpt2" */
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cfg, "data"), "tokenizer");
    const cJSON *tf = cJSON_GetObjectItemCaseSensitive(tok, "format");
    r->bytes_per_token = tok ? NAN : 1.0;
    if (cJSON_IsString(tf)) {
        size_t used = strlen(r->model);
        snprintf(r->model + used, sizeof r->model - used, "+%s", tf->valuestring);
    }
    r->layout[0] = 0;
    render_layout(cJSON_GetObjectItemCaseSensitive(model, "layout"), r->layout, sizeof r->layout);
    r->n_stages = cJSON_IsNumber(stages) && stages->valueint > 1 ? stages->valueint - 1 : 0;
    hn_config_corpus(cfg, r->corpus, sizeof r->corpus);
    hn_config_seed_group(cfg, r->seed_group);
    free(r->config_json);
    r->config_json = config_json ? strdup(config_json) : NULL;
    cJSON_Delete(cfg);
}

static int load_curve_x(sqlite3 *db, int64_t id, const char *split, const char *name, int by_step,
                        hn_curve *c) {
    snprintf(c->name, sizeof c->name, "%s", name);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
                           by_step ? "SELECT step, value FROM metrics WHERE run_id = ?1 AND split = ?2 AND "
                                     "name = ?3 AND value IS NOT NULL ORDER BY step"
                                   : "SELECT bytes, value FROM metrics WHERE run_id = ?1 AND split = ?2 AND "
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

static int load_curve(sqlite3 *db, int64_t id, const char *split, const char *name, hn_curve *c) {
    return load_curve_x(db, id, split, name, 0, c);
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

/* The newest value of each (task, data, step, metric) that `hnet eval` stored for a run. */
static int load_evals(sqlite3 *db, int64_t id, hn_cmp_run *r) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
                           "SELECT task, data, metric, coalesce(step, -1), value, coalesce(bytes, 0) "
                           "FROM evaluations e WHERE run_id = ?1 AND value IS NOT NULL AND id = "
                           "(SELECT max(id) FROM evaluations f WHERE f.run_id = e.run_id AND "
                           "f.task = e.task AND f.data = e.data AND f.metric = e.metric AND "
                           "f.step IS e.step) ORDER BY task, data, step, metric",
                           -1, &st, NULL) != SQLITE_OK)
        /* a read-only database older than schema version 4 has no evaluations */
        return strstr(sqlite3_errmsg(db), "no such table") ? HN_OK : HN_ERR;
    sqlite3_bind_int64(st, 1, id);
    int cap = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (r->n_evals == cap) {
            cap = cap ? 2 * cap : 16;
            hn_cmp_eval *grown = realloc(r->evals, (size_t)cap * sizeof *grown);
            if (!grown) break;
            r->evals = grown;
        }
        hn_cmp_eval *e = &r->evals[r->n_evals++];
        snprintf(e->task, sizeof e->task, "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(e->data, sizeof e->data, "%s", (const char *)sqlite3_column_text(st, 1));
        snprintf(e->metric, sizeof e->metric, "%s", (const char *)sqlite3_column_text(st, 2));
        e->step = sqlite3_column_int64(st, 3);
        e->value = sqlite3_column_double(st, 4);
        e->bytes = sqlite3_column_int64(st, 5);
    }
    return sqlite3_finalize(st) == SQLITE_OK ? HN_OK : HN_ERR;
}

static int load_run(sqlite3 *db, const char *path, int64_t id, hn_cmp_run *r, hn_error *err) {
    memset(r, 0, sizeof *r);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
                           "SELECT r.name, r.status, r.config_json, r.n_params, f.bytes_seen, f.steps, "
                           "f.valid_bpb, r.seed FROM runs r LEFT JOIN final_bpb f ON f.run_id = r.id "
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
    r->seed = sqlite3_column_int64(st, 7);
    sqlite3_finalize(st);
    r->gflops_per_byte = last_value(db, id, "train", "gflops_per_byte");
    r->bpic = last_value(db, id, "valid", "bpic");
    if (isnan(r->bytes_per_token)) r->bytes_per_token = last_value(db, id, "train", "bytes_per_token");
    if (load_curve(db, id, "valid", "bpb", &r->valid)) return sql_fail(db, path, err);
    if (load_evals(db, id, r)) return sql_fail(db, path, err);
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
    snprintf(out->db, sizeof out->db, "%s", db_path);
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

void hn_curve_free(hn_curve *c) {
    free(c->x);
    free(c->y);
    c->x = c->y = NULL;
    c->n = 0;
}

void hn_cmp_free(hn_cmp_set *set) {
    for (int i = 0; i < set->n; i++) {
        hn_curve_free(&set->runs[i].valid);
        for (int s = 0; s < set->runs[i].n_stages && set->runs[i].compression; s++)
            hn_curve_free(&set->runs[i].compression[s]);
        free(set->runs[i].compression);
        free(set->runs[i].config_json);
        free(set->runs[i].evals);
    }
    free(set->runs);
    memset(set, 0, sizeof *set);
}

int hn_cmp_load_metric(const char *db_path, int64_t run_id, const char *split, const char *name,
                       int by_step, hn_curve *out, hn_error *err) {
    memset(out, 0, sizeof *out);
    sqlite3 *db;
    if (open_db(db_path, &db, err)) return HN_ERR;
    int rc = load_curve_x(db, run_id, split, name, by_step, out) ? sql_fail(db, db_path, err) : HN_OK;
    sqlite3_close(db);
    return rc;
}

int hn_cmp_metric_split(const hn_cmp_set *set, const char *name, char split[16], hn_error *err) {
    split[0] = 0;
    if (set->n == 0) return 0;
    sqlite3 *db;
    if (open_db(set->db, &db, err)) return -1;
    sqlite3_stmt *st;
    int found = 0;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM metrics WHERE run_id = ?1 AND split = ?2 AND name = ?3 LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK) {
        int rc = sql_fail(db, set->db, err);
        sqlite3_close(db);
        return rc;
    }
    static const char *const order[] = {"valid", "train"};
    for (int k = 0; k < 2 && !found; k++)
        for (int i = 0; i < set->n && !found; i++) {
            sqlite3_reset(st);
            sqlite3_bind_int64(st, 1, set->runs[i].id);
            sqlite3_bind_text(st, 2, order[k], -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
            if (sqlite3_step(st) == SQLITE_ROW) found = 1, snprintf(split, 16, "%s", order[k]);
        }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return found;
}

int hn_cmp_metric_names(const hn_cmp_set *set, char *out, size_t size) {
    out[0] = 0;
    sqlite3 *db;
    hn_error err;
    if (set->n == 0 || open_db(set->db, &db, &err)) return 0;
    sqlite3_stmt *st;
    int n = 0;
    /* per-stage metrics once, without their stage: compression, mean_p, ratio_loss */
    if (sqlite3_prepare_v2(db, "SELECT DISTINCT split || '/' || (CASE WHEN name GLOB 'stage[0-9]*.*' "
                               "THEN substr(name, instr(name, '.') + 1) ELSE name END) AS m "
                               "FROM metrics WHERE run_id = ?1 ORDER BY m", -1, &st, NULL) == SQLITE_OK) {
        for (int i = 0; i < set->n; i++) {
            sqlite3_reset(st);
            sqlite3_bind_int64(st, 1, set->runs[i].id);
            while (sqlite3_step(st) == SQLITE_ROW) {
                const char *m = (const char *)sqlite3_column_text(st, 0);
                char quoted[160];
                snprintf(quoted, sizeof quoted, " %s,", m);
                char padded_list[4200];
                snprintf(padded_list, sizeof padded_list, " %s,", out);
                if (strstr(padded_list, quoted)) continue;
                size_t used = strlen(out);
                snprintf(out + used, size - used, "%s%s", n ? ", " : "", m);
                n++;
            }
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return n;
}

/* ---------- corpora ---------- */

int hn_cmp_corpora(const hn_cmp_set *set, char *out, size_t size) {
    int n = 0;
    out[0] = 0;
    for (int i = 0; i < set->n; i++) {
        int seen = 0;
        for (int j = 0; j < i && !seen; j++) seen = !strcmp(set->runs[j].corpus, set->runs[i].corpus);
        if (seen) continue;
        size_t used = strlen(out);
        snprintf(out + used, size - used, "%s%s", n ? ", " : "", set->runs[i].corpus);
        n++;
    }
    return n;
}

int hn_cmp_warn_corpora(const hn_cmp_set *set, const char *prefix, FILE *out) {
    char list[512];
    if (hn_cmp_corpora(set, list, sizeof list) < 2) return 0;
    fprintf(out, "%swarning: these runs were trained on different corpora (%s); their BPB are "
                 "not comparable\n", prefix, list);
    return 1;
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
            if (set->runs[i].seed_group[0] && !strcmp(set->runs[i].seed_group, set->runs[j].seed_group) &&
                set->runs[i].seed != set->runs[j].seed)
                continue; /* seeds of one experiment crossing is noise, not a result */
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

/* A row of the table: one run, or the runs of one seed group averaged. */
typedef struct table_row {
    const hn_cmp_run *first;
    int seeds;                    /* runs in the row */
    double gflops, bpic, bpb, bpb_sd, bytes_seen, bytes_per_token;
    char status[32];
} table_row;

static double mean_of(const hn_cmp_set *set, const int *members, int m, int field, double *sd) {
    double sum = 0, sq = 0;
    int k = 0;
    for (int q = 0; q < m; q++) {
        const hn_cmp_run *r = &set->runs[members[q]];
        double v = field == 0 ? r->gflops_per_byte : field == 1 ? r->bpic : field == 2 ? r->valid_bpb
                 : field == 3 ? (double)r->bytes_seen : r->bytes_per_token;
        if (isnan(v)) continue;
        sum += v, sq += v * v, k++;
    }
    if (k == 0) return *sd = NAN, NAN;
    double mean = sum / k;
    *sd = k > 1 ? sqrt(fmax(0, (sq - k * mean * mean) / (k - 1))) : NAN; /* sample sd */
    return mean;
}

/* Rows in the order of their first run; unless per_run, the runs of one seed group with
 * distinct seeds become one row (a rerun under the same seed stays a row of its own). */
static int table_rows(const hn_cmp_set *set, int per_run, table_row *rows) {
    int n = 0;
    int *members = malloc((size_t)(set->n ? set->n : 1) * sizeof *members);
    char *taken = calloc((size_t)(set->n ? set->n : 1), 1);
    for (int i = 0; i < set->n; i++) {
        if (taken[i]) continue;
        const hn_cmp_run *r = &set->runs[i];
        int m = 0;
        members[m++] = i;
        taken[i] = 1;
        for (int j = i + 1; j < set->n && !per_run && r->seed_group[0]; j++) {
            if (taken[j] || strcmp(set->runs[j].seed_group, r->seed_group)) continue;
            int same_seed = 0;
            for (int q = 0; q < m && !same_seed; q++) same_seed = set->runs[members[q]].seed == set->runs[j].seed;
            if (same_seed) continue;
            members[m++] = j;
            taken[j] = 1;
        }
        table_row *w = &rows[n++];
        double ignored;
        *w = (table_row){.first = r, .seeds = m};
        w->gflops = mean_of(set, members, m, 0, &ignored);
        w->bpic = mean_of(set, members, m, 1, &ignored);
        w->bpb = mean_of(set, members, m, 2, &w->bpb_sd);
        w->bytes_seen = mean_of(set, members, m, 3, &ignored);
        w->bytes_per_token = mean_of(set, members, m, 4, &ignored);
        snprintf(w->status, sizeof w->status, "%s", r->status);
        for (int q = 1; q < m; q++)
            if (strcmp(set->runs[members[q]].status, r->status)) snprintf(w->status, sizeof w->status, "mixed");
    }
    free(taken);
    free(members);
    return n;
}

/* One row of cells, as strings. */
enum { NCOL = 12 };
static const char *const HEAD[NCOL] = {"run", "model", "layout", "corpus", "params", "GFLOPs/byte",
                                       "bytes/token", "bytes/chunk", "valid BPB", "seeds",
                                       "bytes seen", "status"};

static void cells(const table_row *w, int raw, char c[NCOL][200]) {
    const hn_cmp_run *r = w->first;
    if (w->seeds > 1 && !raw) snprintf(c[0], 200, "%s (%d seeds)", r->name, w->seeds);
    else snprintf(c[0], 200, "%s", r->name);
    snprintf(c[1], 200, "%s", r->model);
    snprintf(c[2], 200, "%s", r->layout);
    snprintf(c[3], 200, "%s", r->corpus);
    if (raw) snprintf(c[4], 200, "%lld", (long long)r->params);
    else hn_si(c[4], 200, (double)r->params);
    fmt_num(c[5], 200, w->gflops, raw ? "%.6g" : w->gflops < 0.01 ? "%.3g" : "%.4f");
    fmt_num(c[6], 200, w->bytes_per_token, raw ? "%.6g" : "%.2f");
    fmt_num(c[7], 200, w->bpic, raw ? "%.6g" : "%.2f");
    if (!raw && w->seeds > 1 && !isnan(w->bpb_sd)) snprintf(c[8], 200, "%.4f ± %.4f", w->bpb, w->bpb_sd);
    else fmt_num(c[8], 200, w->bpb, raw ? "%.6g" : "%.4f");
    snprintf(c[9], 200, "%d", w->seeds);
    if (raw) snprintf(c[10], 200, "%.0f", w->bytes_seen);
    else hn_si(c[10], 200, w->bytes_seen);
    snprintf(c[11], 200, "%s", w->status);
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

static const char *const CSV_HEAD[NCOL] = {"run", "model", "layout", "corpus", "params",
                                           "gflops_per_byte", "bytes_per_token", "bytes_per_chunk",
                                           "valid_bpb", "seeds", "bytes_seen", "status"};

/* Display width in characters (UTF-8: continuation bytes take no column). */
static int width_of(const char *s) {
    int w = 0;
    for (; *s; s++) w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

static void padded(FILE *out, const char *s, int w, int right) {
    int pad = w - width_of(s);
    if (right) fprintf(out, "%*s%s", pad > 0 ? pad : 0, "", s);
    else fprintf(out, "%s%*s", s, pad > 0 ? pad : 0, "");
}

void hn_cmp_print_table(const hn_cmp_set *set, hn_table_format fmt, int per_run, FILE *out) {
    char c[NCOL][200];
    table_row *rows = calloc((size_t)(set->n ? set->n : 1), sizeof *rows);
    int n = table_rows(set, per_run, rows);
    if (fmt == HN_FMT_CSV) {
        fputs("id,", out);
        for (int k = 0; k < NCOL; k++) csv_cell(out, CSV_HEAD[k], k == NCOL - 1 ? 0 : 0);
        fputs("valid_bpb_sd\n", out);
        for (int i = 0; i < n; i++) {
            cells(&rows[i], 1, c);
            fprintf(out, "%lld,", (long long)rows[i].first->id);
            for (int k = 0; k < NCOL; k++) csv_cell(out, c[k], 0);
            if (isnan(rows[i].bpb_sd)) fputs("\n", out);
            else fprintf(out, "%.6g\n", rows[i].bpb_sd);
        }
        free(rows);
        return;
    }
    int w[NCOL];
    for (int k = 0; k < NCOL; k++) w[k] = width_of(HEAD[k]);
    for (int i = 0; i < n; i++) {
        cells(&rows[i], 0, c);
        for (int k = 0; k < NCOL; k++)
            if (width_of(c[k]) > w[k]) w[k] = width_of(c[k]);
    }
    /* numbers right-aligned, words left-aligned */
    static const int right[NCOL] = {0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0};
    const char *sep = fmt == HN_FMT_MARKDOWN ? " | " : "  ";
    const char *l = fmt == HN_FMT_MARKDOWN ? "| " : "", *r = fmt == HN_FMT_MARKDOWN ? " |" : "";
    fputs(l, out);
    for (int k = 0; k < NCOL; k++) {
        if (k) fputs(sep, out);
        padded(out, HEAD[k], w[k], right[k]);
    }
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
    for (int i = 0; i < n; i++) {
        cells(&rows[i], 0, c);
        fputs(l, out);
        for (int k = 0; k < NCOL; k++) {
            if (k) fputs(sep, out);
            padded(out, c[k], w[k], right[k]);
        }
        fprintf(out, "%s\n", r);
    }
    free(rows);
}

void hn_cmp_print_crossovers(const hn_cmp_set *set, const hn_crossover *c, int n,
                             hn_table_format fmt, FILE *out) {
    char b[32];
    if (fmt != HN_FMT_CSV && n == 0) { /* a sentence, not an empty table */
        fputs(set->n < 2 ? "no crossovers: fewer than two runs to compare\n"
                         : "no crossovers: no validation curve passes another\n", out);
        return;
    }
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
    for (int i = 0; i < n; i++) {
        hn_si(b, sizeof b, c[i].bytes);
        fprintf(out, "%s passes %s at %s bytes (BPB %.4f)\n", set->runs[c[i].a].name,
                set->runs[c[i].b].name, b, c[i].bpb);
    }
}

int hn_cmp_print_evaluations(const hn_cmp_set *set, hn_table_format fmt, FILE *out) {
    enum { NE = 7 };
    static const char *const head[NE] = {"run", "step", "task", "data", "metric", "value", "bytes"};
    static const int right[NE] = {0, 1, 0, 0, 0, 1, 1};
    int rows = 0, w[NE];
    for (int k = 0; k < NE; k++) w[k] = width_of(head[k]);
    char c[NE][300];
    /* two passes: widths, then the rows */
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1 && rows == 0) return 0;
        if (pass == 1) {
            const char *l = fmt == HN_FMT_MARKDOWN ? "| " : "";
            const char *sep = fmt == HN_FMT_CSV ? "," : fmt == HN_FMT_MARKDOWN ? " | " : "  ";
            fputs(l, out);
            for (int k = 0; k < NE; k++) {
                if (k) fputs(sep, out);
                if (fmt == HN_FMT_CSV) fputs(head[k], out);
                else padded(out, head[k], w[k], right[k]);
            }
            fputs(fmt == HN_FMT_MARKDOWN ? " |\n" : "\n", out);
            if (fmt == HN_FMT_MARKDOWN) {
                fputs("|", out);
                for (int k = 0; k < NE; k++) {
                    fputc(right[k] ? '-' : ':', out);
                    for (int q = 0; q < w[k]; q++) fputc('-', out);
                    fputs(right[k] ? ":|" : "-|", out);
                }
                fputc('\n', out);
            }
        }
        for (int i = 0; i < set->n; i++) {
            const hn_cmp_run *r = &set->runs[i];
            for (int j = 0; j < r->n_evals; j++) {
                const hn_cmp_eval *e = &r->evals[j];
                int raw = fmt == HN_FMT_CSV;
                snprintf(c[0], sizeof c[0], "%s", r->name);
                if (e->step >= 0) snprintf(c[1], sizeof c[1], "%lld", (long long)e->step);
                else snprintf(c[1], sizeof c[1], raw ? "" : "-");
                snprintf(c[2], sizeof c[2], "%s", e->task);
                snprintf(c[3], sizeof c[3], "%s", e->data);
                snprintf(c[4], sizeof c[4], "%s", e->metric);
                snprintf(c[5], sizeof c[5], raw ? "%.9g" : fabs(e->value) >= 1000 ? "%.0f" : "%.4f", e->value);
                if (raw) snprintf(c[6], sizeof c[6], "%lld", (long long)e->bytes);
                else hn_si(c[6], sizeof c[6], (double)e->bytes);
                if (pass == 0) {
                    rows++;
                    for (int k = 0; k < NE; k++)
                        if (width_of(c[k]) > w[k]) w[k] = width_of(c[k]);
                    continue;
                }
                if (fmt == HN_FMT_CSV) {
                    for (int k = 0; k < NE; k++) csv_cell(out, c[k], k == NE - 1);
                    continue;
                }
                fputs(fmt == HN_FMT_MARKDOWN ? "| " : "", out);
                for (int k = 0; k < NE; k++) {
                    if (k) fputs(fmt == HN_FMT_MARKDOWN ? " | " : "  ", out);
                    padded(out, c[k], w[k], right[k]);
                }
                fputs(fmt == HN_FMT_MARKDOWN ? " |\n" : "\n", out);
            }
        }
    }
    return rows;
}
