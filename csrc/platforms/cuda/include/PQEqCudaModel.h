#ifndef POLARML_PQEQCUDAMODEL_H_
#define POLARML_PQEQCUDAMODEL_H_

/* Host-side description of a PQEq problem for the CUDA kernels: sites, Gaussian classes, exclusions,
 * fragments (PQEqSystemModel, from a PQEqForce) and everything that depends on the periodic box
 * (PQEqBoxModel: cutoff, Ewald beta, class groups, k-vectors, PME mesh and influence function).
 * The rules are those of docs/conventions.md and of the Reference platform (PQEqCalculator.cpp);
 * this file repeats them in a form the device code can take as flat arrays. Plain C++ (no CUDA). */

#include "PQEqForce.h"
#include "openmm/Vec3.h"
#include <vector>

namespace PolarML {

struct PQEqSystemModel {
    int N = 0, P = 0, nq = 0, nS = 0, method = 0, maxIterations = 1000;
    double cutoffUser = -1, ewaldTolerance = 1e-6, solverTolerance = 1e-6, ke = 0;
    bool periodic = false;
    std::vector<char> fixed;
    std::vector<double> chi, eta, alpha, Ks, Z, fixedQ;   // per atom; alpha = inf for point charges
    std::vector<int> eqAtoms, polAtoms, eqIndex, polIndex, eqFragment;
    std::vector<double> fragCharge;
    std::vector<std::vector<int> > fragMembers;          // positions in eqAtoms
    std::vector<int> siteAtom, siteClass;
    std::vector<int> exclStart, exclList;                  // CSR, sorted partner sites (both directions)
    int numClasses = 0;
    std::vector<double> classAlpha, pairAlpha;           // pairAlpha[c1*C+c2] (1/nm)
    void setup(const PQEqForce& force);
    /** Same particle layout (polarisable atoms, fixed atoms) as another model: warm start is valid. */
    bool sameLayout(const PQEqSystemModel& other) const;
};

struct PQEqBoxModel {
    bool valid = false;
    OpenMM::Vec3 box[3], recip[3];
    double volume = 0, rc = 0, beta = 0, kmax = 0;
    int nimg[3] = {0, 0, 0};
    std::vector<OpenMM::Vec3> shifts;                     // image shifts (zero shift included), rc-limited
    int numGroups = 1;
    std::vector<int> siteGroup;
    std::vector<double> groupGamma;                       // [g*G+h]
    std::vector<double> selfGamma;                        // per class: min(alpha_cc, beta)
    std::vector<OpenMM::Vec3> kvecs;                      // Ewald half-space k vectors
    std::vector<double> kweight;                          // [k*G*G + g*G + h] = 8 pi ke/(V k^2) exp(-k^2/4gamma^2)
    int ngrid[3] = {0, 0, 0};
    std::vector<double> influence;                        // PME: [(g*G+h)*total + idx]
    /** Set up for a box (periodic methods) or for no box (box == NULL). Returns true when something changed. */
    bool setup(const PQEqSystemModel& model, const OpenMM::Vec3* box);
};

} // namespace PolarML

#endif
