#ifndef POLARML_PQEQCUDAKERNELARGS_CUH_
#define POLARML_PQEQCUDAKERNELARGS_CUH_

/* What every device kernel of the CUDA PQEqForce shares (see PQEqCudaEngine.h): the method and scalar-slot
 * codes and the argument block KP. T is the real type of the pair and grid arithmetic; potentials,
 * gradients, solver vectors and reductions are double. Every kernel is a grid-stride loop (see
 * PQEqCudaCompat.h for the rules that keep the serial emulation faithful). The kernels themselves:
 *   PQEqCudaContextKernels.cuh     positions from OpenMM's posq, forces into its fixed-point buffer
 *   PQEqCudaRealSpaceKernels.cuh   unwrapped positions, sites from the unknowns, real-space pairs
 *   PQEqCudaCellKernels.cuh        the real-space cell list (counting sort of the sites into cells)
 *   PQEqCudaReciprocalKernels.cuh  Ewald structure factors and potentials, smooth PME
 *   PQEqCudaEnergyKernels.cuh      energy, gradient with respect to the unknowns, dipole, forces
 *   PQEqCudaSolverKernels.cuh      the solver's vector operations
 * Each is included by the one engine source that launches its kernels. */

#include "PQEqCudaCompat.h"

namespace PolarML {

enum { M_NOCUTOFF = 0, M_EWALD = 1, M_PME = 2, M_TAPER = 3, M_TAPER_NONPERIODIC = 4 };
enum { S_EC = 0, S_ESELF = 1, S_MU = 2, S_RQ = 5, S_RD = 6, S_NAN = 7, S_ZG = 8, S_NUM = 9, S_DEN = 10, S_PG = 11,
       S_CURV = 12, S_PP = 13, S_DMAX = 14, S_COUNT = 16 };
const int PQ_PME_ORDER = 6;
const int PQ_MAX_GROUPS = 16;
const int PQ_CELL_CHUNK = 64;   // cells per thread of the cell list's prefix sum

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
    // real-space cell list (periodic, at least 3 cells per direction; cells = 0: all pairs): the cell of
    // every site, per cell its count (then the scatter's next free slot) and the start of its sites in
    // cellSites (ascending site index), the unordered scatter, the prefix sums of PQ_CELL_CHUNK cells
    int cells, nc[3], nCells, nChunks;
    int *siteCell, *cellCount, *cellStart, *cellTmp, *cellSites, *chunkSum;
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

} // namespace PolarML

#endif
