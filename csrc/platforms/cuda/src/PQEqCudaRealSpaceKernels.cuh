#ifndef POLARML_PQEQCUDAREALSPACEKERNELS_CUH_
#define POLARML_PQEQCUDAREALSPACEKERNELS_CUH_

/* Device kernels of the real-space part (see PQEqCudaKernelArgs.cuh): the Coulomb pair kernel of each
 * method, positions unwrapped against the reference, sites (cores and shells) from the unknowns, and one
 * thread per site over all partners for the potentials and position gradients. */

#include "PQEqCudaKernelArgs.cuh"

namespace PolarML {

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

} // namespace PolarML

#endif
