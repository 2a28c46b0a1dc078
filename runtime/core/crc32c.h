/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as used by TFRecord files
 * (TensorBoard event files). Written here rather than taken from a library: Debian
 * ships no small C package for it, and it is a dozen lines. */
#ifndef HN_CRC32C_H
#define HN_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* The CRC of n bytes, continuing from crc (0 to start). crc32c("123456789") = 0xE3069283. */
uint32_t hn_crc32c(uint32_t crc, const void *data, size_t n);

/* TFRecord's masked form: rotate right by 15 bits, add 0xa282ead8. */
uint32_t hn_crc32c_mask(uint32_t crc);

#endif
