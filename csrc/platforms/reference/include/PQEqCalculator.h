#ifndef POLARML_PQEQCALCULATOR_H_
#define POLARML_PQEQCALCULATOR_H_

/* Platform-independent double-precision implementation of the PQEq energy of docs/conventions.md
 * (OpenMM units: kJ/mol, nm, e) and its constrained minimiser. Used by the Reference kernel (which
 * also serves the CPU platform) and as the host-side oracle of the other platforms.
 *
 * Translation units: PQEqCalculator.cpp (parameters via PQEqParticleLayout, box set-up, energy, warm starts),
 * PQEqSolver.cpp (preconditioned L-BFGS), PQEqPreconditioner.cpp (dense fragment blocks, diagonal),
 * PQEqLongWaves.cpp (long-wavelength charge modes of periodic fragments),
 * PQEqRealSpace.cpp (pair sums, neighbour list, tabulated Ewald real-space kernels),
 * PQEqReciprocal.cpp (explicit Ewald, smooth PME, FFT),
 * PQEqSplitCharge.cpp (split charge transfer: bonds, bond energy and forces, bond preconditioner).
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
 * Plan, one committed step each, numbers unchanged:
 *   1. PQEqCoulombOperator (PQEqCoulombOperator.h/.cpp, PQEqRealSpace.cpp, PQEqPairList.cpp,
 *      PQEqReciprocal.cpp): site positions and charges in, potentials dE/dQ and gradients dE/dx out; owns the
 *      box set-up, kernel tables, neighbour list, pairs of the solve, PME meshes and their validity, dropped
 *      by setup (parameters), setBox (box) and invalidate (positions); the calculator reads the box from it.
 *   2. PQEqWarmStart (extrapolation of previous solutions) and the preconditioner as classes owned by the
 *      calculator, with their inputs passed in and their staleness private.
 *   3. The L-BFGS solver against an objective interface (evaluate, project, precondition). */

#include "PQEqBoxSetup.h"
#include "PQEqForce.h"
#include "PQEqKernelTable.h"
#include "PQEqParticleLayout.h"
#include "PQEqSplitBonds.h"
#include "openmm/Vec3.h"
#include <complex>
#include <deque>
#include <string>
#include <vector>

namespace PolarML {

class PQEqCalculator : private PQEqParticleLayout, private PQEqBoxSetup {
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
    void setNumThreads(int n) { numThreads = (n > 1 ? n : 1); }
    int getNumThreads() const { return numThreads; }
private:
    typedef std::complex<double> cplx;
    /** Cubic Hermite table of an Ewald real-space kernel g(s) = ke [erf(a r) - erf(beta r)]/r, s = r^2,
     *  on [0, rc^2] (PQEqKernelTable.h). */
    typedef pqeq_detail::KernelTable KernelTable;
    /** A neighbour atom b > a of atom a in the real-space list: b's image is shiftVec[shift] from its wrapped position. */
    struct Neighbour {
        int b;
        short table;    // index into tables, or -1: point charges (computed directly)
        short shift;    // 0..26
    };
    /** An atom pair of the current solve (core-core distance < rc): cores i < j, their shell sites (-1: none),
     *  the cached core-core kernel K. */
    struct ActivePair {
        int i, j, si, sj;
        short table, shift;
        double K;
    };
    void setupBox(const OpenMM::Vec3* box);
    double evaluate(const std::vector<double>& x, std::vector<double>& g, bool forces);
    void pairKernel(int sa, int sb, double r, double& K, double& dK) const;
    void realSpace(const std::vector<OpenMM::Vec3>& x, const std::vector<double>& Q,
                   std::vector<double>& phi, std::vector<OpenMM::Vec3>& grad);
    void realSpaceList(const std::vector<OpenMM::Vec3>& x, const std::vector<double>& Q,
                       std::vector<double>& phi, std::vector<OpenMM::Vec3>& grad);
    void siteTerm(int a, int b, int table, const OpenMM::Vec3& shift, const double* Q, double& g,
                  OpenMM::Vec3& gvec) const;
    void sitePair(int a, int b, int table, const OpenMM::Vec3& shift, const double* Q,
                  double* phi, OpenMM::Vec3* grad) const;
    void activePairs(const double* Q, double* phi, OpenMM::Vec3* grad) const;
    void buildTermIncidence();
    void activePairsThreaded(const double* Q, double* phi, OpenMM::Vec3* grad);
    void coreCoreGradient(const std::vector<double>& Q, std::vector<OpenMM::Vec3>& grad);
    void buildKernelTables();
    void buildPairList(const std::vector<OpenMM::Vec3>& x, double rlist);
    void reciprocalEwald(const std::vector<OpenMM::Vec3>& x, const std::vector<double>& Q,
                         std::vector<double>& phi, std::vector<OpenMM::Vec3>& grad);
    void setupPME();
    void reciprocalPME(const std::vector<OpenMM::Vec3>& x, const std::vector<double>& Q,
                       std::vector<double>& phi, std::vector<OpenMM::Vec3>& grad);
    void fft3d(std::vector<cplx>& data, int sign);
    void setupStateReset();
    void predictStart();
    void recordSolution();
    // preconditioner (PQEqPreconditioner.cpp): dense blocks of small fragments, diagonal of the others,
    // long-wavelength Coulomb modes of the large periodic fragments (Woodbury)
    bool preconditionerStale() const;
    void buildPreconditioner();
    void buildLongWaves();
    void applyBlockPreconditioner(const std::vector<double>& gp, std::vector<double>& z) const;
    void applyPreconditioner(const std::vector<double>& gp, std::vector<double>& z) const;
    // split charge transfer (PQEqSplitCharge.cpp); the solver's first nx variables are then one per bond
    void buildSplitBonds();
    void predictSplitStart(int order, const double* coefficients);
    void splitCharges(const std::vector<double>& xv);
    double splitBondTerms(const std::vector<double>& xv, std::vector<double>& g);
    void addSplitForces(std::vector<OpenMM::Vec3>& f) const;
    void buildSplitPreconditioner();
    void applySplitPreconditioner(const std::vector<double>& gp, std::vector<double>& z) const;
    // solver (PQEqSolver.cpp)
    double solve(std::vector<double>& x);
    void projectGradient(const std::vector<double>& g, std::vector<double>& gp, double& rq, double& rd) const;
    void searchDirection(const std::vector<double>& gp, const std::vector<double>& pg, std::vector<double>& p) const;
    [[noreturn]] void throwCatastrophe(const std::string& what);

    // parameters: N, P, nq, nS, chi, eta, alpha, Ks, Z, fragments, classes, siteExclusions, ...
    // come from PQEqParticleLayout, the box-dependent choices (boxVec, recip, volume, rc, beta, kmax,
    // class groups, kvecs, PME mesh and moduli) from PQEqBoxSetup (platforms/common), shared with CUDA
    double ke;
    bool boxValid;
    std::vector<double> kfac;                      // 8 pi ke / V / k^2 per k
    // real space (Ewald/PME): kernel tables, atom neighbour list with a skin, pairs of the solve
    std::vector<KernelTable> tables;
    std::vector<int> classTable;                   // [c1*C+c2] -> table, -1 point charges, -2 reciprocal only
    double tableSmax = 0;                          // tables cover s = r^2 in [0, tableSmax)
    std::vector<int> nbStart;                      // per atom (CSR): neighbour atoms within rc + skin
    std::vector<Neighbour> nbList;
    std::vector<ActivePair> active;                // atom pairs with core-core distance < rc (this solve)
    std::vector<int> shellSite;                    // atom -> its shell site, -1: none
    std::vector<const double*> tableCoef;
    std::vector<double> tableInvh;
    std::vector<OpenMM::Vec3> listX, siteOffset, xw;
    OpenMM::Vec3 shiftVec[27];
    double listSkin;
    bool ccValid, coreGradPending;
    int numThreads = 1;
    // threaded real space: terms of the active pairs (4 per pair) and, per site, its terms in serial order
    std::vector<int> termSite, termStart, termInc;
    std::vector<double> termG;
    std::vector<OpenMM::Vec3> termGrad;
    bool termsValid = false;
    std::vector<double> ewaldP;                    // threaded Ewald: [k][2G] screened structure factors
    // PME
    std::vector<cplx> twiddle[3];
    std::vector<int> gammaIndex;                   // [g*G+h] -> distinct gamma
    std::vector<double> influence;                 // [distinct gamma][mesh point]
    std::vector<std::vector<cplx> > meshes, potMeshes;
    std::vector<int> splineIdx;                    // [site][3][p] mesh indices
    std::vector<double> splineW, splineDW;         // [site][3][p]
    bool coreSplinesValid;
    // split charge transfer: bonds of this solve, their variables s (e), dE/dq without the field
    // (kJ/mol/e, per atom) at the last evaluation, and the bond block of the preconditioner
    std::vector<pqeq_detail::SplitBond> bonds;
    std::vector<double> splitS, chargeGradient, splitDiagonal, splitPreconditionerW;
    std::vector<double> splitFactor;
    std::vector<OpenMM::Vec3> splitListPos;   // positions at the last bond-list build   // Cholesky factor of the Woodbury matrix [nq, nq], empty: diagonal
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
    // preconditioner: dense constrained blocks per small fragment (PQEqPreconditioner.cpp)
    struct PrecondBlock {
        std::vector<int> vars;       // solver variables: nq charges first, then shell components
        int m, nq;
        std::vector<double> L, Ha;   // Cholesky factor of the block Hessian H; H^-1 a (a: 1 on charges)
        double aHa;
    };
    std::vector<PrecondBlock> blocks;
    std::vector<int> fragBlock;                    // block of a fragment, -1: diagonal
    std::vector<char> polInBlock;
    bool preconditionerValid = false;
    std::vector<OpenMM::Vec3> preconditionerPos;   // positions the preconditioner was built at
    int waveCols = 0;                              // long waves: (cos, sin) columns, 0: none
    std::vector<int> waveVar;                      // [row] charge variable of the row
    std::vector<double> waveU;                     // [col][row] sqrt(w_k) cos/sin(k.r), column-major
    std::vector<double> waveL;                     // Cholesky factor of I + U^T B U, [col][col]
    /** One L-BFGS curvature pair: step s, gradient change y, P y, 1/(s.y). */
    struct CurvaturePair {
        std::vector<double> s, y, py;
        double rho;
    };
    std::deque<CurvaturePair> curvatureMemory;     // kept between solves while the preconditioner is unchanged
    // solutions of previous calls (newest first) for the start of the next solve (predictStart)
    std::vector<std::vector<OpenMM::Vec3> > historyPos, historyD;
    std::vector<std::vector<double> > historyQ, historyS;   // historyS: split bond variables
    int lastPredictionOrder;
    // profiling (POLARML_PQEQ_PROFILE=1 prints one line per compute to stderr)
    bool profile;
    double timeReal, timeRecip;
};

} // namespace PolarML

#endif
