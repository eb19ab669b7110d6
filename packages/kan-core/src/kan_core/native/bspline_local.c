/* Local-support B-spline contraction on uniform grids (kan_core.native).
 *
 * For every model m, sample b and input i only the k + 1 non-zero bases of order k are evaluated, from
 * the position u = (x - t0) * inv_h in knot spacings: interval j = floor(u), t = u - j, value of the r-th
 * non-zero basis v_r(t) = sum_p C[r][p] t^p (basis index j - k + r). They are contracted at once with the
 * (k + 1) x O block of the weights, so the (G + k)-wide basis tensor never exists:
 *
 *   forward   y[m, b, :]              = sum_i sum_r v_r * W[m, i, j - k + r, :]
 *   backward  gW[m, i, j - k + r, :] += v_r * gy[m, b, :]
 *             gx[m, b, i]              = inv_h * sum_r v_r'(t) * <gy[m, b, :], W[m, i, j - k + r, :]>
 *
 * Shapes (contiguous): x (M or 1, B, I), t0 / inv_h (M or 1, I), W / gW (M, I, NB, O), y / gy (M, B, O),
 * gx (M, B, I); C is (k + 1) x (k + 1), D (k + 1) x k. The forward runs in parallel over (m, sample
 * block), in blocks of inputs where the coefficients exceed L2 (see forward_blocks), the backward over
 * (m, i), so no two threads write the same element. Inputs outside [t_0, t_{K-1}) (and NaN)
 * have no non-zero basis.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define INVALID INT64_MIN
#define MAX_ROWS 16 /* k + 1 for the largest order, 15 */
#define OCHUNK ((int64_t)(128 / sizeof(T))) /* outputs per register block: 128 bytes, NV vectors */
/* The ISA variant sets KAN_VBYTES (see kan_core.native: 16 generic, 32 AVX2, 64 AVX-512) */
#ifndef KAN_VBYTES
#define KAN_VBYTES 32
#endif
#if defined(__x86_64__) && ((KAN_VBYTES == 64 && !defined(__AVX512F__)) || (KAN_VBYTES == 32 && !defined(__AVX2__)))
#error "KAN_VBYTES needs the matching -march (x86-64-v4 for 64, x86-64-v3 for 32)"
#endif
#define NV (128 / KAN_VBYTES)
/* OPAQUE(x): x unchanged, but GCC can no longer see how it was computed, so it neither contracts a product
 * into a following add (FMA) nor reassociates across it (fused Adam: torch's exact operations per lane) */
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define OPAQUE(x) __asm__("" : "+v"(x))
#elif defined(__aarch64__)
#define OPAQUE(x) __asm__("" : "+w"(x))
#else
#define OPAQUE(x) __asm__("" : "+m"(x))
#endif
#define UNROLL _Pragma("GCC unroll 8")

#define T float
#define SFX(name) name##_f32
#define FMA __builtin_fmaf
#define SQRT __builtin_sqrtf
#define SPECIALISE 1
/* per-lane exact vector sqrt and FMA (a scalar, b, c vectors of type V) for the fused Adam pass */
#if KAN_VBYTES == 64 && defined(__AVX512F__)
#define ADAM_SQRT(x) ((V)_mm512_sqrt_ps((__m512)(x)))
#define ADAM_FMA(a, b, c) ((V)_mm512_fmadd_ps(_mm512_set1_ps(a), (__m512)(b), (__m512)(c)))
#elif KAN_VBYTES == 32 && defined(__AVX__) && defined(__FMA__)
#define ADAM_SQRT(x) ((V)_mm256_sqrt_ps((__m256)(x)))
#define ADAM_FMA(a, b, c) ((V)_mm256_fmadd_ps(_mm256_set1_ps(a), (__m256)(b), (__m256)(c)))
#elif KAN_VBYTES == 16 && defined(__SSE2__)
#define ADAM_SQRT(x) ((V)_mm_sqrt_ps((__m128)(x)))
#endif
#include "bspline_local.h"
#undef ADAM_SQRT
#undef ADAM_FMA
#undef T
#undef SFX
#undef SPECIALISE
#undef FMA
#undef SQRT

#define T double
#define SFX(name) name##_f64
#define FMA __builtin_fma
#define SQRT __builtin_sqrt
#define SPECIALISE 0
#if KAN_VBYTES == 64 && defined(__AVX512F__)
#define ADAM_SQRT(x) ((V)_mm512_sqrt_pd((__m512d)(x)))
#define ADAM_FMA(a, b, c) ((V)_mm512_fmadd_pd(_mm512_set1_pd(a), (__m512d)(b), (__m512d)(c)))
#elif KAN_VBYTES == 32 && defined(__AVX__) && defined(__FMA__)
#define ADAM_SQRT(x) ((V)_mm256_sqrt_pd((__m256d)(x)))
#define ADAM_FMA(a, b, c) ((V)_mm256_fmadd_pd(_mm256_set1_pd(a), (__m256d)(b), (__m256d)(c)))
#elif KAN_VBYTES == 16 && defined(__SSE2__)
#define ADAM_SQRT(x) ((V)_mm_sqrt_pd((__m128d)(x)))
#endif
#include "bspline_local.h"
#undef ADAM_SQRT
#undef ADAM_FMA
#undef T
#undef SFX
#undef SPECIALISE
#undef FMA
#undef SQRT

int kan_local_max_order(void) { return 15; }
int kan_local_vector_bytes(void) { return KAN_VBYTES; }
