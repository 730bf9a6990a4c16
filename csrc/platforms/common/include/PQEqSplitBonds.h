#ifndef POLARML_PQEQSPLITBONDS_H_
#define POLARML_PQEQSPLITBONDS_H_

/* Split-charge equilibration (PQEqForce::Split): the bond taper and the bond graph, the same function
 * as openmm_polarml/pqeq/split_charge.py in OpenMM units (nm, kJ/mol, e).
 *
 * Bonds b = (i, j), i < j, join equilibrated particles closer than the split cutoff r_c (at most one
 * image per pair: periodic systems need r_c <= half the smallest box width). Bond vector
 * R_b = r_i - r_j(image), taper w_b = w(|R_b|), charges q = q0 + B (w o s) with B_ib = +1, B_jb = -1,
 * bond hardness kappa_b = kappa_i + kappa_j. Header-only, plain C++. */

#include "openmm/Vec3.h"
#include <algorithm>
#include <cmath>
#include <vector>

namespace PolarML {
namespace pqeq_detail {

/** Bonds shorter than this carry charge at full conductance, w = 1 (nm; split_charge.SPLIT_TAPER_ONSET). */
const double SPLIT_TAPER_ONSET_NM = 0.25;

/** Taper w(r) = 1 - x^3 (10 - 15 x + 6 x^2), x = clamp((r - r_on)/(r_c - r_on), 0, 1),
 *  r_on = min(0.25 nm, r_c/2), and dw/dr (1/nm). r, cutoff in nm. */
inline void splitTaper(double r, double cutoff, double& w, double& dw) {
    double onset = std::min(SPLIT_TAPER_ONSET_NM, 0.5 * cutoff);
    double width = cutoff - onset;
    double x = std::min(std::max((r - onset) / width, 0.0), 1.0);
    w = 1.0 - x * x * x * (10.0 - 15.0 * x + 6.0 * x * x);
    dw = -30.0 * x * x * (1.0 - x) * (1.0 - x) / width;
}

/** One charge-carrying bond: particles i < j, R = r_i - r_j(image) (nm), |R|, taper w and dw/dr,
 *  hardness kappa = kappa_i + kappa_j (kJ/mol/e^2). */
struct SplitBond {
    int i, j;
    OpenMM::Vec3 R;
    double r, w, dw, kappa;
};

/** Set the geometry of a bond from its vector R = r_i - r_j(image) (nm): |R|, taper w and dw/dr. */
inline void setSplitBondVector(SplitBond& bond, const OpenMM::Vec3& R, double cutoff) {
    bond.R = R;
    bond.r = std::sqrt(R.dot(R));
    splitTaper(bond.r, cutoff, bond.w, bond.dw);
}

/** All pairs of the particles ``atoms`` (ascending indices) closer than ``listCutoff`` (nm), ordered by
 *  (i, j), with their geometry for the taper radius ``cutoff`` <= listCutoff (pairs beyond it have
 *  w = 0: they carry no charge, list skin). ``image(dr)`` maps r_i - r_j to the bonded image (minimum
 *  image, or identity without periodicity); ``kappa`` is per particle (kJ/mol/e^2). O(n^2). */
template <class Image>
void findSplitBonds(const std::vector<OpenMM::Vec3>& pos, const std::vector<int>& atoms, double listCutoff,
                    double cutoff, const std::vector<double>& kappa, Image image, std::vector<SplitBond>& bonds) {
    bonds.clear();
    const double list2 = listCutoff * listCutoff;
    for (size_t a = 0; a < atoms.size(); a++)
        for (size_t b = a + 1; b < atoms.size(); b++) {
            int i = atoms[a], j = atoms[b];
            OpenMM::Vec3 R = image(pos[i] - pos[j]);
            if (!(R.dot(R) < list2))
                continue;
            SplitBond bond;
            bond.i = i;
            bond.j = j;
            bond.kappa = kappa[i] + kappa[j];
            setSplitBondVector(bond, R, cutoff);
            bonds.push_back(bond);
        }
}

/** Bond variables of ``bonds`` taken from the same pairs of ``oldBonds``/``oldS`` (both ordered by
 *  (i, j)); pairs new to the list start at 0. Returns whether the two lists hold the same pairs. */
inline bool carrySplitVariables(const std::vector<SplitBond>& oldBonds, const std::vector<double>& oldS,
                                const std::vector<SplitBond>& bonds, std::vector<double>& s) {
    s.assign(bonds.size(), 0.0);
    bool same = (oldBonds.size() == bonds.size() && oldS.size() == oldBonds.size());
    size_t o = 0;
    for (size_t b = 0; b < bonds.size(); b++) {
        while (o < oldBonds.size() && (oldBonds[o].i < bonds[b].i || (oldBonds[o].i == bonds[b].i && oldBonds[o].j < bonds[b].j)))
            o++;
        if (o < oldBonds.size() && o < oldS.size() && oldBonds[o].i == bonds[b].i && oldBonds[o].j == bonds[b].j)
            s[b] = oldS[o];
        else
            same = false;
    }
    return same;
}

} // namespace pqeq_detail
} // namespace PolarML

#endif
