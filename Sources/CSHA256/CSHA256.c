// SHA-256 block function on hardware SHA instructions (FIPS 180-4 rounds, same results as the
// portable Swift code in RangeResume). x86-64: SHA-NI (sha256rnds2 / sha256msg1 / sha256msg2)
// compiled with a target attribute, so the rest of the package needs no special flags, and
// chosen at run time by cpuid. AArch64: the ARMv8 SHA2 instructions (vsha256hq_u32 …), chosen
// by getauxval(AT_HWCAP) on Linux (always present on Apple silicon).
#include "CSHA256.h"

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#if defined(__x86_64__) || defined(_M_X64)

#include <cpuid.h>
#include <immintrin.h>

int csha256_sha_instructions_available(void) {
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    const int ssse3 = (ecx >> 9) & 1, sse41 = (ecx >> 19) & 1;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return 0;
    const int sha = (ebx >> 29) & 1;
    return ssse3 && sse41 && sha;
}

__attribute__((target("sha,sse4.1,ssse3")))
void csha256_compress(uint32_t state[8], const uint8_t *data, size_t blocks) {
    // The instructions keep the state as two vectors, ABEF and CDGH (highest lane first).
    const __m128i byteSwap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i dcba = _mm_loadu_si128((const __m128i *)&state[0]);   // lanes a b c d
    __m128i hgfe = _mm_loadu_si128((const __m128i *)&state[4]);   // lanes e f g h
    __m128i badc = _mm_shuffle_epi32(dcba, 0xB1);                 // lanes b a d c
    __m128i efgh = _mm_shuffle_epi32(hgfe, 0x1B);                 // lanes h g f e
    __m128i abef = _mm_alignr_epi8(badc, efgh, 8);                // lanes f e b a
    __m128i cdgh = _mm_blend_epi16(efgh, badc, 0xF0);             // lanes h g d c

    for (; blocks > 0; blocks--, data += 64) {
        const __m128i savedABEF = abef, savedCDGH = cdgh;
        __m128i w[4];   // a ring of the last 16 schedule words, four per vector
        for (int i = 0; i < 4; i++) {
            w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(data + 16 * i)), byteSwap);
        }
        // Fully unrolled so that the ring indices are constants and `w` lives in registers.
#pragma clang loop unroll(full)
        for (int group = 0; group < 16; group++) {   // four rounds per group
            __m128i words;
            if (group < 4) {
                words = w[group];
            } else {
                // W[t] = σ1(W[t-2]) + W[t-7] + σ0(W[t-15]) + W[t-16], four at a time.
                const __m128i m16 = w[group & 3], m12 = w[(group + 1) & 3];
                const __m128i m8 = w[(group + 2) & 3], m4 = w[(group + 3) & 3];
                words = _mm_sha256msg1_epu32(m16, m12);
                words = _mm_add_epi32(words, _mm_alignr_epi8(m4, m8, 4));
                words = _mm_sha256msg2_epu32(words, m4);
                w[group & 3] = words;
            }
            __m128i wk = _mm_add_epi32(words, _mm_loadu_si128((const __m128i *)&K256[4 * group]));
            // Two rounds make the old ABEF the new CDGH: compute into cdgh, then back into abef.
            cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);
            wk = _mm_shuffle_epi32(wk, 0x0E);
            abef = _mm_sha256rnds2_epu32(abef, cdgh, wk);
        }
        abef = _mm_add_epi32(abef, savedABEF);
        cdgh = _mm_add_epi32(cdgh, savedCDGH);
    }

    const __m128i feba = _mm_shuffle_epi32(abef, 0x1B);   // lanes a b e f
    const __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);   // lanes g h c d
    _mm_storeu_si128((__m128i *)&state[0], _mm_blend_epi16(feba, dchg, 0xF0));   // a b c d
    _mm_storeu_si128((__m128i *)&state[4], _mm_alignr_epi8(dchg, feba, 8));      // e f g h
}

#elif defined(__aarch64__)

#include <arm_neon.h>
#if defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_SHA2
#define HWCAP_SHA2 (1 << 6)
#endif
#endif

int csha256_sha_instructions_available(void) {
#if defined(__APPLE__)
    return 1;
#elif defined(__linux__)
    return (getauxval(AT_HWCAP) & HWCAP_SHA2) != 0;
#else
    return 0;
#endif
}

__attribute__((target("sha2")))
void csha256_compress(uint32_t state[8], const uint8_t *data, size_t blocks) {
    uint32x4_t abcd = vld1q_u32(&state[0]);
    uint32x4_t efgh = vld1q_u32(&state[4]);
    for (; blocks > 0; blocks--, data += 64) {
        const uint32x4_t savedABCD = abcd, savedEFGH = efgh;
        uint32x4_t w[4];
        for (int i = 0; i < 4; i++) {
            w[i] = vreinterpretq_u32_u8(vrev32q_u8(vld1q_u8(data + 16 * i)));
        }
#pragma clang loop unroll(full)
        for (int group = 0; group < 16; group++) {
            uint32x4_t words;
            if (group < 4) {
                words = w[group];
            } else {
                const uint32x4_t m16 = w[group & 3], m12 = w[(group + 1) & 3];
                const uint32x4_t m8 = w[(group + 2) & 3], m4 = w[(group + 3) & 3];
                words = vsha256su1q_u32(vsha256su0q_u32(m16, m12), m8, m4);
                w[group & 3] = words;
            }
            const uint32x4_t wk = vaddq_u32(words, vld1q_u32(&K256[4 * group]));
            const uint32x4_t previous = abcd;
            abcd = vsha256hq_u32(abcd, efgh, wk);
            efgh = vsha256h2q_u32(efgh, previous, wk);
        }
        abcd = vaddq_u32(abcd, savedABCD);
        efgh = vaddq_u32(efgh, savedEFGH);
    }
    vst1q_u32(&state[0], abcd);
    vst1q_u32(&state[4], efgh);
}

#else

int csha256_sha_instructions_available(void) { return 0; }

void csha256_compress(uint32_t state[8], const uint8_t *data, size_t blocks) {
    (void)state; (void)data; (void)blocks;
}

#endif
