/* Pass 1 of the native D3 kernel (D3Passes.h): cell-list pair search with the coordination numbers. */

#include "D3Passes.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace PolarML {
namespace d3_detail {

bool findPairsAndCoordinationNumbers(const double* pos, const int64_t* ptr,
                                     const std::vector<Grid>& grids, const std::vector<int32_t>& frameOf,
                                     const double* rcov, double rc, double cnCutoff, double width,
                                     int threads, std::vector<PairChunk>& pairs,
                                     std::vector<double>& coordination) {
    const int64_t nAtoms = (int64_t) frameOf.size();
    const double rc2 = rc * rc;
    const double rcLoose = (rc + 1e-6) * (rc + 1e-6);
    std::vector<double> cnT((size_t) threads * nAtoms, 0.0);
    int overflow = 0;
#pragma omp parallel num_threads(threads) reduction(| : overflow)
    {
        int tid = threadId();
        PairChunk& out = pairs[tid];
        double* cn = cnT.data() + (size_t) tid * nAtoms;
#pragma omp for schedule(static, 32)
        for (int64_t q = 0; q < nAtoms; q++) {
            int32_t b = frameOf[q];
            const Grid& g = grids[b];
            int64_t si = q - ptr[b];
            int32_t i = g.atom[si];
            const double* wi = &g.wpos[3 * si];
            const int32_t* ci = &g.bin[3 * si];
            const int32_t* ki = &g.wrap[3 * si];
            const int64_t nOff = (int64_t) g.offsets.size() / 3;
            double r2buf[256];
            for (int64_t o = 0; o < nOff; o++) {
                const int32_t* d = &g.offsets[3 * o];
                int img[3], tb[3];
                bool skip = false;
                for (int k = 0; k < 3; k++) {
                    int t = ci[k] + d[k];
                    img[k] = g.periodic ? floorDiv(t, g.n[k]) : 0;
                    tb[k] = t - img[k] * g.n[k];
                    skip |= (!g.periodic && (t < 0 || t >= g.n[k]));
                }
                if (skip)
                    continue;
                double sh[3];
                for (int c = 0; c < 3; c++)
                    sh[c] = img[0] * g.cell[c] + img[1] * g.cell[3 + c] + img[2] * g.cell[6 + c];
                int64_t lin = ((int64_t) tb[0] * g.n[1] + tb[1]) * g.n[2] + tb[2];
                // offset 0 (same bin, same image): each pair once, by slot order
                bool same = d[0] == 0 && d[1] == 0 && d[2] == 0;
                int64_t first = same ? si + 1 : g.start[lin], last = g.start[lin + 1];
                const double xi = wi[0] - sh[0], yi = wi[1] - sh[1], zi = wi[2] - sh[2];
                for (int64_t base = first; base < last; base += 256) {
                    int64_t len = std::min<int64_t>(256, last - base);
                    const double* wj = &g.wpos[3 * base];
                    out.reserveMore(len);
                    for (int64_t q2 = 0; q2 < len; q2++) {
                        double x = wj[3 * q2] - xi, y = wj[3 * q2 + 1] - yi, z = wj[3 * q2 + 2] - zi;
                        r2buf[q2] = x * x + y * y + z * z;
                    }
                    for (int64_t q2 = 0; q2 < len; q2++) {
                        if (r2buf[q2] >= rcLoose)
                            continue;
                        int64_t sj = base + q2;
                        int32_t j = g.atom[sj];
                        // shift and vector with respect to the original positions
                        const int32_t* kj = &g.wrap[3 * sj];
                        int32_t sft[3];
                        for (int k = 0; k < 3; k++)
                            sft[k] = img[k] - kj[k] + ki[k];
                        double v[3], r2 = 0.0;
                        for (int c = 0; c < 3; c++) {
                            double off = 0.0;
                            if (g.periodic)
                                off = sft[0] * g.cell[c] + sft[1] * g.cell[3 + c] +
                                      sft[2] * g.cell[6 + c];
                            v[c] = (pos[3 * j + c] - pos[3 * i + c]) + off;
                            r2 += v[c] * v[c];
                        }
                        if (r2 >= rc2)
                            continue;
                        if (std::abs(sft[0]) > 32767 || std::abs(sft[1]) > 32767 ||
                            std::abs(sft[2]) > 32767) {
                            overflow = 1;
                            continue;
                        }
                        double r = std::sqrt(r2), gc = 0.0;
                        if (r < cnCutoff) {
                            double rco = rcov[i] + rcov[j];
                            double cnt = 1.0 / (1.0 + std::exp(-16.0 * (rco / r - 1.0)));
                            double sw, dsw;
                            quinticSwitch(r, cnCutoff, width, sw, dsw);
                            // ∂count/∂r = −16 rco/r² · count (1 − count)
                            double dcnt = -16.0 * rco / r2 * cnt * (1.0 - cnt);
                            cn[i] += cnt * sw;
                            cn[j] += cnt * sw;
                            gc = (dcnt * sw + cnt * dsw) / r;
                        }
                        out.push(i, j, sft, v, r, gc);
                    }
                }
            }
        }
    }
    if (overflow)
        return false;
    for (int t = 1; t < threads; t++)
        for (int64_t a = 0; a < nAtoms; a++)
            cnT[a] += cnT[(size_t) t * nAtoms + a];
    cnT.resize(nAtoms);
    coordination.swap(cnT);
    return true;
}

}  // namespace d3_detail
}  // namespace PolarML
