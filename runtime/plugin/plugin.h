/* What a plugin includes -- in this tree and out of it (`pkg-config --cflags hnet`):
 * the layer and chunker ABIs, the backend op table, and the host API with the usual
 * core names (hn_fail, hn_stash_begin, hn_config_number, ...) mapped onto it, so a
 * plugin links nothing of hnet and exports one symbol. One file of the plugin says
 *
 *     HN_PLUGIN_LAYER(&my_table, 1);      (or HN_PLUGIN_CHUNKER / HN_PLUGIN_SINK)
 *
 * naming its table and the lowest host API version it needs (host_api.h: 1 for errors
 * and config only, 2 when it also uses the stash, grow buffers, crc32c or mkdir_p, 3
 * for the byte LM of entropy patching, 4 for the kernel registry). A plugin with ops of
 * its own (backend/kernels.h) names them too, and its entry registers them:
 *
 *     static const hn_kernel_def *const kernels[] = {&my_op};
 *     HN_PLUGIN_LAYER_KERNELS(&my_table, 4, kernels);
 *
 * Build with -fvisibility=hidden; the entry is exported explicitly. */
#ifndef HN_PLUGIN_H
#define HN_PLUGIN_H

#include "plugin/host_api.h"

#define HN_PLUGIN_EXPORT __attribute__((visibility("default")))

/* The host's table, set by the entry; one per plugin, never exported. */
extern const hn_host_api *hn_host __attribute__((visibility("hidden")));

#define hn_fail (hn_host->fail)
#define hn_vfail (hn_host->vfail)
#define hn_fail_prefix (hn_host->fail_prefix)
#define hn_config_kind_of (hn_host->config_kind_of)
#define hn_config_number (hn_host->config_number)
#define hn_config_string (hn_host->config_string)
#define hn_config_bool (hn_host->config_bool)
#define hn_stash_begin (hn_host->stash_begin)
#define hn_stash_end (hn_host->stash_end)
#define hn_stash_get (hn_host->stash_get)
#define hn_stash_free (hn_host->stash_free)
#define hn_stash_tensor_begin (hn_host->stash_tensor_begin)
#define hn_stash_tensor (hn_host->stash_tensor)
#define hn_grow_buf_get (hn_host->grow_buf_get)
#define hn_crc32c (hn_host->crc32c)
#define hn_crc32c_mask (hn_host->crc32c_mask)
#define hn_mkdir_p (hn_host->mkdir_p)
#define hn_byte_lm_open (hn_host->byte_lm_open)
#define hn_byte_lm_close (hn_host->byte_lm_close)
#define hn_byte_lm_entropy (hn_host->byte_lm_entropy)
#define hn_byte_lm_flops (hn_host->byte_lm_flops)
#define hn_lm_stream_open (hn_host->lm_stream_open)
#define hn_lm_stream_step (hn_host->lm_stream_step)
#define hn_lm_stream_close (hn_host->lm_stream_close)
#define hn_kernel_register (hn_host->kernel_register)
#define hn_kernel_find (hn_host->kernel_find)
#define hn_kernel_launch (hn_host->kernel_launch)

/* Called by the entry: registers a plugin's ops. Failures (a duplicate name, an op
 * without its cpu twin) are held by the host and refuse the plugin with a message; an
 * older host, without the registry, refuses it by its min host version. */
static inline void hn_plugin_register_kernels_(const hn_host_api *host,
                                               const hn_kernel_def *const *kernels, size_t n) {
    if (!HN_HOST_HAS(host, kernel_register)) return;
    for (size_t i = 0; i < n; i++) host->kernel_register(kernels[i], NULL);
}

#define HN_PLUGIN_DECLARE_(FIELD, TABLE, MIN_HOST_VERSION, REGISTER)                       \
    const hn_host_api *hn_host;                                                            \
    HN_PLUGIN_EXPORT const hn_plugin_decl *hn_plugin_entry(const hn_host_api *host);       \
    const hn_plugin_decl *hn_plugin_entry(const hn_host_api *host) {                       \
        static hn_plugin_decl decl;                                                        \
        hn_host = host;                                                                    \
        REGISTER;                                                                          \
        decl = (hn_plugin_decl){.min_host_version = (MIN_HOST_VERSION), .FIELD = (TABLE)}; \
        return &decl;                                                                      \
    }
#define HN_PLUGIN_LAYER(TABLE, MIN_HOST_VERSION) \
    HN_PLUGIN_DECLARE_(layer, TABLE, MIN_HOST_VERSION, (void)0)
#define HN_PLUGIN_CHUNKER(TABLE, MIN_HOST_VERSION) \
    HN_PLUGIN_DECLARE_(chunker, TABLE, MIN_HOST_VERSION, (void)0)
#define HN_PLUGIN_SINK(TABLE, MIN_HOST_VERSION) \
    HN_PLUGIN_DECLARE_(sink, TABLE, MIN_HOST_VERSION, (void)0)
/* The same, for a plugin with ops of its own: KERNELS is an array of hn_kernel_def
 * pointers (MIN_HOST_VERSION at least 4). */
#define HN_PLUGIN_KERNELS_(K) hn_plugin_register_kernels_(host, (K), sizeof(K) / sizeof((K)[0]))
#define HN_PLUGIN_LAYER_KERNELS(TABLE, MIN_HOST_VERSION, KERNELS) \
    HN_PLUGIN_DECLARE_(layer, TABLE, MIN_HOST_VERSION, HN_PLUGIN_KERNELS_(KERNELS))
#define HN_PLUGIN_CHUNKER_KERNELS(TABLE, MIN_HOST_VERSION, KERNELS) \
    HN_PLUGIN_DECLARE_(chunker, TABLE, MIN_HOST_VERSION, HN_PLUGIN_KERNELS_(KERNELS))

/* HN_ERR with the message that the backend refused `what` (one of layer's typed ops),
 * and why when the backend says (its device_error). */
static inline int hn_fail_op(hn_error *err, const hn_backend *be, const char *layer,
                             const char *what) {
    const char *why = be->device_error ? be->device_error() : NULL;
    return hn_fail(err, "%s: the %s backend refused %s%s%s", layer, be->name, what,
                   why ? ": " : "", why ? why : "");
}

#endif
