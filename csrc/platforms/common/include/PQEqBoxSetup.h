#ifndef POLARML_PQEQBOXSETUP_H_
#define POLARML_PQEQBOXSETUP_H_

/* Everything of a PQEq solve that depends on the periodic box and not on the platform, by the rules of
 * docs/conventions.md: box checks, reciprocal vectors, the real-space cutoff (CellTooSmallError), the
 * Ewald parameter beta, the class groups of equal screening, k_max and the Ewald k-vectors, the PME mesh,
 * its B-spline moduli and the influence function. The Reference calculator and the CUDA host model
 * derive from it, so both choose the same parameters from the same arithmetic. Header-only, plain C++. */

#include "PQEqKVectors.h"
#include "PQEqMath.h"
#include "PQEqParticleLayout.h"
#include "openmm/OpenMMException.h"
#include "openmm/Vec3.h"
#include <algorithm>
#include <cmath>
#include <sstream>
#include <vector>

namespace PolarML {

struct PQEqBoxSetup {
    OpenMM::Vec3 boxVec[3], recip[3];              // lattice vectors (nm); reciprocal vectors without 2 pi
    double volume = 0, minWidth = 0;               // nm^3; smallest perpendicular width (nm)
    double rc = 0, beta = 0, kmax = 0;             // real-space cutoff (nm), Ewald beta and k_max (1/nm)
    double meshScreening = 0;                      // max class-pair gamma: sets kmax and the PME mesh
    int numGroups = 0;                             // groups of classes with identical gamma rows
    std::vector<int> classGroup, siteGroup;
    std::vector<double> groupGamma;                // [g1*G+g2] = min(alpha, beta) of the groups
    std::vector<double> selfGamma;                 // per class: min(alpha_cc, beta)
    std::vector<OpenMM::Vec3> kvecs;               // Ewald half-space k vectors
    int ngrid[3] = {0, 0, 0};                      // PME mesh
    std::vector<double> bmod[3];                   // PME: 1/|b(m)|^2 per axis (Euler exponential splines)

    /** Lattice vectors, volume (must be positive), reciprocal vectors and the smallest width. */
    void setBoxVectors(const OpenMM::Vec3* box) {
        for (int k = 0; k < 3; k++)
            boxVec[k] = box[k];
        volume = boxVec[0].dot(boxVec[1].cross(boxVec[2]));
        if (!(volume > 0))
            throw OpenMM::OpenMMException("PQEqForce: the periodic box has zero or negative volume.");
        recip[0] = boxVec[1].cross(boxVec[2]) / volume;
        recip[1] = boxVec[2].cross(boxVec[0]) / volume;
        recip[2] = boxVec[0].cross(boxVec[1]) / volume;
        minWidth = pqeq_detail::INF;
        for (int k = 0; k < 3; k++)
            minWidth = std::min(minWidth, 1.0 / std::sqrt(recip[k].dot(recip[k])));
    }

    /** The real-space cutoff of a periodic method: the user's, else 1.25 nm (Taper) or min(0.6 nm, half the
     *  smallest width) (Ewald, PME); Ewald and PME refuse a cutoff above half the smallest width. */
    void chooseCutoff(int method, double cutoffUser) {
        if (method == PQEqForce::Taper) {
            rc = (cutoffUser > 0 ? cutoffUser : 1.25);
            return;
        }
        rc = (cutoffUser > 0 ? cutoffUser : std::min(0.6, 0.5 * minWidth));
        if (rc > 0.5 * minWidth * (1 + 1e-12)) {
            std::stringstream msg;
            msg << "PQEqForce (CellTooSmallError): the cutoff " << rc << " nm exceeds half the smallest perpendicular box width ("
                << 0.5 * minWidth << " nm). Use a larger box or a smaller cutoff.";
            throw OpenMM::OpenMMException(msg.str());
        }
    }

    /** Ewald/PME: beta for the tolerance delta, the screening of every class pair, k_max, and the class
     *  groups (classes whose gamma rows are identical share a structure factor and a mesh). */
    void setupScreening(const PQEqParticleLayout& m, double delta) {
        beta = std::sqrt(-std::log(2.0 * delta)) / rc;
        int C = m.numClasses;
        std::vector<double> gamma(C * C);
        for (int i = 0; i < C * C; i++)
            gamma[i] = std::min(m.pairAlpha[i], beta);
        meshScreening = pqeq_detail::maxScreening(gamma.data(), C * C);
        kmax = pqeq_detail::ewaldKMax(meshScreening, delta);
        selfGamma.resize(C);
        for (int c = 0; c < C; c++)
            selfGamma[c] = gamma[c * C + c];
        classGroup.assign(C, -1);
        std::vector<int> rep;
        for (int c = 0; c < C; c++) {
            for (size_t g = 0; g < rep.size(); g++) {
                bool eq = true;
                for (int t = 0; t < C && eq; t++)
                    eq = (gamma[c * C + t] == gamma[rep[g] * C + t]);
                if (eq) {
                    classGroup[c] = (int) g;
                    break;
                }
            }
            if (classGroup[c] < 0) {
                classGroup[c] = (int) rep.size();
                rep.push_back(c);
            }
        }
        numGroups = (int) rep.size();
        groupGamma.resize(numGroups * numGroups);
        for (int g1 = 0; g1 < numGroups; g1++)
            for (int g2 = 0; g2 < numGroups; g2++)
                groupGamma[g1 * numGroups + g2] = gamma[rep[g1] * C + rep[g2]];
        siteGroup.resize(m.nS);
        for (int s = 0; s < m.nS; s++)
            siteGroup[s] = classGroup[m.siteClass[s]];
    }

    /** Ewald: the half-space k-vectors with |k| <= k_max. */
    void setupKVectors() { kvecs = pqeq_detail::halfSpaceKVectors(boxVec, recip, kmax); }

    /** PME: mesh size per axis for the tolerance delta and the B-spline moduli 1/|b(m)|^2. */
    void setupPmeMesh(double delta) {
        const int p = pqeq_detail::PME_ORDER;
        double w[16], dw[16];
        pqeq_detail::bspline(0.0, p, w, dw);   // w[j] = M_p(j)
        for (int k = 0; k < 3; k++) {
            double L = std::sqrt(boxVec[k].dot(boxVec[k]));
            ngrid[k] = pqeq_detail::pmeMeshSize(L, meshScreening, delta);
            int ng = ngrid[k];
            bmod[k].resize(ng);
            for (int m = 0; m < ng; m++) {
                double re = 0, im = 0;
                for (int j = 0; j < p - 1; j++) {
                    double arg = 2 * M_PI * m * j / ng;
                    re += w[j + 1] * std::cos(arg);
                    im += w[j + 1] * std::sin(arg);
                }
                bmod[k][m] = 1.0 / (re * re + im * im);
            }
        }
    }

    /** PME influence function 4 pi ke/(V k^2) B(m) exp(-k^2/(4 gamma^2)) on the mesh (0 at k = 0), one
     *  mesh per entry of ``gammas`` (inf: unscreened): out[j * total + idx], idx = (m0 n1 + m1) n2 + m2. */
    void pmeInfluence(double ke, const std::vector<double>& gammas, std::vector<double>& out) const {
        int n0 = ngrid[0], n1 = ngrid[1], n2 = ngrid[2];
        size_t total = (size_t) n0 * n1 * n2;
        out.assign(gammas.size() * total, 0.0);
        double pref = 4 * M_PI * ke / volume;
        for (int m0 = 0; m0 < n0; m0++) {
            int s0 = (m0 <= n0 / 2 ? m0 : m0 - n0);
            for (int m1 = 0; m1 < n1; m1++) {
                int s1 = (m1 <= n1 / 2 ? m1 : m1 - n1);
                for (int m2 = 0; m2 < n2; m2++) {
                    int s2 = (m2 <= n2 / 2 ? m2 : m2 - n2);
                    if (s0 == 0 && s1 == 0 && s2 == 0)
                        continue;
                    OpenMM::Vec3 kv = (recip[0] * s0 + recip[1] * s1 + recip[2] * s2) * (2 * M_PI);
                    double k2 = kv.dot(kv);
                    double f = pref * bmod[0][m0] * bmod[1][m1] * bmod[2][m2] / k2;
                    size_t idx = ((size_t) m0 * n1 + m1) * n2 + m2;
                    for (size_t j = 0; j < gammas.size(); j++) {
                        double gm = gammas[j];
                        out[j * total + idx] = f * (gm == pqeq_detail::INF ? 1.0 : std::exp(-k2 / (4 * gm * gm)));
                    }
                }
            }
        }
    }

    /** Image counts per lattice direction for a real-space cutoff: n_k = floor(rc / width_k + 1/2). */
    void imageCounts(double cutoff, int nimg[3]) const {
        for (int k = 0; k < 3; k++) {
            double width = 1.0 / std::sqrt(recip[k].dot(recip[k]));
            nimg[k] = (int) std::floor(cutoff / width + 0.5);
        }
    }

    /** Cells per lattice direction of a cell list whose cells are at least ``side`` wide (perpendicular
     *  widths): n_k = max(1, floor(width_k / side)). Pairs closer than ``side`` then lie in neighbouring cells. */
    void cellCounts(double side, int nc[3]) const {
        for (int k = 0; k < 3; k++) {
            double width = 1.0 / std::sqrt(recip[k].dot(recip[k]));
            nc[k] = std::max(1, (int) std::floor(width / side));
        }
    }

    /** The minimum image of a difference vector (nm), reducing along c, b, a. */
    OpenMM::Vec3 minimumImage(OpenMM::Vec3 dr) const {
        for (int k = 2; k >= 0; k--) {
            double f = dr.dot(recip[k]);
            dr -= boxVec[k] * std::floor(f + 0.5);
        }
        return dr;
    }

    /** Half the smallest width must hold the split-charge cutoff (one image per bonded pair). */
    void checkSplitCutoff(double splitCutoff) const {
        if (splitCutoff > 0.5 * minWidth * (1 + 1e-12)) {
            std::stringstream msg;
            msg << "PQEqForce: the split-charge cutoff " << splitCutoff << " nm exceeds half the smallest perpendicular box width ("
                << 0.5 * minWidth << " nm), so a pair could bond through several images or an atom to its own image. "
                << "Use setSplitCutoff(" << 0.5 * minWidth << ") or less, or a larger box.";
            throw OpenMM::OpenMMException(msg.str());
        }
    }
};

} // namespace PolarML

#endif
