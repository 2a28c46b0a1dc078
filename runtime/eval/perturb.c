#include "eval/perturb.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const NAMES[HN_PERTURB_COUNT] = {"antspeak", "drop", "randomcase", "repeat",
                                                    "uppercase"};

const char *hn_perturb_name(hn_perturbation p) {
    return p >= 0 && p < HN_PERTURB_COUNT ? NAMES[p] : "?";
}

int hn_perturb_parse(const char *name) {
    for (int p = 0; p < HN_PERTURB_COUNT; p++)
        if (!strcasecmp(name, NAMES[p])) return p;
    return -1;
}

/* Bytes of the UTF-8 character starting at s (1 for a stray continuation byte). */
static size_t char_len(const char *s) {
    size_t n = 1;
    while (s[n] && ((unsigned char)s[n] & 0xC0) == 0x80 && n < 4) n++;
    return n;
}

char *hn_perturb_text(const char *text, hn_perturbation p, hn_rng *rng) {
    size_t n = strlen(text);
    /* the longest result: every character written 4 times, or with a space after it */
    char *out = malloc(HN_PERTURB_REPEAT_MAX * n + 2 * n + 1);
    if (!out) return NULL;
    size_t k = 0;
    for (const char *s = text; *s;) {
        size_t len = char_len(s);
        int copies = 1;
        switch (p) {
        case HN_PERTURB_ANTSPEAK:
            if (s != text) out[k++] = ' ';
            break;
        case HN_PERTURB_DROP:
            if (hn_rng_uniform(rng) < HN_PERTURB_DROP_P) copies = 0;
            break;
        case HN_PERTURB_REPEAT:
            if (hn_rng_uniform(rng) < HN_PERTURB_REPEAT_P)
                copies = 2 + (int)hn_rng_below(rng, HN_PERTURB_REPEAT_MAX - 1);
            break;
        default:
            break;
        }
        /* one draw per character, letter or not, so the stream does not depend on the text's case */
        int to = p == HN_PERTURB_ANTSPEAK || p == HN_PERTURB_UPPERCASE ? 1 : 0;
        if (p == HN_PERTURB_RANDOMCASE) to = hn_rng_uniform(rng) < HN_PERTURB_RANDOMCASE_P ? 1 : -1;
        for (int c = 0; c < copies; c++) {
            memcpy(out + k, s, len);
            if (len == 1 && to) out[k] = (char)(to > 0 ? toupper((unsigned char)*s) : tolower((unsigned char)*s));
            k += len;
        }
        s += len;
    }
    out[k] = 0;
    return out;
}

int hn_task_perturb(hn_task *t, hn_perturbation p, uint64_t seed, hn_error *err) {
    if (p < 0 || p >= HN_PERTURB_COUNT) return hn_fail(err, "unknown perturbation %d", (int)p);
    hn_rng rng;
    hn_rng_seed(&rng, seed * HN_PERTURB_COUNT + (uint64_t)p);
    for (int i = 0; i < t->n; i++) {
        hn_task_item *it = &t->items[i];
        char **fresh = calloc((size_t)it->n, sizeof *fresh);
        if (!fresh) return hn_fail(err, "perturbing: out of memory");
        for (int k = 0; k < it->n; k++) {
            int same = -1;
            for (int j = 0; j < k && same < 0; j++)
                if (!strcmp(it->ctx[j], it->ctx[k])) same = j;
            fresh[k] = same >= 0 ? strdup(fresh[same]) : hn_perturb_text(it->ctx[k], p, &rng);
            if (!fresh[k]) {
                for (int j = 0; j <= k; j++) free(fresh[j]);
                free(fresh);
                return hn_fail(err, "perturbing: out of memory");
            }
        }
        for (int k = 0; k < it->n; k++) {
            free(it->ctx[k]);
            it->ctx[k] = fresh[k];
        }
        free(fresh);
    }
    return HN_OK;
}

double hn_robustness_score(double perturbed, double clean, double chance) {
    double room = fmax(clean - chance, 0);
    return room > 0 ? 100.0 * (perturbed - chance) / room : NAN;
}
