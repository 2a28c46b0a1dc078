/* hnet chunks CKPT TEXT: where each stage draws its boundaries (the paper's Figure 4),
 * as coloured text in the terminal and as an HTML page with inline styles. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/run_ref.h"
#include "cli/util.h"
#include "data/token_corpus.h"
#include "model/generate.h"
#include "train/checkpoint.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: hnet chunks RUN|CKPT TEXT [options]\n\n"
            "Runs TEXT through the checkpoint's model and shows where each stage drew a\n"
            "boundary: a byte that opens a chunk at stage s is marked with stage s's colour\n"
            "(the deepest stage it reached wins). Stages are numbered from 0, the outermost,\n"
            "as in the metric names (stage0.compression). CKPT is a .safetensors file or a\n"
            "run's checkpoint folder; RUN a run id or name in results.db (its checkpoint\n"
            "folder; for a name, the run that counts).\n\n"
            "options:\n"
            "  --html FILE    write the HTML page here (default: chunks.html)\n"
            "  --color        colour the terminal output even when it is not a terminal\n"
            "  --no-color     plain terminal output ([ marks a boundary, digits its stage)\n"
            "  --db PATH      results database where RUN is looked up (default results/results.db)\n");
}

/* background colours per depth (1 = first chunking stage) */
static const char *ANSI[] = {"", "\x1b[43;30m", "\x1b[46;30m", "\x1b[45;30m", "\x1b[42;30m"};
static const char *CSS[] = {"", "#ffd75f", "#5fd7ff", "#d787ff", "#87d787"};
#define N_COLOURS 5

static void html_byte(FILE *f, unsigned char c) {
    switch (c) {
    case '&': fputs("&amp;", f); break;
    case '<': fputs("&lt;", f); break;
    case '>': fputs("&gt;", f); break;
    case '"': fputs("&quot;", f); break;
    case '\n': fputs("&#8629;<br>", f); break;
    case ' ': fputs("&nbsp;", f); break;
    default:
        if (c < 32 || c == 127) fprintf(f, "\\x%02x", c);
        else fputc(c, f);
    }
}

static int write_html(const char *path, const char *ckpt, const unsigned char *text, size_t n,
                      const int *level, int depth, const long *counts) {
    FILE *f = fopen(path, "w");
    if (!f) return HN_ERR;
    fprintf(f, "<!doctype html>\n<meta charset=\"utf-8\">\n<title>hnet chunks</title>\n"
               "<style>body{font-family:monospace;font-size:15px;line-height:1.9}"
               "span.b{border-left:2px solid #333;padding:1px 0}</style>\n"
               "<h3>Boundaries drawn by ");
    for (const char *p = ckpt; *p; p++) html_byte(f, (unsigned char)*p);
    fprintf(f, "</h3>\n<p>");
    for (int s = 1; s < depth; s++)
        fprintf(f, "<span style=\"background:%s\">stage %d</span>: %ld boundaries of %zu bytes%s",
                CSS[s < N_COLOURS ? s : N_COLOURS - 1], s - 1, counts[s], n, s + 1 < depth ? "; " : "");
    fprintf(f, "</p>\n<div>");
    for (size_t t = 0; t < n; t++) {
        int s = level[t];
        if (s > 0)
            fprintf(f, "<span class=\"b\" data-stage=\"%d\" style=\"background:%s\">", s - 1,
                    CSS[s < N_COLOURS ? s : N_COLOURS - 1]);
        html_byte(f, text[t]);
        if (s > 0) fputs("</span>", f);
    }
    fprintf(f, "</div>\n");
    return fclose(f) ? HN_ERR : HN_OK;
}

int hn_cmd_chunks(int argc, char **argv) {
    const char *ckpt = NULL, *text = NULL, *html = "chunks.html", *db = NULL;
    int color = isatty(STDOUT_FILENO);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--db") && i + 1 < argc) {
            db = argv[++i];
        } else if (!strcmp(a, "--html") && i + 1 < argc) {
            html = argv[++i];
        } else if (!strcmp(a, "--color")) {
            color = 1;
        } else if (!strcmp(a, "--no-color")) {
            color = 0;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "hnet chunks: unknown option '%s' (see hnet chunks --help)\n", a);
            return 2;
        } else if (!ckpt) {
            ckpt = a;
        } else if (!text) {
            text = a;
        } else {
            fprintf(stderr, "hnet chunks: expected CKPT and TEXT, found also '%s'\n", a);
            return 2;
        }
    }
    char db_buf[4096];
    db = hn_cli_db(db, db_buf, sizeof db_buf);
    if (!ckpt || !text || !*text) {
        usage(stderr);
        return 2;
    }
    hn_error err;
    char resolved[1024];
    if (hn_run_ref_checkpoint(ckpt, db, resolved, sizeof resolved, &err)) {
        fprintf(stderr, "hnet chunks: %s\n", err.msg);
        return 1;
    }
    if (strcmp(resolved, ckpt)) fprintf(stderr, "hnet chunks: run %s: checkpoints in %s\n", ckpt, resolved);
    ckpt = resolved;
    hn_registry reg;
    hn_registry_init(&reg);
    hn_model m;
    cJSON *cfg = NULL;
    if (hn_registry_load_default(&reg, &err) ||
        hn_checkpoint_open_model(ckpt, &reg, hn_backend_cpu(), &m, &cfg, &err)) {
        fprintf(stderr, "hnet chunks: %s\n", err.msg);
        hn_registry_close(&reg);
        return 1;
    }
    if (hn_data_is_tokenized(cJSON_GetObjectItem(cfg, "data"))) { /* the page marks bytes */
        fprintf(stderr, "hnet chunks: %s reads tokens (data.tokenizer); hnet chunks shows the "
                        "boundaries of byte-level models\n", ckpt);
        cJSON_Delete(cfg);
        hn_model_free(&m);
        hn_registry_close(&reg);
        return 1;
    }
    size_t n = strlen(text);
    int *level = calloc(n, sizeof *level);
    long counts[HN_GEN_MAX_DEPTH] = {0};
    hn_generator g = {0};
    int rc = 1;
    if (!level || hn_generator_init(&g, &m, (int)n, &err)) goto done;
    for (size_t t = 0; t < n; t++) {
        if (hn_generator_step(&g, (unsigned char)text[t], NULL, &err)) goto done;
        int s = 0;
        while (s < g.depth - 1 && g.b[s]) s++; /* depth reached: consecutive boundaries */
        level[t] = s;
        for (int k = 1; k <= s; k++) counts[k]++;
    }
    if (g.depth == 1) fprintf(stderr, "hnet chunks: this model does not chunk (isotropic)\n");
    for (size_t t = 0; t < n; t++) {
        int s = level[t];
        unsigned char c = (unsigned char)text[t];
        if (color && s > 0) printf("%s", ANSI[s < N_COLOURS ? s : N_COLOURS - 1]);
        else if (!color && s > 0) printf("[%d", s - 1);
        if (c == '\n' && color && s > 0) printf("\\n\x1b[0m\n");
        else putchar(c);
        if (color && s > 0 && c != '\n') printf("\x1b[0m");
    }
    printf("\n");
    for (int s = 1; s < g.depth; s++)
        printf("%sstage %d%s: %ld boundaries of %zu bytes (%.2f bytes per chunk)\n",
               color ? ANSI[s < N_COLOURS ? s : N_COLOURS - 1] : "", s - 1, color ? "\x1b[0m" : "",
               counts[s], n, counts[s] ? (double)n / (double)counts[s] : 0.0);
    if (write_html(html, ckpt, (const unsigned char *)text, n, level, g.depth, counts)) {
        hn_fail(&err, "cannot write %s", html);
        goto done;
    }
    printf("wrote %s\n", html);
    rc = 0;
done:
    if (rc) fprintf(stderr, "hnet chunks: %s\n", err.msg);
    hn_generator_free(&g);
    free(level);
    cJSON_Delete(cfg);
    hn_model_free(&m);
    hn_registry_close(&reg);
    return rc;
}
