#ifndef POLARML_PQEQCUDAKERNELS_CUH_
#define POLARML_PQEQCUDAKERNELS_CUH_

/* Device kernels of the CUDA PQEqForce (see PQEqCudaEngine.h). T is the real type of the pair and grid
 * arithmetic; potentials, gradients, solver vectors and reductions are double. Every kernel is a
 * grid-stride loop (see PQEqCudaCompat.h for the rules that keep the serial emulation faithful). */

#include "PQEqCudaCompat.h"

namespace PolarML {

enum { M_NOCUTOFF = 0, M_EWALD = 1, M_PME = 2, M_TAPER = 3, M_TAPER_NONPERIODIC = 4 };
enum { S_EC = 0, S_ESELF = 1, S_MU = 2, S_RQ = 5, S_RD = 6, S_NAN = 7, S_ZG = 8, S_NUM = 9, S_DEN = 10, S_PG = 11,
       S_CURV = 12, S_PP = 13, S_DMAX = 14, S_COUNT = 16 };
const int PQ_PME_ORDER = 6;
const int PQ_MAX_GROUPS = 16;

/* Kernel arguments: passed by value to every kernel. */
template <class T> struct KP {
    int N, P, nq, nS, n, method, periodic, C, G, nshift, nk, nfrag;
    int split, nx, nb;   // split charges (PQEqForce::Split); first-block unknowns: nq charges, or nb bond variables
    int ng[3];
    long long total;
    T box[9], recip[9], rc, rc2, beta, ke;
    double boxD[9], recipD[9], field[3];
    // atoms and unknowns
    const double *chi, *eta, *Ks, *Z, *fixedQ, *invPrec, *fragInvEta, *fragCharge, *fragCount;
    const int *eqIndex, *polIndex, *eqAtoms, *polAtoms, *eqFragment;
    double *pos, *ref, *u, *qAtom, *dAtom, *forces;
    // sites
    const int *siteClass, *siteGroup, *exclStart, *exclList;
    T *sx, *sy, *sz, *sq;
    double *phi, *grad, *groupQ;
    const T *pairAlpha, *selfGamma, *shifts;
    const double* k0coef;
    // Ewald
    const T *kvec, *kweight;
    double *Pr, *Pi;
    // PME (complex grids interleaved re, im; G grids of total points)
    T *grid, *tmp, *pot;
    const T *tw[3], *influence;
    // solver
    double *fragSum, *fragWg, *fragSz, *scalars;
    // split charges: reference charges q0 (per atom), bonds i < j with R = r_i - r_j(image) (nm), |R|, taper
    // w and dw/dr, hardness; per atom its bonds (CSR, ascending: b for the first atom, -b-1 for the second);
    // dE/dq without the field per atom at the last evaluation; dE/dR per bond at fixed s (forces)
    const double *refQ, *bondR, *bondLen, *bondW, *bondDW, *bondKappa;
    const int *bondI, *bondJ, *atomBondStart, *atomBondList;
    double *chargeGrad, *bondDEdR;
};

template <class T> PQ_DEVICE void erfOverR(T a, T r, T& f, T& df) {
    const T TWO_OVER_SQRT_PI = (T) 1.1283791670955125739;
    if (a > (T) 1e30) {
        f = (T) 1 / r;
        df = -f / r;
        return;
    }
    T x = a * r;
    if (x < (T) 1e-2) {
        T x2 = x * x;
        f = a * TWO_OVER_SQRT_PI * ((T) 1 - x2 / (T) 3 + x2 * x2 / (T) 10 - x2 * x2 * x2 / (T) 42 + x2 * x2 * x2 * x2 / (T) 216);
        df = a * a * TWO_OVER_SQRT_PI * x * ((T) -2 / (T) 3 + (T) 0.4 * x2 - x2 * x2 / (T) 7 + x2 * x2 * x2 / (T) 27);
        return;
    }
    f = pqErf(x) / r;
    df = (a * TWO_OVER_SQRT_PI * pqExp(-x * x) - f) / r;
}

/* Pair kernel K(r) (includes ke) and dK/dr for the method; a = alpha_ab. */
template <class T> PQ_DEVICE void pairKernel(const KP<T>& p, T a, T r, T& K, T& dK) {
    T f, df;
    erfOverR(a, r, f, df);
    if (p.method == M_NOCUTOFF) {
        K = p.ke * f;
        dK = p.ke * df;
    }
    else if (p.method == M_TAPER || p.method == M_TAPER_NONPERIODIC) {
        T x = r / p.rc, x2 = x * x, x3 = x2 * x, x4 = x3 * x;
        T Tp = 1 - 35 * x4 + 84 * x4 * x - 70 * x4 * x2 + 20 * x4 * x3;
        T dT = (-140 * x3 + 420 * x4 - 420 * x4 * x + 140 * x4 * x2) / p.rc;
        K = p.ke * f * Tp;
        dK = p.ke * (df * Tp + f * dT);
    }
    else {
        T fb, dfb;
        erfOverR(p.beta, r, fb, dfb);
        K = p.ke * (f - fb);
        dK = p.ke * (df - dfb);
    }
}

template <class R> PQ_DEVICE void minimumImage(const R* box, const R* recip, R& x, R& y, R& z) {
    for (int k = 2; k >= 0; k--) {
        R f = pqFloor(x * recip[3 * k] + y * recip[3 * k + 1] + z * recip[3 * k + 2] + (R) 0.5);
        x -= box[3 * k] * f;
        y -= box[3 * k + 1] * f;
        z -= box[3 * k + 2] * f;
    }
}

/* ---------------- positions ---------------- */

template <class TP> PQ_GLOBAL void kPositionsFromPosq(const TP* posq, const float* corr, const int* atomIndex, int n, double* pos) {
    for (int j = PQ_TID; j < n; j += PQ_NTHREADS) {
        int i = atomIndex[j];
        for (int c = 0; c < 3; c++)
            pos[3 * i + c] = (double) posq[4 * j + c] + (corr ? (double) corr[4 * j + c] : 0.0);
    }
}

template <class T> PQ_GLOBAL void kUnwrap(KP<T> p) {
    for (int i = PQ_TID; i < p.N; i += PQ_NTHREADS) {
        double x = p.pos[3 * i], y = p.pos[3 * i + 1], z = p.pos[3 * i + 2];
        if (p.periodic) {
            double dx = x - p.ref[3 * i], dy = y - p.ref[3 * i + 1], dz = z - p.ref[3 * i + 2];
            minimumImage(p.boxD, p.recipD, dx, dy, dz);
            x = p.ref[3 * i] + dx;
            y = p.ref[3 * i + 1] + dy;
            z = p.ref[3 * i + 2] + dz;
        }
        p.u[3 * i] = x;
        p.u[3 * i + 1] = y;
        p.u[3 * i + 2] = z;
    }
}

/* ---------------- sites from the unknowns x = (q of equilibrated atoms, d of polarisable atoms) -------- */

template <class T> PQ_GLOBAL void kSites(KP<T> p, const double* x) {
    for (int i = PQ_TID; i < p.N; i += PQ_NTHREADS) {
        int k = p.eqIndex[i], s = p.polIndex[i];
        double q = (k >= 0 ? x[k] : p.fixedQ[i]);
        if (k >= 0 && p.split) {   // q = q0 + B (w o s), the bonds in ascending order
            q = p.refQ[i];
            for (int e = p.atomBondStart[i]; e < p.atomBondStart[i + 1]; e++) {
                int code = p.atomBondList[e], b = (code >= 0 ? code : -code - 1);
                double t = p.bondW[b] * x[b];
                q += (code >= 0 ? t : -t);
            }
        }
        double d[3] = {0, 0, 0};
        if (s >= 0)
            for (int c = 0; c < 3; c++)
                d[c] = x[p.nx + 3 * s + c];
        p.qAtom[i] = q;
        for (int c = 0; c < 3; c++)
            p.dAtom[3 * i + c] = d[c];
        p.sx[i] = (T) p.pos[3 * i];
        p.sy[i] = (T) p.pos[3 * i + 1];
        p.sz[i] = (T) p.pos[3 * i + 2];
        p.sq[i] = (T) (q + p.Z[i]);
        if (s >= 0) {
            p.sx[p.N + s] = (T) (p.pos[3 * i] + d[0]);
            p.sy[p.N + s] = (T) (p.pos[3 * i + 1] + d[1]);
            p.sz[p.N + s] = (T) (p.pos[3 * i + 2] + d[2]);
            p.sq[p.N + s] = (T) (-p.Z[i]);
        }
    }
}

template <class T> PQ_GLOBAL void kGroupCharges(KP<T> p) {
    for (int a = PQ_TID; a < p.nS; a += PQ_NTHREADS)
        pqAtomicAdd(&p.groupQ[p.siteGroup[a]], (double) p.sq[a]);
}

/* ---------------- real space: one thread per site, all partners (both directions, no atomics) -------- */

template <class T> PQ_GLOBAL void kRealSpace(KP<T> p) {
    bool ewaldLike = (p.method == M_EWALD || p.method == M_PME);
    for (int a = PQ_TID; a < p.nS; a += PQ_NTHREADS) {
        T xa = p.sx[a], ya = p.sy[a], za = p.sz[a], Qa = p.sq[a];
        int ca = p.siteClass[a];
        int ia = (a < p.N ? a : p.polAtoms[a - p.N]);   // atom (= core site) of site a
        double phiA = 0, gx = 0, gy = 0, gz = 0;
        int e = p.exclStart[a], eEnd = p.exclStart[a + 1];
        for (int b = 0; b < p.nS; b++) {
            while (e < eEnd && p.exclList[e] < b)
                e++;
            bool excluded = (e < eEnd && p.exclList[e] == b);
            T Qb = p.sq[b];
            if (Qb == (T) 0)
                continue;
            T aab = p.pairAlpha[ca * p.C + p.siteClass[b]];
            if (ewaldLike && !(aab > p.beta))
                continue;   // broad pair: reciprocal space only
            T dx = p.sx[b] - xa, dy = p.sy[b] - ya, dz = p.sz[b] - za;
            T cx = 0, cy = 0, cz = 0;   // Ewald/PME: core-core vector, same image as the sites
            if (ewaldLike) {
                int ib = (b < p.N ? b : p.polAtoms[b - p.N]);
                cx = p.sx[ib] - p.sx[ia];
                cy = p.sy[ib] - p.sy[ia];
                cz = p.sz[ib] - p.sz[ia];
                if (p.periodic)
                    minimumImage(p.box, p.recip, cx, cy, cz);
                dx = cx + (p.sx[b] - p.sx[ib]) - (xa - p.sx[ia]);
                dy = cy + (p.sy[b] - p.sy[ib]) - (ya - p.sy[ia]);
                dz = cz + (p.sz[b] - p.sz[ib]) - (za - p.sz[ia]);
            }
            else if (p.periodic)
                minimumImage(p.box, p.recip, dx, dy, dz);
            for (int s = 0; s < p.nshift; s++) {
                if (s == 0 && (b == a || excluded))
                    continue;   // shift 0 is the zero shift
                T rx = dx + p.shifts[3 * s], ry = dy + p.shifts[3 * s + 1], rz = dz + p.shifts[3 * s + 2];
                T r2 = rx * rx + ry * ry + rz * rz;
                if (ewaldLike) {   // pairs by core-core distance < rc (docs/conventions.md)
                    T qx = cx + p.shifts[3 * s], qy = cy + p.shifts[3 * s + 1], qz = cz + p.shifts[3 * s + 2];
                    if (qx * qx + qy * qy + qz * qz >= p.rc2)
                        continue;
                }
                else if (r2 >= p.rc2)
                    continue;
                T r = pqSqrt(r2), K, dK;
                pairKernel(p, aab, r, K, dK);
                phiA += (double) (Qb * K);
                if (b != a) {
                    T c = Qa * Qb * dK / r;
                    gx -= (double) (rx * c);
                    gy -= (double) (ry * c);
                    gz -= (double) (rz * c);
                }
            }
        }
        if (ewaldLike) {
            // excluded pairs: remove what the reciprocal sum includes
            for (int k = p.exclStart[a]; k < eEnd; k++) {
                int b = p.exclList[k];
                T Qb = p.sq[b];
                T gm = p.pairAlpha[ca * p.C + p.siteClass[b]];
                if (gm > p.beta)
                    gm = p.beta;
                T dx = p.sx[b] - xa, dy = p.sy[b] - ya, dz = p.sz[b] - za;
                minimumImage(p.box, p.recip, dx, dy, dz);
                T r = pqSqrt(dx * dx + dy * dy + dz * dz), f, df;
                erfOverR(gm, r, f, df);
                phiA -= (double) (p.ke * Qb * f);
                if (r > 0) {
                    T c = p.ke * Qa * Qb * df / r;
                    gx += (double) (dx * c);
                    gy += (double) (dy * c);
                    gz += (double) (dz * c);
                }
            }
            // self and k = 0 terms
            phiA -= 2.0 * (double) p.ke * (double) Qa * (double) p.selfGamma[ca] / 1.7724538509055160273;
            int g = p.siteGroup[a];
            for (int h = 0; h < p.G; h++)
                phiA -= p.k0coef[g * p.G + h] * p.groupQ[h];
        }
        p.phi[a] = phiA;
        p.grad[3 * a] = gx;
        p.grad[3 * a + 1] = gy;
        p.grad[3 * a + 2] = gz;
    }
}

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

/* ---------------- energy, gradient with respect to the unknowns, dipole ---------------- */

template <class T> PQ_GLOBAL void kGradient(KP<T> p, double* g) {
    double eLocal = 0;
    for (int k = PQ_TID; k < p.nq + p.P; k += PQ_NTHREADS) {
        if (k < p.nq) {
            int i = p.eqAtoms[k];
            double q = p.qAtom[i];
            double gq = p.chi[i] + p.eta[i] * q + p.phi[i];
            if (p.split)   // the bond gradient follows in kSplitBondGradient
                p.chargeGrad[i] = gq;
            else
                g[k] = gq - (p.field[0] * p.u[3 * i] + p.field[1] * p.u[3 * i + 1] + p.field[2] * p.u[3 * i + 2]);
            eLocal += p.chi[i] * q + 0.5 * p.eta[i] * q * q;
        }
        else {
            int s = k - p.nq, i = p.polAtoms[s];
            for (int c = 0; c < 3; c++) {
                double d = p.dAtom[3 * i + c];
                g[p.nx + 3 * s + c] = p.Ks[i] * d + p.grad[3 * (p.N + s) + c] + p.field[c] * p.Z[i];
                eLocal += 0.5 * p.Ks[i] * d * d;
            }
        }
    }
    pqReduceAdd(&p.scalars[S_ESELF], eLocal);
}

/* Split charges, per bond: dE/ds_b = w_b (dE/dq_i - dE/dq_j) + kappa_b s_b - w_b F.R_b, the bond energy
 * 1/2 kappa_b s_b^2 and the bond dipole w_b s_b R_b (needs chargeGrad of this evaluation). */
template <class T> PQ_GLOBAL void kSplitBondGradient(KP<T> p, const double* x, double* g) {
    double eLocal = 0, mu[3] = {0, 0, 0};
    for (int b = PQ_TID; b < p.nb; b += PQ_NTHREADS) {
        int i = p.bondI[b], j = p.bondJ[b];
        double s = x[b], w = p.bondW[b];
        const double* R = p.bondR + 3 * b;
        double fr = p.field[0] * R[0] + p.field[1] * R[1] + p.field[2] * R[2];
        g[b] = w * (p.chargeGrad[i] - p.chargeGrad[j]) + p.bondKappa[b] * s - w * fr;
        eLocal += 0.5 * p.bondKappa[b] * s * s;
        for (int c = 0; c < 3; c++)
            mu[c] += R[c] * (w * s);
    }
    pqReduceAdd(&p.scalars[S_ESELF], eLocal);
    for (int c = 0; c < 3; c++)
        pqReduceAdd(&p.scalars[S_MU + c], mu[c]);
}

/* Split charges, per bond: dE/dR_b at fixed s, through the taper w (charges and field) and through R in
 * the bond dipole; the atoms gather it in kForces. */
template <class T> PQ_GLOBAL void kSplitBondForce(KP<T> p, const double* x) {
    for (int b = PQ_TID; b < p.nb; b += PQ_NTHREADS) {
        int i = p.bondI[b], j = p.bondJ[b];
        double s = x[b], w = p.bondW[b], r = p.bondLen[b];
        const double* R = p.bondR + 3 * b;
        double fr = p.field[0] * R[0] + p.field[1] * R[1] + p.field[2] * R[2];
        double dEdw = s * (p.chargeGrad[i] - p.chargeGrad[j] - fr);
        for (int c = 0; c < 3; c++) {
            double v = -p.field[c] * (s * w);
            if (r > 0)   // dw = 0 below the taper onset; an excluded pair may sit at r = 0
                v += R[c] * (dEdw * p.bondDW[b] / r);
            p.bondDEdR[3 * b + c] = (s == 0 ? 0.0 : v);
        }
    }
}

template <class T> PQ_GLOBAL void kEnergyDipole(KP<T> p) {
    double ec = 0, mu[3] = {0, 0, 0};
    for (int a = PQ_TID; a < p.nS; a += PQ_NTHREADS)
        ec += 0.5 * (double) p.sq[a] * p.phi[a];
    for (int i = PQ_TID; i < p.N; i += PQ_NTHREADS)
        for (int c = 0; c < 3; c++)
            mu[c] += (p.split ? p.refQ[i] : p.qAtom[i]) * p.u[3 * i + c] - p.Z[i] * p.dAtom[3 * i + c];
    pqReduceAdd(&p.scalars[S_EC], ec);
    for (int c = 0; c < 3; c++)
        pqReduceAdd(&p.scalars[S_MU + c], mu[c]);
}

template <class T> PQ_GLOBAL void kForces(KP<T> p) {
    for (int i = PQ_TID; i < p.N; i += PQ_NTHREADS) {
        int s = p.polIndex[i];
        for (int c = 0; c < 3; c++) {
            double f = p.field[c] * (p.split ? p.refQ[i] : p.qAtom[i]) - p.grad[3 * i + c];
            if (s >= 0)
                f -= p.grad[3 * (p.N + s) + c];
            if (p.split)   // the bonds of atom i: -dE/dR_b for the first atom, +dE/dR_b for the second
                for (int e = p.atomBondStart[i]; e < p.atomBondStart[i + 1]; e++) {
                    int code = p.atomBondList[e];
                    f += (code >= 0 ? -p.bondDEdR[3 * code + c] : p.bondDEdR[3 * (-code - 1) + c]);
                }
            p.forces[3 * i + c] = f;
        }
    }
}

PQ_GLOBAL void kAddFixedPointForces(const double* forces, const int* atomIndex, int numAtoms, int padded, long long* buffer) {
    for (int j = PQ_TID; j < numAtoms; j += PQ_NTHREADS) {
        int i = atomIndex[j];
        for (int c = 0; c < 3; c++)
            pqAtomicAddFixed(&buffer[j + c * padded], forces[3 * i + c]);
    }
}

/* ---------------- solver vector operations (double) ---------------- */

template <class T> PQ_GLOBAL void kFragmentSums(KP<T> p, const double* v, double* sum, double* wsum) {
    for (int k = PQ_TID; k < p.nq; k += PQ_NTHREADS) {
        int f = p.eqFragment[k];
        pqAtomicAdd(&sum[f], v[k]);
        if (wsum)
            pqAtomicAdd(&wsum[f], v[k] * p.invPrec[k]);
    }
}

/* Warm start: shift the charges of each fragment onto its total charge. */
template <class T> PQ_GLOBAL void kProjectCharges(KP<T> p, double* x) {
    for (int k = PQ_TID; k < p.nq; k += PQ_NTHREADS) {
        int f = p.eqFragment[k];
        x[k] += (p.fragCharge[f] - p.fragSum[f]) / p.fragCount[f];
    }
}

/* Residuals: max |g - mean_f| over charges, max |g| over shells, NaN flag. */
template <class T> PQ_GLOBAL void kResiduals(KP<T> p, const double* g) {
    double rq = 0, rd = 0, nan = 0;
    for (int k = PQ_TID; k < p.n; k += PQ_NTHREADS) {
        double v;
        if (k < p.nx) {   // split: the bond variables are unconstrained
            v = (p.split ? fabs(g[k]) : fabs(g[k] - p.fragSum[p.eqFragment[k]] / p.fragCount[p.eqFragment[k]]));
            rq = fmax(rq, v);
        }
        else {
            v = fabs(g[k]);
            rd = fmax(rd, v);
        }
        if (!(v == v))
            nan = 1;
    }
    pqReduceMax(&p.scalars[S_RQ], rq);
    pqReduceMax(&p.scalars[S_RD], rd);
    pqReduceMax(&p.scalars[S_NAN], nan);
}

/* Projected gradient gp (fragment multiplier lambda_f = sum(g/eta)/sum(1/eta) removed), preconditioned z. */
template <class T> PQ_GLOBAL void kPrecondition(KP<T> p, const double* g, double* gp, double* z) {
    for (int k = PQ_TID; k < p.n; k += PQ_NTHREADS) {
        double v = g[k];
        bool charge = (k < p.nx && !p.split);
        if (charge) {
            int f = p.eqFragment[k];
            v -= p.fragWg[f] / p.fragInvEta[f];
        }
        gp[k] = v;
        z[k] = v * p.invPrec[k];
        if (charge)
            pqAtomicAdd(&p.fragSz[p.eqFragment[k]], z[k]);
    }
}

/* Remove the rounding residue of sum(z) per fragment; dots zg, z.(gp - gPrev), zPrev.gPrev. */
template <class T> PQ_GLOBAL void kFixZDots(KP<T> p, double* z, const double* gp, const double* zPrev, const double* gPrev, int havePrev) {
    double zg = 0, num = 0, den = 0;
    for (int k = PQ_TID; k < p.n; k += PQ_NTHREADS) {
        double zk = z[k];
        if (k < p.nx && !p.split) {
            int f = p.eqFragment[k];
            zk -= p.fragSz[f] * p.invPrec[k] / p.fragInvEta[f];
            z[k] = zk;
        }
        zg += zk * gp[k];
        if (havePrev) {
            num += zk * (gp[k] - gPrev[k]);
            den += zPrev[k] * gPrev[k];
        }
    }
    pqReduceAdd(&p.scalars[S_ZG], zg);
    pqReduceAdd(&p.scalars[S_NUM], num);
    pqReduceAdd(&p.scalars[S_DEN], den);
}

template <class T> PQ_GLOBAL void kDirection(KP<T> p, double* dir, const double* z, const double* gp, double betaCG) {
    double pg = 0;
    for (int k = PQ_TID; k < p.n; k += PQ_NTHREADS) {
        double v = -z[k] + betaCG * dir[k];
        dir[k] = v;
        pg += v * gp[k];
    }
    pqReduceAdd(&p.scalars[S_PG], pg);
}

template <class T> PQ_GLOBAL void kAxpy(KP<T> p, double* out, const double* x, const double* dir, double t) {
    for (int k = PQ_TID; k < p.n; k += PQ_NTHREADS)
        out[k] = x[k] + t * dir[k];
}

template <class T> PQ_GLOBAL void kCurvature(KP<T> p, const double* dir, const double* g, const double* gt) {
    double curv = 0, pp = 0;
    for (int k = PQ_TID; k < p.n; k += PQ_NTHREADS) {
        curv += dir[k] * (gt[k] - g[k]);
        pp += dir[k] * dir[k];
    }
    pqReduceAdd(&p.scalars[S_CURV], curv);
    pqReduceAdd(&p.scalars[S_PP], pp);
}

/* x += t p; g += t (gt - g) (exact for the quadratic part); remember z and gp for the CG coefficient. */
template <class T> PQ_GLOBAL void kUpdate(KP<T> p, double* x, double* g, const double* dir, const double* gt, double t,
                                          const double* z, const double* gp, double* zPrev, double* gPrev) {
    for (int k = PQ_TID; k < p.n; k += PQ_NTHREADS) {
        x[k] += t * dir[k];
        g[k] += t * (gt[k] - g[k]);
        zPrev[k] = z[k];
        gPrev[k] = gp[k];
    }
}

template <class T> PQ_GLOBAL void kShellMax(KP<T> p, const double* x) {
    double m = 0;
    for (int s = PQ_TID; s < p.P; s += PQ_NTHREADS) {
        const double* d = x + p.nx + 3 * s;
        m = fmax(m, d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
    }
    pqReduceMax(&p.scalars[S_DMAX], m);
}

} // namespace PolarML

#endif
