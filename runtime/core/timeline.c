#include "core/timeline.h"

#include <stdlib.h>
#include <string.h>

#include "core/phase.h"

/* grows *p (n used, *cap allocated, elem bytes each) to hold one more; sets oom on failure */
static int room(hn_timeline *tl, void **p, size_t n, size_t *cap, size_t elem) {
    if (n < *cap) return 0;
    size_t c = *cap ? *cap * 2 : 256;
    void *q = realloc(*p, c * elem);
    if (!q) {
        tl->oom = 1;
        return -1;
    }
    *p = q;
    *cap = c;
    return 0;
}

void hn_timeline_init(hn_timeline *tl) {
    memset(tl, 0, sizeof *tl);
    tl->kind = -1;
}

void hn_timeline_free(hn_timeline *tl) {
    for (int i = 0; i < tl->n_names; i++) free(tl->names[i]);
    free(tl->names);
    free(tl->acts);
    free(tl->marks);
    free(tl->steps);
    hn_timeline_init(tl);
}

int hn_timeline_name(hn_timeline *tl, const char *name) {
    for (int i = 0; i < tl->n_names; i++)
        if (!strcmp(tl->names[i], name)) return i;
    size_t cap = (size_t)tl->cap_names;
    if (room(tl, (void **)&tl->names, (size_t)tl->n_names, &cap, sizeof *tl->names)) return -1;
    tl->cap_names = (int)cap;
    char *copy = strdup(name);
    if (!copy) {
        tl->oom = 1;
        return -1;
    }
    tl->names[tl->n_names] = copy;
    return tl->n_names++;
}

void hn_timeline_add(hn_timeline *tl, uint64_t start, uint64_t end, int name) {
    if (name < 0 || room(tl, (void **)&tl->acts, tl->n_acts, &tl->cap_acts, sizeof *tl->acts)) {
        tl->oom = 1;
        return;
    }
    tl->acts[tl->n_acts++] = (hn_tl_activity){start, end < start ? start : end, name};
}

void hn_timeline_step_begin(hn_timeline *tl, uint64_t t) {
    size_t cap = (size_t)tl->cap_steps;
    if (room(tl, (void **)&tl->steps, (size_t)tl->n_steps, &cap, sizeof *tl->steps)) return;
    tl->cap_steps = (int)cap;
    tl->steps[tl->n_steps++] = (hn_tl_step){t, t};
}

void hn_timeline_step_end(hn_timeline *tl, uint64_t t) {
    if (tl->n_steps) tl->steps[tl->n_steps - 1].t1 = t;
}

static void mark(hn_timeline *tl, uint64_t t) {
    if (room(tl, (void **)&tl->marks, tl->n_marks, &tl->cap_marks, sizeof *tl->marks)) return;
    tl->marks[tl->n_marks++] = (hn_tl_mark){t, tl->part, tl->kind, tl->stage};
}

void hn_timeline_phase(hn_timeline *tl, uint64_t t, int kind, int stage) {
    tl->kind = kind;
    tl->stage = stage;
    mark(tl, t);
}

void hn_timeline_part(hn_timeline *tl, uint64_t t, const char *part) {
    tl->part = part;
    tl->kind = -1;
    mark(tl, t);
}

void hn_timeline_label(const hn_timeline *tl, uint64_t t, char *out, size_t cap) {
    size_t lo = 0, hi = tl->n_marks; /* the first mark after t */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (tl->marks[mid].t <= t) lo = mid + 1;
        else hi = mid;
    }
    if (!lo) {
        snprintf(out, cap, "-");
        return;
    }
    const hn_tl_mark *m = &tl->marks[lo - 1];
    const char *part = m->part ? m->part : "";
    if (m->kind < 0) snprintf(out, cap, "%s%s", part, m->part ? " (no phase)" : "-");
    else if (m->part && !strcmp(m->part, hn_phase_name((hn_phase_kind)m->kind)))
        snprintf(out, cap, "%s", part); /* "optimizer", not "optimizer optimizer" */
    else if (m->kind == HN_PHASE_HEAD || m->kind == HN_PHASE_OPTIMIZER)
        snprintf(out, cap, "%s%s%s", part, m->part ? " " : "", hn_phase_name((hn_phase_kind)m->kind));
    else
        snprintf(out, cap, "%s%s%s s%d", part, m->part ? " " : "",
                 hn_phase_name((hn_phase_kind)m->kind), m->stage);
}

void hn_timeline_short_name(const char *s, char *out, size_t cap) {
    if (!cap) return;
    if (!strncmp(s, "void ", 5)) s += 5; /* kernels return void: the demangler says so */
    static const char anon[] = "(anonymous namespace)";
    size_t k = 0;
    int depth = 0, cut = 0;
    while (*s) {
        const char *piece = s;
        size_t len = 1, step = 1;
        int emit = depth < 2;
        if (*s == '<') {
            depth++;
            emit = depth <= 2;
            if (depth == 2) piece = "<...>", len = 5; /* nested template arguments: once */
        } else if (*s == '>') {
            depth--;
        } else if (depth == 0 && *s == '(') {
            if (strncmp(s, anon, sizeof anon - 1)) break; /* the parameter list */
            len = step = sizeof anon - 1;                 /* a namespace */
        }
        s += step;
        if (!emit) continue;
        if (k + len >= cap) {
            cut = 1;
            break;
        }
        memcpy(out + k, piece, len);
        k += len;
    }
    if (cut && cap >= 4) { /* "..." in place of the tail */
        k = k > cap - 4 ? cap - 4 : k;
        memcpy(out + k, "...", 3);
        k += 3;
    }
    out[k] = 0;
}

static const hn_tl_activity *g_sort_acts; /* qsort has no context argument in C11 */
static int by_start(const void *a, const void *b) {
    const hn_tl_activity *x = &g_sort_acts[*(const size_t *)a], *y = &g_sort_acts[*(const size_t *)b];
    if (x->start != y->start) return x->start < y->start ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}
static int by_length(const void *a, const void *b) {
    const hn_tl_gap *x = a, *y = b;
    uint64_t dx = x->end - x->start, dy = y->end - y->start;
    if (dx != dy) return dx > dy ? -1 : 1;
    return x->start < y->start ? -1 : x->start > y->start;
}
static int by_time(const void *a, const void *b) {
    const hn_tl_total *x = a, *y = b;
    if (x->ns != y->ns) return x->ns > y->ns ? -1 : 1;
    return x->name - y->name;
}

/* the step holding t, or -1 (steps are in time order and do not overlap) */
static int step_of(const hn_timeline *tl, uint64_t t) {
    if (!tl->n_steps) return 0;
    int lo = 0, hi = tl->n_steps;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (tl->steps[mid].t0 <= t) lo = mid + 1;
        else hi = mid;
    }
    return lo > 0 && t <= tl->steps[lo - 1].t1 ? lo - 1 : -1;
}

/* step s's window [first, last] ends: its length, and the host's time around it */
static void close_window(const hn_timeline *tl, hn_tl_report *r, int s, uint64_t first, uint64_t last) {
    r->window_ns += last - first;
    if (!tl->n_steps) return;
    r->lead_ns += first - tl->steps[s].t0;
    r->tail_ns += tl->steps[s].t1 > last ? tl->steps[s].t1 - last : 0;
}

int hn_timeline_analyse(const hn_timeline *tl, hn_tl_report *r) {
    memset(r, 0, sizeof *r);
    if (tl->oom) return -1;
    size_t n = tl->n_acts;
    size_t *order = malloc((n ? n : 1) * sizeof *order);
    r->gaps = malloc((n ? n : 1) * sizeof *r->gaps);
    r->totals = calloc(tl->n_names ? (size_t)tl->n_names : 1, sizeof *r->totals);
    if (!order || !r->gaps || !r->totals) {
        free(order);
        hn_tl_report_free(r);
        return -1;
    }
    for (size_t i = 0; i < n; i++) order[i] = i;
    g_sort_acts = tl->acts;
    qsort(order, n, sizeof *order, by_start);
    for (int i = 0; i < tl->n_names; i++) r->totals[i].name = i;
    r->steps = tl->n_steps ? tl->n_steps : n > 0;
    for (int s = 0; s < tl->n_steps; s++) r->host_ns += tl->steps[s].t1 - tl->steps[s].t0;
    /* one sweep in start order: a run of overlapping intervals is busy; the space
     * between two runs of one step is a gap; a new step starts a new window */
    int cur = -2;                 /* the step of the open window */
    uint64_t first = 0, run0 = 0, run1 = 0; /* window start; the open run */
    int last = -1;                /* the activity that ends the open run */
    for (size_t i = 0; i <= n; i++) {
        const hn_tl_activity *a = i < n ? &tl->acts[order[i]] : NULL;
        int s = a ? step_of(tl, a->start) : -2;
        if (a && s < 0) {
            r->outside++;
            continue;
        }
        if (a) {
            r->activities++;
            r->sum_ns += a->end - a->start;
            r->totals[a->name].calls++;
            r->totals[a->name].ns += a->end - a->start;
        }
        if (cur != -2 && (!a || s != cur || a->start > run1)) { /* the open run ends */
            r->busy_ns += run1 - run0;
            if (a && s == cur)
                r->gaps[r->n_gaps++] = (hn_tl_gap){run1, a->start, tl->acts[last].name, a->name, s};
            else
                close_window(tl, r, cur, first, run1);
        }
        if (!a) break;
        if (s != cur) first = a->start;
        if (s != cur || a->start > run1) {
            run0 = a->start;
            run1 = a->end;
            last = (int)order[i];
        } else if (a->end > run1) {
            run1 = a->end;
            last = (int)order[i];
        }
        cur = s;
    }
    if (!tl->n_steps) r->host_ns = r->window_ns;
    free(order);
    qsort(r->gaps, r->n_gaps, sizeof *r->gaps, by_length);
    qsort(r->totals, (size_t)tl->n_names, sizeof *r->totals, by_time);
    r->n_totals = tl->n_names;
    while (r->n_totals > 0 && r->totals[r->n_totals - 1].calls == 0) r->n_totals--;
    return 0;
}

void hn_tl_report_free(hn_tl_report *r) {
    free(r->gaps);
    free(r->totals);
    memset(r, 0, sizeof *r);
}
