/* The CUDA PQEq engine, part 2 (see PQEqCudaEngineImpl.cuh): energy and gradient of the unknowns (kernel
 * launches for the sites, the real and reciprocal space and the energy terms), the solver driver
 * (preconditioned nonlinear CG with secant line search, the algorithm PQEqCalculator used before its
 * L-BFGS solver; both stop on the same exact-gradient tolerance) and the forces. Compiled by nvcc, or by
 * a C++ compiler with POLARML_CUDA_EMULATION as a serial emulation (see PQEqCudaCompat.h). */

#include "PQEqCudaEngineImpl.cuh"
#include "PQEqCudaCellKernels.cuh"
#include "PQEqCudaEnergyKernels.cuh"
#include "PQEqCudaRealSpaceKernels.cuh"
#include "PQEqCudaReciprocalKernels.cuh"
#include "PQEqCudaSolverKernels.cuh"
#include "openmm/OpenMMException.h"
#include <algorithm>
#include <sstream>

using namespace OpenMM;
using namespace PolarML;
using namespace std;

namespace {

const double EV_TO_KJ_PER_MOL = 1.602176634e-19 * 6.02214076e23 / 1000.0;

} // namespace

/* The real-space cell list from the site positions (PQEqCudaCellKernels.cuh): a counting sort, O(nS + cells). */
template <class T> void PQEqCudaEngineImpl<T>::buildCells() {
    pqZero(kp.cellCount, kp.nCells * sizeof(int), stream);
    PQ_LAUNCH(kCellCount<T>, kp.nS, kp);
    PQ_LAUNCH(kCellChunkSums<T>, kp.nChunks, kp);
    PQ_LAUNCH(kCellChunkScan<T>, 1, kp);
    PQ_LAUNCH(kCellStarts<T>, kp.nChunks, kp);
    PQ_LAUNCH(kCellScatter<T>, kp.nS, kp);
    PQ_LAUNCH(kCellOrder<T>, kp.nS, kp);
}

/* Potentials phi and position gradients of all sites from the site arrays. */
template <class T> void PQEqCudaEngineImpl<T>::electrostatics() {
    int nS = kp.nS;
    bool ewaldLike = (kp.method == M_EWALD || kp.method == M_PME);
    if (ewaldLike) {
        pqZero(dGroupQ.get(), kp.G * sizeof(double), stream);
        PQ_LAUNCH(kGroupCharges<T>, nS, kp);
    }
    if (kp.cells) {
        // Ewald/PME bin by core positions: once per compute(); the taper bins the sites (shells move)
        if (!ewaldLike || !cellsBuilt)
            buildCells();
        cellsBuilt = true;
        PQ_LAUNCH(kRealSpaceCells<T>, nS, kp);
    }
    else
        PQ_LAUNCH(kRealSpace<T>, nS, kp);
    if (kp.method == M_EWALD && kp.nk > 0) {
        PQ_LAUNCH(kEwaldStructure<T>, kp.nk, kp);
        PQ_LAUNCH(kEwaldPotential<T>, nS, kp);
    }
    else if (kp.method == M_PME) {
        long long count = kp.total * kp.G;
        pqZero(kp.grid, 2 * count * sizeof(T), stream);
        PQ_LAUNCH(kPmeSpread<T>, nS, kp);
        PQ_LAUNCH(kDftAxis<T>, count, kp, kp.grid, kp.tmp, 2, 1);
        PQ_LAUNCH(kDftAxis<T>, count, kp, kp.tmp, kp.grid, 1, 1);
        PQ_LAUNCH(kDftAxis<T>, count, kp, kp.grid, kp.tmp, 0, 1);
        PQ_LAUNCH(kPmeConvolve<T>, kp.total, kp, kp.tmp, kp.pot);
        PQ_LAUNCH(kDftAxis<T>, count, kp, kp.pot, kp.tmp, 2, -1);
        PQ_LAUNCH(kDftAxis<T>, count, kp, kp.tmp, kp.pot, 1, -1);
        PQ_LAUNCH(kDftAxis<T>, count, kp, kp.pot, kp.tmp, 0, -1);
        PQ_LAUNCH(kPmeGather<T>, nS, kp, (const T*) kp.tmp);
    }
}

template <class T> void PQEqCudaEngineImpl<T>::readScalars(int first, int count) {
    pqToHost(scalars + first, dScalars.get() + first, count * sizeof(double), stream);
}

/* E(x) and g = dE/dx into g (device arrays); the energy is read back only when asked for. */
template <class T> double PQEqCudaEngineImpl<T>::evaluate(double* x, double* g, bool wantEnergy) {
    PQ_LAUNCH(kSites<T>, kp.N, kp, (const double*) x);
    electrostatics();
    zeroScalars(S_EC, 5);
    PQ_LAUNCH(kGradient<T>, kp.nq + kp.P, kp, g);
    if (kp.split)
        PQ_LAUNCH(kSplitBondGradient<T>, kp.nb, kp, (const double*) x, g);
    PQ_LAUNCH(kEnergyDipole<T>, max(kp.nS, kp.N), kp);
    if (!wantEnergy)
        return 0.0;
    readScalars(S_EC, 5);
    for (int c = 0; c < 3; c++)
        dipole[c] = scalars[S_MU + c];
    return scalars[S_EC] + scalars[S_ESELF] - (kp.field[0] * dipole[0] + kp.field[1] * dipole[1] + kp.field[2] * dipole[2]);
}

/* Residuals (eV/e, eV/A) of a gradient; fills fragSum (sum of g per fragment) and fragWg (sum g/eta). */
template <class T> double PQEqCudaEngineImpl<T>::residual(const double* g, double& rq, double& rd) {
    int F = max(kp.nfrag, 1);
    pqZero(dFragSum.get(), F * sizeof(double), stream);
    pqZero(dFragWg.get(), F * sizeof(double), stream);
    if (!kp.split)
        PQ_LAUNCH(kFragmentSums<T>, kp.nq, kp, g, dFragSum.get(), dFragWg.get());
    zeroScalars(S_RQ, 3);
    PQ_LAUNCH(kResiduals<T>, kp.n, kp, g);
    readScalars(S_RQ, 3);
    if (scalars[S_NAN] != 0)
        throw OpenMMException("PQEqForce: the charge/shell solver produced NaN.");
    rq = scalars[S_RQ] / EV_TO_KJ_PER_MOL;
    rd = scalars[S_RD] / (EV_TO_KJ_PER_MOL * 10.0);
    return max(rq, rd);
}

template <class T> double PQEqCudaEngineImpl<T>::compute(const Vec3* box, const Vec3& field) {
    const PQEqSystemModel& m = model;
    if (m.periodic && box == NULL)
        throw OpenMMException("PQEqForce: periodic method without box vectors.");
    if (!hostPositions.empty()) {   // host positions: checked here, where the box is known
        checkInput(hostPositions, box, field);
        hostPositions.clear();
    }
    if (boxModel.setup(m, m.periodic ? box : NULL))
        uploadBox();
    for (int c = 0; c < 3; c++)
        kp.field[c] = field[c];
    if (!haveRef) {
        pqCopy(dRef.get(), dPos.get(), 3 * m.N * sizeof(double), stream);
        haveRef = true;
    }
    PQ_LAUNCH(kUnwrap<T>, m.N, kp);
    cellsBuilt = false;   // new positions
    if (kp.split) {
        if (m.periodic)
            boxModel.checkSplitCutoff(m.splitCutoff);
        buildSplitBonds();
    }
    // warm start projected onto the fragment constraints
    if (kp.nfrag > 0 && !kp.split) {
        pqZero(dFragSum.get(), kp.nfrag * sizeof(double), stream);
        PQ_LAUNCH(kFragmentSums<T>, kp.nq, kp, (const double*) dX.get(), dFragSum.get(), (double*) nullptr);
        PQ_LAUNCH(kProjectCharges<T>, kp.nq, kp, dX.get());
    }
    int n = kp.n;
    // single/mixed precision: the solver stops at a floor set by float rounding of the potentials
    double tol = m.solverTolerance;
    if (sizeof(T) < sizeof(double))
        tol = max(tol, 1e-4);
    double* x = dX.get();
    double* g = dG.get();
    double E = evaluate(x, g, true);
    bool exact = true, havePrev = false;
    int sinceExact = 0;
    lastIterations = 0;
    double rq = 0, rd = 0;
    try {
        if (n > 0) {
            int it;
            for (it = 0; it <= m.maxIterations; it++) {
                double res = residual(g, rq, rd);
                if (res < tol) {
                    if (exact)
                        break;
                    E = evaluate(x, g, true);
                    exact = true;
                    havePrev = false;
                    sinceExact = 0;
                    continue;
                }
                if (it == m.maxIterations)
                    break;
                int F = max(kp.nfrag, 1);
                pqZero(dFragSz.get(), F * sizeof(double), stream);
                PQ_LAUNCH(kPrecondition<T>, n, kp, (const double*) g, dGp.get(), dZv.get());
                zeroScalars(S_ZG, 4);
                PQ_LAUNCH(kFixZDots<T>, n, kp, dZv.get(), (const double*) dGp.get(), (const double*) dZPrev.get(),
                          (const double*) dGPrev.get(), havePrev ? 1 : 0);
                readScalars(S_ZG, 3);
                double zg = scalars[S_ZG], betaCG = 0;
                if (havePrev) {
                    double num = scalars[S_NUM], den = scalars[S_DEN];
                    betaCG = (den > 0 ? max(0.0, num / den) : 0.0);
                }
                PQ_LAUNCH(kDirection<T>, n, kp, dP.get(), (const double*) dZv.get(), (const double*) dGp.get(), betaCG);
                readScalars(S_PG, 1);
                double pg = scalars[S_PG];
                if (!(pg < 0)) {
                    pg = -zg;
                    zeroScalars(S_PG, 1);
                    PQ_LAUNCH(kDirection<T>, n, kp, dP.get(), (const double*) dZv.get(), (const double*) dGp.get(), 0.0);
                }
                if (!(pg < 0))
                    break;   // no descent direction left at this precision
                PQ_LAUNCH(kAxpy<T>, n, kp, dXt.get(), (const double*) x, (const double*) dP.get(), 1.0);
                evaluate(dXt.get(), dGt.get(), false);
                zeroScalars(S_CURV, 2);
                PQ_LAUNCH(kCurvature<T>, n, kp, (const double*) dP.get(), (const double*) g, (const double*) dGt.get());
                readScalars(S_CURV, 2);
                double curv = scalars[S_CURV], pp = scalars[S_PP];
                if (!(curv > 0)) {
                    stringstream msg;
                    msg << "PQEqForce: the charge/shell energy is not positive definite (curvature " << curv / pp
                        << " along the search direction): polarisation catastrophe or unphysical parameters "
                        << "(too soft springs, too small eta).";
                    throw OpenMMException(msg.str());
                }
                double t = -pg / curv;
                havePrev = true;
                E += t * pg + 0.5 * t * t * curv;
                PQ_LAUNCH(kUpdate<T>, n, kp, x, g, (const double*) dP.get(), (const double*) dGt.get(), t,
                          (const double*) dZv.get(), (const double*) dGp.get(), dZPrev.get(), dGPrev.get());
                exact = false;
                if (m.P > 0 && ++sinceExact >= 4) {
                    E = evaluate(x, g, true);
                    exact = true;
                    sinceExact = 0;
                }
                if (m.P > 0) {
                    zeroScalars(S_DMAX, 1);
                    PQ_LAUNCH(kShellMax<T>, m.P, kp, (const double*) x);
                    readScalars(S_DMAX, 1);
                    if (scalars[S_DMAX] > 0.3 * 0.3) {
                        vector<double> xh;
                        dX.download(xh, stream);
                        int worst = 0;
                        double best = -1;
                        for (int s = 0; s < m.P; s++) {
                            const double* d = &xh[m.nq + 3 * s];
                            double d2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
                            if (d2 > best) {
                                best = d2;
                                worst = s;
                            }
                        }
                        stringstream msg;
                        msg << "PQEqForce: shell of particle " << m.polAtoms[worst]
                            << " ran away (|d| > 0.3 nm): polarisation catastrophe or unphysical parameters.";
                        throw OpenMMException(msg.str());
                    }
                }
            }
            lastIterations = it;
            if (!exact)
                E = evaluate(x, g, true);
            if (residual(g, rq, rd) >= tol) {
                stringstream msg;
                msg << "PQEqForce: the charge/shell solver did not converge in " << m.maxIterations
                    << " iterations (residual " << rq << " eV/e, " << rd << " eV/A; tolerance " << tol
                    << "). Increase setSolverMaxIterations or the tolerance.";
                throw OpenMMException(msg.str());
            }
        }
    }
    catch (...) {
        resetState();
        throw;
    }
    haveState = true;
    if (kp.split)
        PQ_LAUNCH(kSplitBondForce<T>, kp.nb, kp, (const double*) x);
    PQ_LAUNCH(kForces<T>, m.N, kp);
    return E;
}

template double PolarML::PQEqCudaEngineImpl<float>::compute(const Vec3* box, const Vec3& field);
template double PolarML::PQEqCudaEngineImpl<double>::compute(const Vec3* box, const Vec3& field);
