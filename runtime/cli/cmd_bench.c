/* hnet bench FILE: time training steps of an experiment's model on a device and print
 * the numbers bench/RESULTS.md quotes: median ms/step, bytes/s, model GFLOPs per byte
 * (forward x 3 for a training step, Appendix B counting, from the realised chunk
 * lengths), MFU against the device's measured bf16 matrix-product rate, peak device
 * memory, the split of a step into forward / backward / optimizer, and the realised
 * compression of each stage, and the split of a step into encoder / chunking / main /
 * dechunking / decoder / embedding+head+loss / optimizer. A step is forward, backward, gradient norm and AdamW on
 * real bytes of the experiment's corpus; nothing is logged to results.db. With
 * --timeline (cuda, CUPTI) the last steps are recorded as the device ran them: busy
 * and idle time, the longest idle gaps with the host's phase, device time per kernel
 * (core/timeline.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"
#include "cli/timeline_cli.h"
#include "cli/util.h"
#include "core/phase.h"
#include "core/timeline.h"
#include "data/corpus.h"
#include "data/token_corpus.h"
#include "lua/experiment.h"
#include "model/model.h"
#include "plugin/registry.h"
#include "train/batches.h"
#ifdef HN_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cupti_timeline.h"
#endif

static void usage(FILE *out) {
    fprintf(out,
            "usage: hnet bench FILE [options]\n"
            "       hnet bench --op NAME [options]   (one op; see hnet bench --op x --help)\n\n"
            "Times training steps (forward, backward, AdamW) of the experiment's model.\n\n"
            "options:\n"
            "  --device NAME   cpu or cuda (default: the experiment's backend)\n"
            "  --steps N       timed steps (default 20)\n"
            "  --warmup N      untimed steps first (default 3)\n"
            "  --batch N       sequences per step (default: train.batch)\n"
            "  --seq-len N     bytes per sequence (default: data.seq_len)\n"
            "  --md NAME       also print one Markdown table row labelled NAME\n"
            "  --profile       after timing, run one more step with per-op timing (cuda)\n"
            "  --timeline      after timing, record whole steps with CUPTI (cuda; one more\n"
            "                  step first warms CUPTI up): device busy and idle time, the\n"
            "                  longest idle gaps and the host's phase in each, device time\n"
            "                  per kernel; nothing synchronises inside the recorded steps\n"
            "  --timeline-steps N  steps to record (default 1; implies --timeline)\n"
            "  --gaps N        idle gaps listed (default 10)\n"
            "  --routing MODE  learned (default) or targets: H-Net boundaries held at every\n"
            "                  N-th position of each sequence, N each stage's ratio target\n"
            "                  (BENCH.md: time H-Nets at their target compression too)\n"
            "  --stats MODE    host (default) or device: the step's statistics as the trainer's\n"
            "                  HNET_STEP_STATS=device reads them (runtime/train/step_stats.h):\n"
            "                  the loss read after the backward is enqueued, the gradient's\n"
            "                  norm and clip on the device, no host wait inside the step\n");
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int num_of(const cJSON *o, const char *k, int fallback) {
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsNumber(v) ? v->valueint : fallback;
}

#define SPLIT_STEPS 3

/* The per-phase split of the SPLIT_STEPS steps after the timed ones (ms per step), per
 * stage, and as one Markdown row summed over stages when md is set. */
static void print_split(int n_stages, const char *md) {
    double sum[HN_PHASE_KINDS] = {0}, total = 0;
    printf("  split (ms/step, %d more steps, device synced at each boundary):\n", SPLIT_STEPS);
    for (int s = 0; s <= n_stages && s < HN_PHASE_MAX_STAGES; s++) {
        char line[256];
        int k = 0;
        for (int p = HN_PHASE_ENCODER; p <= HN_PHASE_DECODER; p++) {
            double ms = hn_phase_ms((hn_phase_kind)p, s) / SPLIT_STEPS;
            sum[p] += ms;
            if (ms > 0) k += snprintf(line + k, sizeof line - (size_t)k, " %s %.1f", hn_phase_name((hn_phase_kind)p), ms);
        }
        if (k) printf("    stage %d:%s\n", s, line);
    }
    sum[HN_PHASE_HEAD] = hn_phase_ms(HN_PHASE_HEAD, 0) / SPLIT_STEPS;
    sum[HN_PHASE_OPTIMIZER] = hn_phase_ms(HN_PHASE_OPTIMIZER, 0) / SPLIT_STEPS;
    for (int p = 0; p < HN_PHASE_KINDS; p++) total += sum[p];
    printf("    %s %.1f, optimizer %.1f; total %.1f\n", hn_phase_name(HN_PHASE_HEAD),
           sum[HN_PHASE_HEAD], sum[HN_PHASE_OPTIMIZER], total);
    if (md)
        printf("| %s split | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f |\n", md,
               sum[HN_PHASE_ENCODER], sum[HN_PHASE_CHUNKING], sum[HN_PHASE_MAIN],
               sum[HN_PHASE_DECHUNKING], sum[HN_PHASE_DECODER], sum[HN_PHASE_HEAD],
               sum[HN_PHASE_OPTIMIZER], total);
}

/* The timeline's host stamps in a recorded step: edge 1 opens the step, -1 closes it
 * (after its final sync); part names the part of the step that starts. */
static void timeline_mark(int edge, const char *part) {
#ifdef HN_HAVE_CUDA
    if (edge > 0) hn_cupti_timeline_step_begin();
    if (part) hn_cupti_timeline_part(part);
    if (edge < 0) hn_cupti_timeline_step_end();
#else
    (void)edge, (void)part;
#endif
}

typedef struct bench_opts {
    const char *file, *device, *md;
    int profile, hold_routing, stats_device;
    long steps, warmup, batch, seq_len;
    long timeline, gaps; /* steps to record (0: no timeline); gaps to list */
} bench_opts;

static int parse(int argc, char **argv, bench_opts *o) {
    o->steps = 20;
    o->warmup = 3;
    o->gaps = 10;
    long tl_steps = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long *dst = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 1;
        } else if (!strcmp(a, "--device") && i + 1 < argc) {
            o->device = argv[++i];
        } else if (!strcmp(a, "--routing") && i + 1 < argc) {
            const char *v = argv[++i];
            if (strcmp(v, "learned") && strcmp(v, "targets")) {
                fprintf(stderr, "hnet bench: --routing expects learned or targets, found '%s'\n", v);
                return 2;
            }
            o->hold_routing = !strcmp(v, "targets");
        } else if (!strcmp(a, "--stats") && i + 1 < argc) {
            const char *v = argv[++i];
            if (strcmp(v, "host") && strcmp(v, "device")) {
                fprintf(stderr, "hnet bench: --stats expects host or device, found '%s'\n", v);
                return 2;
            }
            o->stats_device = !strcmp(v, "device");
        } else if (!strcmp(a, "--profile")) {
            o->profile = 1;
        } else if (!strcmp(a, "--timeline")) {
            if (!o->timeline) o->timeline = 1;
        } else if (!strcmp(a, "--timeline-steps")) {
            dst = &tl_steps;
        } else if (!strcmp(a, "--gaps")) {
            dst = &o->gaps;
        } else if (!strcmp(a, "--md") && i + 1 < argc) {
            o->md = argv[++i];
        } else if (!strcmp(a, "--steps")) {
            dst = &o->steps;
        } else if (!strcmp(a, "--warmup")) {
            dst = &o->warmup;
        } else if (!strcmp(a, "--batch")) {
            dst = &o->batch;
        } else if (!strcmp(a, "--seq-len")) {
            dst = &o->seq_len;
        } else if (a[0] == '-') {
            fprintf(stderr, "hnet bench: unknown option '%s' (see hnet bench --help)\n", a);
            return 2;
        } else if (!o->file) {
            o->file = a;
        } else {
            fprintf(stderr, "hnet bench: one experiment file at a time\n");
            return 2;
        }
        if (dst) {
            if (i + 1 >= argc || hn_parse_long(argv[++i], dst) || *dst < 0) {
                fprintf(stderr, "hnet bench: %s expects a non-negative integer\n", a);
                return 2;
            }
        }
    }
    if (!o->file || o->steps < 1) {
        usage(stderr);
        return 2;
    }
    if (tl_steps == 0) {
        fprintf(stderr, "hnet bench: --timeline-steps expects at least 1 step\n");
        return 2;
    }
    if (tl_steps > 0) o->timeline = tl_steps;
    return 0;
}

int hn_cmd_bench(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--op")) return hn_cmd_bench_op(argc, argv);
    bench_opts o = {0};
    int rc = parse(argc, argv, &o);
    if (rc) return rc == 1 ? 0 : rc;
    hn_registry reg;
    hn_registry_init(&reg);
    hn_error err;
    cJSON *cfg = NULL;
    hn_corpus corpus;
    memset(&corpus, 0, sizeof corpus);
    hn_model m;
    memset(&m, 0, sizeof m);
    float *opt_m = NULL, *opt_v = NULL;
    hn_grad_clip *clip = NULL, *clip_host = NULL; /* --stats device */
    int32_t *tok = NULL;
    double *t_step = NULL, *t_fwd = NULL, *t_bwd = NULL, *t_opt = NULL;
    hn_timeline tl;
    hn_timeline_init(&tl);
    int status = 1, recording = 0;
    char why[384];
    (void)recording; /* set in cuda builds only */
    if (hn_registry_load_default(&reg, &err) || hn_experiment_load(o.file, NULL, &reg, &cfg, &err)) {
        fprintf(stderr, "hnet bench: %s\n", err.msg);
        goto done;
    }
    const cJSON *data = cJSON_GetObjectItem(cfg, "data"), *train = cJSON_GetObjectItem(cfg, "train");
    const cJSON *be_name = cJSON_GetObjectItem(cfg, "backend");
    const char *device = o.device ? o.device : cJSON_IsString(be_name) ? be_name->valuestring : "cpu";
    int batch = o.batch > 0 ? (int)o.batch : num_of(train, "batch", 8);
    int seq_len = o.seq_len > 0 ? (int)o.seq_len : num_of(data, "seq_len", 512);
    const hn_backend *be = hn_backend_get(device);
    if (!be) {
        fprintf(stderr, "hnet bench: device '%s' is not available here\n", device);
        goto done;
    }
    if (o.timeline && (hn_cli_timeline_refusal(be, why, sizeof why), why[0])) {
        fprintf(stderr, "hnet bench: %s\n", why);
        status = 2;
        goto done;
    }
    if (hn_data_is_tokenized(data)) { /* its rates would be per token, printed as per byte */
        fprintf(stderr, "hnet bench: %s reads tokens (data.tokenizer); hnet bench times byte-level "
                        "models (hnet run reports a token model's bytes/s and FLOPs per byte)\n", o.file);
        goto done;
    }
    if (hn_corpus_load(data, &corpus, &err) || hn_corpus_require(&corpus, (size_t)seq_len + 1, &err) ||
        hn_model_build(&m, cJSON_GetObjectItem(cfg, "model"), &reg, be, 1, &err)) {
        fprintf(stderr, "hnet bench: %s\n", err.msg);
        goto done;
    }
    hn_model_hold_routing(&m, o.hold_routing);
    size_t P = m.params.total, T = (size_t)batch * seq_len;
    opt_m = be->alloc(P * sizeof(float));
    opt_v = be->alloc(P * sizeof(float));
    tok = malloc((2 * T + 1) * sizeof *tok);
    long n = o.steps;
    t_step = malloc((size_t)n * sizeof(double));
    t_fwd = malloc((size_t)n * sizeof(double));
    t_bwd = malloc((size_t)n * sizeof(double));
    t_opt = malloc((size_t)n * sizeof(double));
    if (o.stats_device) {
        if (!be->grad_clip || !be->alloc_host) {
            fprintf(stderr, "hnet bench: --stats device: the %s backend has no such ops\n", be->name);
            goto done;
        }
        clip = be->alloc(sizeof *clip);
        clip_host = be->alloc_host(sizeof *clip_host);
    }
    if (!opt_m || !opt_v || !tok || !t_step || !t_fwd || !t_bwd || !t_opt ||
        (o.stats_device && (!clip || !clip_host))) {
        fprintf(stderr, "hnet bench: out of memory for the optimizer state\n");
        goto done;
    }
    double peak_rate = 0;
    const char *dev_name = "cpu";
#ifdef HN_HAVE_CUDA
    if (be->kind == HN_DEVICE_CUDA) {
        peak_rate = hn_cuda_measure_bf16_flops(8192, 10);
        dev_name = hn_cuda_device_name();
        hn_cuda_reset_peak();
    }
#endif
    hn_rng rng = hn_rng_derive(1, 0xbe4c);
    double flops_byte = 0, comp[8] = {0};
    int S = 0;
    /* after the timed steps: SPLIT_STEPS with the per-phase split (a device sync at
     * each boundary, so they are not timed), the optional profiled step, then the steps
     * under CUPTI (no sync between forward, backward and optimizer there): the first
     * pays CUPTI's one-time setup (it instruments each kernel at its first launch), so
     * only the ones after it are stamped as steps and analysed */
    long split_end = n + SPLIT_STEPS, prof_end = split_end + (o.profile ? 1 : 0);
    long last = prof_end + (o.timeline ? 1 + o.timeline : 0);
    double prof_t0 = 0; /* the profiled step's start (cuda builds) */
    (void)prof_t0;
    for (long step = -o.warmup; step < last; step++) {
        if (step == n) hn_phase_enable(be->sync);
        if (step == split_end) hn_phase_enable(NULL);
        int cupti = step >= prof_end, rec = step > prof_end; /* under CUPTI; analysed */
#ifdef HN_HAVE_CUDA
        if (step == prof_end && o.timeline) {
            be->sync();
            if (hn_cupti_timeline_start(&tl, why, sizeof why)) {
                hn_fail(&err, "the timeline: %s", why);
                goto fail;
            }
            recording = 1;
            hn_phase_observe(hn_cupti_timeline_phase);
        }
        if (o.profile && step == split_end && be->kind == HN_DEVICE_CUDA) { /* the profiled extra step */
            hn_cuda_profile_reset();
            hn_cuda_profile(1);
            prof_t0 = now_s();
        }
#endif
        hn_batch_sample_train(&corpus, &rng, batch, seq_len, tok, tok + T);
        be->sync();
        double t0 = now_s();
        if (rec) timeline_mark(1, "forward");
        hn_loss loss;
        if ((o.stats_device ? hn_model_forward_start : hn_model_forward)(&m, tok, tok + T, batch,
                                                                        seq_len, &loss, &err))
            goto fail;
        if (!cupti) be->sync();
        double t1 = now_s();
        if (rec) timeline_mark(0, "backward");
        hn_params_zero_grads(&m.params);
        if (hn_model_backward(&m, &err)) goto fail;
        if (o.stats_device) hn_model_forward_finish(&m, &loss); /* the trainer's one wait */
        if (!cupti) be->sync();
        double t2 = now_s();
        if (rec) timeline_mark(0, "optimizer");
        hn_phase_enter(HN_PHASE_OPTIMIZER, 0);
        if (o.stats_device) { /* the clip on the device, the norm read back behind the update */
            be->grad_clip(clip, m.params.grads, P, 1.0);
            be->adamw_clipped(m.params.values, m.params.grads, opt_m, opt_v, P, 1e-4f, 0.9f, 0.95f,
                              1e-8f, 0.1f, 0.1f, 0.05f, clip);
            be->download_async(clip_host, clip, sizeof *clip);
        } else {
            double norm = sqrt(be->sum_squares(m.params.grads, P));
            be->adamw(m.params.values, m.params.grads, opt_m, opt_v, P, 1e-4f, 0.9f, 0.95f, 1e-8f,
                      0.1f, 0.1f, 0.05f, hn_grad_clip_scale(norm, 1.0));
        }
        be->sync();
        hn_phase_stop();
        if (rec) timeline_mark(-1, NULL);
        double t3 = now_s();
        if (!isfinite(loss.ce_nats)) {
            hn_fail(&err, "the loss is not finite at step %ld", step);
            goto fail;
        }
        fprintf(stderr, "  step %ld: %.1f ms (forward %.1f, backward %.1f)\n", step, 1e3 * (t3 - t0),
                1e3 * (t1 - t0), 1e3 * (t2 - t1));
        if (step < 0 || (step >= n && step < split_end) || cupti) continue;
        if (step >= split_end) { /* the profiled step */
#ifdef HN_HAVE_CUDA
            if (be->kind == HN_DEVICE_CUDA) {
                hn_cuda_profile(0);
                hn_cuda_profile_print(1e3 * (now_s() - prof_t0));
            }
#endif
            continue;
        }
        t_fwd[step] = 1e3 * (t1 - t0);
        t_bwd[step] = 1e3 * (t2 - t1);
        t_opt[step] = 1e3 * (t3 - t2);
        t_step[step] = 1e3 * (t3 - t0);
        flops_byte += 3.0 * hn_model_flops_per_byte(&m) / (double)n;
        hn_stage_stats st[8];
        S = hn_model_stage_stats(&m, st, 8);
        for (int s = 0; s < S; s++) comp[s] += st[s].compression / (double)n;
    }
#ifdef HN_HAVE_CUDA
    if (recording) {
        hn_phase_observe(NULL);
        recording = 0;
        if (hn_cupti_timeline_stop(why, sizeof why)) {
            hn_fail(&err, "the timeline: %s", why);
            goto fail;
        }
    }
#endif
    double ms = hn_median(t_step, (int)n), fwd = hn_median(t_fwd, (int)n), bwd = hn_median(t_bwd, (int)n);
    double opt = hn_median(t_opt, (int)n), bytes_s = (double)T / (ms * 1e-3);
    double achieved = flops_byte * bytes_s;
    double peak_mem = 0;
#ifdef HN_HAVE_CUDA
    if (be->kind == HN_DEVICE_CUDA) peak_mem = (double)hn_cuda_peak_bytes();
    const char *cerr = be->kind == HN_DEVICE_CUDA ? hn_cuda_last_error() : "";
    if (cerr[0]) {
        fprintf(stderr, "hnet bench: CUDA error: %s\n", cerr);
        goto done;
    }
#endif
    char comp_s[128] = "-";
    for (int s = 0, k = 0; s < S; s++)
        k += snprintf(comp_s + k, sizeof comp_s - (size_t)k, "%sL%d/L%d %.3f", s ? ", " : "", s + 1, s,
                      comp[s]);
    printf("bench %s on %s (%s), batch %d x %d bytes, %ld steps after %ld warm-up, %.2fM params\n",
           o.file, device, dev_name, batch, seq_len, n, o.warmup, (double)P / 1e6);
    printf("  ms/step (median)   %10.2f   (forward %.2f, backward %.2f, optimizer %.2f)\n", ms, fwd,
           bwd, opt);
    printf("  bytes/s            %10.0f\n", bytes_s);
    if (o.stats_device) printf("  step statistics    device (loss read after the backward, clip on the device)\n");
    printf("  GFLOPs/byte        %10.4f   (training: 3 x forward)\n", flops_byte / 1e9);
    printf("  achieved TFLOP/s   %10.3f\n", achieved / 1e12);
    if (peak_rate > 0)
        printf("  MFU                %9.2f%%   (of %.0f TFLOP/s measured bf16 matmul)\n",
               100.0 * achieved / peak_rate, peak_rate / 1e12);
    if (peak_mem > 0) printf("  peak memory        %10.1f MiB (backend allocations)\n", peak_mem / 1048576.0);
    printf("  compression        %s%s\n", comp_s, o.hold_routing ? " (routing held at the targets)" : "");
#ifdef HN_HAVE_CUDA
    if (be->kind == HN_DEVICE_CUDA) { /* HNET_CUDA_MATMUL_ALGO=lt|lt-tuned: what tuning cost */
        hn_cuda_lt_stats lt;
        hn_cuda_lt_stats_of(be, &lt);
        if (lt.shapes)
            printf("  cuBLASLt           %d product shapes, %d timed in %.0f ms, %ld fallbacks\n",
                   lt.shapes, lt.tuned, lt.tune_ms, lt.fallbacks);
    }
#endif
    print_split(S, o.md);
    if (o.md)
        printf("| %s | %s | %d x %d | %.1f | %.0f | %.4f | %.2f%% | %.0f | %.1f / %.1f / %.1f | %s |\n",
               o.md, dev_name, batch, seq_len, ms, bytes_s, flops_byte / 1e9,
               peak_rate > 0 ? 100.0 * achieved / peak_rate : 0.0, peak_mem / 1048576.0, fwd, bwd,
               opt, comp_s);
    if (o.timeline) {
        hn_tl_report rep;
        if (hn_timeline_analyse(&tl, &rep)) {
            fprintf(stderr, "hnet bench: out of memory for the timeline\n");
            goto done;
        }
        hn_timeline_print(&tl, &rep, (int)o.gaps, o.md, stdout);
        hn_tl_report_free(&rep);
        if (tl.dropped)
            fprintf(stderr, "hnet bench: CUPTI dropped %ld activity records: the timeline misses "
                            "them\n", tl.dropped);
    }
    status = 0;
    goto done;
fail:
    fprintf(stderr, "hnet bench: %s\n", err.msg);
done:
#ifdef HN_HAVE_CUDA
    if (recording) { /* failed inside a recorded step */
        hn_phase_observe(NULL);
        if (m.be) m.be->sync();
        hn_cupti_timeline_stop(why, sizeof why);
    }
#endif
    hn_timeline_free(&tl);
    if (m.be) {
        if (opt_m) m.be->free(opt_m);
        if (opt_v) m.be->free(opt_v);
        if (clip) m.be->free(clip);
        if (clip_host) m.be->free_host(clip_host);
        hn_model_free(&m);
    }
    hn_corpus_free(&corpus);
    free(tok);
    free(t_step);
    free(t_fwd);
    free(t_bwd);
    free(t_opt);
    cJSON_Delete(cfg);
    hn_registry_close(&reg);
    return status;
}
