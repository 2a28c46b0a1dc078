/* Walking every sublayer of a model (encoders, decoders and main networks of every
 * stage): parameter counts that tell total from active (sparse layers such as MoE use
 * part of their parameters per token) and the per-layer metrics of the last forward. */
#ifndef HN_SUBLAYERS_H
#define HN_SUBLAYERS_H

#include "model/model.h"

/* fn(layer, prefix, ctx) for every sublayer, outer stages first; prefix is the name its
 * parameters carry before their own, e.g. "backbone.layers.1.mlp." */
typedef void (*hn_sublayer_fn)(const hn_layer *layer, const char *prefix, void *ctx);
void hn_model_visit_sublayers(const hn_model *m, hn_sublayer_fn fn, void *ctx);

/* Parameters one byte uses in a forward pass: the total less what sparse layers leave
 * unused (layer_abi.h active_param_count). */
long hn_model_active_param_count(const hn_model *m);

/* fn(name, value, ctx) for every metric of every sublayer that reports metrics
 * (layer_abi.h metrics), name = prefix + metric, e.g.
 * "backbone.layers.1.mlp.tokens_expert3". */
typedef void (*hn_metric_fn)(const char *name, double value, void *ctx);
void hn_model_sublayer_metrics(const hn_model *m, hn_metric_fn fn, void *ctx);

#endif
