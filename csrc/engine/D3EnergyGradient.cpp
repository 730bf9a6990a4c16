/* Energies and gradients of the native D3 kernel (D3Passes.h): the damped pair energies of the forward,
 * and the backward through the pair energies and the coordination numbers. */

#include "D3Passes.h"

namespace PolarML {
namespace d3_detail {

namespace {

/* Visits every pair of the handle, one chunk per thread at a time (static schedule): each thread
 * builds its visitor once, visitorOf(tid) (binding that thread's accumulators), and calls
 * visit(c, q, i, j) for the pair (i, j) in slot q of each of its chunks c. */
template <class VisitorOf>
void forEachPair(const D3Handle& h, int threads, VisitorOf visitorOf) {
    const int chunks = (int) h.pairs.size();
#pragma omp parallel num_threads(threads)
    {
        auto visit = visitorOf(threadId());
#pragma omp for schedule(static, 1)
        for (int t = 0; t < chunks; t++) {
            const PairChunk& c = h.pairs[t];
            const size_t np = c.size();
            for (size_t q = 0; q < np; q++)
                visit(c, q, c.ij[2 * q], c.ij[2 * q + 1]);
        }
    }
}

}  // namespace

void pairEnergies(std::vector<PairChunk>& pairs, int64_t nAtoms, const int64_t* species,
                  const C6Tables& tables, double cutoff, double width, double s6, double s8, int threads,
                  double* energy) {
    const int64_t U = tables.U;
    const std::vector<double>& gwA = tables.gw;
    const std::vector<double>& dgwA = tables.dgw;
    const std::vector<double>& vA = tables.v;
    const std::vector<double>& dvA = tables.dv;
    const std::vector<double>& qqT = tables.qq;
    const std::vector<double>& r0T = tables.r0;
    std::vector<double> eT((size_t) threads * nAtoms, 0.0);
#pragma omp parallel num_threads(threads)
    {
        double* en = eT.data() + (size_t) threadId() * nAtoms;
#pragma omp for schedule(static, 1)
        for (int t = 0; t < threads; t++) {
            PairChunk& c = pairs[t];
            const size_t np = c.size();
            c.ecn.ensure(2 * np);
            for (size_t q = 0; q < np; q++) {
                double r = c.ge[q];
                c.ge[q] = 0.0;
                if (r >= cutoff) {
                    c.ecn[2 * q] = c.ecn[2 * q + 1] = 0.0;
                    continue;
                }
                int32_t i = c.ij[2 * q], j = c.ij[2 * q + 1];
                int64_t sj = species[j], off = (i * U + sj) * NREF;
                const double* vi = &vA[off];
                const double* dvi = &dvA[off];
                const double* gj = &gwA[NREF * j];
                const double* dgj = &dgwA[NREF * j];
                double c6 = 0.0, dc6i = 0.0, dc6j = 0.0;
                for (int rb = 0; rb < NREF; rb++) {
                    c6 += vi[rb] * gj[rb];
                    dc6i += dvi[rb] * gj[rb];
                    dc6j += vi[rb] * dgj[rb];
                }
                int64_t st = species[i] * U + sj;
                double qq = qqT[st], r0 = r0T[st];
                double r2 = r * r, r6 = r2 * r2 * r2, r02 = r0 * r0, r06 = r02 * r02 * r02;
                double d6 = r6 + r06, d8 = r6 * r2 + r06 * r0 * r0;
                double i6 = 1.0 / d6, i8 = 1.0 / d8;
                double e0 = -(s6 * c6 * i6 + s8 * c6 * qq * i8);
                double de0 = c6 * r * r2 * r2 * (6.0 * s6 * i6 * i6 + 8.0 * s8 * qq * r2 * i8 * i8);
                double sw, dsw;
                quinticSwitch(r, cutoff, width, sw, dsw);
                double e = e0 * sw;
                en[i] += 0.5 * e;
                en[j] += 0.5 * e;
                c.ge[q] = (de0 * sw + e0 * dsw) / r;
                double dedc6 = -(s6 * i6 + s8 * qq * i8) * sw;
                c.ecn[2 * q] = dedc6 * dc6i;
                c.ecn[2 * q + 1] = dedc6 * dc6j;
            }
        }
    }
    for (int64_t a = 0; a < nAtoms; a++) {
        double s = 0.0;
        for (int t = 0; t < threads; t++)
            s += eT[(size_t) t * nAtoms + a];
        energy[a] = s;
    }
}

void pairGradients(const D3Handle& h, const double* g, double* gradPos, double* gradCell, int threads) {
    const int64_t N = h.nAtoms, B = h.nFrames;
    std::vector<double> dcnT((size_t) threads * N, 0.0), dcn(N, 0.0);
    // pass A: ∂L/∂CN_k = Σ_p w_p ∂e_p/∂CN_k, w_p = (g_i + g_j) / 2
    forEachPair(h, threads, [&](int tid) {
        double* acc = dcnT.data() + (size_t) tid * N;
        return [acc, g](const PairChunk& c, size_t q, int32_t i, int32_t j) {
            double w = 0.5 * (g[i] + g[j]);
            acc[i] += w * c.ecn[2 * q];
            acc[j] += w * c.ecn[2 * q + 1];
        };
    });
    for (int64_t a = 0; a < N; a++) {
        double s = 0.0;
        for (int t = 0; t < threads; t++)
            s += dcnT[(size_t) t * N + a];
        dcn[a] = s;
    }
    // pass B: pair-vector gradients into positions and cells
    std::vector<double> gpT((size_t) threads * N * 3, 0.0), gcT((size_t) threads * B * 9, 0.0);
    const double* dcnA = dcn.data();
    const int32_t* frame = h.frame.data();
    forEachPair(h, threads, [&](int tid) {
        double* gp = gpT.data() + (size_t) tid * N * 3;
        double* gcl = gcT.data() + (size_t) tid * B * 9;
        return [gp, gcl, g, dcnA, frame](const PairChunk& c, size_t q, int32_t i, int32_t j) {
            double coef = 0.5 * (g[i] + g[j]) * c.ge[q] + (dcnA[i] + dcnA[j]) * c.gc[q];
            const double* v = &c.vec[3 * q];
            double gv[3] = {coef * v[0], coef * v[1], coef * v[2]};
            for (int k = 0; k < 3; k++) {
                gp[3 * j + k] += gv[k];
                gp[3 * i + k] -= gv[k];
            }
            const int16_t* sft = &c.s[4 * q];
            if (sft[0] | sft[1] | sft[2]) {
                double* gf = gcl + 9 * frame[i];
                for (int a = 0; a < 3; a++)
                    for (int k = 0; k < 3; k++)
                        gf[3 * a + k] += sft[a] * gv[k];
            }
        };
    });
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t x = 0; x < 3 * N; x++) {
        double s = 0.0;
        for (int t = 0; t < threads; t++)
            s += gpT[(size_t) t * N * 3 + x];
        gradPos[x] = s;
    }
    for (int64_t x = 0; x < 9 * B; x++) {
        double s = 0.0;
        for (int t = 0; t < threads; t++)
            s += gcT[(size_t) t * B * 9 + x];
        gradCell[x] = s;
    }
}

}  // namespace d3_detail
}  // namespace PolarML
