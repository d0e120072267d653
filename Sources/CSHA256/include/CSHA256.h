// CSHA256: the SHA-256 compression function on the CPU's SHA instructions, for RangeResume.
//
// Only the block function lives here; padding, buffering and the portable fallback are in
// Sources/RangeResume/SHA256Hasher.swift, which calls csha256_compress when
// csha256_sha_instructions_available() says the instructions exist on this CPU (checked at run time).
#ifndef CSHA256_H
#define CSHA256_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// 1 when this CPU has SHA-256 instructions that csha256_compress uses (x86-64: SHA extensions
/// with SSSE3 and SSE4.1, by cpuid; AArch64: the ARMv8 SHA2 extension, by the hwcaps), else 0.
int csha256_sha_instructions_available(void);

/// Runs the SHA-256 compression function over `blocks` consecutive 64-byte blocks at `data`
/// (any alignment), updating the eight state words `state` (h0…h7, native integers) in place.
/// Call only when csha256_sha_instructions_available() returned 1.
void csha256_compress(uint32_t state[8], const uint8_t *data, size_t blocks);

#ifdef __cplusplus
}
#endif

#endif
