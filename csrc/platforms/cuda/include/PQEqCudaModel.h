#ifndef POLARML_PQEQCUDAMODEL_H_
#define POLARML_PQEQCUDAMODEL_H_

/* Host-side description of a PQEq problem for the CUDA kernels: sites, Gaussian classes, exclusions,
 * fragments (PQEqSystemModel, from a PQEqForce) and everything that depends on the periodic box
 * (PQEqBoxModel: cutoff, Ewald beta, class groups, k-vectors, PME mesh and influence function).
 * The per-particle and box set-up are the Reference platform's (PQEqParticleLayout, PQEqBoxSetup in
 * platforms/common); this file adds what the device code needs as flat arrays (CSR exclusions, image
 * shifts, Ewald weights per group pair). Plain C++ (no CUDA). */

#include "PQEqForce.h"
#include "PQEqBoxSetup.h"
#include "PQEqParticleLayout.h"
#include "openmm/Vec3.h"
#include <vector>

namespace PolarML {

/** The shared layout (parameters, sites, classes, fragments, exclusions) plus flat exclusions. */
struct PQEqSystemModel : PQEqParticleLayout {
    double ke = 0;
    std::vector<int> exclStart, exclList;                  // CSR of siteExclusions (sorted, both directions)
    void setup(const PQEqForce& force);
    /** Same particle layout (polarisable atoms, fixed atoms) as another model: warm start is valid. */
    bool sameLayout(const PQEqSystemModel& other) const;
};

/** The platform-independent box set-up (PQEqBoxSetup, platforms/common) plus what the kernels read:
 *  the image shifts, the Ewald weights per k-vector and group pair, one PME influence mesh per group pair,
 *  and the real-space cell grid (chooseCells). */
struct PQEqBoxModel : PQEqBoxSetup {
    bool valid = false;
    int nimg[3] = {0, 0, 0};
    std::vector<OpenMM::Vec3> shifts;                     // image shifts (zero shift included), rc-limited
    std::vector<double> kweight;                          // [k*G*G + g*G + h] = 8 pi ke/(V k^2) exp(-k^2/4gamma^2)
    std::vector<double> influence;                        // PME: [(g*G+h)*total + idx]
    int ncell[3] = {0, 0, 0};                             // real-space cell list per lattice direction; 0: all pairs
    /** Set up for a box (periodic methods) or for no box (box == NULL). Returns true when something changed. */
    bool setup(const PQEqSystemModel& model, const OpenMM::Vec3* box);
    /** The real-space cell grid of a periodic box: cells at least rc (1 + 1e-3) wide, so that every pair the
     *  kernels accept (distance < rc, also after float rounding) lies in neighbouring cells, and at most
     *  max(27, nS) cells; ncell = 0 (all pairs) when a direction has fewer than 3 cells. */
    void chooseCells(int nS);
};

} // namespace PolarML

#endif
