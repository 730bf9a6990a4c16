/* Cell list of the native D3 kernel (D3Kernels.cpp): bins in fractional coordinates for periodic
 * frames (any triclinic cell, also cells thinner than the cutoff), bounding-box bins otherwise.
 *
 * Periodic: fractional coordinates f = r · cell⁻¹ are wrapped to [0, 1) (integer offsets k kept,
 * r' = r − k·cell); n_k ≤ max(1, floor(BINS_PER_CUTOFF h_k / rc)) bins along k, h_k = 1 / |b_k| the
 * cell height (b_k reciprocal vectors); bin offsets −m_k..m_k, m_k = ceil(rc n_k / h_k), reach every
 * pair within rc, each offset a distinct (bin, image). Only the lexicographically non-negative half
 * of the offsets is listed: (i in bin c, j at c + d) and (j, i) at −d are the same pair.
 */

#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace PolarML {
namespace d3_detail {

const int MAX_BINS = 128;       // bins per direction (more gives no speed-up, only memory)
const int BINS_PER_CUTOFF = 2;  // bin width ≥ cutoff / 2: fewer candidates than width ≥ cutoff

/* Bins per direction for extents ext[3] (cell heights or bounding box): BINS_PER_CUTOFF per
 * cutoff, at most MAX_BINS, and coarsened so that there are at most ~4 bins per atom (a sparse
 * frame would otherwise allocate and scan mostly empty bins). */
inline void binCounts(const double* ext, double rc, int64_t count, int* n) {
    double scale = 1.0;
    for (int pass = 0; pass < 2; pass++) {
        double total = 1.0;
        for (int k = 0; k < 3; k++) {
            double nb = std::floor(BINS_PER_CUTOFF * ext[k] / (rc * scale));
            n[k] = (int) std::max(1.0, std::min((double) MAX_BINS, nb));
            total *= n[k];
        }
        double limit = 4.0 * (double) count + 8.0;
        if (total <= limit)
            return;
        scale = std::cbrt(total / limit) * 1.0001;
    }
}

/* Cell list of one frame: atoms sorted by bin, their wrapped positions and wrap offsets. */
struct Grid {
    bool periodic = false;
    int n[3] = {1, 1, 1};  // bins per direction
    int m[3] = {1, 1, 1};  // bin offsets searched in each direction: −m..m
    std::vector<int32_t> offsets;  // [n_offsets, 3] the half of −m..m that is lexicographically ≥ 0
    double cell[9] = {0};
    std::vector<int64_t> start;  // [nbins + 1] first sorted slot of each bin
    std::vector<int32_t> atom;   // [n_atoms] global index of each sorted slot
    std::vector<int32_t> bin;    // [n_atoms, 3] bin coordinates of each sorted slot
    std::vector<int32_t> wrap;   // [n_atoms, 3] integer wrap k of each sorted slot (r' = r − k·cell)
    std::vector<double> wpos;    // [n_atoms, 3] wrapped positions of the sorted slots
};

/* Inverse of a 3x3 matrix (row-major); false if singular. */
inline bool invert3(const double* a, double* inv) {
    double c00 = a[4] * a[8] - a[5] * a[7], c01 = a[5] * a[6] - a[3] * a[8];
    double c02 = a[3] * a[7] - a[4] * a[6];
    double det = a[0] * c00 + a[1] * c01 + a[2] * c02;
    if (!(std::fabs(det) > 0.0) || !std::isfinite(det))
        return false;
    double id = 1.0 / det;
    inv[0] = c00 * id;
    inv[1] = (a[2] * a[7] - a[1] * a[8]) * id;
    inv[2] = (a[1] * a[5] - a[2] * a[4]) * id;
    inv[3] = c01 * id;
    inv[4] = (a[0] * a[8] - a[2] * a[6]) * id;
    inv[5] = (a[2] * a[3] - a[0] * a[5]) * id;
    inv[6] = c02 * id;
    inv[7] = (a[1] * a[6] - a[0] * a[7]) * id;
    inv[8] = (a[0] * a[4] - a[1] * a[3]) * id;
    return true;
}

/* Builds the grid of atoms [begin, end) for pair cutoff rc; false for a singular periodic cell. */
inline bool buildGrid(const double* pos, int64_t begin, int64_t end, const double* cell, bool periodic,
               double rc, Grid& g) {
    int64_t count = end - begin;
    g.periodic = periodic;
    std::vector<int32_t> cbin(3 * count), cwrap(3 * count, 0);
    std::vector<double> cpos(3 * count);
    if (periodic) {
        double inv[9];
        if (!invert3(cell, inv))
            return false;
        std::copy(cell, cell + 9, g.cell);
        double h[3];
        for (int k = 0; k < 3; k++) {
            // perpendicular height of the cell along k: 1 / |b_k|, b_k = column k of cell⁻¹
            double b = std::sqrt(inv[k] * inv[k] + inv[3 + k] * inv[3 + k] + inv[6 + k] * inv[6 + k]);
            h[k] = 1.0 / b;
        }
        binCounts(h, rc, count, g.n);
        for (int k = 0; k < 3; k++)
            g.m[k] = (int) std::ceil(rc * g.n[k] / h[k]);
        for (int64_t a = 0; a < count; a++) {
            const double* r = pos + 3 * (begin + a);
            double w[3];
            for (int k = 0; k < 3; k++) {
                double f = r[0] * inv[k] + r[1] * inv[3 + k] + r[2] * inv[6 + k];
                double fl = std::floor(f);
                double fw = f - fl;
                if (fw >= 1.0) {
                    fw = 0.0;
                    fl += 1.0;
                }
                cwrap[3 * a + k] = (int32_t) fl;
                cbin[3 * a + k] = std::min(g.n[k] - 1, (int) (fw * g.n[k]));
            }
            for (int c = 0; c < 3; c++) {
                w[c] = r[c];
                for (int k = 0; k < 3; k++)
                    w[c] -= cwrap[3 * a + k] * cell[3 * k + c];
                cpos[3 * a + c] = w[c];
            }
        }
    } else {
        double lo[3] = {0, 0, 0}, hi[3] = {0, 0, 0}, width[3];
        for (int k = 0; k < 3; k++) {
            lo[k] = count ? pos[3 * begin + k] : 0.0;
            hi[k] = lo[k];
        }
        for (int64_t a = 0; a < count; a++)
            for (int k = 0; k < 3; k++) {
                lo[k] = std::min(lo[k], pos[3 * (begin + a) + k]);
                hi[k] = std::max(hi[k], pos[3 * (begin + a) + k]);
            }
        double ext[3] = {hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]};
        binCounts(ext, rc, count, g.n);
        for (int k = 0; k < 3; k++) {
            width[k] = ext[k] / g.n[k];  // ≥ rc / BINS_PER_CUTOFF whenever n > 1
            g.m[k] = g.n[k] == 1 ? 0 : std::min(g.n[k] - 1, (int) std::ceil(rc / width[k]));
        }
        for (int64_t a = 0; a < count; a++)
            for (int k = 0; k < 3; k++) {
                double x = pos[3 * (begin + a) + k];
                cpos[3 * a + k] = x;
                cbin[3 * a + k] =
                    g.n[k] == 1 ? 0 : std::min(g.n[k] - 1, (int) ((x - lo[k]) / width[k]));
            }
    }
    // half of the bin offsets: (i in bin c, j in bin c + d) and (j, i) at −d are the same pair
    g.offsets.clear();
    for (int d0 = -g.m[0]; d0 <= g.m[0]; d0++)
        for (int d1 = -g.m[1]; d1 <= g.m[1]; d1++)
            for (int d2 = -g.m[2]; d2 <= g.m[2]; d2++)
                if (d0 > 0 || (d0 == 0 && (d1 > 0 || (d1 == 0 && d2 >= 0)))) {
                    g.offsets.push_back(d0);
                    g.offsets.push_back(d1);
                    g.offsets.push_back(d2);
                }
    int64_t nbins = (int64_t) g.n[0] * g.n[1] * g.n[2];
    g.start.assign(nbins + 1, 0);
    std::vector<int64_t> linear(count);
    for (int64_t a = 0; a < count; a++) {
        linear[a] = ((int64_t) cbin[3 * a] * g.n[1] + cbin[3 * a + 1]) * g.n[2] + cbin[3 * a + 2];
        g.start[linear[a] + 1]++;
    }
    for (int64_t b = 0; b < nbins; b++)
        g.start[b + 1] += g.start[b];
    std::vector<int64_t> fill(g.start.begin(), g.start.end() - 1);
    g.atom.resize(count);
    g.bin.resize(3 * count);
    g.wrap.resize(3 * count);
    g.wpos.resize(3 * count);
    for (int64_t a = 0; a < count; a++) {
        int64_t slot = fill[linear[a]]++;
        g.atom[slot] = (int32_t) (begin + a);
        for (int k = 0; k < 3; k++) {
            g.bin[3 * slot + k] = cbin[3 * a + k];
            g.wrap[3 * slot + k] = cwrap[3 * a + k];
            g.wpos[3 * slot + k] = cpos[3 * a + k];
        }
    }
    return true;
}

inline int floorDiv(int a, int n) { return a >= 0 ? a / n : -((-a + n - 1) / n); }

}  // namespace d3_detail
}  // namespace PolarML
