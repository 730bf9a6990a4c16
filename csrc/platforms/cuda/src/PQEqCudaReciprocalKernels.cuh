#ifndef POLARML_PQEQCUDARECIPROCALKERNELS_CUH_
#define POLARML_PQEQCUDARECIPROCALKERNELS_CUH_

/* Device kernels of the reciprocal-space part (see PQEqCudaKernelArgs.cuh): Ewald structure factors and
 * potentials per k-vector, and smooth PME (B-spline spreading, 3D DFT per axis, influence function,
 * gathering), one mesh per class group. */

#include "PQEqCudaKernelArgs.cuh"

namespace PolarML {

/* ---------------- Ewald reciprocal space ---------------- */

template <class T> PQ_GLOBAL void kEwaldStructure(KP<T> p) {
    for (int k = PQ_TID; k < p.nk; k += PQ_NTHREADS) {
        double Sr[PQ_MAX_GROUPS], Si[PQ_MAX_GROUPS];
        for (int g = 0; g < p.G; g++)
            Sr[g] = Si[g] = 0;
        T kx = p.kvec[3 * k], ky = p.kvec[3 * k + 1], kz = p.kvec[3 * k + 2];
        for (int a = 0; a < p.nS; a++) {
            T Q = p.sq[a];
            if (Q == (T) 0)
                continue;
            T s, c;
            pqSinCos(kx * p.sx[a] + ky * p.sy[a] + kz * p.sz[a], &s, &c);
            Sr[p.siteGroup[a]] += (double) (Q * c);
            Si[p.siteGroup[a]] += (double) (Q * s);
        }
        for (int g = 0; g < p.G; g++) {
            double pr = 0, pi = 0;
            for (int h = 0; h < p.G; h++) {
                double w = (double) p.kweight[((size_t) k * p.G + g) * p.G + h];
                pr += w * Sr[h];
                pi += w * Si[h];
            }
            p.Pr[k * p.G + g] = pr;
            p.Pi[k * p.G + g] = pi;
        }
    }
}

template <class T> PQ_GLOBAL void kEwaldPotential(KP<T> p) {
    for (int a = PQ_TID; a < p.nS; a += PQ_NTHREADS) {
        T xa = p.sx[a], ya = p.sy[a], za = p.sz[a];
        double Qa = (double) p.sq[a];
        int g = p.siteGroup[a];
        double phiA = 0, gx = 0, gy = 0, gz = 0;
        for (int k = 0; k < p.nk; k++) {
            T kx = p.kvec[3 * k], ky = p.kvec[3 * k + 1], kz = p.kvec[3 * k + 2];
            T s, c;
            pqSinCos(kx * xa + ky * ya + kz * za, &s, &c);
            double pr = p.Pr[k * p.G + g], pi = p.Pi[k * p.G + g];
            phiA += c * pr + s * pi;
            double f = Qa * (c * pi - s * pr);
            gx += kx * f;
            gy += ky * f;
            gz += kz * f;
        }
        p.phi[a] += phiA;
        p.grad[3 * a] += gx;
        p.grad[3 * a + 1] += gy;
        p.grad[3 * a + 2] += gz;
    }
}

/* ---------------- smooth PME ---------------- */

/* w[j] = M_p(fr + j), dw[j] = M_p'(fr + j), j = 0..p-1 (cardinal B-spline of order p = 6). */
template <class T> PQ_DEVICE void bspline6(T fr, T* w, T* dw) {
    const int p = PQ_PME_ORDER;
    T prev[PQ_PME_ORDER], cur[PQ_PME_ORDER];
    prev[0] = fr;
    prev[1] = (T) 1 - fr;
    for (int n = 3; n <= p; n++) {
        for (int j = 0; j < n; j++) {
            T a = (j < n - 1 ? prev[j] : (T) 0);
            T b = (j > 0 ? prev[j - 1] : (T) 0);
            cur[j] = ((fr + j) * a + (n - fr - j) * b) / (T) (n - 1);
        }
        if (n == p)
            for (int j = 0; j < n; j++)
                dw[j] = (j < n - 1 ? prev[j] : (T) 0) - (j > 0 ? prev[j - 1] : (T) 0);
        for (int j = 0; j < n; j++)
            prev[j] = cur[j];
    }
    for (int j = 0; j < p; j++)
        w[j] = prev[j];
}

/* B-spline weights and first grid index of site a along the three lattice directions. */
template <class T> PQ_DEVICE void pmeSplines(const KP<T>& p, int a, T w[3][PQ_PME_ORDER], T dw[3][PQ_PME_ORDER], int i0[3]) {
    T x = p.sx[a], y = p.sy[a], z = p.sz[a];
    for (int d = 0; d < 3; d++) {
        T f = x * p.recip[3 * d] + y * p.recip[3 * d + 1] + z * p.recip[3 * d + 2];
        f -= pqFloor(f);
        T uu = f * (T) p.ng[d];
        int iu = (int) pqFloor(uu);
        bspline6(uu - (T) iu, w[d], dw[d]);
        i0[d] = iu;
    }
}

PQ_DEVICE int wrapIndex(int k, int n) {
    k %= n;
    return (k < 0 ? k + n : k);
}

template <class T> PQ_GLOBAL void kPmeSpread(KP<T> p) {
    for (int a = PQ_TID; a < p.nS; a += PQ_NTHREADS) {
        T Q = p.sq[a];
        if (Q == (T) 0)
            continue;
        T w[3][PQ_PME_ORDER], dw[3][PQ_PME_ORDER];
        int i0[3];
        pmeSplines(p, a, w, dw, i0);
        T* grid = p.grid + 2 * p.total * p.siteGroup[a];
        for (int j0 = 0; j0 < PQ_PME_ORDER; j0++) {
            int k0 = wrapIndex(i0[0] - j0, p.ng[0]);
            for (int j1 = 0; j1 < PQ_PME_ORDER; j1++) {
                int k1 = wrapIndex(i0[1] - j1, p.ng[1]);
                T w01 = Q * w[0][j0] * w[1][j1];
                long long base = ((long long) k0 * p.ng[1] + k1) * p.ng[2];
                for (int j2 = 0; j2 < PQ_PME_ORDER; j2++)
                    pqAtomicAdd(&grid[2 * (base + wrapIndex(i0[2] - j2, p.ng[2]))], w01 * w[2][j2]);
            }
        }
    }
}

/* One axis of an unnormalised 3D DFT, out[m] = sum_j in[j] exp(sign 2 pi i j m / n), for G grids.
 * A direct sum per output point (n multiply-adds): simple, exact ordering, cost n0 n1 n2 (n0+n1+n2). */
template <class T> PQ_GLOBAL void kDftAxis(KP<T> p, const T* in, T* out, int axis, int sign) {
    long long count = p.total * p.G;
    int n = p.ng[axis];
    long long stride = (axis == 2 ? 1 : (axis == 1 ? p.ng[2] : (long long) p.ng[1] * p.ng[2]));
    const T* tw = p.tw[axis];
    for (long long e = PQ_TID; e < count; e += PQ_NTHREADS) {
        long long idx = e % p.total;
        int m = (int) ((idx / stride) % n);
        long long base = e - (long long) m * stride;
        T re = 0, im = 0;
        int t = 0;
        for (int j = 0; j < n; j++) {
            T xr = in[2 * (base + j * stride)], xi = in[2 * (base + j * stride) + 1];
            T c = tw[2 * t], s = sign * tw[2 * t + 1];
            re += xr * c - xi * s;
            im += xr * s + xi * c;
            t += m;
            if (t >= n)
                t -= n;
        }
        out[2 * e] = re;
        out[2 * e + 1] = im;
    }
}

template <class T> PQ_GLOBAL void kPmeConvolve(KP<T> p, const T* in, T* out) {
    for (long long idx = PQ_TID; idx < p.total; idx += PQ_NTHREADS)
        for (int g = 0; g < p.G; g++) {
            T re = 0, im = 0;
            for (int h = 0; h < p.G; h++) {
                T f = p.influence[(g * p.G + h) * p.total + idx];
                re += f * in[2 * (h * p.total + idx)];
                im += f * in[2 * (h * p.total + idx) + 1];
            }
            out[2 * (g * p.total + idx)] = re;
            out[2 * (g * p.total + idx) + 1] = im;
        }
}

template <class T> PQ_GLOBAL void kPmeGather(KP<T> p, const T* pot) {
    for (int a = PQ_TID; a < p.nS; a += PQ_NTHREADS) {
        T w[3][PQ_PME_ORDER], dw[3][PQ_PME_ORDER];
        int i0[3];
        pmeSplines(p, a, w, dw, i0);
        const T* grid = pot + 2 * p.total * p.siteGroup[a];
        double v = 0, g0 = 0, g1 = 0, g2 = 0;
        for (int j0 = 0; j0 < PQ_PME_ORDER; j0++) {
            int k0 = wrapIndex(i0[0] - j0, p.ng[0]);
            for (int j1 = 0; j1 < PQ_PME_ORDER; j1++) {
                int k1 = wrapIndex(i0[1] - j1, p.ng[1]);
                long long base = ((long long) k0 * p.ng[1] + k1) * p.ng[2];
                for (int j2 = 0; j2 < PQ_PME_ORDER; j2++) {
                    T val = grid[2 * (base + wrapIndex(i0[2] - j2, p.ng[2]))];
                    v += (double) (val * w[0][j0] * w[1][j1] * w[2][j2]);
                    g0 += (double) (val * dw[0][j0] * w[1][j1] * w[2][j2]);
                    g1 += (double) (val * w[0][j0] * dw[1][j1] * w[2][j2]);
                    g2 += (double) (val * w[0][j0] * w[1][j1] * dw[2][j2]);
                }
            }
        }
        double Q = (double) p.sq[a];
        g0 *= p.ng[0];
        g1 *= p.ng[1];
        g2 *= p.ng[2];
        p.phi[a] += v;
        for (int c = 0; c < 3; c++)
            p.grad[3 * a + c] += Q * (p.recipD[c] * g0 + p.recipD[3 + c] * g1 + p.recipD[6 + c] * g2);
    }
}

} // namespace PolarML

#endif
