/* The host API: what the runtime lends a plugin of its core, as one table handed to
 * the plugin's entry at load (SQLite's sqlite3_api_routines pattern). A plugin links
 * nothing of hnet; it calls core through this table (plugin/plugin.h maps the usual
 * names -- hn_fail, hn_stash_begin, hn_config_number, ... -- onto it).
 *
 * Compatibility rules:
 *  - fields are only ever appended, in dated groups, each group raising
 *    HN_HOST_API_VERSION by one; nothing is removed, reordered or retyped;
 *  - a plugin states the lowest host API version it needs (hn_plugin_decl.
 *    min_host_version); the loader refuses it, naming both versions, when the host is
 *    older, and a plugin built for an older host loads into every newer one;
 *  - size is sizeof(hn_host_api) of the host, so a plugin may also test for one field
 *    (HN_HOST_HAS(host, field)). */
#ifndef HN_HOST_API_H
#define HN_HOST_API_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "backend/kernels.h"
#include "core/crc32c.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/grow.h"
#include "core/stash.h"
#include "plugin/chunker_abi.h"
#include "plugin/config_view.h"
#include "plugin/layer_abi.h"

#define HN_HOST_API_VERSION 5u

/* A frozen byte LM that scores next-byte entropy (model/byte_lm.h), opaque here. */
typedef struct hn_byte_lm hn_byte_lm;
typedef struct hn_lm_stream hn_lm_stream;

typedef struct hn_host_api {
    uint32_t version; /* HN_HOST_API_VERSION of the running host */
    uint32_t size;    /* sizeof(hn_host_api) of the running host */

    /* ---- version 1 (2026-12): errors and configuration ---- */
    int (*fail)(hn_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
    int (*vfail)(hn_error *err, const char *fmt, va_list ap);
    int (*fail_prefix)(hn_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
    hn_config_kind (*config_kind_of)(const hn_config *cfg, const char *key);
    double (*config_number)(const hn_config *cfg, const char *key);
    const char *(*config_string)(const hn_config *cfg, const char *key);
    int (*config_bool)(const hn_config *cfg, const char *key);

    /* ---- version 2 (2026-12): kept activations, buffers, files ---- */
    float *(*stash_begin)(hn_stash *s, const hn_backend *be, int slot, size_t n);
    void (*stash_end)(hn_stash *s);
    const float *(*stash_get)(hn_stash *s, int slot);
    void (*stash_free)(hn_stash *s);
    hn_tensor (*stash_tensor_begin)(hn_stash *s, const hn_backend *be, int rows, int cols);
    hn_tensor (*stash_tensor)(const hn_stash *s);
    void *(*grow_buf_get)(hn_grow_buf *b, void *(*alloc)(size_t), void (*release)(void *),
                          size_t bytes);
    uint32_t (*crc32c)(uint32_t crc, const void *data, size_t n);
    uint32_t (*crc32c_mask)(uint32_t crc);
    int (*mkdir_p)(const char *dir, hn_error *err);

    /* ---- version 3 (2026-12): a frozen byte LM for chunkers (entropy patching) ----
     * hn_byte_lm_open loads an isotropic byte LM trained by hnet from a checkpoint
     * (file or run folder) on the cpu backend; entropy[t] (bits, host arrays) is the
     * entropy of its next-byte distribution after row t of packed sequences; flops is
     * its forward cost for T bytes; a stream scores one byte at a time (generation). */
    int (*byte_lm_open)(const char *checkpoint, hn_byte_lm **out, hn_error *err);
    void (*byte_lm_close)(hn_byte_lm *lm);
    int (*byte_lm_entropy)(hn_byte_lm *lm, const int32_t *bytes, const int32_t *offsets,
                           int n_seqs, float *entropy, hn_error *err);
    double (*byte_lm_flops)(const hn_byte_lm *lm, int T);
    int (*lm_stream_open)(hn_byte_lm *lm, int max_len, hn_lm_stream **out, hn_error *err);
    int (*lm_stream_step)(hn_lm_stream *s, int byte, float *entropy, hn_error *err);
    void (*lm_stream_close)(hn_lm_stream *s);

    /* ---- version 4 (2026-12): the kernel registry (backend/kernels.h) ----
     * Named ops with cpu and cuda implementations; a plugin registers its own from its
     * entry (HN_PLUGIN_LAYER_KERNELS in plugin/plugin.h) and launches them on ctx->be. */
    int (*kernel_register)(const hn_kernel_def *def, hn_error *err);
    const hn_kernel_def *(*kernel_find)(const char *name);
    int (*kernel_launch)(const hn_backend *be, const hn_kernel_def *def, const void *params,
                         hn_error *err);

    /* ---- version 5 (2026-12): no new entry here, but the backend's tables grew in ways
     * a host before 5 lacks: op params gained fields it would ignore (the overwrite of
     * hn_attention_params, hn_ssd_params and hn_gated_norm_params: gradients written,
     * not added) and the Mamba-2 ops gained xbc_dtype (the dtype of the conv output the
     * SSD reads), so a plugin that uses one needs version 5 ---- */
} hn_host_api;

/* Whether the running host's table has `field` (for a plugin that can do without it). */
#define HN_HOST_HAS(host, field) \
    ((host)->size >= offsetof(hn_host_api, field) + sizeof((host)->field) && (host)->field)

/* What a plugin's entry answers: the host API version it needs and its one table (the
 * others NULL). Fields only appended. */
struct hn_sink_plugin;
typedef struct hn_plugin_decl {
    uint32_t min_host_version;
    const hn_layer_plugin *layer;
    const hn_chunker_plugin *chunker;
    const struct hn_sink_plugin *sink;
} hn_plugin_decl;

/* The one symbol a plugin exports: called once at load, before anything else. */
#define HN_PLUGIN_ENTRY_SYMBOL "hn_plugin_entry"
typedef const hn_plugin_decl *(*hn_plugin_entry_fn)(const hn_host_api *host);

/* The runtime's table (runtime/plugin/host_api.c). */
const hn_host_api *hn_host_api_table(void);

#endif
