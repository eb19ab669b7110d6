/* Local-support B-spline contraction on uniform grids (kan_core.native).
 *
 * For every model m, sample b and input i only the k + 1 non-zero bases of order k are evaluated, from
 * the position u = (x - t0) * inv_h in knot spacings: interval j = floor(u), t = u - j, value of the r-th
 * non-zero basis v_r(t) = sum_p C[r][p] t^p (basis index j - k + r). They are contracted at once with the
 * (k + 1) x O block of the weights, so the (G + k)-wide basis tensor never exists:
 *
 *   forward   y[m, b, :]          = sum_i sum_r v_r * W[m, i, j - k + r, :]
 *   backward  gW[m, i, j - k + r, :] += v_r * gy[m, b, :]
 *             gx[m, b, i]          = inv_h * sum_r v_r'(t) * <gy[m, b, :], W[m, i, j - k + r, :]>
 *
 * Shapes (contiguous): x (M or 1, B, I), t0 / inv_h (M or 1, I), W / gW (M, I, NB, O), y / gy (M, B, O),
 * gx (M, B, I). The forward runs in parallel over (m, b), the backward over (m, i), so no two threads
 * write the same element. Inputs outside [t_0, t_{K-1}) (and NaN) have no non-zero basis.
 */
#include <stdint.h>
#include <string.h>

#define MAX_ORDER 15

#define DEFINE_KERNELS(T, SUFFIX)                                                                            \
static inline int locate_##SUFFIX(T x, T t0, T ih, int64_t nb, int k, T *t, int64_t *lo) {                   \
    T u = (x - t0) * ih;                                                                                     \
    if (!(u >= (T)0) || !(u < (T)(nb + k))) return 0;                                                        \
    int64_t j = (int64_t)u;                                                                                  \
    *t = u - (T)j;                                                                                           \
    *lo = j - k;                                                                                             \
    return 1;                                                                                                \
}                                                                                                            \
                                                                                                             \
static inline void poly_##SUFFIX(const T *coef, int rows, int terms, T t, T *out) {                          \
    for (int r = 0; r < rows; ++r) {                                                                         \
        const T *c = coef + r * terms;                                                                       \
        T acc = c[terms - 1];                                                                                \
        for (int p = terms - 2; p >= 0; --p) acc = acc * t + c[p];                                           \
        out[r] = acc;                                                                                        \
    }                                                                                                        \
}                                                                                                            \
                                                                                                             \
void kan_local_forward_##SUFFIX(const T *restrict x, const T *restrict t0, const T *restrict ih,             \
                                const T *restrict W, T *restrict y, int64_t M, int64_t B, int64_t I,         \
                                int64_t NB, int64_t O, int k, int64_t x_stride, int64_t g_stride,           \
                                const T *restrict C, int threads) {                                          \
    _Pragma("omp parallel for num_threads(threads) schedule(static)")                                        \
    for (int64_t mb = 0; mb < M * B; ++mb) {                                                                 \
        int64_t m = mb / B, b = mb % B;                                                                      \
        const T *xr = x + m * x_stride + b * I;                                                              \
        const T *tr = t0 + m * g_stride, *hr = ih + m * g_stride;                                            \
        const T *Wm = W + m * I * NB * O;                                                                    \
        T *restrict yr = y + mb * O;                                                                         \
        memset(yr, 0, (size_t)O * sizeof(T));                                                                \
        T v[MAX_ORDER + 1], t;                                                                               \
        int64_t lo;                                                                                          \
        for (int64_t i = 0; i < I; ++i) {                                                                    \
            if (!locate_##SUFFIX(xr[i], tr[i], hr[i], NB, k, &t, &lo)) continue;                            \
            poly_##SUFFIX(C, k + 1, k + 1, t, v);                                                            \
            const T *Wi = Wm + i * NB * O;                                                                   \
            for (int r = 0; r <= k; ++r) {                                                                   \
                int64_t idx = lo + r;                                                                        \
                if (idx < 0 || idx >= NB) continue;                                                          \
                const T *restrict w = Wi + idx * O;                                                          \
                T vr = v[r];                                                                                 \
                for (int64_t o = 0; o < O; ++o) yr[o] += vr * w[o];                                          \
            }                                                                                                \
        }                                                                                                    \
    }                                                                                                        \
}                                                                                                            \
                                                                                                             \
void kan_local_backward_##SUFFIX(const T *restrict x, const T *restrict t0, const T *restrict ih,            \
                                 const T *restrict W, const T *restrict gy, T *restrict gW,                 \
                                 T *restrict gx, int64_t M, int64_t B, int64_t I, int64_t NB, int64_t O,    \
                                 int k, int64_t x_stride, int64_t g_stride, const T *restrict C,            \
                                 const T *restrict D, int threads) {                                         \
    _Pragma("omp parallel for num_threads(threads) schedule(static)")                                        \
    for (int64_t mi = 0; mi < M * I; ++mi) {                                                                 \
        int64_t m = mi / I, i = mi % I;                                                                      \
        const T *Wi = W + mi * NB * O;                                                                       \
        T *restrict gWi = gW ? gW + mi * NB * O : 0;                                                         \
        if (gWi) memset(gWi, 0, (size_t)(NB * O) * sizeof(T));                                              \
        T t0i = t0[m * g_stride + i], ihi = ih[m * g_stride + i];                                            \
        T v[MAX_ORDER + 1], dv[MAX_ORDER + 1], t;                                                            \
        int64_t lo;                                                                                          \
        for (int64_t b = 0; b < B; ++b) {                                                                    \
            T xv = x[m * x_stride + b * I + i];                                                              \
            T *gxo = gx ? gx + (m * B + b) * I + i : 0;                                                      \
            if (!locate_##SUFFIX(xv, t0i, ihi, NB, k, &t, &lo)) {                                            \
                if (gxo) *gxo = (T)0;                                                                        \
                continue;                                                                                    \
            }                                                                                                \
            const T *restrict g = gy + (m * B + b) * O;                                                      \
            if (gWi) poly_##SUFFIX(C, k + 1, k + 1, t, v);                                                   \
            if (gxo) poly_##SUFFIX(D, k + 1, k, t, dv);                                                      \
            T acc = 0;                                                                                       \
            for (int r = 0; r <= k; ++r) {                                                                   \
                int64_t idx = lo + r;                                                                        \
                if (idx < 0 || idx >= NB) continue;                                                          \
                if (gWi) {                                                                                   \
                    T *restrict gw = gWi + idx * O;                                                          \
                    T vr = v[r];                                                                             \
                    for (int64_t o = 0; o < O; ++o) gw[o] += vr * g[o];                                      \
                }                                                                                            \
                if (gxo) {                                                                                   \
                    const T *restrict w = Wi + idx * O;                                                      \
                    T dot = 0;                                                                               \
                    _Pragma("omp simd reduction(+:dot)")                                                     \
                    for (int64_t o = 0; o < O; ++o) dot += w[o] * g[o];                                      \
                    acc += dv[r] * dot;                                                                      \
                }                                                                                            \
            }                                                                                                \
            if (gxo) *gxo = acc * ihi;                                                                       \
        }                                                                                                    \
    }                                                                                                        \
}

DEFINE_KERNELS(float, f32)
DEFINE_KERNELS(double, f64)

int kan_local_max_order(void) { return MAX_ORDER; }
