#ifndef POLARML_PQEQCALCULATOR_H_
#define POLARML_PQEQCALCULATOR_H_

/* Platform-independent double-precision implementation of the PQEq energy of docs/conventions.md
 * (OpenMM units: kJ/mol, nm, e) and its constrained minimiser. Used by the Reference kernel (which
 * also serves the CPU platform) and as the host-side oracle of the other platforms.
 *
 * Translation units: PQEqCalculator.cpp (parameters via PQEqParticleLayout, energy, the solve, the
 * solver's objective), PQEqSplitCharge.cpp (split charge transfer: bonds, bond energy and forces); its
 * parts, each with explicit inputs and outputs and its own cache validity: the Coulomb operator
 * (PQEqCoulombOperator.h: box set-up, real space, reciprocal space), the preconditioner
 * (PQEqPreconditioner.h: dense fragment blocks, diagonal, long waves, split bonds), the warm-start
 * predictor (PQEqWarmStart.h) and the solver (PQEqSolver.h: preconditioned L-BFGS against the objective
 * interface that the calculator implements).
 *
 * Split into parts with explicit inputs and outputs (issue 26). State and validity flags before the split
 * (W: written, R: read):
 *   ccValid, termsValid, coreGradPending   W compute, buildPairList, realSpaceList, coreCoreGradient;
 *                                          R realSpaceList, coreCoreGradient          -> Coulomb operator
 *   coreSplinesValid                       W compute, setupPME, reciprocalPME; R reciprocalPME -> Coulomb
 *   boxValid, listX (pair list), tables, kfac, PME meshes   W setup, setupBox; R setupBox, real/reciprocal
 *                                                                                     -> Coulomb operator
 *   preconditionerValid, preconditionerPos, blocks, waves   W setup, setupBox, buildPreconditioner;
 *                                          R preconditionerStale, apply*Preconditioner -> preconditioner
 *   bondsChanged                           W setup, setupStateReset, buildSplitBonds, buildSplitPreconditioner;
 *                                          R buildSplitBonds, preconditionerStale       (split bonds)
 *   historyPos/Q/D/S, lastPredictionOrder  W setup, setupStateReset, recordSolution, buildSplitBonds;
 *                                          R predictStart, predictSplitStart          -> warm-start predictor
 *   curvatureMemory                        W setup, compute, solve, setupStateReset; R solve -> solver
 * Plan, numbers unchanged (bitwise):
 *   1. (done) PQEqCoulombOperator (PQEqCoulombOperator.h/.cpp, PQEqRealSpace.cpp, PQEqPairList.cpp,
 *      PQEqReciprocal.cpp): site positions and charges in, potentials dE/dQ and gradients dE/dx out; owns the
 *      box set-up, kernel tables, neighbour list, pairs of the solve, PME meshes and their validity, dropped
 *      by setup (parameters), setBox (box) and invalidate (positions); the calculator reads the box from it.
 *   2. (done) PQEqWarmStart (extrapolation of previous solutions) and the preconditioner as classes owned by the
 *      calculator, with their inputs passed in and their staleness private;
 *      bondsChanged stays with the calculator (it also forces a new bond list) and is passed in.
 *   3. (done) The L-BFGS solver (PQEqSolver.h) against an objective interface (energy, project,
 *      precondition, unphysical, failed) that the calculator implements; it owns the curvature memory. */

#include "PQEqCoulombOperator.h"
#include "PQEqForce.h"
#include "PQEqParticleLayout.h"
#include "PQEqPreconditioner.h"
#include "PQEqSolver.h"
#include "PQEqSplitBonds.h"
#include "PQEqWarmStart.h"
#include "openmm/Vec3.h"
#include <string>
#include <vector>

namespace PolarML {

class PQEqCalculator : private PQEqParticleLayout, private PQEqObjective {
public:
    PQEqCalculator();
    /** Copy parameters from a force. keepState: keep the warm-start charges/shells when possible. */
    void setup(const PQEqForce& force, bool keepState);
    /** Solve for charges and shells, return the energy (kJ/mol) and add forces (kJ/mol/nm) if requested.
     *  box: three periodic box vectors, or NULL for a non-periodic method. field: kJ/mol/nm/e. */
    double compute(const std::vector<OpenMM::Vec3>& positions, const OpenMM::Vec3* box,
                   const OpenMM::Vec3& field, std::vector<OpenMM::Vec3>* forces);
    const std::vector<double>& getCharges() const { return q; }
    const std::vector<OpenMM::Vec3>& getShellDisplacements() const { return d; }
    OpenMM::Vec3 getDipole() const { return dipole; }
    int getLastIterations() const { return lastIterations; }
    int getNumEvaluations() const { return numEvaluations; }
    /** Coulomb energy E_C of given site positions/charges (sites: cores then shells of polarizable atoms);
     *  also fills dE/dQ (phi) and dE/dx (grad). Exposed for tests and other platforms. */
    double electrostatics(const std::vector<OpenMM::Vec3>& x, const std::vector<double>& Q,
                          std::vector<double>& phi, std::vector<OpenMM::Vec3>& grad);
    static double coulombConstant();   // kJ/mol nm / e^2
    /** Threads of the OpenMP loops (real-space pairs, PME splines/spreading/FFT/convolution/gather, Ewald
     *  k-vectors); 1 = serial. Without OpenMP support in the build this is ignored. Results do not depend on
     *  it, bitwise: every mesh point, structure factor and site sum is accumulated in the serial order. */
    void setNumThreads(int n) {
        numThreads = (n > 1 ? n : 1);
        coulomb.setNumThreads(numThreads);
        preconditioner.setNumThreads(numThreads);
    }
    int getNumThreads() const { return numThreads; }
private:
    double evaluate(const std::vector<double>& x, std::vector<double>& g, bool forces);
    void setupStateReset();
    // split charge transfer (PQEqSplitCharge.cpp); the solver's first nx variables are then one per bond
    void buildSplitBonds();
    void splitCharges(const std::vector<double>& xv);
    double splitBondTerms(const std::vector<double>& xv, std::vector<double>& g);
    void addSplitForces(std::vector<OpenMM::Vec3>& f) const;
    // the objective of the solver (PQEqSolver.h): variables x = (nx charges or bond variables, then the
    // 3 P shell components); residuals in eV/e and eV/A
    double energy(const std::vector<double>& x, std::vector<double>& g) override { return evaluate(x, g, false); }
    void project(const std::vector<double>& g, std::vector<double>& gp, double& rq, double& rd) const override;
    void precondition(const std::vector<double>& gp, std::vector<double>& z) const override {
        preconditioner.apply(gp, z);
    }
    std::string unphysical(const std::vector<double>& x) const override;
    void failed() override { setupStateReset(); }

    // parameters: N, P, nq, nS, chi, eta, alpha, Ks, Z, fragments, classes, siteExclusions, ...
    // come from PQEqParticleLayout; the Coulomb operator owns the box-dependent choices (PQEqBoxSetup,
    // platforms/common, shared with CUDA: boxVec, recip, volume, rc, beta, ...; read through boxSetup())
    PQEqCoulombOperator coulomb;
    const PQEqBoxSetup& boxSetup() const { return coulomb.box(); }
    double ke;
    int numThreads = 1;
    // split charge transfer: bonds of this solve, their variables s (e), dE/dq without the field
    // (kJ/mol/e, per atom) at the last evaluation
    std::vector<pqeq_detail::SplitBond> bonds;
    std::vector<double> splitS, chargeGradient;
    std::vector<OpenMM::Vec3> splitListPos;   // positions at the last bond-list build
    bool bondsChanged = true;      // since the preconditioner was built
    int nx = 0;                    // first-block solver variables: nq charges, or one per bond (split)
    // state
    std::vector<double> q;
    std::vector<OpenMM::Vec3> d, refPos, pos, u;
    OpenMM::Vec3 field, dipole;
    bool haveState, haveRef;
    int lastIterations, numEvaluations;
    std::vector<double> phiBuf;
    std::vector<OpenMM::Vec3> gradBuf, siteX;
    std::vector<double> siteQ;
    // preconditioner of the solver, rebuilt when stale
    PQEqPreconditioner preconditioner;
    // preconditioned L-BFGS; its curvature memory is kept between solves while the preconditioner is unchanged
    PQEqLBFGS solver;
    // solutions of previous calls for the start of the next solve, and the order of the last prediction
    PQEqWarmStart warmStart;
    int lastPredictionOrder;
    // profiling (POLARML_PQEQ_PROFILE=1 prints one line per compute to stderr)
    bool profile;
};

} // namespace PolarML

#endif
