#ifndef POLARML_PQEQCUDAENERGYKERNELS_CUH_
#define POLARML_PQEQCUDAENERGYKERNELS_CUH_

/* Device kernels from the potentials to the energy (see PQEqCudaKernelArgs.cuh): the gradient with respect
 * to the unknowns (charges or split-charge bond variables, shells), the energy terms, the dipole and the
 * forces on the atoms. */

#include "PQEqCudaKernelArgs.cuh"

namespace PolarML {

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

} // namespace PolarML

#endif
