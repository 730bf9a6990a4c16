#ifndef POLARML_PQEQCOULOMBOPERATOR_H_
#define POLARML_PQEQCOULOMBOPERATOR_H_

/* The Coulomb operator of the PQEq energy (docs/conventions.md, OpenMM units: kJ/mol, nm, e): for site
 * positions x and site charges Q (cores 0..N-1, then the shells of the polarizable atoms) the energy
 * E_C = 1/2 sum_a Q_a phi_a, the potentials phi = dE_C/dQ and the gradients dE_C/dx, by the direct, taper,
 * Ewald or PME kernel of the layout's method. Part of the Reference calculator (PQEqCalculator).
 *
 * Inputs: the particle layout (setup), the box (setBox), positions and charges (evaluate).
 * Outputs: E_C, phi, dE_C/dx (evaluate; for Ewald/PME without the core-core pair gradient, which
 * addCoreCoreGradient adds once per solve), and the box set-up it chose (box).
 * Its caches (kernel tables, neighbour list, pairs of the solve with their core-core kernels, core
 * B-splines, PME meshes) are private and dropped by setup (parameters), setBox (a different box) and
 * invalidate (the cores moved: call it before the first evaluation of each solve).
 *
 * Translation units: PQEqCoulombOperator.cpp (set-up, box, the sum of the parts, self and excluded terms),
 * PQEqRealSpace.cpp (pair sums, pairs of the solve), PQEqPairList.cpp (kernel tables, neighbour list),
 * PQEqReciprocal.cpp (explicit Ewald, smooth PME, FFT). */

#include "PQEqBoxSetup.h"
#include "PQEqKernelTable.h"
#include "PQEqParticleLayout.h"
#include "openmm/Vec3.h"
#include <complex>
#include <vector>

namespace PolarML {

class PQEqCoulombOperator : private PQEqParticleLayout, private PQEqBoxSetup {
public:
    PQEqCoulombOperator();
    /** Take a copy of the parameters (sites, classes, exclusions, method) and drop every cache. */
    void setup(const PQEqParticleLayout& layout);
    /** Periodic methods: set the three box vectors (nm). Returns true when the box differs from the last
     *  one (cutoff, beta, k-vectors, PME mesh, kernel tables and the neighbour list are then rebuilt). */
    bool setBox(const OpenMM::Vec3* box);
    /** The cores moved (a new solve): the pairs of the solve, their core-core kernels and the core
     *  B-splines are recomputed at the next evaluation, and no core-core gradient is pending. */
    void invalidate();
    /** E_C (kJ/mol) of site positions x (nm) and charges Q (e); fills phi = dE_C/dQ (kJ/mol/e) and
     *  grad = dE_C/dx (kJ/mol/nm). During a solve the cores must stay where they were at invalidate(). */
    double evaluate(const std::vector<OpenMM::Vec3>& x, const std::vector<double>& Q,
                    std::vector<double>& phi, std::vector<OpenMM::Vec3>& grad);
    /** Add to grad the core-core pair gradient that evaluate() leaves out (Ewald/PME real space), for the
     *  charges Q of the last evaluation; once per solve (a no-op afterwards and for other methods). */
    void addCoreCoreGradient(const std::vector<double>& Q, std::vector<OpenMM::Vec3>& grad);
    /** The box-dependent choices of the last setBox (cutoff, beta, reciprocal vectors, minimum image). */
    const PQEqBoxSetup& box() const { return *this; }
    void setNumThreads(int n) { numThreads = (n > 1 ? n : 1); }
    /** Profiling: seconds in real and reciprocal space since resetTimes(). */
    void resetTimes() { timeReal = timeRecip = 0; }
    double realSpaceSeconds() const { return timeReal; }
    double reciprocalSeconds() const { return timeRecip; }
private:
    typedef std::complex<double> cplx;
    /** Cubic Hermite table of an Ewald real-space kernel g(s) = ke [erf(a r) - erf(beta r)]/r, s = r^2,
     *  on [0, rc^2] (PQEqKernelTable.h). */
    typedef pqeq_detail::KernelTable KernelTable;
    /** Tabulated reach beyond rc (nm): shell pairs of atoms closer than rc lie within rc + |d_i| + |d_j|. */
    static constexpr double SHELL_REACH = 0.05;
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
    void buildKernelTables();
    void buildPairList(const std::vector<OpenMM::Vec3>& x, double rlist);
    void reciprocalEwald(const std::vector<OpenMM::Vec3>& x, const std::vector<double>& Q,
                         std::vector<double>& phi, std::vector<OpenMM::Vec3>& grad);
    void setupPME();
    void reciprocalPME(const std::vector<OpenMM::Vec3>& x, const std::vector<double>& Q,
                       std::vector<double>& phi, std::vector<OpenMM::Vec3>& grad);
    void fft3d(std::vector<cplx>& data, int sign);

    // parameters (a copy of the calculator's PQEqParticleLayout) and the box set-up (PQEqBoxSetup)
    double ke;
    bool boxValid = false;
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
    double listSkin = 0.05;
    bool ccValid = false, coreGradPending = false;
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
    bool coreSplinesValid = false;
    // profiling (POLARML_PQEQ_PROFILE=1)
    bool profile;
    double timeReal = 0, timeRecip = 0;
};

} // namespace PolarML

#endif
