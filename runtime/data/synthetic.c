/* The synthetic corpus: an invented language generated from a seed. A lexicon of
 * word classes is built from syllables; sentences follow a small grammar; words are
 * drawn with Zipf-like frequencies (shorter words more frequent). Integer arithmetic
 * only, so a seed gives the same bytes on any machine. The grammar is documented in
 * experiments/DATA.md; keep the two in step. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "data/corpus.h"
#include "data/read.h"

#define WMAX 16 /* bytes per stored word: at most 12 letters + NUL */
#define MAX_LETTERS 12
#define JITTER 4 /* rank = length + random 0..3 */
#define ZIPF_Q 10 /* content words: weight 1/(rank + 1 + q), a flatter head */

enum { DET, NOUN, VERB, ADJ, ADV, PREP, CONJ, NCLASS };
static const int class_size[NCLASS] = {10, 1800, 1000, 600, 200, 14, 6};

static const char *const onsets[] = {"",   "",   "b",  "c",  "d",  "f",  "g",  "h",  "k",  "l",
                                     "m",  "n",  "p",  "r",  "s",  "t",  "v",  "w",  "z",  "br",
                                     "dr", "gr", "kr", "pl", "st", "th", "sh", "ch"};
static const char *const vowels[] = {"a", "e", "i", "o", "u", "a", "e", "o", "ai", "ea", "ou", "io"};
static const char *const codas[] = {"", "", "", "", "n", "r", "s", "l", "m", "t", "nd", "st"};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

typedef struct lexclass {
    int n;
    char (*w)[WMAX];
    uint64_t *cum; /* cumulative Zipf weights, cum[n-1] = total */
} lexclass;

typedef struct lexicon {
    lexclass cls[NCLASS];
    const char *seen[8192]; /* open-addressing set of all words, for uniqueness */
} lexicon;

static uint64_t str_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    while (*s) h = (h ^ (uint8_t)*s++) * 1099511628211ull;
    return h;
}

/* Adds w to the set; 0 when it was already there. */
static int seen_add(lexicon *lx, const char *w) {
    size_t mask = COUNT(lx->seen) - 1, i = str_hash(w) & mask;
    while (lx->seen[i]) {
        if (strcmp(lx->seen[i], w) == 0) return 0;
        i = (i + 1) & mask;
    }
    lx->seen[i] = w;
    return 1;
}

static void cat(char *w, const char *s) { strcat(w, s); }

static void syllable(hn_rng *r, char *w, int coda) {
    cat(w, onsets[hn_rng_below(r, COUNT(onsets))]);
    cat(w, vowels[hn_rng_below(r, COUNT(vowels))]);
    if (coda) cat(w, codas[hn_rng_below(r, COUNT(codas))]);
}

/* One candidate word of a class (may be a duplicate or too long: the caller retries). */
static void candidate(hn_rng *r, int cls, const lexicon *lx, char *w) {
    w[0] = 0;
    if (cls == DET || cls == CONJ) { /* short function words: onset? + one vowel letter */
        if (hn_rng_below(r, 10) >= 3) cat(w, onsets[2 + hn_rng_below(r, 17)]);
        cat(w, vowels[hn_rng_below(r, 5)]);
        if (cls == CONJ && hn_rng_below(r, 2)) cat(w, codas[4 + hn_rng_below(r, 6)]);
        return;
    }
    if (cls == PREP) {
        int syl = 1 + (int)hn_rng_below(r, 2);
        for (int i = 0; i < syl; i++) syllable(r, w, i == syl - 1);
        return;
    }
    if (cls == ADV) { /* derived: an adjective + "vo" (like English -ly) */
        const lexclass *adj = &lx->cls[ADJ];
        cat(w, adj->w[hn_rng_below(r, (uint64_t)adj->n)]);
        cat(w, "vo");
        return;
    }
    uint64_t p = hn_rng_below(r, 100);
    int syl = p < 10 ? 1 : p < 55 ? 2 : p < 88 ? 3 : 4;
    for (int i = 0; i < syl; i++) syllable(r, w, 1);
}

static int build_class(hn_rng *r, lexicon *lx, int cls, hn_error *err) {
    lexclass *c = &lx->cls[cls];
    int n = class_size[cls];
    c->w = calloc((size_t)n, WMAX);
    c->cum = calloc((size_t)n, sizeof *c->cum);
    int *len = calloc((size_t)n, sizeof *len);
    char (*tmp)[WMAX] = calloc((size_t)n, WMAX);
    if (!c->w || !c->cum || !len || !tmp) {
        free(len);
        free(tmp);
        return hn_fail(err, "out of memory building the synthetic lexicon");
    }
    int maxlen = cls == DET || cls == CONJ ? 4 : cls == PREP ? 6 : MAX_LETTERS;
    int minlen = cls == DET ? 2 : 1;
    for (int i = 0; i < n; i++) {
        int tries = 0;
        for (;;) {
            char w[64];
            candidate(r, cls, lx, w);
            int l = (int)strlen(w);
            if (l >= minlen && l <= maxlen) {
                memcpy(tmp[i], w, (size_t)l + 1);
                if (seen_add(lx, tmp[i])) { len[i] = l; break; }
            }
            if (++tries > 100000) {
                free(len);
                free(tmp);
                return hn_fail(err, "synthetic lexicon: cannot find enough distinct words");
            }
        }
    }
    /* Rank by length plus a random 0..JITTER-1, shortest first (ties keep creation
     * order): frequent words tend to be short, as in natural languages, without
     * every frequent word being the shortest possible. */
    for (int i = 0; i < n; i++) len[i] += (int)hn_rng_below(r, JITTER);
    int k = 0;
    for (int l = 1; l < MAX_LETTERS + JITTER; l++)
        for (int i = 0; i < n; i++)
            if (len[i] == l) memcpy(c->w[k++], tmp[i], WMAX);
    c->n = n;
    /* the set points into tmp: repoint it at the final storage */
    memset(lx->seen, 0, sizeof lx->seen);
    for (int j = 0; j <= cls; j++)
        for (int i = 0; i < lx->cls[j].n; i++) seen_add(lx, lx->cls[j].w[i]);
    free(len);
    free(tmp);
    uint64_t total = 0, q = cls == NOUN || cls == VERB || cls == ADJ || cls == ADV ? ZIPF_Q : 0;
    for (int i = 0; i < n; i++) c->cum[i] = total += ((uint64_t)1 << 32) / ((uint64_t)i + 1 + q);
    return HN_OK;
}

static void lexicon_free(lexicon *lx) {
    for (int i = 0; i < NCLASS; i++) {
        free(lx->cls[i].w);
        free(lx->cls[i].cum);
    }
}

static const char *draw(hn_rng *r, const lexclass *c) {
    uint64_t x = hn_rng_below(r, c->cum[c->n - 1]);
    int lo = 0, hi = c->n - 1; /* first i with cum[i] > x */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (c->cum[mid] > x) hi = mid; else lo = mid + 1;
    }
    return c->w[lo];
}

typedef struct gen {
    hn_rng r;
    const lexicon *lx;
    hn_bytebuf text, ws;
    int sentence_start; /* next word is the first of its sentence: no space, capital */
    int failed;
    hn_error *err;
} gen;

static void put(gen *g, const char *s, size_t n, int word) {
    if (g->failed) return;
    if (hn_bytebuf_reserve(&g->text, n, g->err) != HN_OK ||
        hn_bytebuf_reserve(&g->ws, n, g->err) != HN_OK) {
        g->failed = 1;
        return;
    }
    memcpy(g->text.p + g->text.n, s, n);
    memset(g->ws.p + g->ws.n, 0, n);
    if (word && n) g->ws.p[g->ws.n] = 1;
    g->text.n += n;
    g->ws.n += n;
}

static void word(gen *g, int cls, const char *suffix) {
    char w[WMAX + 4];
    snprintf(w, sizeof w, "%s%s", draw(&g->r, &g->lx->cls[cls]), suffix);
    if (g->sentence_start) {
        w[0] = (char)(w[0] - 'a' + 'A');
        g->sentence_start = 0;
    } else {
        put(g, " ", 1, 0);
    }
    put(g, w, strlen(w), 1);
}

static int chance(gen *g, int percent) { return (int)hn_rng_below(&g->r, 100) < percent; }

/* NP := Det [Adj] Noun(+"s" when plural) */
static void noun_phrase(gen *g, int plural) {
    word(g, DET, "");
    if (chance(g, 30)) word(g, ADJ, "");
    word(g, NOUN, plural ? "s" : "");
}

/* Clause := NP [Adv] Verb(+"en" when the subject is plural) NP [Prep NP] */
static void clause(gen *g) {
    int plural = chance(g, 30);
    noun_phrase(g, plural);
    if (chance(g, 15)) word(g, ADV, "");
    word(g, VERB, plural ? "en" : "");
    noun_phrase(g, chance(g, 30));
    if (chance(g, 35)) {
        word(g, PREP, "");
        noun_phrase(g, chance(g, 30));
    }
}

/* Sentence := Clause {", " Conj Clause} "."   (each extra clause 20%, at most 2) */
static void sentence(gen *g) {
    g->sentence_start = 1;
    clause(g);
    for (int extra = 0; extra < 2 && chance(g, 20); extra++) {
        put(g, ",", 1, 0);
        word(g, CONJ, "");
        clause(g);
    }
    put(g, ".", 1, 0);
}

int hn_corpus_synthetic(uint64_t seed, size_t nbytes, hn_corpus *out, hn_error *err) {
    memset(out, 0, sizeof *out);
    if (nbytes == 0) return hn_fail(err, "synthetic corpus: bytes must be at least 1");
    /* Separate streams: the lexicon does not depend on the size, and a longer corpus
     * of the same seed starts with the shorter one. */
    hn_rng lr = hn_rng_derive(seed, 0x6c6578);
    lexicon *lx = calloc(1, sizeof *lx);
    if (!lx) return hn_fail(err, "out of memory building the synthetic lexicon");
    for (int c = 0; c < NCLASS; c++)
        if (build_class(&lr, lx, c, err) != HN_OK) {
            lexicon_free(lx);
            free(lx);
            return HN_ERR;
        }
    gen g = {.r = hn_rng_derive(seed, 0x747874), .lx = lx, .err = err};
    if (hn_bytebuf_reserve(&g.text, nbytes + 4096, err) != HN_OK ||
        hn_bytebuf_reserve(&g.ws, nbytes + 4096, err) != HN_OK)
        g.failed = 1;
    /* Paragraph := 2..6 sentences separated by " ", then "\n" */
    while (!g.failed && g.text.n < nbytes) {
        int ns = 2 + (int)hn_rng_below(&g.r, 5);
        for (int i = 0; i < ns && !g.failed && g.text.n < nbytes; i++) {
            if (i) put(&g, " ", 1, 0);
            sentence(&g);
        }
        put(&g, "\n", 1, 0);
    }
    lexicon_free(lx);
    free(lx);
    if (g.failed) {
        hn_bytebuf_free(&g.text);
        hn_bytebuf_free(&g.ws);
        return HN_ERR;
    }
    out->bytes = g.text.p; /* truncated to exactly nbytes (may end inside a word) */
    out->word_start = g.ws.p;
    out->n = nbytes;
    out->split = hn_corpus_default_split(nbytes);
    out->valid_end = nbytes;
    snprintf(out->name, sizeof out->name, "synthetic(seed=%llu)", (unsigned long long)seed);
    return HN_OK;
}
