/* C6 interpolation of the native D3 kernel (D3Passes.h): the Gaussian reference weights of each
 * atom (as D3BJ._weights), their contraction against the C6 reference table, and the BJ damping per
 * pair of element types. */

#include "D3Passes.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace PolarML {
namespace d3_detail {

void interpolateC6(int64_t nAtoms, int64_t nTypes, const double* coordination, const double* refcn,
                   const int64_t* species, const double* table, const double* r4r2, double a1, double a2,
                   int threads, C6Tables& tables) {
    const int64_t U = nTypes;
    tables.U = U;
    std::vector<double>& gwA = tables.gw;
    std::vector<double>& dgwA = tables.dgw;
    std::vector<double>& vA = tables.v;
    std::vector<double>& dvA = tables.dv;
    gwA.assign(nAtoms * NREF, 0.0);
    dgwA.assign(nAtoms * NREF, 0.0);
    vA.assign(nAtoms * U * NREF, 0.0);
    dvA.assign(nAtoms * U * NREF, 0.0);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t a = 0; a < nAtoms; a++) {
        const double* ref = refcn + NREF * a;
        // exp(−4 (ref − CN)²) relative to the nearest reference (a softmax, as D3BJ._weights):
        // the weights sum to one at every CN instead of underflowing far from all references
        double cn = coordination[a], w[NREF], best = -std::numeric_limits<double>::infinity();
        for (int r = 0; r < NREF; r++)
            if (ref[r] >= 0.0)
                best = std::max(best, -4.0 * (ref[r] - cn) * (ref[r] - cn));
        double norm = 0.0;
        for (int r = 0; r < NREF; r++) {
            double dc = ref[r] - cn;
            w[r] = ref[r] >= 0.0 ? std::exp(-4.0 * dc * dc - best) : 0.0;
            norm += w[r];
        }
        double* gw = &gwA[NREF * a];
        double* dgw = &dgwA[NREF * a];
        if (norm > 0.0) {  // at least one reference: norm >= 1
            for (int r = 0; r < NREF; r++)
                gw[r] = w[r] / norm;
            // ∂gw_r/∂CN = gw_r (8 (ref_r − CN) − Σ_s 8 (ref_s − CN) gw_s)
            double mean = 0.0;
            for (int r = 0; r < NREF; r++)
                mean += 8.0 * (ref[r] - cn) * gw[r];
            for (int r = 0; r < NREF; r++)
                dgw[r] = 8.0 * (ref[r] - cn) * gw[r] - gw[r] * mean;
        }
        int64_t s = species[a];
        for (int64_t u = 0; u < U; u++) {
            const double* tab = table + ((s * U + u) * NREF) * NREF;
            double* va = &vA[(a * U + u) * NREF];
            double* dva = &dvA[(a * U + u) * NREF];
            for (int ra = 0; ra < NREF; ra++) {
                if (gw[ra] == 0.0 && dgw[ra] == 0.0)
                    continue;
                for (int rb = 0; rb < NREF; rb++) {
                    va[rb] += gw[ra] * tab[ra * NREF + rb];
                    dva[rb] += dgw[ra] * tab[ra * NREF + rb];
                }
            }
        }
    }

    // damping radii per pair of element types: qq = 3 r4r2_i r4r2_j, r0 = a1 sqrt(qq) + a2
    std::vector<double>& qqT = tables.qq;
    std::vector<double>& r0T = tables.r0;
    std::vector<double> r4r2T(U, 0.0);
    qqT.assign(U * U, 0.0);
    r0T.assign(U * U, 0.0);
    for (int64_t a = 0; a < nAtoms; a++)
        r4r2T[species[a]] = r4r2[a];
    for (int64_t u = 0; u < U * U; u++) {
        qqT[u] = 3.0 * r4r2T[u / U] * r4r2T[u % U];
        r0T[u] = a1 * std::sqrt(qqT[u]) + a2;
    }
}

}  // namespace d3_detail
}  // namespace PolarML
