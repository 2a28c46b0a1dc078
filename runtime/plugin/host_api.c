/* The runtime's host API table (host_api.h): core's functions as plugins reach them. */
#include "plugin/host_api.h"

#include "model/byte_lm.h"

static const hn_host_api host_api = {
    .version = HN_HOST_API_VERSION,
    .size = sizeof(hn_host_api),
    .fail = hn_fail,
    .vfail = hn_vfail,
    .fail_prefix = hn_fail_prefix,
    .config_kind_of = hn_config_kind_of,
    .config_number = hn_config_number,
    .config_string = hn_config_string,
    .config_bool = hn_config_bool,
    .stash_begin = hn_stash_begin,
    .stash_end = hn_stash_end,
    .stash_get = hn_stash_get,
    .stash_free = hn_stash_free,
    .stash_tensor_begin = hn_stash_tensor_begin,
    .stash_tensor = hn_stash_tensor,
    .grow_buf_get = hn_grow_buf_get,
    .crc32c = hn_crc32c,
    .crc32c_mask = hn_crc32c_mask,
    .mkdir_p = hn_mkdir_p,
    .byte_lm_open = hn_byte_lm_open,
    .byte_lm_close = hn_byte_lm_close,
    .byte_lm_entropy = hn_byte_lm_entropy,
    .byte_lm_flops = hn_byte_lm_flops,
    .lm_stream_open = hn_lm_stream_open,
    .lm_stream_step = hn_lm_stream_step,
    .lm_stream_close = hn_lm_stream_close,
    .kernel_register = hn_kernel_register,
    .kernel_find = hn_kernel_find,
    .kernel_launch = hn_kernel_launch,
};

const hn_host_api *hn_host_api_table(void) { return &host_api; }
