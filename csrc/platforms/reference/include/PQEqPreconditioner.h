#ifndef POLARML_PQEQPRECONDITIONER_H_
#define POLARML_PQEQPRECONDITIONER_H_

/* Preconditioner of the Reference calculator's charge/shell solver (PQEqCalculator): dense constrained
 * blocks of small fragments, the diagonal (eta, Ks) of the others, the long-wavelength Coulomb modes of
 * large periodic fragments (Woodbury), or, under split charge transfer, the bond-space inverse. It only
 * changes the path of the solver, never its converged answer.
 *
 * Inputs: the particle layout (setup), the positions, charges, shell displacements and box of the build
 * (build) or the split bonds (buildSplit). Output: z = M^-1 g (apply) for solver variables ordered as the
 * solver's (charges or bond variables, then shell components). It is rebuilt when stale(): never built,
 * the box changed (invalidate), the bond variables changed, or an atom moved far from where it was built.
 *
 * Translation units: PQEqPreconditioner.cpp (blocks, diagonal, split), PQEqLongWaves.cpp (long waves). */

#include "PQEqBoxSetup.h"
#include "PQEqParticleLayout.h"
#include "PQEqSplitBonds.h"
#include "openmm/Vec3.h"
#include <vector>

namespace PolarML {

class PQEqPreconditioner : private PQEqParticleLayout {
public:
    PQEqPreconditioner();
    /** Take a copy of the parameters; the preconditioner is stale until the next build. */
    void setup(const PQEqParticleLayout& layout);
    /** The box changed: stale until the next build. */
    void invalidate() { valid = false; }
    void setNumThreads(int n) { numThreads = (n > 1 ? n : 1); }
    /** Whether to rebuild at positions pos (box: minimum image of periodic methods); bondsChanged: the
     *  split bond variables are not those of the last buildSplit. */
    bool stale(const std::vector<OpenMM::Vec3>& pos, const PQEqBoxSetup& box, bool bondsChanged) const;
    /** Charge/shell variables (nq charges, then 3 P shell components): the Hessian blocks at positions pos
     *  (nm), charges q (e) and shell displacements d (nm) of the start of the solve. */
    void build(const std::vector<OpenMM::Vec3>& pos, const std::vector<double>& q,
               const std::vector<OpenMM::Vec3>& d, const PQEqBoxSetup& box);
    /** Split charge transfer (bond variables, then 3 P shell components): the bonds of the solve. */
    void buildSplit(const std::vector<OpenMM::Vec3>& pos, const std::vector<pqeq_detail::SplitBond>& bonds);
    /** z = M^-1 gp for the projected gradient gp of the solver variables. */
    void apply(const std::vector<double>& gp, std::vector<double>& z) const;
private:
    void buildLongWaves(const std::vector<OpenMM::Vec3>& pos, const PQEqBoxSetup& box);
    void applyBlockPreconditioner(const std::vector<double>& gp, std::vector<double>& z) const;
    void applySplitPreconditioner(const std::vector<double>& gp, std::vector<double>& z) const;

    double ke;
    int numThreads = 1;
    bool profile;
    bool valid = false;
    std::vector<OpenMM::Vec3> builtPos;            // positions it was built at
    // dense constrained blocks per small fragment
    struct PrecondBlock {
        std::vector<int> vars;       // solver variables: nq charges first, then shell components
        int m, nq;
        std::vector<double> L, Ha;   // Cholesky factor of the block Hessian H; H^-1 a (a: 1 on charges)
        double aHa;
    };
    std::vector<PrecondBlock> blocks;
    std::vector<int> fragBlock;                    // block of a fragment, -1: diagonal
    std::vector<char> polInBlock;
    int waveCols = 0;                              // long waves: (cos, sin) columns, 0: none
    std::vector<int> waveVar;                      // [row] charge variable of the row
    std::vector<double> waveU;                     // [col][row] sqrt(w_k) cos/sin(k.r), column-major
    std::vector<double> waveL;                     // Cholesky factor of I + U^T B U, [col][col]
    // split charge transfer: the bonds of the build with their weights, the diagonal, and the Cholesky
    // factor of the Woodbury matrix [nq, nq] (empty: diagonal)
    std::vector<pqeq_detail::SplitBond> bonds;
    std::vector<double> splitDiagonal, splitPreconditionerW, splitFactor;
};

} // namespace PolarML

#endif
