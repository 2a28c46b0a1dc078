/* Zero-shot tasks from local JSONL files in the formats lm-evaluation-harness reads
 * (one JSON object a line, the fields of each dataset on the Hugging Face hub), scored
 * by log-likelihood at the byte level: multiple choice (accuracy, and accuracy with each
 * continuation's log-likelihood divided by its length in bytes) and LAMBADA-style
 * last-word prediction (greedy accuracy, perplexity). The prompts follow the harness's
 * task definitions; experiments/TASKS.md says where each file comes from. */
#ifndef HN_EVAL_TASKS_H
#define HN_EVAL_TASKS_H

#include <stdint.h>

#include "model/model.h"

typedef enum { HN_TASK_CHOICE, HN_TASK_LAST_WORD } hn_task_kind;

/* One item: n candidate (context, continuation) pairs, one of them right. Most formats
 * share one context; Winogrande's differ per option and share the continuation. */
typedef struct hn_task_item {
    int n;
    char **ctx, **cont;
    int gold;
} hn_task_item;

typedef struct hn_task {
    char format[32];
    hn_task_kind kind;
    int headline_norm; /* the harness reports acc_norm for this task (HellaSwag, ARC-c, OBQA) */
    int n;
    hn_task_item *items;
} hn_task;

/* The formats, comma-separated (for messages and --help). */
extern const char *const HN_TASK_FORMATS;

/* Reads path as JSONL of the given format (lambada, hellaswag, piqa, arc_easy,
 * arc_challenge, winogrande, openbookqa, or choice: {"context", "choices", "gold"}), at
 * most limit items (0: all). An unreadable line is one message with path:line. */
int hn_task_load(const char *path, const char *format, long limit, hn_task *t, hn_error *err);
void hn_task_free(hn_task *t);

typedef struct hn_task_result {
    long items;
    double acc;      /* multiple choice: highest log-likelihood is gold; last word: greedy */
    double acc_norm; /* multiple choice: highest log-likelihood per byte is gold */
    double ppl;      /* last word: exp(-mean log-likelihood of the word) */
    double chance;   /* mean of 1 / choices */
    long bytes;      /* bytes scored (continuations) */
    double seconds;
} hn_task_result;

/* Scores every item through the model (hn_eval_loglik). */
int hn_task_score(hn_model *m, const hn_task *t, int max_len, long batch_bytes,
                  hn_task_result *out, hn_error *err);

/* The choice of one item from its continuations' log-likelihoods and byte lengths: the
 * argmax of ll (*pick) and of ll / bytes (*pick_norm), the first on ties. */
void hn_task_pick(const double *ll, const int *bytes, int n, int *pick, int *pick_norm);

#endif
