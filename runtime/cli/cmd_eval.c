/* hnet eval CKPT|RUN --data CORPUS[:split]: bits per byte of a checkpoint over a corpus
 * split, bytes/s and the compression of each stage; hnet eval CKPT|RUN --task FILE
 * --format F: a zero-shot task. Both batched through the backend in inference forwards
 * (model no_grad); recorded in results.db's evaluations table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/commands.h"
#include "cli/timeline_cli.h"
#include "cli/util.h"
#include "core/phase.h"
#include "core/timeline.h"
#include "data/corpus.h"
#include "data/token_corpus.h"
#include "eval/bpb.h"
#include "eval/perturb.h"
#include "eval/tasks.h"
#include "results/store.h"
#include "train/checkpoint.h"
#ifdef HN_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cupti_timeline.h"
#endif

static void usage(FILE *out) {
    fprintf(out,
            "usage: hnet eval CKPT|RUN --data CORPUS[:SPLIT] [options]\n"
            "       hnet eval CKPT|RUN --task FILE.jsonl --format FORMAT [options]\n\n"
            "Bits per byte of a checkpoint over a corpus split, with bytes/s and the\n"
            "compression L^{s+1}/L^s of each stage; the model runs batched on the chosen\n"
            "backend in inference forwards: a training forward's numbers to the bit, nothing\n"
            "kept for a backward. bytes/s is given over all forwards and over those after the\n"
            "first, which pays the one-time costs (allocation; model loading is never timed;\n"
            "results.db: bytes_per_s and bytes_per_s_after_first). CKPT is a .safetensors file\n"
            "or a run's checkpoint folder (its newest intact file); RUN is a run name, looked\n"
            "up in results/checkpoints/RUN. The result goes to the evaluations table of\n"
            "results.db, joined to the run the checkpoint belongs to.\n\n"
            "CORPUS is a named corpus (enwik8, tinyshakespeare, ...), a file or folder, or\n"
            "'synthetic'; SPLIT is valid (default), train, test (enwik8's last 5M bytes) or all.\n"
            "The windows are those of training's validation: consecutive, non-overlapping,\n"
            "seq_len bytes each predicting the next, from the start of the split. A model over\n"
            "tokens (data.tokenizer) is scored on exactly those bytes: they are tokenized with\n"
            "the run's tokenizer and predicted in windows of its sequence length in tokens\n"
            "(data.seq_tokens, else worked out again from the run's train split; --seq-tokens\n"
            "sets it), BPB = the tokens' NLL in bits over those bytes.\n\n"
            "--task scores a zero-shot task from a local JSONL file in lm-evaluation-harness's\n"
            "format FORMAT (lambada, hellaswag, piqa, arc_easy, arc_challenge, winogrande,\n"
            "openbookqa, or choice: {\"context\", \"choices\", \"gold\"}; experiments/TASKS.md):\n"
            "multiple choice by the log-likelihood of each continuation (acc, and acc_norm with\n"
            "it divided by the continuation's bytes), LAMBADA by greedy last-word prediction\n"
            "(acc, ppl). Requests longer than seq_len keep their last seq_len bytes. Tasks\n"
            "are scored byte by byte, so models over tokens are refused for --task.\n\n"
            "--perturb scores a multiple-choice task again with its contexts perturbed as in\n"
            "the H-Net paper's Table 3 (BLT's noise; continuations stay clean), seeded by --seed:\n"
            "  antspeak    every character upper-cased, one space between characters\n"
            "  drop        each character removed with probability 0.1\n"
            "  randomcase  each letter upper-cased with probability 0.5, else lower-cased\n"
            "  repeat      each character, with probability 0.2, written 2, 3 or 4 times\n"
            "  uppercase   every letter upper-cased\n"
            "and reports the robustness score of Appendix D.1 for each and for their mean:\n"
            "100 (perturbed - chance) / max(clean - chance, 0) on the task's headline accuracy\n"
            "(acc_norm for hellaswag, arc_challenge, openbookqa; acc otherwise), chance = the\n"
            "mean of 1/choices (0.25 for HellaSwag).\n\n"
            "options:\n"
            "  --seq-len N     bytes per window (default: the run's data.seq_len)\n"
            "  --seq-tokens N  tokens per window of a model over tokens (default: the run's)\n"
            "  --batch N       windows per forward (default: the run's eval.batch; larger\n"
            "                  batches run faster on a GPU, the BPB is the same)\n"
            "  --bytes N       evaluate at most N bytes (default: the whole split)\n"
            "  --limit N       score the first N task items (default: all)\n"
            "  --perturb P     antspeak, drop, randomcase, repeat, uppercase, a comma-separated\n"
            "                  list of them, or all\n"
            "  --seed N        seed of the perturbations (default 0)\n"
            "  --device D      cpu or cuda (default cpu)\n"
            "  --routing MODE  learned (default) or targets: every H-Net stage's boundaries held\n"
            "                  at every round(N)-th byte (N its ratio target), as hnet bench\n"
            "                  does: for timing a model whose router is untrained (a checkpoint\n"
            "                  of a few steps); the BPB is then not the model's, and nothing\n"
            "                  goes to results.db\n"
            "  --profile       the corpus's forwards timed op by op (cuda; each op waited for, so\n"
            "                  the rate printed is not the evaluation's)\n"
            "  --timeline      the corpus's evaluation recorded with CUPTI as one step (cuda):\n"
            "                  device busy and idle time, the longest idle gaps and the host's\n"
            "                  phase in each (the first forward's one-time costs among them)\n"
            "  --db FILE       results database (default results/results.db)\n"
            "  --no-db         print only\n");
}

static int config_int(const cJSON *cfg, const char *section, const char *key, int fallback) {
    const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(cfg, section), key);
    return cJSON_IsNumber(v) && v->valueint > 0 ? v->valueint : fallback;
}

/* CORPUS[:SPLIT] -> the corpus and its byte range. */
static int open_split(const char *spec, hn_corpus *c, size_t *begin, size_t *end, char *split,
                      hn_error *err) {
    char name[1024];
    snprintf(name, sizeof name, "%s", spec);
    snprintf(split, 16, "valid");
    char *colon = strrchr(name, ':');
    const char *splits[] = {"train", "valid", "test", "all"};
    for (int i = 0; colon && i < 4; i++)
        if (!strcmp(colon + 1, splits[i])) {
            snprintf(split, 16, "%s", splits[i]);
            *colon = 0;
        }
    if (colon && *colon)
        return hn_fail(err, "--data %s: unknown split '%s' (train, valid, test or all)", spec, colon + 1);
    struct stat sb;
    int rc;
    if (!strcmp(name, "synthetic")) rc = hn_corpus_synthetic(HN_SYNTHETIC_DEFAULT_SEED, HN_SYNTHETIC_DEFAULT_BYTES, c, err);
    else if (!stat(name, &sb) && S_ISDIR(sb.st_mode)) rc = hn_corpus_from_dir(name, c, err);
    else if (!stat(name, &sb)) rc = hn_corpus_from_file(name, c, err);
    else rc = hn_corpus_named(name, c, err);
    if (rc) return HN_ERR;
    if (!strcmp(split, "train")) *begin = 0, *end = c->split;
    else if (!strcmp(split, "valid")) *begin = c->split, *end = c->valid_end;
    else if (!strcmp(split, "test")) *begin = c->valid_end, *end = c->n;
    else *begin = 0, *end = c->n;
    if (*end <= *begin) {
        hn_fail(err, "--data %s: %s has no %s split (only enwik8 has a test split)", spec, c->name,
                split);
        hn_corpus_free(c);
        return HN_ERR;
    }
    return HN_OK;
}

/* A checkpoint path: the file, the newest intact file of a folder, or of RUN's folder. */
static int resolve_checkpoint(const char *arg, char *path, size_t n, char *uuid, long *step,
                              hn_error *err) {
    struct stat sb;
    char dir[1100];
    if (stat(arg, &sb)) {
        hn_checkpoint_run_dir(dir, sizeof dir, "results/checkpoints", arg);
        if (stat(dir, &sb) || !S_ISDIR(sb.st_mode))
            return hn_fail(err, "%s: no such checkpoint file or folder, and no run folder %s", arg, dir);
        arg = dir;
    }
    hn_safetensors f;
    if (S_ISDIR(sb.st_mode)) {
        if (hn_checkpoint_latest(arg, &f, stderr, err) != 1) return HN_ERR;
    } else if (hn_safetensors_read(arg, &f, err)) {
        return HN_ERR;
    }
    snprintf(path, n, "%s", f.path);
    const char *u = hn_safetensors_meta(&f, "run_uuid"), *s = hn_safetensors_meta(&f, "step");
    snprintf(uuid, 33, "%s", u ? u : "");
    *step = s ? atol(s) : -1;
    hn_safetensors_free(&f);
    return HN_OK;
}

/* One row per metric into the evaluations table. */
static int log_rows(hn_results *r, hn_eval_row row, const char *const *metrics, const double *values,
                    int n, hn_error *err) {
    for (int i = 0; i < n; i++) {
        row.metric = metrics[i];
        row.value = values[i];
        if (hn_results_log_evaluation(r, &row, err)) return HN_ERR;
    }
    return HN_OK;
}

typedef struct eval_opts {
    const char *data, *task, *format, *device, *db;
    long seq_len, seq_tokens, batch, max_bytes, limit;
    int perturb[HN_PERTURB_COUNT], n_perturb; /* --perturb, in order */
    long seed;
    int use_db, hold_routing, profile, timeline;
} eval_opts;

#ifdef HN_HAVE_CUDA
/* --timeline: the evaluation as one recorded step (start: the device idle; 0, or -1 with
 * the reason in err) */
static int timeline_start(const hn_backend *be, hn_timeline *tl, hn_error *err) {
    char why[256];
    be->sync();
    if (hn_cupti_timeline_start(tl, why, sizeof why)) return hn_fail(err, "the timeline: %s", why);
    hn_phase_observe(hn_cupti_timeline_phase);
    hn_cupti_timeline_step_begin();
    hn_cupti_timeline_part("evaluation");
    return HN_OK;
}

/* ... its end, and what it recorded printed (after a failed evaluation: stopped only) */
static int timeline_finish(const hn_backend *be, hn_timeline *tl, int print, hn_error *err) {
    char why[256];
    be->sync();
    hn_cupti_timeline_step_end();
    hn_phase_observe(NULL);
    if (hn_cupti_timeline_stop(why, sizeof why)) return hn_fail(err, "the timeline: %s", why);
    if (!print) return HN_OK;
    hn_tl_report rep;
    if (hn_timeline_analyse(tl, &rep)) return hn_fail(err, "out of memory for the timeline");
    hn_timeline_print(tl, &rep, 10, NULL, stdout);
    hn_tl_report_free(&rep);
    if (tl->dropped)
        fprintf(stderr, "hnet eval: CUPTI dropped %ld activity records: the timeline misses them\n",
                tl->dropped);
    return HN_OK;
}
#endif

/* BPB over a corpus split. */
static int eval_corpus(hn_model *m, const cJSON *cfg, const eval_opts *o, const char *path,
                       hn_eval_row row, hn_results **r, hn_error *err) {
    hn_corpus c;
    memset(&c, 0, sizeof c);
    size_t begin = 0, end = 0;
    char split[16];
    if (open_split(o->data, &c, &begin, &end, split, err)) return HN_ERR;
    int L = o->seq_len ? (int)o->seq_len : config_int(cfg, "data", "seq_len", 512);
    int B = o->batch ? (int)o->batch : config_int(cfg, "eval", "batch", 8);
    hn_eval_bpb res;
    const cJSON *data = cJSON_GetObjectItem(cfg, "data");
    hn_tokenizer *tok = NULL;
    int S = 0, rc = HN_OK;
    if (hn_data_is_tokenized(data)) { /* the run's tokenizer and tokens per window */
        double bytes_per_token;
        rc = hn_tokenizer_load(cJSON_GetObjectItem(data, "tokenizer"), &tok, err);
        if (rc == HN_OK && o->seq_tokens) S = (int)o->seq_tokens;
        else if (rc == HN_OK && hn_token_corpus_stats(data, &bytes_per_token, &S, err))
            rc = hn_fail_prefix(err, "the run's tokens per sequence (give --seq-tokens)");
        if (rc) rc = hn_fail_prefix(err, "%s reads tokens", path);
    }
    hn_timeline tl;
    hn_timeline_init(&tl);
#ifdef HN_HAVE_CUDA
    int profiled = o->profile && m->be->kind == HN_DEVICE_CUDA, recorded = 0;
    if (profiled) {
        hn_cuda_profile_reset();
        hn_cuda_profile(1);
    }
    if (rc == HN_OK && o->timeline) { /* the command refused --timeline where it cannot run */
        rc = timeline_start(m->be, &tl, err);
        recorded = rc == HN_OK;
    }
#endif
    if (rc == HN_OK)
        rc = tok ? hn_eval_bpb_tokens(m, tok, c.bytes, begin, end, L, S, B, o->max_bytes, &res, err)
                 : hn_eval_bpb_range(m, c.bytes, begin, end, L, B, o->max_bytes, &res, err);
#ifdef HN_HAVE_CUDA
    if (profiled) { /* every forward, the first's one-time costs included */
        hn_cuda_profile(0);
        hn_cuda_profile_print(rc == HN_OK ? 1e3 * res.seconds : 0);
    }
    if (recorded) {
        hn_error terr;
        if (timeline_finish(m->be, &tl, rc == HN_OK, rc == HN_OK ? err : &terr)) rc = HN_ERR;
    }
#endif
    hn_timeline_free(&tl);
    hn_tokenizer_free(tok);
    if (rc == HN_OK) {
        double bps = res.seconds > 0 ? (double)res.bytes / res.seconds : 0;
        printf("%s on %s:%s: %.6f bpb over %ld bytes (seq_len %d, batch %d, %s), %.0f bytes/s\n", path,
               c.name, split, res.bpb, res.bytes, L, B, m->be->name, bps);
        /* the first forward pays the one-time costs (allocation, the backend's set-up) */
        double rest_s = res.seconds - res.first_seconds;
        long rest_tokens = res.tokens - res.first_bytes;
        double steady = res.first_bytes > 0 && rest_tokens > 0 && rest_s > 0
                            ? (double)rest_tokens * ((double)res.bytes / (double)res.tokens) / rest_s
                            : 0;
        if (steady > 0)
            printf("  %.0f bytes/s after the first forward (which took %.3f s of the %.3f s)\n",
                   steady, res.first_seconds, res.seconds);
        else
            printf("  one forward (%.3f s, one-time costs included): give --bytes or a smaller "
                   "--batch for a rate without them\n", res.seconds);
        if (S)
            printf("  %ld %s tokens in windows of %d, %.3f bytes per token\n", res.tokens,
                   cJSON_GetObjectItem(cJSON_GetObjectItem(data, "tokenizer"), "format")->valuestring, S,
                   (double)res.bytes / (double)res.tokens);
        for (int s = 0; s < res.stages; s++)
            printf("  stage %d compression L%d/L%d = %.4f (%.2f bytes per chunk)\n", s, s + 1, s,
                   res.compression[s], res.compression[s] > 0 ? 1.0 / res.compression[s] : 0.0);
        if (o->use_db) {
            char where[1100];
            const char *colon = strrchr(o->data, ':');
            if (colon && !strcmp(colon + 1, split)) snprintf(where, sizeof where, "%s", o->data);
            else snprintf(where, sizeof where, "%s:%s", o->data, split);
            row.task = "bpb", row.data = where, row.bytes = res.bytes;
            const char *metrics[2] = {"bpb", "bytes_per_s"};
            double values[2] = {res.bpb, bps};
            rc = hn_results_open(o->db, r, err) || log_rows(*r, row, metrics, values, 2, err);
            const char *sm[1] = {"bytes_per_s_after_first"};
            if (rc == HN_OK && steady > 0) rc = log_rows(*r, row, sm, &steady, 1, err);
            for (int s = 0; rc == HN_OK && s < res.stages; s++) {
                char name[32];
                snprintf(name, sizeof name, "compression_s%d", s);
                const char *mn[1] = {name};
                rc = log_rows(*r, row, mn, &res.compression[s], 1, err);
            }
        }
    }
    hn_corpus_free(&c);
    return rc ? HN_ERR : HN_OK;
}

/* The accuracy the paper reports for the task (Table 2). */
static double headline(const hn_task *t, const hn_task_result *r) {
    return t->headline_norm ? r->acc_norm : r->acc;
}

/* One scoring of the task file, perturbed by p (or clean when p < 0). */
static int score_once(hn_model *m, const eval_opts *o, int p, int L, long B, hn_task *t,
                      hn_task_result *res, hn_error *err) {
    if (hn_task_load(o->task, o->format, o->limit, t, err)) return HN_ERR;
    if (p >= 0 && t->kind != HN_TASK_CHOICE) {
        hn_task_free(t);
        return hn_fail(err, "--perturb applies to multiple-choice tasks, not %s", o->format);
    }
    if ((p >= 0 && hn_task_perturb(t, (hn_perturbation)p, (uint64_t)o->seed, err)) ||
        hn_task_score(m, t, L, B * L, res, err)) {
        hn_task_free(t);
        return HN_ERR;
    }
    return HN_OK;
}

/* A zero-shot task from a JSONL file, clean and under each --perturb. */
static int eval_task(hn_model *m, const cJSON *cfg, const eval_opts *o, const char *path,
                     hn_eval_row row, hn_results **r, hn_error *err) {
    int L = o->seq_len ? (int)o->seq_len : config_int(cfg, "data", "seq_len", 512);
    long B = o->batch ? o->batch : config_int(cfg, "eval", "batch", 8);
    hn_task t;
    hn_task_result clean;
    if (score_once(m, o, -1, L, B, &t, &clean, err)) return HN_ERR;
    int rc = HN_OK;
    printf("%s on %s (%s, %ld items, window %d, %s): acc %.4f", path, o->task, t.format, clean.items,
           L, m->be->name, clean.acc);
    if (t.kind == HN_TASK_LAST_WORD) printf(", ppl %.4f", clean.ppl);
    else printf(", acc_norm %.4f (chance %.4f)", clean.acc_norm, clean.chance);
    printf(", %.0f bytes/s\n", clean.seconds > 0 ? clean.bytes / clean.seconds : 0.0);
    char data[1100];
    snprintf(data, sizeof data, "%s (seed %ld)", o->task, o->seed); /* of the perturbed rows */
    if (o->use_db) {
        row.task = t.format, row.data = o->task, row.bytes = clean.items;
        const char *metrics[2] = {"acc", t.kind == HN_TASK_LAST_WORD ? "ppl" : "acc_norm"};
        double values[2] = {clean.acc, t.kind == HN_TASK_LAST_WORD ? clean.ppl : clean.acc_norm};
        rc = hn_results_open(o->db, r, err) || log_rows(*r, row, metrics, values, 2, err);
    }
    double sum_acc = 0, sum_norm = 0;
    for (int i = 0; rc == HN_OK && i < o->n_perturb; i++) {
        hn_task pt;
        hn_task_result res;
        int p = o->perturb[i];
        if (score_once(m, o, p, L, B, &pt, &res, err)) {
            rc = HN_ERR;
            break;
        }
        double score = hn_robustness_score(headline(&pt, &res), headline(&t, &clean), clean.chance);
        printf("  %-10s acc %.4f, acc_norm %.4f, robustness %.1f\n", hn_perturb_name(p), res.acc,
               res.acc_norm, score);
        sum_acc += res.acc, sum_norm += res.acc_norm;
        if (o->use_db) {
            char task[80];
            snprintf(task, sizeof task, "%s:%s", t.format, hn_perturb_name(p));
            row.task = task, row.data = data, row.bytes = res.items;
            const char *metrics[3] = {"acc", "acc_norm", "robustness"};
            double values[3] = {res.acc, res.acc_norm, score};
            rc = log_rows(*r, row, metrics, values, isnan(score) ? 2 : 3, err);
        }
        hn_task_free(&pt);
    }
    if (rc == HN_OK && o->n_perturb > 1) {
        hn_task_result mean = {.acc = sum_acc / o->n_perturb, .acc_norm = sum_norm / o->n_perturb};
        double score = hn_robustness_score(headline(&t, &mean), headline(&t, &clean), clean.chance);
        printf("  %-10s acc %.4f, acc_norm %.4f, robustness %.1f\n", "mean", mean.acc, mean.acc_norm, score);
        if (o->use_db) {
            char task[80];
            snprintf(task, sizeof task, "%s:perturbed", t.format);
            row.task = task, row.data = data, row.bytes = clean.items;
            const char *metrics[3] = {"acc", "acc_norm", "robustness"};
            double values[3] = {mean.acc, mean.acc_norm, score};
            rc = log_rows(*r, row, metrics, values, isnan(score) ? 2 : 3, err);
        }
    }
    hn_task_free(&t);
    return rc ? HN_ERR : HN_OK;
}

/* --perturb all | NAME[,NAME...] */
static int parse_perturb(const char *spec, eval_opts *o) {
    o->n_perturb = 0;
    if (!strcmp(spec, "all")) {
        for (int p = 0; p < HN_PERTURB_COUNT; p++) o->perturb[o->n_perturb++] = p;
        return 0;
    }
    char buf[256];
    snprintf(buf, sizeof buf, "%s", spec);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int p = hn_perturb_parse(tok);
        if (p < 0 || o->n_perturb == HN_PERTURB_COUNT) {
            fprintf(stderr, "hnet eval: --perturb: unknown perturbation '%s' (antspeak, drop, randomcase, "
                            "repeat, uppercase, or all)\n", tok);
            return -1;
        }
        o->perturb[o->n_perturb++] = p;
    }
    return 0;
}

int hn_cmd_eval(int argc, char **argv) {
    eval_opts o = {.device = "cpu", .use_db = 1};
    const char *arg = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--data") && more) {
            o.data = argv[++i];
        } else if (!strcmp(a, "--task") && more) {
            o.task = argv[++i];
        } else if (!strcmp(a, "--perturb") && more) {
            if (parse_perturb(argv[++i], &o)) return 2;
        } else if (!strcmp(a, "--seed") && more) {
            if (hn_parse_long(argv[++i], &o.seed) || o.seed < 0) {
                fprintf(stderr, "hnet eval: --seed expects a non-negative integer, found '%s'\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "--format") && more) {
            o.format = argv[++i];
        } else if (!strcmp(a, "--device") && more) {
            o.device = argv[++i];
        } else if (!strcmp(a, "--routing") && more) {
            const char *v = argv[++i];
            if (strcmp(v, "learned") && strcmp(v, "targets")) {
                fprintf(stderr, "hnet eval: --routing expects learned or targets, found '%s'\n", v);
                return 2;
            }
            o.hold_routing = !strcmp(v, "targets");
        } else if (!strcmp(a, "--db") && more) {
            o.db = argv[++i];
        } else if (!strcmp(a, "--no-db")) {
            o.use_db = 0;
        } else if (!strcmp(a, "--profile")) {
            o.profile = 1;
        } else if (!strcmp(a, "--timeline")) {
            o.timeline = 1;
        } else if ((!strcmp(a, "--seq-len") || !strcmp(a, "--batch") || !strcmp(a, "--bytes") ||
                    !strcmp(a, "--limit") || !strcmp(a, "--seq-tokens")) && more) {
            long v;
            if (hn_parse_long(argv[++i], &v) || v < 1) {
                fprintf(stderr, "hnet eval: %s expects a positive integer, found '%s'\n", a, argv[i]);
                return 2;
            }
            *(!strcmp(a, "--seq-len") ? &o.seq_len : !strcmp(a, "--batch") ? &o.batch
              : !strcmp(a, "--limit") ? &o.limit : !strcmp(a, "--seq-tokens") ? &o.seq_tokens
                                                                          : &o.max_bytes) = v;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "hnet eval: unknown option or missing value '%s' (see hnet eval --help)\n", a);
            return 2;
        } else if (!arg) {
            arg = a;
        } else {
            fprintf(stderr, "hnet eval: expected one CKPT or RUN, found also '%s'\n", a);
            return 2;
        }
    }
    char db_buf[4096];
    o.db = hn_cli_db(o.db, db_buf, sizeof db_buf);
    if (!arg || !o.data == !o.task) {
        if (o.data && o.task) fprintf(stderr, "hnet eval: give --data or --task, not both\n");
        usage(stderr);
        return 2;
    }
    if (o.n_perturb && !o.task) {
        fprintf(stderr, "hnet eval: --perturb needs --task\n");
        return 2;
    }
    if (o.task && !o.format) {
        fprintf(stderr, "hnet eval: --task needs --format (%s)\n", HN_TASK_FORMATS);
        return 2;
    }
    if ((o.timeline || o.profile) && o.task) {
        fprintf(stderr, "hnet eval: --%s times a corpus's evaluation (--data), not a task\n",
                o.timeline ? "timeline" : "profile");
        return 2;
    }
    const hn_backend *be = hn_backend_get(o.device);
    if (!be) {
        fprintf(stderr, "hnet eval: no backend '%s' in this build (cpu%s)\n", o.device,
                hn_backend_get("cuda") ? ", cuda" : "");
        return 2;
    }
    if (o.profile && be->kind != HN_DEVICE_CUDA) {
        fprintf(stderr, "hnet eval: --profile times cuda ops; it needs --device cuda\n");
        return 2;
    }
    char why[256];
    if (o.timeline && (hn_cli_timeline_refusal(be, why, sizeof why), why[0])) {
        fprintf(stderr, "hnet eval: %s\n", why);
        return 2;
    }
    if (o.timeline && o.profile) {
        fprintf(stderr, "hnet eval: --timeline and --profile measure different things; give one\n");
        return 2;
    }
#ifdef HN_HAVE_CUDA
    /* The products take cuBLASLt's heuristic pick here, not the candidates timed per shape
     * (the training default): timing costs about 15 ms a shape, 0.3-0.5 s for an H-Net's
     * shapes and again for a last, partial batch: most of a 1 MB evaluation (H200,
     * bench/NOTES.md session 9). HNET_CUDA_MATMUL_ALGO still decides where it is set. */
    if (be->kind == HN_DEVICE_CUDA && !getenv("HNET_CUDA_MATMUL_ALGO"))
        hn_cuda_config_of(be)->matmul_algo = HN_CUDA_MATMUL_ALGO_LT;
#endif
    hn_registry reg;
    hn_registry_init(&reg);
    hn_error err;
    hn_model m;
    memset(&m, 0, sizeof m);
    cJSON *cfg = NULL;
    hn_results *r = NULL;
    char path[1200], uuid[33];
    long step = -1;
    int rc = 1;
    if (hn_registry_load_default(&reg, &err) ||
        resolve_checkpoint(arg, path, sizeof path, uuid, &step, &err) ||
        hn_checkpoint_open_model(path, &reg, be, &m, &cfg, &err))
        goto done;
    hn_eval_row row = {.run_uuid = uuid, .checkpoint = path, .step = step};
    if (o.hold_routing) { /* a timing: the model's BPB is not what is measured */
        hn_model_hold_routing(&m, 1);
        o.use_db = 0;
        printf("routing held at the targets (--routing targets): the BPB is not the model's; "
               "nothing is written to results.db\n");
    }
    if (o.task && hn_data_is_tokenized(cJSON_GetObjectItem(cfg, "data"))) {
        hn_fail(&err, "%s reads tokens (data.tokenizer): zero-shot tasks are scored byte by byte, "
                      "which hnet eval --task does for byte-level models only; hnet eval --data "
                      "scores it in bits per byte", path);
        goto done;
    }
    if (o.task ? eval_task(&m, cfg, &o, path, row, &r, &err) : eval_corpus(&m, cfg, &o, path, row, &r, &err))
        goto done;
    rc = 0;
done:
    if (rc) fprintf(stderr, "hnet eval: %s\n", err.msg);
    if (r) hn_results_close(r);
    cJSON_Delete(cfg);
    hn_model_free(&m);
    hn_registry_close(&reg);
    return rc;
}
