/* Kernel bodies of bspline_local.c for one floating type: included once per type with
 * T (the type) and SFX(name) (the name with the type's suffix) defined. See bspline_local.c. */

/* Position of each of n inputs: interval start lo = floor(u) - k (INVALID outside the grid or NaN) and
 * the offset t in [0, 1) inside it, for u = (x[e * xs] - t0[e * gs]) * ih[e * gs]. */
static void SFX(locate)(const T *restrict x, int64_t xs, const T *restrict t0, const T *restrict ih, int64_t gs,
                        int64_t n, int64_t nb, int k, T *restrict t, int64_t *restrict lo) {
    const T top = (T)(nb + k);
    for (int64_t e = 0; e < n; ++e) {
        T u = (x[e * xs] - t0[e * gs]) * ih[e * gs];
        int ok = (u >= (T)0) & (u < top);
        T uc = ok ? u : (T)0;
        int64_t j = (int64_t)uc;
        t[e] = uc - (T)j;
        lo[e] = ok ? j - k : INVALID;
    }
}

/* v[r * n + e] = sum_p coef[r * P + p] t[e]^p for every e (R polynomials of P terms; structure of arrays, so
 * the e loop vectorises; R and P are constants after inlining). */
static inline __attribute__((always_inline)) void SFX(polys)(const T *restrict coef, const int R, const int P,
                                                               const T *restrict t, int64_t n, T *restrict v) {
    for (int r = 0; r < R; ++r) {
        const T *c = coef + r * P;
        T *restrict vr = v + r * n;
        for (int64_t e = 0; e < n; ++e) {
            T acc = c[P - 1];
            for (int p = P - 2; p >= 0; --p) acc = acc * t[e] + c[p];
            vr[e] = acc;
        }
    }
}

/* h[r * O + o] += v[r] g[o] for r < R (h may be NULL), and returns sum_o g[o] s[o] sum_r dv[r] c[r * O + o]
 * (dv may be NULL): one pass over o, one horizontal reduction. */
static inline __attribute__((always_inline)) T SFX(bwd_block)(T *restrict h, const T *restrict c,
                                                                const T *restrict s, const T *restrict g,
                                                                const T *restrict v, const T *restrict dv,
                                                                const int R, int64_t O) {
    T acc = 0;
    if (h && dv) {
        for (int64_t o = 0; o < O; ++o) {
            T go = g[o], d = 0;
            for (int r = 0; r < R; ++r) {
                h[r * O + o] += v[r] * go;
                d += dv[r] * c[r * O + o];
            }
            acc += d * go * s[o];
        }
    } else if (h) {
        for (int64_t o = 0; o < O; ++o)
            for (int r = 0; r < R; ++r) h[r * O + o] += v[r] * g[o];
    } else {
        for (int64_t o = 0; o < O; ++o) {
            T d = 0;
            for (int r = 0; r < R; ++r) d += dv[r] * c[r * O + o];
            acc += d * g[o] * s[o];
        }
    }
    return acc;
}

/* Rows r0..r1 of one input's (k + 1)-row block that fall inside [0, nb). */
static inline void SFX(clip)(int64_t lo, int R, int64_t nb, int *r0, int *r1) {
    *r0 = lo < 0 ? (int)(-lo) : 0;
    *r1 = lo + R > nb ? (int)(nb - lo) : R;
}

/* KAN_VBYTES-byte vectors of T (loads and stores need only T's alignment): the ISA variant's register
 * width (16 generic, 32 AVX2, 64 AVX-512); a block of OCHUNK outputs is NV of them. */
typedef T SFX(vec) __attribute__((vector_size(KAN_VBYTES), aligned(sizeof(T))));
#define VL ((int64_t)(KAN_VBYTES / sizeof(T)))

/* fwd_chunk for a full block of OCHUNK = NV * VL outputs, with the NV accumulators and the NV partial
 * sums as vector variables, which the compiler keeps in registers. s NULL: c holds the scaled
 * coefficients c * s (see kan_local_forward), one FMA per row and vector. */
static inline __attribute__((always_inline)) void SFX(fwd_block4)(T *restrict y, const T *restrict c,
                                                                    const T *restrict s, const T *restrict v,
                                                                    const int64_t *restrict lo, int64_t I,
                                                                    int64_t NB, int64_t O, const int R,
                                                                    int add) {
    typedef SFX(vec) V;
    V a[NV];
    UNROLL for (int q = 0; q < NV; ++q) a[q] = add ? ((const V *)y)[q] : (V){0};
    if (!s) {
        for (int64_t i = 0; i < I; ++i) {
            int64_t l = lo[i];
            if (l == INVALID) continue;
            const T *ci = c + (i * NB + l) * O;
            if (l >= 0 && l + R <= NB) { /* all k + 1 rows inside: a constant trip count, unrolled */
                for (int r = 0; r < R; ++r) {
                    T vr = v[r * I + i];
                    const V *row = (const V *)(ci + r * O);
                    UNROLL for (int q = 0; q < NV; ++q) a[q] += vr * row[q];
                }
                continue;
            }
            int r0, r1;
            SFX(clip)(l, R, NB, &r0, &r1);
            for (int r = r0; r < r1; ++r) {
                T vr = v[r * I + i];
                const V *row = (const V *)(ci + r * O);
                UNROLL for (int q = 0; q < NV; ++q) a[q] += vr * row[q];
            }
        }
        V *yv = (V *)y;
        UNROLL for (int q = 0; q < NV; ++q) yv[q] = a[q];
        return;
    }
    for (int64_t i = 0; i < I; ++i) {
        int64_t l = lo[i];
        if (l == INVALID) continue;
        int r0 = 0, r1 = R;
        if (l < 0 || l + R > NB) SFX(clip)(l, R, NB, &r0, &r1);
        const T *ci = c + (i * NB + l) * O;
        V z[NV];
        UNROLL for (int q = 0; q < NV; ++q) z[q] = (V){0};
        for (int r = r0; r < r1; ++r) {
            T vr = v[r * I + i];
            const V *row = (const V *)(ci + r * O);
            UNROLL for (int q = 0; q < NV; ++q) z[q] += vr * row[q];
        }
        const V *sv = (const V *)(s + i * O);
        UNROLL for (int q = 0; q < NV; ++q) a[q] += sv[q] * z[q];
    }
    V *yv = (V *)y;
    UNROLL for (int q = 0; q < NV; ++q) yv[q] = a[q];
}

/* Outputs [o0, o0 + OW) of one row: y[o] (+)= sum_i s[i, o] sum_r v_r(i) c[i, lo_i + r, o] (add: y += ...), with
 * the OW <= OCHUNK accumulators held in registers across the I inputs. c and s point at column o0 of the
 * inputs' (I, NB, O) coefficients and (I, O) scales. fwd_block4 does the same for OW = OCHUNK. */
static inline __attribute__((always_inline)) void SFX(fwd_chunk)(T *restrict y, const T *restrict c,
                                                                   const T *restrict s, const T *restrict v,
                                                                   const int64_t *restrict lo, int64_t I,
                                                                   int64_t NB, int64_t O, const int R,
                                                                   const int64_t OW, int add) {
    T acc[OCHUNK];
    for (int64_t o = 0; o < OW; ++o) acc[o] = add ? y[o] : 0;
    for (int64_t i = 0; i < I; ++i) {
        int64_t l = lo[i];
        if (l == INVALID) continue;
        T vi[MAX_ROWS];
        for (int r = 0; r < R; ++r) vi[r] = v[r * I + i];
        const T *si = s + i * O;
        if (l >= 0 && l + R <= NB) {
            const T *ci = c + (i * NB + l) * O;
            for (int64_t o = 0; o < OW; ++o) {
                T z = 0;
                for (int r = 0; r < R; ++r) z += vi[r] * ci[r * O + o];
                acc[o] += si[o] * z;
            }
        } else {
            int r0, r1;
            SFX(clip)(l, R, NB, &r0, &r1);
            const T *ci = c + (i * NB + l + r0) * O;
            for (int64_t o = 0; o < OW; ++o) {
                T z = 0;
                for (int r = r0; r < r1; ++r) z += vi[r] * ci[(r - r0) * O + o];
                acc[o] += si[o] * z;
            }
        }
    }
    for (int64_t o = 0; o < OW; ++o) y[o] = acc[o];
}

/* Inputs [i0, i0 + n) of the sample rows [b0, b1) of model m:
 *   y[m, b, :] (+)= sum_{i0 <= i < i0 + n} sum_r v_r(b, i) s[i, :] c[i, lo(b, i) + r, :]   (add: +=, else =)
 * with Wb (n, NB, O) and Sb (n, O) the block's coefficients and scales (Sb NULL: Wb holds c * s). Called
 * with a literal R inside the OpenMP region (regions are outlined before inlining), so every loop over r
 * is unrolled. Scratch: t, lo of n elements, v of n * R. */
static inline __attribute__((always_inline)) void SFX(forward_rows)(
    int64_t m, int64_t b0, int64_t b1, int64_t i0, int64_t n, int add, const T *restrict x, const T *restrict t0,
    const T *restrict ih, const T *restrict Wb, const T *restrict Sb, T *restrict y, int64_t B, int64_t I,
    int64_t NB, int64_t O, const int R, int64_t x_stride, int64_t g_stride, const T *restrict C, T *restrict t,
    T *restrict v, int64_t *restrict lo) {
    const int k = R - 1;
    for (int64_t b = b0; b < b1; ++b) {
        T *restrict yr = y + (m * B + b) * O;
        SFX(locate)(x + m * x_stride + b * I + i0, 1, t0 + m * g_stride + i0, ih + m * g_stride + i0, 1, n, NB, k,
                    t, lo);
        SFX(polys)(C, R, R, t, n, v);
        if (O == 1) {
            T acc = add ? yr[0] : 0;
            for (int64_t i = 0; i < n; ++i) {
                if (lo[i] == INVALID) continue;
                const T *Wi = Wb + i * NB;
                T z = 0;
                for (int r = 0; r < R; ++r) {
                    int64_t idx = lo[i] + r;
                    if (idx >= 0 && idx < NB) z += v[r * n + i] * Wi[idx];
                }
                acc += Sb[i] * z;
            }
            yr[0] = acc;
            continue;
        }
        for (int64_t o0 = 0; o0 < O; o0 += OCHUNK) {
            if (O - o0 >= OCHUNK)
                SFX(fwd_block4)(yr + o0, Wb + o0, Sb ? Sb + o0 : NULL, v, lo, n, NB, O, R, add);
            else
                SFX(fwd_chunk)(yr + o0, Wb + o0, Sb + o0, v, lo, n, NB, O, R, O - o0, add);
        }
    }
}

/* Backward of the samples ord[0..n) of one pair that share the interval start l, with all k + 1 rows
 * inside the grid, for O a multiple of OCHUNK: per block of OCHUNK outputs, the rows' gradient sums
 * sum_b v_r(b) g_b and the rows' scaled weights stay in vector registers while the samples stream by, so
 * h is read and written once per interval instead of once per sample. gx gets inv_h-free partial sums. */
static inline __attribute__((always_inline)) void SFX(bwd_bucket)(
    const int64_t *restrict ord, int64_t n, int64_t l, int64_t m, int64_t B, int64_t O, const int R,
    const T *restrict c, const T *restrict s, const T *restrict gy, const T *restrict v, const T *restrict dv,
    T *restrict h, T *restrict gxp) {
    typedef SFX(vec) V;
    for (int64_t o0 = 0; o0 < O; o0 += OCHUNK) {
        if (h) {
            V a[MAX_ROWS][NV];
            for (int r = 0; r < R; ++r)
                UNROLL for (int q = 0; q < NV; ++q) a[r][q] = (V){0};
            for (int64_t e = 0; e < n; ++e) {
                int64_t b = ord[e];
                const V *g = (const V *)(gy + (m * B + b) * O + o0);
                V gq[NV];
                UNROLL for (int q = 0; q < NV; ++q) gq[q] = g[q];
                for (int r = 0; r < R; ++r) {
                    T vr = v[r * B + b];
                    UNROLL for (int q = 0; q < NV; ++q) a[r][q] += vr * gq[q];
                }
            }
            for (int r = 0; r < R; ++r) {
                V *hp = (V *)(h + (l + r) * O + o0);
                UNROLL for (int q = 0; q < NV; ++q) hp[q] += a[r][q];
            }
        }
        if (gxp) {
            V w[MAX_ROWS][NV];
            const V *sv = (const V *)(s + o0);
            for (int r = 0; r < R; ++r) {
                const V *cr = (const V *)(c + (l + r) * O + o0);
                UNROLL for (int q = 0; q < NV; ++q) w[r][q] = cr[q] * sv[q];
            }
            for (int64_t e = 0; e < n; ++e) {
                int64_t b = ord[e];
                const V *g = (const V *)(gy + (m * B + b) * O + o0);
                V d[NV];
                UNROLL for (int q = 0; q < NV; ++q) d[q] = (V){0};
                for (int r = 0; r < R; ++r) {
                    T dr = dv[r * B + b];
                    UNROLL for (int q = 0; q < NV; ++q) d[q] += dr * w[r][q];
                }
                V p = d[0] * g[0];
                UNROLL for (int q = 1; q < NV; ++q) p += d[q] * g[q];
                T sum = 0;
                for (int64_t q = 0; q < VL; ++q) sum += p[q];
                gxp[b] += sum;
            }
        }
    }
}

/* Lane by lane (where the ISA variant has no vector instruction, see bspline_local.c): sqrt, and the FMA
 * a * b + c with one rounding (a libm call without hardware FMA, as in the scalar code). */
#ifndef ADAM_SQRT
static inline SFX(vec) SFX(vsqrt_lanes)(SFX(vec) x) {
    for (int64_t l = 0; l < VL; ++l) x[l] = SQRT(x[l]);
    return x;
}
#define ADAM_SQRT(x) SFX(vsqrt_lanes)(x)
#endif
#ifndef ADAM_FMA
static inline SFX(vec) SFX(vfma_lanes)(T a, SFX(vec) b, SFX(vec) c) {
    for (int64_t l = 0; l < VL; ++l) c[l] = FMA(a, b[l], c[l]);
    return c;
}
#define ADAM_FMA(a, b, c) SFX(vfma_lanes)(a, b, c)
#endif

/* One Adam/AdamW step of the n = NB * O coefficients p of one pair from their unscaled gradient sums h
 * (gradient h * s[o], s the pair's scales), with moments mo, ve, in one pass; gs[o] (may be NULL) gets
 * sum_j h * p before the update (the scales' gradient). opt: lr, beta1, beta2, eps, weight decay,
 * decoupled (AdamW: 1), lr / (1 - beta1^t), sqrt(1 - beta2^t). The operations and their order are those of
 * torch's fused CPU Adam (the moment's lerp one FMA, no other contraction or reassociation), so both give
 * the same numbers: Adam's normalisation would amplify any rounding difference of a near-zero gradient.
 * Vectorised with explicit VL-lane vectors (each lane computes what the scalar code computes): OPAQUE
 * after each product keeps GCC (-fassociative-math, contraction on) from fusing or reassociating it, the
 * moment's FMA and the sqrt are per-lane exact (ADAM_FMA, ADAM_SQRT); gs is a per-column sum over j, a
 * vector accumulator in memory (not a reduction across lanes). The O % VL last columns take the same
 * operations on scalars. noinline: one copy, not one per order R. */
static __attribute__((noinline)) void SFX(adam_pair)(T *restrict p, T *restrict mo, T *restrict ve,
                                                      const T *restrict h, const T *restrict s, T *restrict gs,
                                                      int64_t NB, int64_t O, const double *restrict opt) {
    typedef SFX(vec) V;
    const T b1c = (T)(1 - opt[1]), b2 = (T)opt[2], b2c = (T)(1 - opt[2]), eps = (T)opt[3], step = (T)opt[6],
            bc2s = (T)opt[7];
    const int decoupled = opt[5] != 0;
    double lw = opt[0] * opt[4]; /* torch: 1 - lr * weight_decay, not contracted */
    OPAQUE(lw);
    const T decay = (T)(1 - lw), l2 = (T)opt[4];
    const int mode = l2 == 0 ? 0 : decoupled ? 1 : 2; /* no decay, AdamW's, Adam's L2 */
    const int64_t OV = O - O % VL;
    if (gs) memset(gs, 0, (size_t)O * sizeof(T));
    for (int64_t j = 0; j < NB; ++j) {
        T *restrict pj = p + j * O, *restrict mj = mo + j * O, *restrict vj = ve + j * O;
        const T *restrict hj = h + j * O;
        for (int64_t o = 0; o < OV; o += VL) {
            V hv = *(const V *)(hj + o), pv = *(const V *)(pj + o), m0 = *(const V *)(mj + o),
              v0 = *(const V *)(vj + o);
            if (gs) *(V *)(gs + o) += hv * pv;
            V g = hv * *(const V *)(s + o);
            OPAQUE(g);
            if (mode == 1) {
                pv = pv * decay;
                OPAQUE(pv);
            } else if (mode == 2) {
                V d = pv * l2;
                OPAQUE(d);
                g = g + d;
            }
            V dm = g - m0;
            V mv = ADAM_FMA(b1c, dm, m0);
            V a = v0 * b2, b = b2c * g;
            OPAQUE(a);
            OPAQUE(b);
            b = b * g;
            OPAQUE(b);
            V vv = a + b;
            *(V *)(mj + o) = mv;
            *(V *)(vj + o) = vv;
            V den = ADAM_SQRT(vv) / bc2s + eps;
            V num = step * mv;
            OPAQUE(num);
            *(V *)(pj + o) = pv - num / den;
        }
        for (int64_t o = OV; o < O; ++o) {
            T hv = hj[o], pv = pj[o];
            if (gs) gs[o] += hv * pv;
            T g = hv * s[o];
            OPAQUE(g);
            if (mode == 1) {
                pv = pv * decay;
                OPAQUE(pv);
            } else if (mode == 2) {
                T d = pv * l2;
                OPAQUE(d);
                g = g + d;
            }
            T mv = FMA(b1c, g - mj[o], mj[o]);
            T a = vj[o] * b2, b = b2c * g;
            OPAQUE(a);
            OPAQUE(b);
            b = b * g;
            OPAQUE(b);
            T vv = a + b;
            mj[o] = mv;
            vj[o] = vv;
            T num = step * mv;
            OPAQUE(num);
            pj[o] = pv - num / (SQRT(vv) / bc2s + eps);
        }
    }
}

/* Backward of pair mi in [0, M * I); gW and gx may each be NULL. Scratch: t, lo of B, v, dv of B * R.
 * With opt (fused Adam, see adam_pair): the unscaled gradient sums go to the scratch hbuf (NB * O) instead
 * of gW, and the pair's coefficients in Wu (= W) and their moments mo, ve are updated in place, after the
 * pair's last read of its coefficients (each pair reads only its own). */
static inline __attribute__((always_inline)) void SFX(backward_pair)(
    int64_t mi, const T *restrict x, const T *restrict t0, const T *restrict ih, const T *W,
    const T *restrict S, const T *restrict gy, T *restrict gW, T *restrict gS, T *restrict gx, int64_t B, int64_t I, int64_t NB, int64_t O, const int R,
    int64_t x_stride, int64_t g_stride, const T *restrict C, const T *restrict D, T *restrict t, T *restrict v,
    T *restrict dv, int64_t *restrict lo, int64_t *restrict ord, int64_t *restrict cnt, T *Wu, T *restrict mo,
    T *restrict ve, const double *restrict opt, T *restrict hbuf) {
    const int k = R - 1;
    int64_t m = mi / I, i = mi % I;
    const T *Wi = W + mi * NB * O, *Si = S + mi * O;
    /* gS needs the unscaled gradient: gW (or, fused, hbuf) is then required */
    T *gWi = opt ? hbuf : gW || gS ? gW + mi * NB * O : NULL;
    if (gWi) memset(gWi, 0, (size_t)(NB * O) * sizeof(T));
    T ihi = ih[m * g_stride + i];
    SFX(locate)(x + m * x_stride + i, I, t0 + m * g_stride + i, ih + m * g_stride + i, 0, B, NB, k, t, lo);
    if (gWi) SFX(polys)(C, R, R, t, B, v);
    if (gx) SFX(polys)(D, R, R - 1, t, B, dv);
    if (O % OCHUNK == 0) { /* blocked: samples grouped by interval (counting sort), see bwd_bucket */
        int64_t nbk = NB + k;
        memset(cnt, 0, (size_t)(nbk + 1) * sizeof(int64_t));
        for (int64_t b = 0; b < B; ++b)
            if (lo[b] != INVALID) ++cnt[lo[b] + k + 1];
        for (int64_t j = 0; j < nbk; ++j) cnt[j + 1] += cnt[j];
        T *gxp = gx ? gx + mi * B : NULL; /* gx laid out (M, I, B): contiguous per pair */
        if (gxp) memset(gxp, 0, (size_t)B * sizeof(T));
        for (int64_t b = 0; b < B; ++b)
            if (lo[b] != INVALID) ord[cnt[lo[b] + k]++] = b; /* cnt[j] ends as the end of bucket j */
        for (int64_t j = 0, start = 0; j < nbk; start = cnt[j], ++j) {
            int64_t n = cnt[j] - start, l = j - k;
            if (n == 0) continue;
            if (l >= 0 && l + R <= NB) {
                SFX(bwd_bucket)(ord + start, n, l, m, B, O, R, Wi, Si, gy, v, dv, gWi, gxp);
                continue;
            }
            int r0, r1;
            SFX(clip)(l, R, NB, &r0, &r1);
            int64_t off = (l + r0) * O;
            for (int64_t e = start; e < cnt[j]; ++e) {
                int64_t b = ord[e];
                T vb[MAX_ROWS], dvb[MAX_ROWS];
                for (int r = 0; r < R; ++r) {
                    vb[r] = gWi ? v[r * B + b] : 0;
                    dvb[r] = gxp ? dv[r * B + b] : 0;
                }
                T acc = SFX(bwd_block)(gWi ? gWi + off : NULL, Wi + off, Si, gy + (m * B + b) * O, vb + r0,
                                       gxp ? dvb + r0 : NULL, r1 - r0, O);
                if (gxp) gxp[b] = acc;
            }
        }
        if (gxp)
            for (int64_t b = 0; b < B; ++b) gxp[b] *= ihi;
        goto finish;
    }
    for (int64_t b = 0; b < B; ++b) {
        T *gxo = gx ? gx + mi * B + b : NULL; /* gx laid out (M, I, B): contiguous per pair */
        if (lo[b] == INVALID) {
            if (gxo) *gxo = (T)0;
            continue;
        }
        const T *g = gy + (m * B + b) * O;
        T vb[MAX_ROWS], dvb[MAX_ROWS];
        for (int r = 0; r < R; ++r) {
            vb[r] = gWi ? v[r * B + b] : 0;
            dvb[r] = gxo ? dv[r * B + b] : 0;
        }
        int r0, r1;
        SFX(clip)(lo[b], R, NB, &r0, &r1);
        T acc;
        if (r0 == 0 && r1 == R) {
            acc = SFX(bwd_block)(gWi ? gWi + lo[b] * O : NULL, Wi + lo[b] * O, Si, g, vb, gxo ? dvb : NULL, R, O);
        } else {
            int64_t off = (lo[b] + r0) * O;
            acc = SFX(bwd_block)(gWi ? gWi + off : NULL, Wi + off, Si, g, vb + r0, gxo ? dvb + r0 : NULL, r1 - r0,
                                 O);
        }
        if (gxo) *gxo = acc * ihi;
    }
finish:
    if (!gWi) return;
    if (opt) {
        SFX(adam_pair)(Wu + mi * NB * O, mo + mi * NB * O, ve + mi * NB * O, gWi, Si, gS ? gS + mi * O : NULL, NB, O,
                       opt);
        return;
    }
    /* h holds sum_b v g; the scale's gradient is <h, c> over the bases, the coefficients' is h * s (one pass) */
    if (gS) {
        T *restrict gs = gS + mi * O;
        memset(gs, 0, (size_t)O * sizeof(T));
        for (int64_t j = 0; j < NB; ++j)
            for (int64_t o = 0; o < O; ++o) {
                T hv = gWi[j * O + o];
                gs[o] += hv * Wi[j * O + o];
                gWi[j * O + o] = hv * Si[o];
            }
    } else {
        for (int64_t j = 0; j < NB; ++j)
            for (int64_t o = 0; o < O; ++o) gWi[j * O + o] *= Si[o];
    }
}

/* A literal R for the common orders (specialised code: unrolled loops over the k + 1 rows), the runtime
 * value otherwise. SPECIALISE is 1 for float; double (gradchecks, PINNs) takes the generic code, which
 * halves the build time. */
#if SPECIALISE
#define DISPATCH_R(R, CALL)                                                                                  \
    switch (R) {                                                                                             \
    case 2: CALL(2); break;                                                                                  \
    case 3: CALL(3); break;                                                                                  \
    case 4: CALL(4); break;                                                                                  \
    default: CALL(R); break;                                                                                 \
    }
#else
#define DISPATCH_R(R, CALL) CALL(R);
#endif

/* Blocking of the forward. Per sample, the row loop (forward_rows) reads k + 1 rows of O coefficients of
 * every input. Where one model's coefficients (I * NB * O) exceed FWD_L2 bytes (the first layer of a
 * [784, 32, ...] KAN: 784 * NB * 32), every sample would fetch them from L3: the inputs are then taken in
 * blocks of IB whose coefficients fit FWD_L1 bytes (at least FWD_MIN_INPUTS inputs, which amortises the
 * per-block work: position, polynomials, one load and store of the sample's O outputs), and every sample
 * of a sample block runs over one input block before the next, so the coefficients come from L1 / L2.
 * Otherwise IB = I: one pass over the inputs per sample. Jobs are (model, sample block): the batch is
 * split in nsb blocks of SB where there are fewer models than threads. */
#define FWD_L2 (256 * 1024)
#define FWD_L1 (32 * 1024)
#define FWD_MIN_INPUTS 8
static void SFX(forward_blocks)(int64_t M, int64_t B, int64_t I, int64_t NB, int64_t O, int threads, int64_t *IB,
                                int64_t *SB, int64_t *nsb) {
    const int64_t per_input = NB * O * (int64_t)sizeof(T);
    int64_t ib = FWD_L1 / per_input;
    ib = ib < FWD_MIN_INPUTS ? FWD_MIN_INPUTS : ib;
    *IB = I * per_input <= FWD_L2 || ib >= I ? I : ib;
    int64_t n = M >= threads ? 1 : (threads + M - 1) / M;
    n = n > B ? B : n < 1 ? 1 : n;
    *SB = B > n ? (B + n - 1) / n : 1;
    *nsb = (B + *SB - 1) / *SB; /* 0 for an empty batch */
}

void SFX(kan_local_forward)(const T *restrict x, const T *restrict t0, const T *restrict ih, const T *restrict W,
                            const T *restrict S, T *restrict y, int64_t M, int64_t B, int64_t I, int64_t NB, int64_t O, int k,
                            int64_t x_stride, int64_t g_stride, const T *restrict C, int threads) {
    const int R = k + 1;
    int64_t IB, SB, nsb;
    SFX(forward_blocks)(M, B, I, NB, O, threads, &IB, &SB, &nsb);
    /* Where a block's samples read about NB rows of each input's coefficients anyway (SB >= 2 NB), scale
     * the block's coefficients once (cs = c * s, IB * NB * O per thread) instead of multiplying
     * each sample's partial sums by s: R instead of R + 1 vector FMAs per input and sample, no loads of s. */
    const int prescale = O % OCHUNK == 0 && SB >= 2 * NB;
#pragma omp parallel num_threads(threads)
    {
        T *t = malloc((size_t)IB * sizeof(T)), *v = malloc((size_t)(IB * R) * sizeof(T));
        int64_t *lo = malloc((size_t)IB * sizeof(int64_t));
        T *cs = prescale ? malloc((size_t)(IB * NB * O) * sizeof(T)) : NULL;
#pragma omp for schedule(static)
        for (int64_t job = 0; job < M * nsb; ++job) {
            int64_t m = job / nsb, b0 = job % nsb * SB, b1 = b0 + SB < B ? b0 + SB : B;
            for (int64_t i0 = 0; i0 < I; i0 += IB) {
                int64_t n = I - i0 < IB ? I - i0 : IB;
                const T *Wb = W + (m * I + i0) * NB * O, *Sb = S + (m * I + i0) * O;
                if (cs) {
                    for (int64_t i = 0; i < n; ++i)
                        for (int64_t j = 0; j < NB; ++j)
                            for (int64_t o = 0; o < O; ++o) cs[(i * NB + j) * O + o] = Wb[(i * NB + j) * O + o] * Sb[i * O + o];
                    Wb = cs;
                    Sb = NULL;
                }
#define ROWS(RR)                                                                                             \
    SFX(forward_rows)(m, b0, b1, i0, n, i0 > 0, x, t0, ih, Wb, Sb, y, B, I, NB, O, RR, x_stride, g_stride, C, t, v, lo)
                DISPATCH_R(R, ROWS)
#undef ROWS
            }
        }
        free(t);
        free(v);
        free(lo);
        free(cs);
    }
}

/* The backward; with opt non-NULL (the fused optimiser, see backward_pair) W is updated in place with its
 * Adam moments mo, ve and gW is not used. */
static void SFX(local_backward)(const T *restrict x, const T *restrict t0, const T *restrict ih, T *W,
                                const T *restrict S, const T *restrict gy, T *restrict gW, T *restrict gS, T *restrict gx,
                                int64_t M, int64_t B, int64_t I, int64_t NB, int64_t O, int k, int64_t x_stride,
                                int64_t g_stride, const T *restrict C, const T *restrict D, int threads, T *restrict mo,
                                T *restrict ve, const double *restrict opt) {
    const int R = k + 1;
#pragma omp parallel num_threads(threads)
    {
        T *t = malloc((size_t)B * sizeof(T)), *v = malloc((size_t)(B * R) * sizeof(T));
        T *dv = malloc((size_t)(B * R) * sizeof(T));
        int64_t *lo = malloc((size_t)B * sizeof(int64_t)), *ord = malloc((size_t)B * sizeof(int64_t));
        int64_t *cnt = malloc((size_t)(NB + k + 2) * sizeof(int64_t));
        T *hbuf = opt ? malloc((size_t)(NB * O) * sizeof(T)) : NULL;
#pragma omp for schedule(static)
        for (int64_t mi = 0; mi < M * I; ++mi) {
#define PAIR(RR)                                                                                             \
    SFX(backward_pair)(mi, x, t0, ih, W, S, gy, gW, gS, gx, B, I, NB, O, RR, x_stride, g_stride, C, D, t, v, dv, lo, ord, \
                       cnt, W, mo, ve, opt, hbuf)
            DISPATCH_R(R, PAIR)
#undef PAIR
        }
        free(t);
        free(v);
        free(dv);
        free(lo);
        free(ord);
        free(cnt);
        free(hbuf);
    }
}

void SFX(kan_local_backward)(const T *restrict x, const T *restrict t0, const T *restrict ih, const T *restrict W,
                             const T *restrict S, const T *restrict gy, T *restrict gW, T *restrict gS, T *restrict gx, int64_t M,
                             int64_t B, int64_t I, int64_t NB, int64_t O, int k, int64_t x_stride, int64_t g_stride, const T *restrict C,
                             const T *restrict D, int threads) {
    SFX(local_backward)(x, t0, ih, (T *)W, S, gy, gW, gS, gx, M, B, I, NB, O, k, x_stride, g_stride, C, D, threads, NULL, NULL,
                        NULL);
}

/* The backward with the coefficients' Adam/AdamW step fused in (opt: see adam_pair): W, mo, ve are
 * updated in place, the coefficients' gradient is never stored; gS and gx as in kan_local_backward. */
void SFX(kan_local_backward_adam)(const T *restrict x, const T *restrict t0, const T *restrict ih, T *W,
                                  const T *restrict S, const T *restrict gy, T *restrict gS, T *restrict gx, int64_t M,
                                  int64_t B, int64_t I, int64_t NB, int64_t O, int k, int64_t x_stride, int64_t g_stride,
                                  const T *restrict C, const T *restrict D, int threads, T *restrict mo, T *restrict ve,
                                  const double *restrict opt) {
    SFX(local_backward)(x, t0, ih, W, S, gy, NULL, gS, gx, M, B, I, NB, O, k, x_stride, g_stride, C, D, threads, mo, ve,
                        opt);
}

#undef DISPATCH_R
#undef VL

/* dst[n][c][r] = src[n][r][c] for n < N (batched transpose of rows x cols matrices), in tiles that stay in
 * L1: moves B-spline coefficients between torch's (out, in * nb) layout and the kernels' (in * nb, out). */
void SFX(kan_transpose)(const T *restrict src, T *restrict dst, int64_t N, int64_t rows, int64_t cols,
                        int threads) {
    const int64_t TILE = 32;
    int64_t tr = (rows + TILE - 1) / TILE, tc = (cols + TILE - 1) / TILE;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t job = 0; job < N * tr * tc; ++job) {
        int64_t n = job / (tr * tc), r0 = (job / tc) % tr * TILE, c0 = job % tc * TILE;
        int64_t r1 = r0 + TILE < rows ? r0 + TILE : rows, c1 = c0 + TILE < cols ? c0 + TILE : cols;
        const T *sn = src + n * rows * cols;
        T *dn = dst + n * rows * cols;
        for (int64_t c = c0; c < c1; ++c)
            for (int64_t r = r0; r < r1; ++r) dn[c * rows + r] = sn[r * cols + c];
    }
}
