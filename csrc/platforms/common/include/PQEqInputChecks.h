#ifndef POLARML_PQEQINPUTCHECKS_H_
#define POLARML_PQEQINPUTCHECKS_H_

/* Input checks shared by every platform, the same rules as the PyTorch engine.
 * Overlaps: two PQEq atoms (equilibrated or polarisable, not fixed
 * charge sites) closer than PQEQ_MIN_ATOM_DISTANCE (0.05 nm, the 0.5 Angstrom of the PyTorch engine) are
 * refused, unless the pair is excluded. Cost O(N): atoms are binned in cells at least that wide. */

#include "openmm/OpenMMException.h"
#include "openmm/Vec3.h"
#include <algorithm>
#include <cmath>
#include <sstream>
#include <unordered_map>
#include <vector>

namespace PolarML {

/** nm; the PyTorch engine's MIN_ATOM_DISTANCE (0.5 Angstrom) */
static const double PQEQ_MIN_ATOM_DISTANCE = 0.05;

/** Throw OpenMMException naming the first pair of `atoms` closer than `minDistance` (nm).
 *  box: three box vectors (reduced form, a along x, b in the xy plane) or NULL; excluded(i, j) tells
 *  whether a pair is excluded. */
template <class Excluded>
void checkOverlaps(const std::vector<OpenMM::Vec3>& pos, const std::vector<int>& atoms, const OpenMM::Vec3* box,
                   Excluded excluded, double minDistance = PQEQ_MIN_ATOM_DISTANCE) {
    using OpenMM::Vec3;
    const int n = (int) atoms.size();
    if (n < 2)
        return;
    for (int k = 0; k < n; k++) {
        const Vec3& p = pos[atoms[k]];
        if (!(std::isfinite(p[0]) && std::isfinite(p[1]) && std::isfinite(p[2]))) {
            std::stringstream msg;
            msg << "PQEqForce: particle " << atoms[k] << " has a non-finite position (" << p[0] << ", " << p[1] << ", "
                << p[2] << " nm); the simulation has blown up or the positions were never set";
            throw OpenMM::OpenMMException(msg.str());
        }
    }
    // fractional-like coordinates: for a periodic box the reduced-form inverse, else a bounding box
    Vec3 lo(1e300, 1e300, 1e300), hi(-1e300, -1e300, -1e300);
    double width[3];
    auto coord = [&](const Vec3& p, double f[3]) {
        if (box != NULL) {
            double fz = p[2] / box[2][2];
            double fy = (p[1] - fz * box[2][1]) / box[1][1];
            double fx = (p[0] - fz * box[2][0] - fy * box[1][0]) / box[0][0];
            f[0] = fx - std::floor(fx);
            f[1] = fy - std::floor(fy);
            f[2] = fz - std::floor(fz);
        }
        else
            for (int c = 0; c < 3; c++)
                f[c] = (p[c] - lo[c]) / width[c];
    };
    if (box == NULL) {
        for (int k = 0; k < n; k++)
            for (int c = 0; c < 3; c++) {
                lo[c] = std::min(lo[c], pos[atoms[k]][c]);
                hi[c] = std::max(hi[c], pos[atoms[k]][c]);
            }
        for (int c = 0; c < 3; c++)
            width[c] = std::max(hi[c] - lo[c], minDistance) * (1 + 1e-12);
    }
    else {   // perpendicular widths of the reduced box
        width[0] = box[0][0];
        width[1] = box[1][1];
        width[2] = box[2][2];
    }
    long long cells[3];
    bool wrap[3];
    for (int c = 0; c < 3; c++) {
        cells[c] = std::max(1LL, (long long) std::floor(width[c] / minDistance));
        cells[c] = std::min(cells[c], 1LL << 20);
        if (cells[c] < 3)
            cells[c] = 1;   // one slab along this axis: offset 0 visits every atom of it
        wrap[c] = (box != NULL);
    }
    std::unordered_map<long long, std::vector<int> > grid;
    std::vector<long long> cellOf(3 * n);
    for (int k = 0; k < n; k++) {
        double f[3];
        coord(pos[atoms[k]], f);
        long long key = 0;
        for (int c = 0; c < 3; c++) {
            long long i = std::min(cells[c] - 1, (long long) std::floor(f[c] * cells[c]));
            cellOf[3 * k + c] = i;
            key = key * (cells[c] + 2) + i;
        }
        grid[key].push_back(k);
    }
    const double min2 = minDistance * minDistance;
    for (int k = 0; k < n; k++) {
        for (int dx = -1; dx <= 1; dx++)
            for (int dy = -1; dy <= 1; dy++)
                for (int dz = -1; dz <= 1; dz++) {
                    int dd[3] = {dx, dy, dz};
                    long long key = 0;
                    bool skip = false;
                    for (int c = 0; c < 3; c++) {
                        long long i = cellOf[3 * k + c] + dd[c];
                        if (i < 0 || i >= cells[c]) {
                            if (!wrap[c]) {
                                skip = true;
                                break;
                            }
                            i = (i + cells[c]) % cells[c];
                        }
                        if (cells[c] == 1 && dd[c] != 0) {   // a single slab is visited at offset 0 only
                            skip = true;
                            break;
                        }
                        key = key * (cells[c] + 2) + i;
                    }
                    if (skip)
                        continue;
                    auto found = grid.find(key);
                    if (found == grid.end())
                        continue;
                    for (int m : found->second) {
                        if (m <= k)
                            continue;
                        Vec3 dr = pos[atoms[m]] - pos[atoms[k]];
                        if (box != NULL) {   // minimum image in the reduced box
                            dr -= box[2] * std::round(dr[2] / box[2][2]);
                            dr -= box[1] * std::round(dr[1] / box[1][1]);
                            dr -= box[0] * std::round(dr[0] / box[0][0]);
                        }
                        if (dr.dot(dr) < min2 && !excluded(atoms[k], atoms[m])) {
                            std::stringstream msg;
                            msg << "PQEqForce: particles " << atoms[k] << " and " << atoms[m] << " are "
                                << std::sqrt(dr.dot(dr)) << " nm apart, closer than " << minDistance
                                << " nm (the overlap limit of every platform and of the PyTorch engine): remove "
                                   "duplicated atoms or fix the coordinates (a minimisation from overlapping "
                                   "atoms cannot separate them)";
                            throw OpenMM::OpenMMException(msg.str());
                        }
                    }
                }
    }
}

/** kJ/mol/nm/e: 5 V/Angstrom, openmm_polarml.units.MAX_EXTERNAL_FIELD_V_PER_ANGSTROM (1 V/A = 964.853... kJ/mol/nm/e) */
static const double PQEQ_MAX_FIELD = 5.0 * 964.8533212331;

/** Throw OpenMMException when the external field (kJ/mol/nm/e) is not finite or exceeds PQEQ_MAX_FIELD. */
inline void checkField(const OpenMM::Vec3& field) {
    double strength = std::sqrt(field.dot(field));
    if (!(strength <= PQEQ_MAX_FIELD)) {
        std::stringstream msg;
        msg << "PQEqForce: the external field (" << field[0] << ", " << field[1] << ", " << field[2]
            << " kJ/mol/nm/e, " << strength / 964.8533212331 << " V/Angstrom) exceeds the limit of 5 V/Angstrom "
            << "(10x the strongest training field, beyond dielectric breakdown): shells would leave their atoms; "
               "lower the Context parameters PQEqFieldX/Y/Z";
        throw OpenMM::OpenMMException(msg.str());
    }
}

} // namespace PolarML

#endif
