/* The textual perturbations of the H-Net paper's Table 3, following BLT (Pagnoni et al.
 * 2024, section 6.1), applied to the contexts of a multiple-choice task, seeded; and the
 * robustness score of the paper's Appendix D.1. Characters are UTF-8 characters (never
 * split); case changes touch ASCII letters only. */
#ifndef HN_EVAL_PERTURB_H
#define HN_EVAL_PERTURB_H

#include <stdint.h>

#include "core/rng.h"
#include "eval/tasks.h"

typedef enum {
    HN_PERTURB_ANTSPEAK,   /* every character upper-cased, one space between characters */
    HN_PERTURB_DROP,       /* each character removed with probability 0.1 */
    HN_PERTURB_RANDOMCASE, /* each letter upper-cased with probability 0.5, else lower-cased */
    HN_PERTURB_REPEAT,     /* each character, with probability 0.2, written 2, 3 or 4 times (uniform) */
    HN_PERTURB_UPPERCASE,  /* every letter upper-cased */
    HN_PERTURB_COUNT
} hn_perturbation;

#define HN_PERTURB_DROP_P 0.1
#define HN_PERTURB_RANDOMCASE_P 0.5
#define HN_PERTURB_REPEAT_P 0.2
#define HN_PERTURB_REPEAT_MAX 4

/* "antspeak", "drop", "randomcase", "repeat", "uppercase". */
const char *hn_perturb_name(hn_perturbation p);
/* The perturbation of that name (case-insensitive), or -1. */
int hn_perturb_parse(const char *name);

/* The perturbed text (malloc'd; NULL when out of memory). */
char *hn_perturb_text(const char *text, hn_perturbation p, hn_rng *rng);

/* Perturbs the context of every item of t in place, from one generator seeded by seed
 * and p (choices sharing a context share its perturbed copy; continuations stay clean,
 * as in BLT's noised HellaSwag). */
int hn_task_perturb(hn_task *t, hn_perturbation p, uint64_t seed, hn_error *err);

/* Appendix D.1: 100 (perturbed - chance) / max(clean - chance, 0), chance = 0.25 for
 * HellaSwag (1 / choices in general); NAN when clean accuracy is at or below chance. */
double hn_robustness_score(double perturbed, double clean, double chance);

#endif
