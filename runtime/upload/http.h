/* The HTTP client lent to sink plugins (hn_sink_env.http): libcurl, one easy handle
 * per request, a per-request timeout. Transport failures are HN_SINK_RETRY. */
#ifndef HN_UPLOAD_HTTP_H
#define HN_UPLOAD_HTTP_H

#include "plugin/sink_abi.h"

/* Total time allowed for one request (connect + transfer), in ms; default 30000.
 * For the calling thread's requests (the uploader sets it before each operation). */
void hn_http_set_timeout_ms(long ms);

int hn_http_perform(const hn_http_request *req, hn_http_response *resp, hn_error *err);
void hn_http_free_response(hn_http_response *resp);

#endif
