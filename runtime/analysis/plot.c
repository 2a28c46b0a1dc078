/* Line figures with cairo. One drawing routine, two surfaces (image -> PNG, SVG). */
#include <cairo-svg.h>
#include <cairo.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/compare.h"
#include "analysis/plot.h"

/* Colour-blind friendly palette (Okabe-Ito, its yellow darkened to read on white). */
static const double PALETTE[][3] = {
    {0.000, 0.447, 0.698}, {0.835, 0.369, 0.000}, {0.000, 0.620, 0.451}, {0.800, 0.475, 0.655},
    {0.337, 0.706, 0.914}, {0.902, 0.624, 0.000}, {0.55, 0.50, 0.05},    {0.000, 0.000, 0.000},
    {0.55, 0.34, 0.29},    {0.50, 0.50, 0.50},
};
#define NPAL (int)(sizeof PALETTE / sizeof PALETTE[0])
static const char *FONT = "DejaVu Sans";

typedef struct frame {
    double left, top, w, h;    /* plot area */
    double x0, x1, y0, y1;     /* data range (in log10 on a log axis) */
    int logx, logy;
} frame;

static double fx(const frame *f, double x) {
    double v = f->logx ? log10(x) : x;
    return f->left + (v - f->x0) / (f->x1 - f->x0) * f->w;
}
static double fy(const frame *f, double y) {
    double v = f->logy ? log10(y) : y;
    return f->top + f->h - (v - f->y0) / (f->y1 - f->y0) * f->h;
}

/* Whether a point can be drawn on this frame's axes. */
static int drawable(const frame *f, double x, double y) {
    return isfinite(x) && isfinite(y) && !(f->logx && x <= 0) && !(f->logy && y <= 0);
}

static void text_at(cairo_t *cr, const char *s, double x, double y, double ax, double ay) {
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    cairo_move_to(cr, x - ax * e.width - e.x_bearing, y - ay * e.height - e.y_bearing);
    cairo_show_text(cr, s);
}

static void font(cairo_t *cr, double size, int bold) {
    cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

static double nice_step(double range, int target) {
    double raw = range / target, p = pow(10, floor(log10(raw))), m = raw / p;
    return (m < 1.5 ? 1 : m < 3 ? 2 : m < 7 ? 5 : 10) * p;
}

static int data_range(const hn_plot *p, frame *f) {
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int s = 0; s < p->n_series; s++)
        for (int i = 0; i < p->series[s].n; i++) {
            double x = p->series[s].x[i], y = p->series[s].y[i];
            if ((p->logx && x <= 0) || (p->logy && y <= 0) || !isfinite(x) || !isfinite(y)) continue;
            x0 = fmin(x0, x), x1 = fmax(x1, x), y0 = fmin(y0, y), y1 = fmax(y1, y);
        }
    if (!isfinite(x0)) return HN_ERR;
    for (int i = 0; i < p->n_hlines; i++)
        if (isfinite(p->hlines[i]) && !(p->logy && p->hlines[i] <= 0))
            y0 = fmin(y0, p->hlines[i]), y1 = fmax(y1, p->hlines[i]);
    if (p->logx) x0 = log10(x0), x1 = log10(x1);
    if (p->logy) y0 = log10(y0), y1 = log10(y1);
    if (x1 - x0 < 1e-9) x0 -= 0.5, x1 += 0.5;
    if (y1 - y0 < 1e-9) y0 -= 0.5, y1 += 0.5;
    double px = 0.03 * (x1 - x0), py = 0.06 * (y1 - y0);
    f->x0 = x0 - px, f->x1 = x1 + px, f->y0 = y0 - py, f->y1 = y1 + py;
    f->logx = p->logx, f->logy = p->logy;
    return HN_OK;
}

/* "500", "2K", "2.5M": short tick labels with SI suffixes. */
static void tick_label(char *out, size_t size, double v) {
    const char *suf[] = {"", "K", "M", "G", "T", "P"};
    int k = 0;
    while (fabs(v) >= 1000 * (1 - 1e-9) && k < 5) v /= 1000, k++;
    snprintf(out, size, "%.3g%s", v, suf[k]);
}

/* One y tick: grid line, tick mark and (when label) its label. */
static void y_tick(cairo_t *cr, const frame *f, double y, const char *label, int major) {
    double py = fy(f, y);
    if (major) {
        cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
        cairo_move_to(cr, f->left, py), cairo_line_to(cr, f->left + f->w, py), cairo_stroke(cr);
    }
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_move_to(cr, f->left - (major ? 6 : 3), py), cairo_line_to(cr, f->left, py), cairo_stroke(cr);
    if (label) text_at(cr, label, f->left - 10, py, 1, 0.5);
}

/* y ticks: nice steps of the value (on a log axis spanning less than a decade, placed
 * logarithmically), or decades with minor ticks on a wider log axis. */
static void y_ticks(cairo_t *cr, const frame *f) {
    char lab[32];
    if (f->logy && f->y1 - f->y0 >= 1) {
        for (int k = (int)floor(f->y0); k <= (int)ceil(f->y1); k++)
            for (int m = 1; m <= 9; m++) {
                double ly = k + log10(m);
                if (ly < f->y0 || ly > f->y1) continue;
                snprintf(lab, sizeof lab, "%g", pow(10, ly));
                y_tick(cr, f, pow(10, ly), m == 1 || (f->y1 - f->y0 < 2.2 && (m == 2 || m == 5)) ? lab : NULL,
                       m == 1);
            }
        return;
    }
    double v0 = f->logy ? pow(10, f->y0) : f->y0, v1 = f->logy ? pow(10, f->y1) : f->y1;
    double ys = nice_step(v1 - v0, 6);
    int dec = ys >= 1 ? 0 : (int)ceil(-log10(ys) - 1e-9);
    for (double y = ceil(v0 / ys) * ys; y <= v1 + 1e-12; y += ys) {
        snprintf(lab, sizeof lab, "%.*f", dec, fabs(y) < 1e-12 ? 0.0 : y);
        y_tick(cr, f, y, lab, 1);
    }
}

static void draw_axes(cairo_t *cr, const hn_plot *p, const frame *f) {
    char lab[32];
    cairo_set_line_width(cr, 1);
    font(cr, 13, 0);
    y_ticks(cr, f);
    /* x: decades (log) with minor ticks at 2..9, labelled at 1, 2, 5 when few decades */
    if (f->logx) {
        double decades = f->x1 - f->x0;
        for (int k = (int)floor(f->x0); k <= (int)ceil(f->x1); k++)
            for (int m = 1; m <= 9; m++) {
                double lx = k + log10(m);
                if (lx < f->x0 || lx > f->x1) continue;
                double px = fx(f, pow(10, lx));
                int major = m == 1;
                int labelled = major || (decades < 2.2 && (m == 2 || m == 5)) ||
                               (decades < 1.1 && m != 7 && m != 9);
                if (major) {
                    cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
                    cairo_move_to(cr, px, f->top), cairo_line_to(cr, px, f->top + f->h), cairo_stroke(cr);
                }
                cairo_set_source_rgb(cr, 0, 0, 0);
                cairo_move_to(cr, px, f->top + f->h);
                cairo_line_to(cr, px, f->top + f->h + (major ? 6 : 3));
                cairo_stroke(cr);
                if (labelled) {
                    tick_label(lab, sizeof lab, pow(10, lx));
                    text_at(cr, lab, px, f->top + f->h + 10, 0.5, 0);
                }
            }
    } else {
        double xs = nice_step(f->x1 - f->x0, 8);
        for (double x = ceil(f->x0 / xs) * xs; x <= f->x1 + 1e-12; x += xs) {
            double px = fx(f, x);
            cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
            cairo_move_to(cr, px, f->top), cairo_line_to(cr, px, f->top + f->h), cairo_stroke(cr);
            cairo_set_source_rgb(cr, 0, 0, 0);
            cairo_move_to(cr, px, f->top + f->h), cairo_line_to(cr, px, f->top + f->h + 6), cairo_stroke(cr);
            tick_label(lab, sizeof lab, x);
            text_at(cr, lab, px, f->top + f->h + 10, 0.5, 0);
        }
    }
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_rectangle(cr, f->left, f->top, f->w, f->h);
    cairo_stroke(cr);
    font(cr, 15, 0);
    if (p->xlabel) text_at(cr, p->xlabel, f->left + f->w / 2, f->top + f->h + 38, 0.5, 0);
    if (p->ylabel) {
        cairo_save(cr);
        cairo_translate(cr, f->left - 62, f->top + f->h / 2);
        cairo_rotate(cr, -M_PI / 2);
        text_at(cr, p->ylabel, 0, 0, 0.5, 0.5);
        cairo_restore(cr);
    }
    font(cr, 18, 1);
    if (p->title) text_at(cr, p->title, f->left + f->w / 2, 16, 0.5, 0);
}

static void set_series_style(cairo_t *cr, const hn_plot_series *s, int idx) {
    int c = (s->color >= 0 ? s->color : idx) % NPAL;
    cairo_set_source_rgb(cr, PALETTE[c][0], PALETTE[c][1], PALETTE[c][2]);
    cairo_set_line_width(cr, 2.2);
    double dash[] = {7, 4};
    cairo_set_dash(cr, dash, s->dashed ? 2 : 0, 0);
}

static void draw_series(cairo_t *cr, const hn_plot *p, const frame *f) {
    cairo_save(cr);
    cairo_rectangle(cr, f->left, f->top, f->w, f->h);
    cairo_clip(cr);
    /* dotted markers first, under the curves */
    cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
    cairo_set_line_width(cr, 1.3);
    double dots[] = {2, 4};
    cairo_set_dash(cr, dots, 2, 0);
    for (int i = 0; i < p->n_vlines; i++) {
        if (f->logx && p->vlines[i] <= 0) continue;
        double px = fx(f, p->vlines[i]);
        cairo_move_to(cr, px, f->top), cairo_line_to(cr, px, f->top + f->h), cairo_stroke(cr);
    }
    double dashes[] = {9, 5};
    cairo_set_dash(cr, dashes, 2, 0);
    for (int i = 0; i < p->n_hlines; i++) {
        if (!isfinite(p->hlines[i]) || (f->logy && p->hlines[i] <= 0)) continue;
        double py = fy(f, p->hlines[i]);
        cairo_move_to(cr, f->left, py), cairo_line_to(cr, f->left + f->w, py), cairo_stroke(cr);
    }
    /* the reference lines say what they are */
    cairo_set_dash(cr, NULL, 0, 0);
    font(cr, 12, 0);
    for (int i = 0; p->vline_labels && i < p->n_vlines; i++) {
        if ((f->logx && p->vlines[i] <= 0) || !p->vline_labels[i]) continue;
        cairo_save(cr);
        cairo_translate(cr, fx(f, p->vlines[i]) - 4, f->top + f->h - 8);
        cairo_rotate(cr, -M_PI / 2);
        text_at(cr, p->vline_labels[i], 0, 0, 0, 1);
        cairo_restore(cr);
    }
    for (int i = 0; p->hline_labels && i < p->n_hlines; i++)
        if (isfinite(p->hlines[i]) && !(f->logy && p->hlines[i] <= 0) && p->hline_labels[i])
            text_at(cr, p->hline_labels[i], f->left + 8, fy(f, p->hlines[i]) - 4, 0, 1);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    for (int s = 0; s < p->n_series; s++) {
        const hn_plot_series *se = &p->series[s];
        set_series_style(cr, se, s);
        int started = 0, shown = 0;
        for (int i = 0; i < se->n; i++) {
            if (!drawable(f, se->x[i], se->y[i])) continue;
            double px = fx(f, se->x[i]), py = fy(f, se->y[i]);
            if (started) cairo_line_to(cr, px, py);
            else cairo_move_to(cr, px, py), started = 1;
            shown++;
        }
        if (se->points_only) cairo_new_path(cr);
        else cairo_stroke(cr);
        if (shown <= 40 || se->points_only) /* markers where points are sparse */
            for (int i = 0; i < se->n; i++) {
                if (!drawable(f, se->x[i], se->y[i])) continue;
                cairo_arc(cr, fx(f, se->x[i]), fy(f, se->y[i]), se->points_only ? 4.5 : 3.2, 0, 2 * M_PI);
                cairo_fill(cr);
            }
    }
    cairo_restore(cr);
}

static void draw_legend(cairo_t *cr, const hn_plot *p, const frame *f) {
    if (p->n_series == 0) return;
    font(cr, 13, 0);
    double wmax = 0, row = 20;
    for (int s = 0; s < p->n_series; s++) {
        cairo_text_extents_t e;
        cairo_text_extents(cr, p->series[s].label ? p->series[s].label : "", &e);
        wmax = fmax(wmax, e.x_advance);
    }
    double bw = wmax + 56, bh = row * p->n_series + 12;
    double bx = f->left + f->w - bw - 10, by = f->top + 10;
    cairo_set_dash(cr, NULL, 0, 0);
    cairo_set_source_rgba(cr, 1, 1, 1, 0.88);
    cairo_rectangle(cr, bx, by, bw, bh);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.6, 0.6, 0.6);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
    for (int s = 0; s < p->n_series; s++) {
        double cy = by + 6 + row * s + row / 2;
        set_series_style(cr, &p->series[s], s);
        if (p->series[s].points_only) cairo_arc(cr, bx + 23, cy, 4.5, 0, 2 * M_PI), cairo_fill(cr);
        else cairo_move_to(cr, bx + 8, cy), cairo_line_to(cr, bx + 38, cy), cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        text_at(cr, p->series[s].label ? p->series[s].label : "", bx + 46, cy, 0, 0.5);
    }
}

static int draw(cairo_surface_t *surf, const hn_plot *p, int W, int H, hn_error *err) {
    cairo_t *cr = cairo_create(surf);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    frame f = {.left = 92, .top = 48, .w = W - 92 - 28, .h = H - 48 - 72};
    if (data_range(p, &f)) {
        cairo_destroy(cr);
        return hn_fail(err, "nothing to plot: no curve has a point%s",
                       p->logy ? " with positive values on its log axes" : p->logx ? " with bytes > 0" : "");
    }
    draw_axes(cr, p, &f);
    draw_series(cr, p, &f);
    draw_legend(cr, p, &f);
    cairo_status_t st = cairo_status(cr);
    cairo_destroy(cr);
    if (st != CAIRO_STATUS_SUCCESS) return hn_fail(err, "drawing: %s", cairo_status_to_string(st));
    return HN_OK;
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcasecmp(s + a - b, suf);
}

int hn_plot_write(const hn_plot *p, const char *path, hn_error *err) {
    int W = p->width > 0 ? p->width : 960, H = p->height > 0 ? p->height : 600;
    cairo_surface_t *surf;
    int svg = ends_with(path, ".svg");
    if (!svg && !ends_with(path, ".png"))
        return hn_fail(err, "%s: unknown figure format (use a .png or .svg file name)", path);
    surf = svg ? cairo_svg_surface_create(path, W, H)
               : cairo_image_surface_create(CAIRO_FORMAT_ARGB32, W, H);
    if (cairo_surface_status(surf) != CAIRO_STATUS_SUCCESS) {
        hn_fail(err, "%s: %s", path, cairo_status_to_string(cairo_surface_status(surf)));
        cairo_surface_destroy(surf);
        return HN_ERR;
    }
    int rc = draw(surf, p, W, H, err);
    if (rc == HN_OK && !svg && cairo_surface_write_to_png(surf, path) != CAIRO_STATUS_SUCCESS)
        rc = hn_fail(err, "%s: cannot write the PNG file", path);
    cairo_surface_finish(surf);
    if (rc == HN_OK && cairo_surface_status(surf) != CAIRO_STATUS_SUCCESS)
        rc = hn_fail(err, "%s: %s", path, cairo_status_to_string(cairo_surface_status(surf)));
    cairo_surface_destroy(surf);
    return rc;
}

typedef struct membuf {
    unsigned char *data;
    size_t len, cap;
} membuf;

static cairo_status_t to_mem(void *closure, const unsigned char *data, unsigned int len) {
    membuf *b = closure;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->len + len) cap *= 2;
        unsigned char *d = realloc(b->data, cap);
        if (!d) return CAIRO_STATUS_NO_MEMORY;
        b->data = d, b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return CAIRO_STATUS_SUCCESS;
}

int hn_plot_png(const hn_plot *p, unsigned char **out, size_t *len, hn_error *err) {
    int W = p->width > 0 ? p->width : 960, H = p->height > 0 ? p->height : 600;
    cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, W, H);
    membuf b = {0};
    int rc = draw(surf, p, W, H, err);
    if (rc == HN_OK && cairo_surface_write_to_png_stream(surf, to_mem, &b) != CAIRO_STATUS_SUCCESS)
        rc = hn_fail(err, "encoding the PNG failed");
    cairo_surface_destroy(surf);
    if (rc) {
        free(b.data);
        return rc;
    }
    *out = b.data;
    *len = b.len;
    return HN_OK;
}
