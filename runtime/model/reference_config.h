/* The reference H-Net's published JSON configs (goombalab/hnet, configs/NAME.json, its
 * HNetConfig: arch_layout, d_model, d_intermediate, vocab_size, ssm_cfg, attn_cfg,
 * tie_embeddings) as the arguments of hnet{} (or isotropic{} for a one-network layout),
 * with the reference's defaults where the file is silent:
 *   - ssm_cfg: d_state 128, d_conv 4, expand 2, chunk_size 256, headdim 64, ngroups 1
 *     (mamba_ssm's Mamba2 and the reference's SSMConfig);
 *   - attn_cfg: num_heads (required where the layout has attention), rotary_emb_dim 0,
 *     window_size -1 (global); per-stage lists or one value for every stage;
 *   - d_intermediate rounded up to a multiple of 128 (the reference's SwiGLU), 0 = none;
 *   - the dc chunker, RMSNorm eps 1e-5.
 * tie_embeddings = true is refused (hnet's head and embedding are separate tensors). */
#ifndef HN_REFERENCE_CONFIG_H
#define HN_REFERENCE_CONFIG_H

#include <cJSON.h>

#include "core/error.h"

/* ref: the parsed file; name: used in messages. *args receives an object
 * {"kind": "hnet"|"isotropic", "args": {...hnet{} keys...}} (caller deletes). */
int hn_reference_config_convert(const cJSON *ref, const char *name, cJSON **out, hn_error *err);
/* The same from a file. */
int hn_reference_config_read(const char *path, cJSON **out, hn_error *err);

#endif
