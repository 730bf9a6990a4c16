#ifndef POLARML_PQEQCUDAREALSPACEKERNELS_CUH_
#define POLARML_PQEQCUDAREALSPACEKERNELS_CUH_

/* Device kernels of the real-space part (see PQEqCudaKernelArgs.cuh): the Coulomb pair kernel of each
 * method, positions unwrapped against the reference, sites (cores and shells) from the unknowns, and one
 * thread per site for the potentials and position gradients, over all partners (kRealSpace) or over the
 * sites of the 27 cells around its own of the cell list (kRealSpaceCells). */

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

/* ---------------- real space: one thread per site owns its sums (both directions of a pair, no atomics) ---- */

/* The sums of one site a: position, charge, class, atom (= core site) and exclusions (CSR range), then
 * its potential and position gradient. */
template <class T> struct SiteSums {
    T x, y, z, Q;
    int cls, atom, exclBegin, exclEnd;
    double phi, gx, gy, gz;
};

template <class T> PQ_DEVICE SiteSums<T> siteBegin(const KP<T>& p, int a) {
    SiteSums<T> s;
    s.x = p.sx[a];
    s.y = p.sy[a];
    s.z = p.sz[a];
    s.Q = p.sq[a];
    s.cls = p.siteClass[a];
    s.atom = (a < p.N ? a : p.polAtoms[a - p.N]);
    s.exclBegin = p.exclStart[a];
    s.exclEnd = p.exclStart[a + 1];
    s.phi = s.gx = s.gy = s.gz = 0;
    return s;
}

/* Whether b is in the sorted exclusion list of a site (binary search). */
template <class T> PQ_DEVICE bool isExcluded(const KP<T>& p, const SiteSums<T>& s, int b) {
    int lo = s.exclBegin, hi = s.exclEnd;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (p.exclList[mid] < b)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s.exclEnd && p.exclList[lo] == b;
}

/* The terms of the site pair (a, b), every image shift inside the cutoff, added to the sums of a. */
template <class T> PQ_DEVICE void pairTerms(const KP<T>& p, int a, int b, bool excluded, bool ewaldLike, SiteSums<T>& s) {
    T Qb = p.sq[b];
    if (Qb == (T) 0)
        return;
    T aab = p.pairAlpha[s.cls * p.C + p.siteClass[b]];
    if (ewaldLike && !(aab > p.beta))
        return;   // broad pair: reciprocal space only
    T dx = p.sx[b] - s.x, dy = p.sy[b] - s.y, dz = p.sz[b] - s.z;
    T cx = 0, cy = 0, cz = 0;   // Ewald/PME: core-core vector, same image as the sites
    if (ewaldLike) {
        int ia = s.atom, ib = (b < p.N ? b : p.polAtoms[b - p.N]);
        cx = p.sx[ib] - p.sx[ia];
        cy = p.sy[ib] - p.sy[ia];
        cz = p.sz[ib] - p.sz[ia];
        if (p.periodic)
            minimumImage(p.box, p.recip, cx, cy, cz);
        dx = cx + (p.sx[b] - p.sx[ib]) - (s.x - p.sx[ia]);
        dy = cy + (p.sy[b] - p.sy[ib]) - (s.y - p.sy[ia]);
        dz = cz + (p.sz[b] - p.sz[ib]) - (s.z - p.sz[ia]);
    }
    else if (p.periodic)
        minimumImage(p.box, p.recip, dx, dy, dz);
    for (int k = 0; k < p.nshift; k++) {
        if (k == 0 && (b == a || excluded))
            continue;   // shift 0 is the zero shift
        T rx = dx + p.shifts[3 * k], ry = dy + p.shifts[3 * k + 1], rz = dz + p.shifts[3 * k + 2];
        T r2 = rx * rx + ry * ry + rz * rz;
        if (ewaldLike) {   // pairs by core-core distance < rc (docs/conventions.md)
            T qx = cx + p.shifts[3 * k], qy = cy + p.shifts[3 * k + 1], qz = cz + p.shifts[3 * k + 2];
            if (qx * qx + qy * qy + qz * qz >= p.rc2)
                continue;
        }
        else if (r2 >= p.rc2)
            continue;
        T r = pqSqrt(r2), K, dK;
        pairKernel(p, aab, r, K, dK);
        s.phi += (double) (Qb * K);
        if (b != a) {
            T c = s.Q * Qb * dK / r;
            s.gx -= (double) (rx * c);
            s.gy -= (double) (ry * c);
            s.gz -= (double) (rz * c);
        }
    }
}

/* Ewald/PME corrections of site a (excluded pairs, self and k = 0 terms), then its outputs. */
template <class T> PQ_DEVICE void siteEnd(const KP<T>& p, int a, bool ewaldLike, SiteSums<T>& s) {
    if (ewaldLike) {
        // excluded pairs: remove what the reciprocal sum includes
        for (int k = s.exclBegin; k < s.exclEnd; k++) {
            int b = p.exclList[k];
            T Qb = p.sq[b];
            T gm = p.pairAlpha[s.cls * p.C + p.siteClass[b]];
            if (gm > p.beta)
                gm = p.beta;
            T dx = p.sx[b] - s.x, dy = p.sy[b] - s.y, dz = p.sz[b] - s.z;
            minimumImage(p.box, p.recip, dx, dy, dz);
            T r = pqSqrt(dx * dx + dy * dy + dz * dz), f, df;
            erfOverR(gm, r, f, df);
            s.phi -= (double) (p.ke * Qb * f);
            if (r > 0) {
                T c = p.ke * s.Q * Qb * df / r;
                s.gx += (double) (dx * c);
                s.gy += (double) (dy * c);
                s.gz += (double) (dz * c);
            }
        }
        // self and k = 0 terms
        s.phi -= 2.0 * (double) p.ke * (double) s.Q * (double) p.selfGamma[s.cls] / 1.7724538509055160273;
        int g = p.siteGroup[a];
        for (int h = 0; h < p.G; h++)
            s.phi -= p.k0coef[g * p.G + h] * p.groupQ[h];
    }
    p.phi[a] = s.phi;
    p.grad[3 * a] = s.gx;
    p.grad[3 * a + 1] = s.gy;
    p.grad[3 * a + 2] = s.gz;
}

/* All pairs, b ascending: non-periodic systems and boxes with fewer than 3 cells per direction. */
template <class T> PQ_GLOBAL void kRealSpace(KP<T> p) {
    bool ewaldLike = (p.method == M_EWALD || p.method == M_PME);
    for (int a = PQ_TID; a < p.nS; a += PQ_NTHREADS) {
        SiteSums<T> s = siteBegin(p, a);
        int e = s.exclBegin;
        for (int b = 0; b < p.nS; b++) {
            while (e < s.exclEnd && p.exclList[e] < b)
                e++;
            pairTerms(p, a, b, e < s.exclEnd && p.exclList[e] == b, ewaldLike, s);
        }
        siteEnd(p, a, ewaldLike, s);
    }
}

/* Cell list (PQEqCudaCellKernels.cuh): the sites of the 27 cells around the cell of site a, each once
 * (at least 3 cells per direction); they hold every partner closer than the cutoff. */
template <class T> PQ_GLOBAL void kRealSpaceCells(KP<T> p) {
    bool ewaldLike = (p.method == M_EWALD || p.method == M_PME);
    const int n0 = p.nc[0], n1 = p.nc[1], n2 = p.nc[2];
    for (int a = PQ_TID; a < p.nS; a += PQ_NTHREADS) {
        SiteSums<T> s = siteBegin(p, a);
        int cell = p.siteCell[a], c0 = cell / (n1 * n2), c1 = (cell / n2) % n1, c2 = cell % n2;
        for (int d0 = n0 - 1; d0 <= n0 + 1; d0++)
            for (int d1 = n1 - 1; d1 <= n1 + 1; d1++)
                for (int d2 = n2 - 1; d2 <= n2 + 1; d2++) {
                    int nb = (((c0 + d0) % n0) * n1 + (c1 + d1) % n1) * n2 + (c2 + d2) % n2;
                    for (int k = p.cellStart[nb]; k < p.cellStart[nb + 1]; k++) {
                        int b = p.cellSites[k];
                        pairTerms(p, a, b, isExcluded(p, s, b), ewaldLike, s);
                    }
                }
        siteEnd(p, a, ewaldLike, s);
    }
}

} // namespace PolarML

#endif
