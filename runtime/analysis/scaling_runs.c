/* Runs of results.db as scaling points: training FLOPs, final BPB, family; the fits and
 * their crossings as text, Markdown or CSV. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "analysis/scaling_runs.h"

void hn_scaling_family_of(const hn_cmp_run *r, char *out, size_t size) {
    cJSON *cfg = r->config_json ? cJSON_Parse(r->config_json) : NULL;
    const cJSON *fam = cJSON_GetObjectItemCaseSensitive(cfg, "family");
    if (cJSON_IsString(fam) && fam->valuestring[0]) {
        snprintf(out, size, "%s", fam->valuestring);
        cJSON_Delete(cfg);
        return;
    }
    cJSON_Delete(cfg);
    /* the model and its layout without counts: depth and width are what a family scales */
    char shape[192];
    size_t k = 0;
    for (const char *p = r->layout; *p && k + 1 < sizeof shape; p++)
        if (!isdigit((unsigned char)*p)) shape[k++] = *p;
    shape[k] = 0;
    snprintf(out, size, "%s%s%s", r->model, shape[0] ? " " : "", shape);
}

double hn_training_flops(const hn_curve *g, double bytes_seen) {
    if (g->n == 0) return NAN;
    /* each point is the mean over its logging interval, which ends at its bytes */
    double flops = 0, prev = 0;
    for (int i = 0; i < g->n; i++) {
        double x = g->x[i];
        if (x > prev) flops += g->y[i] * 1e9 * (x - prev), prev = x;
    }
    if (bytes_seen > prev) flops += g->y[g->n - 1] * 1e9 * (bytes_seen - prev);
    return 3.0 * flops; /* forward + backward of a training step */
}

static int family_index(hn_scaling *s, const char *name) {
    for (int i = 0; i < s->n_families; i++)
        if (!strcmp(s->families[i].name, name)) return i;
    hn_scaling_family *f = realloc(s->families, (size_t)(s->n_families + 1) * sizeof *f);
    if (!f) return -1;
    s->families = f;
    memset(&f[s->n_families], 0, sizeof *f);
    snprintf(f[s->n_families].name, sizeof f->name, "%s", name);
    return s->n_families++;
}

void hn_scaling_add(hn_scaling *s, const char *family, int run, double c, double loss) {
    int i = family_index(s, family);
    if (i < 0) return;
    hn_scaling_family *f = &s->families[i];
    int *runs = realloc(f->runs, (size_t)(f->n + 1) * sizeof *runs);
    double *cs = realloc(f->c, (size_t)(f->n + 1) * sizeof *cs);
    double *ls = realloc(f->loss, (size_t)(f->n + 1) * sizeof *ls);
    if (runs) f->runs = runs;
    if (cs) f->c = cs;
    if (ls) f->loss = ls;
    if (!runs || !cs || !ls) return;
    f->runs[f->n] = run, f->c[f->n] = c, f->loss[f->n] = loss;
    f->n++;
}

static void skip(hn_scaling *s, int run, const char *why) {
    hn_scaling_skip *k = realloc(s->skipped, (size_t)(s->n_skipped + 1) * sizeof *k);
    if (!k) return;
    s->skipped = k;
    k[s->n_skipped].run = run;
    snprintf(k[s->n_skipped].why, sizeof k->why, "%s", why);
    s->n_skipped++;
}

void hn_scaling_fit_all(hn_scaling *s) {
    for (int i = 0; i < s->n_families; i++) {
        hn_scaling_family *f = &s->families[i];
        hn_power_fit_points(f->c, f->loss, f->n, &f->fit);
    }
}

int hn_scaling_from_set(const hn_cmp_set *set, hn_scaling *out, hn_error *err) {
    memset(out, 0, sizeof *out);
    for (int i = 0; i < set->n; i++) {
        const hn_cmp_run *r = &set->runs[i];
        if (strcmp(r->status, "finished")) {
            char why[96];
            snprintf(why, sizeof why, "%s, not finished", r->status);
            skip(out, i, why);
            continue;
        }
        if (!(r->valid_bpb > 0)) {
            skip(out, i, "no final validation BPB");
            continue;
        }
        hn_curve g;
        if (hn_cmp_load_metric(set->db, r->id, "train", "gflops_per_byte", 0, &g, err)) {
            hn_scaling_free(out);
            return HN_ERR;
        }
        double c = hn_training_flops(&g, (double)r->bytes_seen);
        hn_curve_free(&g);
        if (!(c > 0)) {
            skip(out, i, "no train/gflops_per_byte logged");
            continue;
        }
        char fam[160];
        hn_scaling_family_of(r, fam, sizeof fam);
        hn_scaling_add(out, fam, i, c, r->valid_bpb);
    }
    hn_scaling_fit_all(out);
    return HN_OK;
}

void hn_scaling_free(hn_scaling *s) {
    for (int i = 0; i < s->n_families; i++) {
        free(s->families[i].runs);
        free(s->families[i].c);
        free(s->families[i].loss);
    }
    free(s->families);
    free(s->skipped);
    memset(s, 0, sizeof *s);
}

hn_fit_crossing hn_scaling_cross(const hn_scaling *s, int i, int j) {
    return hn_power_fit_cross(&s->families[i].fit, &s->families[j].fit);
}

/* ---------- printing ---------- */

/* Why a family has no fit, as a phrase. */
static void not_fitted(const hn_scaling_family *f, char *out, size_t size) {
    switch (f->fit.status) {
    case HN_FIT_TOO_FEW:
        snprintf(out, size, "not fitted: %d run%s (a fit needs 2)", f->n, f->n == 1 ? "" : "s");
        break;
    case HN_FIT_ONE_COMPUTE: snprintf(out, size, "not fitted: every run at the same compute"); break;
    case HN_FIT_BAD_VALUE: snprintf(out, size, "not fitted: a run with FLOPs or BPB <= 0"); break;
    default: out[0] = 0;
    }
}

static void with_se(char *out, size_t size, double v, double se, const char *f) {
    char a[40], b[40];
    snprintf(a, sizeof a, f, v);
    if (isnan(se)) snprintf(out, size, "%s", a);
    else {
        snprintf(b, sizeof b, f, se);
        snprintf(out, size, "%s ± %s", a, b);
    }
}

static void where_phrase(const hn_fit_crossing *x, char *out, size_t size) {
    switch (x->where) {
    case HN_CROSS_WITHIN: snprintf(out, size, "within the compute both were observed at"); break;
    case HN_CROSS_BELOW: snprintf(out, size, "outside: below the compute both were observed at (extrapolated)"); break;
    case HN_CROSS_ABOVE: snprintf(out, size, "outside: above the compute both were observed at (extrapolated)"); break;
    case HN_CROSS_BETWEEN:
        snprintf(out, size, "outside: between the two families' compute ranges (extrapolated)");
        break;
    default: snprintf(out, size, "never: equal exponents b");
    }
}

static void print_csv(const hn_scaling *s, FILE *out) {
    fputs("family,runs,a,a_se,b,b_se,c_min,c_max,status\n", out);
    for (int i = 0; i < s->n_families; i++) {
        const hn_scaling_family *f = &s->families[i];
        const hn_power_fit *p = &f->fit;
        fputc('"', out);
        for (const char *c = f->name; *c; c++) {
            if (*c == '"') fputc('"', out); /* CSV doubles a quote inside quotes */
            fputc(*c, out);
        }
        fprintf(out, "\",%d,", f->n);
        if (p->status == HN_FIT_OK) {
            fprintf(out, "%.9g,", p->a);
            if (isnan(p->se_a)) fputs(",", out);
            else fprintf(out, "%.9g,", p->se_a);
            fprintf(out, "%.9g,", p->b);
            if (isnan(p->se_b)) fputs(",", out);
            else fprintf(out, "%.9g,", p->se_b);
            fprintf(out, "%.9g,%.9g,fitted\n", p->c_min, p->c_max);
        } else {
            fprintf(out, ",,,,,,%s\n", p->status == HN_FIT_TOO_FEW ? "too_few_runs"
                                       : p->status == HN_FIT_ONE_COMPUTE ? "one_compute"
                                                                         : "bad_value");
        }
    }
}

void hn_scaling_print(const hn_cmp_set *set, const hn_scaling *s, hn_table_format fmt, FILE *out) {
    if (fmt == HN_FMT_CSV) {
        print_csv(s, out);
        return;
    }
    int md = fmt == HN_FMT_MARKDOWN;
    fputs("Scaling fits, loss = a * C^b (C: training FLOPs, 3 x forward FLOPs/byte x bytes; loss: "
          "final validation BPB; least squares in log space, ± one standard error):\n\n", out);
    if (s->n_families == 0) fputs("no finished runs to fit\n", out);
    if (md && s->n_families) fputs("| family | runs | a | b | C range |\n|:--|--:|--:|--:|:--|\n", out);
    for (int i = 0; i < s->n_families; i++) {
        const hn_scaling_family *f = &s->families[i];
        const hn_power_fit *p = &f->fit;
        char a[96], b[96], range[64], why[96];
        if (p->status != HN_FIT_OK) {
            not_fitted(f, why, sizeof why);
            if (md) fprintf(out, "| %s | %d | – | – | %s |\n", f->name, f->n, why);
            else fprintf(out, "%s: %s\n", f->name, why);
            continue;
        }
        with_se(a, sizeof a, p->a, p->se_a, "%.4g");
        with_se(b, sizeof b, p->b, p->se_b, "%.4f");
        snprintf(range, sizeof range, "%.3g .. %.3g", p->c_min, p->c_max);
        if (md) fprintf(out, "| %s | %d | %s | %s | %s |\n", f->name, f->n, a, b, range);
        else
            fprintf(out, "%s: %d runs, a = %s, b = %s, C %s%s\n", f->name, f->n, a, b, range,
                    f->n == 2 ? " (2 runs: no standard errors)" : "");
    }
    for (int k = 0; k < s->n_skipped; k++)
        fprintf(out, "%sleft out: %s (%s)\n", k == 0 ? "\n" : "", set->runs[s->skipped[k].run].name,
                s->skipped[k].why);
    int header = 0;
    for (int i = 0; i < s->n_families; i++)
        for (int j = i + 1; j < s->n_families; j++) {
            const hn_scaling_family *fa = &s->families[i], *fb = &s->families[j];
            if (fa->fit.status != HN_FIT_OK || fb->fit.status != HN_FIT_OK) continue;
            hn_fit_crossing x = hn_scaling_cross(s, i, j);
            char where[96];
            where_phrase(&x, where, sizeof where);
            if (!header++)
                fputs(md ? "\n| families | cross at C | BPB there | where | lower beyond |\n"
                           "|:--|--:|--:|:--|:--|\n"
                         : "\ncrossings of the fitted curves:\n", out);
            const char *lower = x.lower_above ? fb->name : fa->name;
            if (x.where == HN_CROSS_NONE) {
                if (md) fprintf(out, "| %s / %s | – | – | %s | – |\n", fa->name, fb->name, where);
                else fprintf(out, "%s and %s: never cross (equal exponents b)\n", fa->name, fb->name);
            } else if (md) {
                fprintf(out, "| %s / %s | %.3g | %.4f | %s | %s |\n", fa->name, fb->name, x.c, x.loss,
                        where, lower);
            } else {
                fprintf(out, "%s and %s: cross at C = %.3g (BPB %.4f), %s; above it %s is lower\n",
                        fa->name, fb->name, x.c, x.loss, where, lower);
            }
        }
    if (!header && s->n_families > 0)
        fputs("\nno crossings: fewer than two families are fitted\n", out);
}
