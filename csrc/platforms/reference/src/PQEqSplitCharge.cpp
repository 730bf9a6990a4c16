/* Split charge transfer (PQEqForce::Split) in PQEqCalculator: the same function as the PyTorch engine's
 * charge_transfer="split" (openmm_polarml/pqeq/split_charge.py, problem.py), in kJ/mol, nm, e.
 *
 *   q_i = q0_i + sum_b B_ib w_b s_b                     (PQEqSplitBonds.h: bonds, taper w)
 *   E   = E_PQEq(q, d) + 1/2 sum_b kappa_b s_b^2 - F.mu
 *   mu  = sum_i q0_i u_i + sum_b w_b s_b R_b - sum_i Z_i d_i
 *
 * The solver's first block holds the bond variables s (unconstrained):
 *   dE/ds_b = w_b (dE/dq_i - dE/dq_j) + kappa_b s_b - w_b F.R_b
 * with dE/dq the charge gradient without the field term. Forces at the converged (s, d) are partial
 * derivatives at fixed s and d (envelope theorem): the Hellmann-Feynman forces at q(s), the field on
 * q0, and per bond the taper and the field along the bond (both depend on r_i and r_j). */

#include "PQEqCalculator.h"
#include "openmm/OpenMMException.h"
#include <algorithm>
#include <cmath>
#include <sstream>

using namespace OpenMM;
using namespace PolarML;
using namespace PolarML::pqeq_detail;
using namespace std;

namespace {
/* The bond list holds every pair within r_c + SPLIT_LIST_SKIN (nm) and is rebuilt once an atom has moved
 * half the skin: pairs beyond r_c have w = 0 and carry no charge (their variables relax to 0), so the
 * list, the preconditioner and the solver's curvature memory survive MD steps in which bonds enter or
 * leave r_c. Only the start of the solve depends on it, never the answer. */
const double SPLIT_LIST_SKIN = 0.05;
} // namespace

void PQEqCalculator::buildSplitBonds() {
    auto image = [this](const Vec3& dr) { return periodic ? boxSetup().minimumImage(dr) : dr; };
    bool rebuild = bondsChanged || splitListPos.size() != pos.size();
    for (size_t k = 0; k < eqAtoms.size() && !rebuild; k++) {
        Vec3 moved = image(pos[eqAtoms[k]] - splitListPos[eqAtoms[k]]);
        rebuild = moved.dot(moved) > 0.25 * SPLIT_LIST_SKIN * SPLIT_LIST_SKIN;
    }
    if (rebuild) {
        vector<SplitBond> previous;
        previous.swap(bonds);
        findSplitBonds(pos, eqAtoms, splitCutoff + SPLIT_LIST_SKIN, splitCutoff, bondHardness, image, bonds);
        vector<double> s;
        if (!carrySplitVariables(previous, splitS, bonds, s)) {
            bondsChanged = true;
            warmStart.clearBondVariables();   // its vectors belong to the old list
        }
        splitS.swap(s);
        splitListPos = pos;
    }
    else
        for (SplitBond& bond : bonds)
            setSplitBondVector(bond, image(pos[bond.i] - pos[bond.j]), splitCutoff);
}

void PQEqCalculator::splitCharges(const vector<double>& xv) {
    for (int i : eqAtoms)
        q[i] = referenceQ[i];
    for (size_t b = 0; b < bonds.size(); b++) {
        double p = bonds[b].w * xv[b];   // e, from j to i
        q[bonds[b].i] += p;
        q[bonds[b].j] -= p;
    }
}

double PQEqCalculator::splitBondTerms(const vector<double>& xv, vector<double>& g) {
    // needs chargeGradient of this evaluation; adds the bond dipoles to `dipole`
    double E = 0;
    for (size_t b = 0; b < bonds.size(); b++) {
        const SplitBond& B = bonds[b];
        double s = xv[b];
        g[b] = B.w * (chargeGradient[B.i] - chargeGradient[B.j]) + B.kappa * s - B.w * field.dot(B.R);
        E += 0.5 * B.kappa * s * s;
        dipole += B.R * (B.w * s);
    }
    return E;
}

void PQEqCalculator::addSplitForces(vector<Vec3>& f) const {
    for (size_t b = 0; b < bonds.size(); b++) {
        const SplitBond& B = bonds[b];
        double s = splitS[b];
        if (s == 0)
            continue;
        // dE/dR_b at fixed s: through w (charges and field) and through R in the bond dipole
        double dEdw = s * (chargeGradient[B.i] - chargeGradient[B.j] - field.dot(B.R));
        Vec3 dEdR = -field * (s * B.w);
        if (B.r > 0)   // dw = 0 below the taper onset; an excluded pair may sit at r = 0
            dEdR += B.R * (dEdw * B.dw / B.r);
        f[B.i] -= dEdR;
        f[B.j] += dEdR;
    }
}
