#ifndef POLARML_PQEQCUDACONTEXTKERNELS_CUH_
#define POLARML_PQEQCUDACONTEXTKERNELS_CUH_

/* Device kernels that exchange data with OpenMM's CudaContext (see PQEqCudaKernelArgs.cuh): positions from
 * posq (sorted order, with the mixed-precision correction) and forces into the 64-bit fixed-point buffer. */

#include "PQEqCudaCompat.h"

namespace PolarML {

/* ---------------- positions ---------------- */

template <class TP> PQ_GLOBAL void kPositionsFromPosq(const TP* posq, const float* corr, const int* atomIndex, int n, double* pos) {
    for (int j = PQ_TID; j < n; j += PQ_NTHREADS) {
        int i = atomIndex[j];
        for (int c = 0; c < 3; c++)
            pos[3 * i + c] = (double) posq[4 * j + c] + (corr ? (double) corr[4 * j + c] : 0.0);
    }
}

/* ---------------- forces ---------------- */

PQ_GLOBAL void kAddFixedPointForces(const double* forces, const int* atomIndex, int numAtoms, int padded, long long* buffer) {
    for (int j = PQ_TID; j < numAtoms; j += PQ_NTHREADS) {
        int i = atomIndex[j];
        for (int c = 0; c < 3; c++)
            pqAtomicAddFixed(&buffer[j + c * padded], forces[3 * i + c]);
    }
}

} // namespace PolarML

#endif
