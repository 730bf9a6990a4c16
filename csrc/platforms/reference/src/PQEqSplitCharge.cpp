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

void PQEqCalculator::checkSplitBox() const {
    double minWidth = INFINITY;
    for (int k = 0; k < 3; k++)
        minWidth = min(minWidth, 1.0 / sqrt(recip[k].dot(recip[k])));
    if (splitCutoff > 0.5 * minWidth * (1 + 1e-12)) {
        stringstream msg;
        msg << "PQEqForce: the split-charge cutoff " << splitCutoff << " nm exceeds half the smallest perpendicular box width ("
            << 0.5 * minWidth << " nm), so a pair could bond through several images or an atom to its own image. "
            << "Use setSplitCutoff(" << 0.5 * minWidth << ") or less, or a larger box.";
        throw OpenMMException(msg.str());
    }
}

void PQEqCalculator::buildSplitBonds() {
    vector<SplitBond> previous;
    previous.swap(bonds);
    auto image = [this](const Vec3& dr) { return periodic ? minimumImage(dr) : dr; };
    findSplitBonds(pos, eqAtoms, splitCutoff, bondHardness, image, bonds);
    vector<double> s;
    if (!carrySplitVariables(previous, splitS, bonds, s))
        bondsChanged = true;
    splitS.swap(s);
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
        Vec3 dEdR = B.R * (dEdw * B.dw / B.r) - field * (s * B.w);
        f[B.i] -= dEdR;
        f[B.j] += dEdR;
    }
}

void PQEqCalculator::buildSplitPreconditioner() {
    // diagonal: w_b^2 (eta_i + eta_j) + kappa_b per bond, Ks per shell component
    bondsChanged = false;
    splitDiagonal.resize(bonds.size());
    for (size_t b = 0; b < bonds.size(); b++) {
        const SplitBond& B = bonds[b];
        splitDiagonal[b] = B.w * B.w * (eta[B.i] + eta[B.j]) + B.kappa;
    }
    blocks.clear();
    waveCols = 0;
}

void PQEqCalculator::applySplitPreconditioner(const vector<double>& gp, vector<double>& z) const {
    z.resize(nx + 3 * P);
    for (int b = 0; b < nx; b++)
        z[b] = gp[b] / splitDiagonal[b];
    for (int k = 0; k < P; k++)
        for (int c = 0; c < 3; c++)
            z[nx + 3 * k + c] = gp[nx + 3 * k + c] / Ks[polAtoms[k]];
}
