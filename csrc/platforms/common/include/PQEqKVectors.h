#ifndef POLARML_PQEQKVECTORS_H_
#define POLARML_PQEQKVECTORS_H_

/* Reciprocal-lattice enumeration shared by the explicit Ewald sums (Reference/CPU and CUDA) and the
 * long-wave preconditioner. Header-only, internal. */

#include "openmm/Vec3.h"
#include <cmath>
#include <vector>

namespace PolarML {
namespace pqeq_detail {

/* Half-space reciprocal vectors k = 2 pi (n1 b1 + n2 b2 + n3 b3) with 0 < |k| <= kmax, one of each
 * +-k pair (1/nm). box: lattice vectors; recip: reciprocal vectors b_i without the 2 pi. */
inline std::vector<OpenMM::Vec3> halfSpaceKVectors(const OpenMM::Vec3* box, const OpenMM::Vec3* recip, double kmax) {
    std::vector<OpenMM::Vec3> out;
    int nmax[3];
    for (int k = 0; k < 3; k++)
        nmax[k] = (int) std::floor(kmax * std::sqrt(box[k].dot(box[k])) / (2 * M_PI)) + 1;
    for (int n1 = 0; n1 <= nmax[0]; n1++)
        for (int n2 = -nmax[1]; n2 <= nmax[1]; n2++)
            for (int n3 = -nmax[2]; n3 <= nmax[2]; n3++) {
                if (n1 == 0 && (n2 < 0 || (n2 == 0 && n3 <= 0)))
                    continue;
                OpenMM::Vec3 kv = (recip[0] * n1 + recip[1] * n2 + recip[2] * n3) * (2 * M_PI);
                if (kv.dot(kv) <= kmax * kmax)
                    out.push_back(kv);
            }
    return out;
}

} // namespace pqeq_detail
} // namespace PolarML

#endif
