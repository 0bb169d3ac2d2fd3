/* sha256.h - SHA-256 (FIPS 180-4), for PodCapture stream keys; portable, no TLS library. */
#ifndef NCAP_SHA256_H
#define NCAP_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define NCAP_SHA256_LEN 32

void ncap_sha256(const void *data, size_t len, uint8_t out[NCAP_SHA256_LEN]);
/* "sha256:" + 64 lowercase hex digits + NUL (72 bytes) */
void ncap_sha256_tagged_hex(const void *data, size_t len, char out[72]);

#endif
