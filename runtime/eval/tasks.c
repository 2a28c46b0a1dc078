#include "eval/tasks.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>

#include "eval/loglik.h"

const char *const HN_TASK_FORMATS =
    "lambada, hellaswag, piqa, arc_easy, arc_challenge, winogrande, openbookqa, choice";

static char *cat3(const char *a, const char *b, const char *c) {
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
    char *s = malloc(la + lb + lc + 1);
    if (!s) return NULL;
    memcpy(s, a, la);
    memcpy(s + la, b, lb);
    memcpy(s + la + lb, c, lc + 1);
    return s;
}

static const char *str_field(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A label given as a number or a string of digits ("0", "1", ...). */
static int int_field(const cJSON *o, const char *key, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsNumber(v)) return *out = v->valueint, 1;
    if (cJSON_IsString(v) && isdigit((unsigned char)v->valuestring[0]))
        return *out = atoi(v->valuestring), 1;
    return 0;
}

/* lm-evaluation-harness's HellaSwag preprocess: strip, " [title]" -> ". ", drop
 * "[...]" spans, "  " -> " ". */
static char *hellaswag_clean(const char *in) {
    while (isspace((unsigned char)*in)) in++;
    size_t n = strlen(in);
    while (n && isspace((unsigned char)in[n - 1])) n--;
    char *a = malloc(2 * n + 1), *b = malloc(2 * n + 1);
    if (!a || !b) return free(a), free(b), NULL;
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        if (!strncmp(in + i, " [title]", 8) && i + 8 <= n) {
            memcpy(a + k, ". ", 2), k += 2, i += 8;
        } else {
            a[k++] = in[i++];
        }
    }
    a[k] = 0;
    size_t j = 0;
    for (size_t i = 0; a[i];) {
        const char *close = a[i] == '[' ? strchr(a + i, ']') : NULL;
        if (close) i = (size_t)(close - a) + 1;
        else b[j++] = a[i++];
    }
    b[j] = 0;
    k = 0;
    for (size_t i = 0; b[i]; i++) /* "  " -> " ", left to right as str.replace does */
        if (!(b[i] == ' ' && b[i + 1] == ' ')) a[k++] = b[i];
        else a[k++] = ' ', i++;
    a[k] = 0;
    free(b);
    return a;
}

/* Python's str.capitalize for ASCII: first letter upper, the rest lower. */
static char *capitalize(const char *s) {
    char *c = strdup(s);
    if (!c) return NULL;
    for (size_t i = 0; c[i]; i++) c[i] = (char)(i ? tolower((unsigned char)c[i]) : toupper((unsigned char)c[i]));
    return c;
}

static int item_alloc(hn_task_item *it, int n) {
    it->n = n;
    it->ctx = calloc((size_t)n, sizeof *it->ctx);
    it->cont = calloc((size_t)n, sizeof *it->cont);
    return it->ctx && it->cont ? 0 : -1;
}

/* Choices from an array of strings (or {"text": [...], "label": [...]} with answerKey). */
static int choices_with_context(hn_task_item *it, const char *ctx, const cJSON *texts, const char *prefix) {
    int n = cJSON_GetArraySize(texts);
    if (n < 1 || item_alloc(it, n)) return -1;
    for (int k = 0; k < n; k++) {
        const cJSON *c = cJSON_GetArrayItem(texts, k);
        if (!cJSON_IsString(c)) return -1;
        it->ctx[k] = strdup(ctx);
        it->cont[k] = cat3(prefix, c->valuestring, "");
        if (!it->ctx[k] || !it->cont[k]) return -1;
    }
    return 0;
}

/* "choices": {"text": [...], "label": ["A", ...]} and "answerKey": the gold's index. */
static int labelled_choices(hn_task_item *it, const cJSON *o, const char *ctx) {
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(o, "choices");
    const cJSON *texts = cJSON_GetObjectItemCaseSensitive(ch, "text");
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(ch, "label");
    const char *key = str_field(o, "answerKey");
    if (!cJSON_IsArray(texts) || !cJSON_IsArray(labels) || !key) return -1;
    while (isspace((unsigned char)*key)) key++;
    it->gold = -1;
    for (int k = 0; k < cJSON_GetArraySize(labels); k++) {
        const cJSON *l = cJSON_GetArrayItem(labels, k);
        if (cJSON_IsString(l) && !strcmp(l->valuestring, key)) it->gold = k;
    }
    return it->gold < 0 ? -1 : choices_with_context(it, ctx, texts, " ");
}

/* One JSON line -> one item; -1 with a reason in why. */
static int parse_item(const char *format, const cJSON *o, hn_task_item *it, const char **why) {
    memset(it, 0, sizeof *it);
    if (!strcmp(format, "lambada")) {
        const char *text = str_field(o, "text");
        const char *sp = text ? strrchr(text, ' ') : NULL;
        *why = "expected {\"text\": \"... last word\"}";
        if (!sp || !sp[1] || sp == text || item_alloc(it, 1)) return -1;
        it->ctx[0] = strndup(text, (size_t)(sp - text));
        it->cont[0] = strdup(sp); /* " word" */
        return it->ctx[0] && it->cont[0] ? 0 : -1;
    }
    if (!strcmp(format, "hellaswag")) {
        const char *label = str_field(o, "activity_label"), *a = str_field(o, "ctx_a"), *b = str_field(o, "ctx_b");
        const cJSON *endings = cJSON_GetObjectItemCaseSensitive(o, "endings");
        *why = "expected activity_label, ctx_a, ctx_b, endings and label";
        if (!label || !a || !b || !cJSON_IsArray(endings) || !int_field(o, "label", &it->gold)) return -1;
        char *cb = capitalize(b), *ctx = cb ? cat3(a, " ", cb) : NULL;
        char *query = ctx ? cat3(label, ": ", ctx) : NULL, *clean = query ? hellaswag_clean(query) : NULL;
        free(cb), free(ctx), free(query);
        if (!clean) return -1;
        int n = cJSON_GetArraySize(endings), rc = n < 1 || item_alloc(it, n) ? -1 : 0;
        for (int k = 0; rc == 0 && k < n; k++) {
            const cJSON *e = cJSON_GetArrayItem(endings, k);
            char *ce = cJSON_IsString(e) ? hellaswag_clean(e->valuestring) : NULL;
            it->ctx[k] = strdup(clean);
            it->cont[k] = ce ? cat3(" ", ce, "") : NULL;
            free(ce);
            if (!it->ctx[k] || !it->cont[k]) rc = -1;
        }
        free(clean);
        return rc;
    }
    if (!strcmp(format, "piqa")) {
        const char *goal = str_field(o, "goal"), *s1 = str_field(o, "sol1"), *s2 = str_field(o, "sol2");
        *why = "expected goal, sol1, sol2 and label";
        if (!goal || !s1 || !s2 || !int_field(o, "label", &it->gold) || item_alloc(it, 2)) return -1;
        for (int k = 0; k < 2; k++) {
            it->ctx[k] = cat3("Question: ", goal, "\nAnswer:");
            it->cont[k] = cat3(" ", k ? s2 : s1, "");
            if (!it->ctx[k] || !it->cont[k]) return -1;
        }
        return 0;
    }
    if (!strcmp(format, "arc_easy") || !strcmp(format, "arc_challenge")) {
        const char *q = str_field(o, "question");
        *why = "expected question, choices {text, label} and answerKey";
        char *ctx = q ? cat3("Question: ", q, "\nAnswer:") : NULL;
        int rc = ctx ? labelled_choices(it, o, ctx) : -1;
        free(ctx);
        return rc;
    }
    if (!strcmp(format, "openbookqa")) {
        const char *q = str_field(o, "question_stem");
        *why = "expected question_stem, choices {text, label} and answerKey";
        return q ? labelled_choices(it, o, q) : -1;
    }
    if (!strcmp(format, "winogrande")) {
        const char *s = str_field(o, "sentence"), *o1 = str_field(o, "option1"), *o2 = str_field(o, "option2");
        const char *blank = s ? strchr(s, '_') : NULL;
        *why = "expected sentence (with one _), option1, option2 and answer (\"1\" or \"2\")";
        if (!blank || !o1 || !o2 || !int_field(o, "answer", &it->gold) || item_alloc(it, 2)) return -1;
        it->gold -= 1;
        const char *rest = blank + 1;
        while (isspace((unsigned char)*rest)) rest++;
        size_t rn = strlen(rest);
        while (rn && isspace((unsigned char)rest[rn - 1])) rn--;
        char *target = strndup(rest, rn), *head = strndup(s, (size_t)(blank - s));
        for (int k = 0; k < 2 && target && head; k++) {
            it->ctx[k] = cat3(head, k ? o2 : o1, "");
            it->cont[k] = cat3(" ", target, "");
        }
        int ok = target && head && it->ctx[1] && it->cont[1];
        free(target), free(head);
        return ok ? 0 : -1;
    }
    if (!strcmp(format, "choice")) {
        const char *ctx = str_field(o, "context");
        const cJSON *ch = cJSON_GetObjectItemCaseSensitive(o, "choices");
        *why = "expected context, choices (strings, scored as written) and gold";
        if (!ctx || !cJSON_IsArray(ch) || !int_field(o, "gold", &it->gold)) return -1;
        return choices_with_context(it, ctx, ch, "");
    }
    *why = "unknown format";
    return -1;
}

static void item_free(hn_task_item *it) {
    for (int k = 0; k < it->n; k++) {
        if (it->ctx) free(it->ctx[k]);
        if (it->cont) free(it->cont[k]);
    }
    free(it->ctx);
    free(it->cont);
    memset(it, 0, sizeof *it);
}

void hn_task_free(hn_task *t) {
    for (int i = 0; i < t->n; i++) item_free(&t->items[i]);
    free(t->items);
    memset(t, 0, sizeof *t);
}

int hn_task_load(const char *path, const char *format, long limit, hn_task *t, hn_error *err) {
    memset(t, 0, sizeof *t);
    static const char *const known[] = {"lambada", "hellaswag", "piqa", "arc_easy", "arc_challenge",
                                        "winogrande", "openbookqa", "choice"};
    int found = 0;
    for (size_t k = 0; k < sizeof known / sizeof *known; k++) found |= !strcmp(format, known[k]);
    if (!found) return hn_fail(err, "unknown task format '%s' (%s)", format, HN_TASK_FORMATS);
    snprintf(t->format, sizeof t->format, "%s", format);
    t->kind = !strcmp(format, "lambada") ? HN_TASK_LAST_WORD : HN_TASK_CHOICE;
    t->headline_norm = !strcmp(format, "hellaswag") || !strcmp(format, "arc_challenge") ||
                       !strcmp(format, "openbookqa");
    FILE *f = fopen(path, "r");
    if (!f) return hn_fail(err, "%s: cannot open the task file", path);
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    int rc = HN_OK, alloc = 0;
    while (rc == HN_OK && (limit <= 0 || t->n < limit) && getline(&line, &cap, f) >= 0) {
        lineno++;
        const char *p = line;
        while (isspace((unsigned char)*p)) p++;
        if (!*p) continue;
        cJSON *o = cJSON_Parse(p);
        if (!cJSON_IsObject(o)) {
            cJSON_Delete(o);
            rc = hn_fail(err, "%s:%ld: not a JSON object (the file is JSONL: one object a line)", path, lineno);
            break;
        }
        if (t->n == alloc) {
            alloc = alloc ? 2 * alloc : 64;
            hn_task_item *grown = realloc(t->items, (size_t)alloc * sizeof *grown);
            if (!grown) {
                cJSON_Delete(o);
                rc = hn_fail(err, "%s: out of memory", path);
                break;
            }
            t->items = grown;
        }
        const char *why = "out of memory";
        hn_task_item *it = &t->items[t->n];
        if (parse_item(format, o, it, &why)) {
            item_free(it);
            rc = hn_fail(err, "%s:%ld: not a %s item: %s", path, lineno, format, why);
        } else if (it->gold < 0 || it->gold >= it->n) {
            rc = hn_fail(err, "%s:%ld: the answer (%d) is not one of the %d choices", path, lineno,
                         it->gold, it->n);
            item_free(it);
        } else {
            t->n++;
        }
        cJSON_Delete(o);
    }
    free(line);
    fclose(f);
    if (rc == HN_OK && t->n == 0) rc = hn_fail(err, "%s: no items", path);
    if (rc) hn_task_free(t);
    return rc;
}

void hn_task_pick(const double *ll, const int *bytes, int n, int *pick, int *pick_norm) {
    *pick = *pick_norm = 0;
    for (int k = 1; k < n; k++) {
        if (ll[k] > ll[*pick]) *pick = k;
        if (ll[k] / bytes[k] > ll[*pick_norm] / bytes[*pick_norm]) *pick_norm = k;
    }
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int hn_task_score(hn_model *m, const hn_task *t, int max_len, long batch_bytes,
                  hn_task_result *out, hn_error *err) {
    memset(out, 0, sizeof *out);
    long n = 0;
    for (int i = 0; i < t->n; i++) n += t->items[i].n;
    hn_ll_request *req = malloc((size_t)n * sizeof *req);
    hn_ll_result *res = malloc((size_t)n * sizeof *res);
    double *ll = malloc((size_t)n * sizeof *ll);
    int *len = malloc((size_t)n * sizeof *len);
    if (!req || !res || !ll || !len) {
        free(req), free(res), free(ll), free(len);
        return hn_fail(err, "task: out of memory");
    }
    long q = 0;
    for (int i = 0; i < t->n; i++)
        for (int k = 0; k < t->items[i].n; k++, q++) {
            req[q] = (hn_ll_request){.ctx = (const uint8_t *)t->items[i].ctx[k],
                                     .ctx_len = (int)strlen(t->items[i].ctx[k]),
                                     .cont = (const uint8_t *)t->items[i].cont[k],
                                     .cont_len = (int)strlen(t->items[i].cont[k])};
            out->bytes += req[q].cont_len;
        }
    double t0 = now_s();
    int rc = hn_eval_loglik(m, req, (int)n, max_len, batch_bytes, res, err);
    out->seconds = now_s() - t0;
    if (rc == HN_OK) {
        double right = 0, right_norm = 0, sum_ll = 0, chance = 0;
        q = 0;
        for (int i = 0; i < t->n; i++) {
            const hn_task_item *it = &t->items[i];
            for (int k = 0; k < it->n; k++) {
                ll[k] = res[q + k].logprob;
                len[k] = req[q + k].cont_len;
            }
            if (t->kind == HN_TASK_LAST_WORD) {
                right += res[q].greedy;
                right_norm += res[q].greedy;
                sum_ll += res[q].logprob;
            } else {
                int pick, pick_norm;
                hn_task_pick(ll, len, it->n, &pick, &pick_norm);
                right += pick == it->gold;
                right_norm += pick_norm == it->gold;
            }
            chance += 1.0 / it->n;
            q += it->n;
        }
        out->items = t->n;
        out->acc = right / t->n;
        out->acc_norm = right_norm / t->n;
        out->chance = chance / t->n;
        out->ppl = t->kind == HN_TASK_LAST_WORD ? exp(-sum_ll / t->n) : NAN;
    }
    free(req), free(res), free(ll), free(len);
    return rc;
}
