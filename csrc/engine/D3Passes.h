/* The passes of the native D3 kernel (D3Kernels.cpp), in the order the forward and backward run them:
 *   D3CoordinationNumbers.cpp  pair search with the coordination-number counts
 *   D3C6Interpolation.cpp      Gaussian reference weights, their contraction against the C6 table,
 *                              BJ damping radii
 *   D3EnergyGradient.cpp       damped pair energies (forward); position and cell gradients (backward)
 * Threads: static partitions and per-thread accumulators reduced in thread order.
 */

#pragma once

#include "D3CellList.h"
#include "D3PairList.h"

#include <cstdint>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace PolarML {
namespace d3_detail {

const int NREF = 7;       // reference systems per element

inline int threadId() {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* Quintic switch 1 − t³(10 − 15t + 6t²) and its r-derivative. */
inline void quinticSwitch(double r, double rOff, double width, double& sw, double& dsw) {
    double t = (r - (rOff - width)) / width;
    if (t <= 0.0) {
        sw = 1.0;
        dsw = 0.0;
    } else if (t >= 1.0) {
        sw = 0.0;
        dsw = 0.0;
    } else {
        sw = 1.0 - t * t * t * (10.0 - 15.0 * t + 6.0 * t * t);
        dsw = -30.0 * t * t * (1.0 - t) * (1.0 - t) / width;
    }
}

/* Pass 1: every pair closer than rc (each unordered pair once) into pairs[thread] (cleared beforehand,
 * one chunk per thread) with r in ge and ∂(count·sw)/∂r / r in gc; coordination [N] the coordination
 * numbers. Atoms in frame-then-bin order: slot q of the whole batch is slot q − ptr[b] of frame b.
 * Returns false when an image shift exceeds ±32767 cells. */
bool findPairsAndCoordinationNumbers(const double* pos, const int64_t* ptr,
                                     const std::vector<Grid>& grids, const std::vector<int32_t>& frameOf,
                                     const double* rcov, double rc, double cnCutoff, double width,
                                     int threads, std::vector<PairChunk>& pairs,
                                     std::vector<double>& coordination);

/* What pass 2 needs per atom and per pair of element types (U types). */
struct C6Tables {
    int64_t U = 0;
    std::vector<double> gw, dgw;  // [N, 7] Gaussian weights and ∂/∂CN
    std::vector<double> v, dv;    // [N, U, 7] Σ_a gw_ia T[s_i, u, a, b] and ∂/∂CN_i
    std::vector<double> qq, r0;   // [U, U] 3 r4r2_i r4r2_j and the damping radius a1 sqrt(qq) + a2
};

/* C6Tables from the coordination numbers coordination [N]; other arrays as polarml_d3_forward. */
void interpolateC6(int64_t nAtoms, int64_t nTypes, const double* coordination, const double* refcn,
                   const int64_t* species, const double* table, const double* r4r2, double a1, double a2,
                   int threads, C6Tables& tables);

/* Pass 2: C6 and the damped pair energies: energy [N] (half of each pair to each atom); per pair, ge
 * becomes ∂e_pair/∂r / r at fixed C6 and ecn ∂e_pair/∂CN_i, ∂e_pair/∂CN_j. */
void pairEnergies(std::vector<PairChunk>& pairs, int64_t nAtoms, const int64_t* species,
                  const C6Tables& tables, double cutoff, double width, double s6, double s8, int threads,
                  double* energy);

/* Backward of L(energy) for g [N] = ∂L/∂energy: ∂L/∂pos [N, 3] and ∂L/∂cell [B, 3, 3]
 * (overwritten). */
void pairGradients(const D3Handle& h, const double* g, double* gradPos, double* gradCell, int threads);

}  // namespace d3_detail
}  // namespace PolarML
