#ifndef POLARML_PQEQCUDASOLVERKERNELS_CUH_
#define POLARML_PQEQCUDASOLVERKERNELS_CUH_

/* Device kernels of the solver's vector operations, in double (see PQEqCudaKernelArgs.cuh): fragment sums,
 * warm-start projection, residuals, preconditioning, CG direction, line-search curvature and update. */

#include "PQEqCudaKernelArgs.cuh"

namespace PolarML {

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
