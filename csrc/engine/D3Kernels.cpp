/* Native CPU kernel of the two-body D3(BJ) dispersion (openmm_polarml/model/d3.py), float64.
 *
 * Computes what D3BJ.forward computes (coordination numbers, Gaussian reference weights, pair C6,
 * Becke-Johnson damped C6/C8 terms, quintic switches at both cutoffs), but with its own cell-list
 * neighbour search instead of a tensor neighbour list and without building [P]-sized temporaries.
 * Called through ctypes (openmm_polarml/model/d3_native.py):
 *
 *   polarml_d3_forward   neighbour search, CN, weights, per-atom energies; returns an opaque handle
 *                        holding the per-pair data the backward needs (or frees it at once)
 *   polarml_d3_backward  positions and cell gradients for an arbitrary per-atom upstream gradient
 *   polarml_d3_free      releases a handle
 *
 * Neighbour search: per frame, a cell list in fractional coordinates (any triclinic cell, cells
 * smaller than the cutoff included: the bin offset range then spans several images) or, for a
 * non-periodic frame, bounding-box bins; bins are at least cutoff / 2 wide. Positions are wrapped
 * into the cell for binning only: shifts and vectors refer to the original positions. Each
 * unordered pair (i, j, S) is found once, from the lexicographically non-negative half of the bin
 * offsets (within one bin and image, by slot order).
 * Memory: 72 bytes per pair (~33 MB for 2,744 NaCl atoms at 12 Å), kept until the handle is freed;
 * the buffers of one freed handle are kept for the next forward.
 * Threads: every function takes a thread count; for a given count, results do not depend on the
 * scheduling (static partition, per-thread accumulators reduced in thread order).
 *
 * The library is a (method-less) Python extension module so that the package finds it through the
 * normal import machinery. No torch or OpenMM symbols are used.
 */

#include <Python.h>

#include "D3CellList.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <new>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

using PolarML::d3_detail::buildGrid;
using PolarML::d3_detail::floorDiv;
using PolarML::d3_detail::Grid;

namespace {

const int NREF = 7;       // reference systems per element

inline int threadId() {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* Growable array of a trivially copyable type without value-initialisation (std::vector's resize
 * would write every element once more). */
template <typename T>
struct Buffer {
    T* data = nullptr;
    size_t capacity = 0;
    Buffer() = default;
    Buffer(Buffer&& o) noexcept { swap(o); }
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    ~Buffer() { std::free(data); }
    void swap(Buffer& o) noexcept {
        std::swap(data, o.data);
        std::swap(capacity, o.capacity);
    }
    /* Room for `total` elements (contents kept). */
    void ensure(size_t total) {
        if (total <= capacity)
            return;
        size_t cap = std::max(total, capacity + capacity / 2 + 1024);
        T* grown = static_cast<T*>(std::realloc(data, cap * sizeof(T)));
        if (!grown)
            throw std::bad_alloc();
        data = grown;
        capacity = cap;
    }
    T& operator[](size_t k) { return data[k]; }
    const T& operator[](size_t k) const { return data[k]; }
};

/* The pairs found by one thread, structure of arrays (each backward pass streams only what it uses):
 * atoms, image shift (r_j + S·cell − r_i), vector and the backward's coefficients. */
struct PairChunk {
    size_t n = 0;
    Buffer<int32_t> ij;  // [P, 2]
    Buffer<int16_t> s;   // [P, 4] shift S (4th entry unused)
    Buffer<double> vec;  // [P, 3] Å
    Buffer<double> ge;   // [P] ∂e_pair/∂r / r at fixed C6 (holds r between forward passes)
    Buffer<double> gc;   // [P] ∂(count·sw)/∂r / r
    Buffer<double> ecn;  // [P, 2] ∂e_pair/∂CN_i, ∂e_pair/∂CN_j
    size_t size() const { return n; }
    void clear() { n = 0; }
    /* Room for k more pairs in every array. */
    void reserveMore(size_t k) {
        ij.ensure(2 * (n + k));
        s.ensure(4 * (n + k));
        vec.ensure(3 * (n + k));
        ge.ensure(n + k);
        gc.ensure(n + k);
    }
    void push(int32_t i, int32_t j, const int32_t* sft, const double* v, double r, double g) {
        ij.data[2 * n] = i;
        ij.data[2 * n + 1] = j;
        for (int k = 0; k < 3; k++) {
            s.data[4 * n + k] = (int16_t) sft[k];
            vec.data[3 * n + k] = v[k];
        }
        s.data[4 * n + 3] = 0;
        ge.data[n] = r;
        gc.data[n] = g;
        n++;
    }
    PairChunk() = default;
    PairChunk(PairChunk&& o) noexcept { swap(o); }
    void swap(PairChunk& o) noexcept {
        std::swap(n, o.n);
        ij.swap(o.ij);
        s.swap(o.s);
        vec.swap(o.vec);
        ge.swap(o.ge);
        gc.swap(o.gc);
        ecn.swap(o.ecn);
    }
};

/* Quintic switch 1 − t³(10 − 15t + 6t²) and its r-derivative. */
inline void quinticSwitch(double r, double rOff, double width, double& sw, double& dsw) {
    double t = (r - (rOff - width)) / width;
    if (t <= 0.0) {
        sw = 1.0;
        dsw = 0.0;
    } else if (t >= 1.0) {
        sw = 0.0;
        dsw = 0.0;
    } else {
        sw = 1.0 - t * t * t * (10.0 - 15.0 * t + 6.0 * t * t);
        dsw = -30.0 * t * t * (1.0 - t) * (1.0 - t) / width;
    }
}


}  // namespace

/* Everything the backward needs from a forward. */
struct D3Handle {
    int64_t nAtoms = 0, nFrames = 0;
    std::vector<PairChunk> pairs;  // one chunk per thread of the forward
    std::vector<int32_t> frame;    // [N] frame of each atom
};

namespace {

/* Pair buffers of the last freed handle, reused by the next forward: a fresh ~30 MB buffer per
 * call costs as much in page faults and zeroing as the pair loop itself. At most one set is kept. */
std::mutex cacheMutex;
std::vector<PairChunk> cachedPairs;

void releaseHandle(D3Handle* h) {
    {
        std::lock_guard<std::mutex> lock(cacheMutex);
        if (cachedPairs.empty())
            cachedPairs.swap(h->pairs);
    }
    delete h;
}

void acquirePairs(D3Handle* h, int threads) {
    {
        std::lock_guard<std::mutex> lock(cacheMutex);
        h->pairs.swap(cachedPairs);
    }
    h->pairs.resize(threads);
    for (PairChunk& chunk : h->pairs)
        chunk.clear();
}

}  // namespace

extern "C" {

void polarml_d3_free(void* handle) { releaseHandle(static_cast<D3Handle*>(handle)); }

/* Forward. Arrays are float64/int64 C-contiguous:
 *   pos [N, 3] Å; ptr [B + 1]; cell [B, 3, 3] rows = lattice vectors; periodic [B] (0/1, int32);
 *   species [N] index into the U present element types; table [U, U, 7, 7] C6ref (eV Å⁶);
 *   refcn [N, 7] reference CNs of each atom (< 0: absent); rcov [N] Å; r4r2 [N];
 *   energy [N] output, eV.
 * Returns a handle when keep != 0 (free it with polarml_d3_free), else null; *status is 0 on
 * success, 1 for a singular periodic cell, 2 for an image shift beyond ±32767 cells.
 */
void* polarml_d3_forward(int64_t nAtoms, const double* pos, int64_t nFrames, const int64_t* ptr,
                         const double* cell, const int32_t* periodic, const int64_t* species,
                         int64_t nTypes, const double* table, const double* refcn,
                         const double* rcov, const double* r4r2, double cutoff, double cnCutoff,
                         double width, double s6, double s8, double a1, double a2, double* energy,
                         int keep, int threads, int32_t* status) {
    *status = 0;
    threads = std::max(1, threads);
    const double rc = std::max(cutoff, cnCutoff), rc2 = rc * rc;
    const double rcLoose = (rc + 1e-6) * (rc + 1e-6);
    std::vector<Grid> grids(nFrames);
    std::vector<int32_t> frameOf(nAtoms);
    for (int64_t b = 0; b < nFrames; b++) {
        if (!buildGrid(pos, ptr[b], ptr[b + 1], cell + 9 * b, periodic[b] != 0, rc, grids[b])) {
            *status = 1;
            return nullptr;
        }
        for (int64_t a = ptr[b]; a < ptr[b + 1]; a++)
            frameOf[a] = (int32_t) b;
    }
    D3Handle* h = new D3Handle();
    h->nAtoms = nAtoms;
    h->nFrames = nFrames;
    h->frame = frameOf;
    acquirePairs(h, threads);
    std::vector<double> cnT((size_t) threads * nAtoms, 0.0);
    int overflow = 0;

    // pass 1: neighbour search with the coordination-number counts
    // (atoms in frame-then-bin order: slot q of the whole batch is slot q − ptr[b] of frame b)
#pragma omp parallel num_threads(threads) reduction(| : overflow)
    {
        int tid = threadId();
        PairChunk& out = h->pairs[tid];
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
    if (overflow) {
        *status = 2;
        releaseHandle(h);
        return nullptr;
    }
    for (int t = 1; t < threads; t++)
        for (int64_t a = 0; a < nAtoms; a++)
            cnT[a] += cnT[(size_t) t * nAtoms + a];

    // Gaussian weights (as D3BJ._weights) and their contraction against the table
    const int64_t U = nTypes;
    // gw, dgw [N, 7]: weights and ∂/∂CN; v, dv [N, U, 7]: Σ_a gw_ia T[s_i, u, a, b] and ∂/∂CN_i
    std::vector<double> gwA(nAtoms * NREF, 0.0), dgwA(nAtoms * NREF, 0.0);
    std::vector<double> vA(nAtoms * U * NREF, 0.0), dvA(nAtoms * U * NREF, 0.0);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t a = 0; a < nAtoms; a++) {
        const double* ref = refcn + NREF * a;
        // exp(−4 (ref − CN)²) relative to the nearest reference (a softmax, as D3BJ._weights):
        // the weights sum to one at every CN instead of underflowing far from all references
        double cn = cnT[a], w[NREF], best = -std::numeric_limits<double>::infinity();
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
    std::vector<double> qqT(U * U), r0T(U * U), r4r2T(U, 0.0);
    for (int64_t a = 0; a < nAtoms; a++)
        r4r2T[species[a]] = r4r2[a];
    for (int64_t u = 0; u < U * U; u++) {
        qqT[u] = 3.0 * r4r2T[u / U] * r4r2T[u % U];
        r0T[u] = a1 * std::sqrt(qqT[u]) + a2;
    }

    // pass 2: C6 and the damped pair energies
    std::vector<double> eT((size_t) threads * nAtoms, 0.0);
#pragma omp parallel num_threads(threads)
    {
        double* en = eT.data() + (size_t) threadId() * nAtoms;
#pragma omp for schedule(static, 1)
        for (int t = 0; t < threads; t++) {
            PairChunk& c = h->pairs[t];
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
    if (!keep) {
        releaseHandle(h);
        return nullptr;
    }
    return h;
}

/* Backward of L(energy) for the upstream gradient g [N] = ∂L/∂energy: writes ∂L/∂pos [N, 3] and
 * ∂L/∂cell [B, 3, 3] (overwritten). The handle stays valid. */
void polarml_d3_backward(void* handle, const double* g, double* gradPos, double* gradCell,
                         int threads) {
    D3Handle* h = static_cast<D3Handle*>(handle);
    const int64_t N = h->nAtoms, B = h->nFrames;
    const int chunks = (int) h->pairs.size();
    threads = std::max(1, threads);
    std::vector<double> dcnT((size_t) threads * N, 0.0), dcn(N, 0.0);
    // pass A: ∂L/∂CN_k = Σ_p w_p ∂e_p/∂CN_k, w_p = (g_i + g_j) / 2
#pragma omp parallel num_threads(threads)
    {
        double* acc = dcnT.data() + (size_t) threadId() * N;
#pragma omp for schedule(static, 1)
        for (int t = 0; t < chunks; t++) {
            const PairChunk& c = h->pairs[t];
            const size_t np = c.size();
            for (size_t q = 0; q < np; q++) {
                int32_t i = c.ij[2 * q], j = c.ij[2 * q + 1];
                double w = 0.5 * (g[i] + g[j]);
                acc[i] += w * c.ecn[2 * q];
                acc[j] += w * c.ecn[2 * q + 1];
            }
        }
    }
    for (int64_t a = 0; a < N; a++) {
        double s = 0.0;
        for (int t = 0; t < threads; t++)
            s += dcnT[(size_t) t * N + a];
        dcn[a] = s;
    }
    // pass B: pair-vector gradients into positions and cells
    std::vector<double> gpT((size_t) threads * N * 3, 0.0), gcT((size_t) threads * B * 9, 0.0);
#pragma omp parallel num_threads(threads)
    {
        int tid = threadId();
        double* gp = gpT.data() + (size_t) tid * N * 3;
        double* gcl = gcT.data() + (size_t) tid * B * 9;
#pragma omp for schedule(static, 1)
        for (int t = 0; t < chunks; t++) {
            const PairChunk& c = h->pairs[t];
            const size_t np = c.size();
            for (size_t q = 0; q < np; q++) {
                int32_t i = c.ij[2 * q], j = c.ij[2 * q + 1];
                double coef = 0.5 * (g[i] + g[j]) * c.ge[q] + (dcn[i] + dcn[j]) * c.gc[q];
                const double* v = &c.vec[3 * q];
                double gv[3] = {coef * v[0], coef * v[1], coef * v[2]};
                for (int k = 0; k < 3; k++) {
                    gp[3 * j + k] += gv[k];
                    gp[3 * i + k] -= gv[k];
                }
                const int16_t* sft = &c.s[4 * q];
                if (sft[0] | sft[1] | sft[2]) {
                    double* gf = gcl + 9 * h->frame[i];
                    for (int a = 0; a < 3; a++)
                        for (int k = 0; k < 3; k++)
                            gf[3 * a + k] += sft[a] * gv[k];
                }
            }
        }
    }
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

}  // extern "C"

static struct PyModuleDef d3KernelsModule = {
    PyModuleDef_HEAD_INIT, "_d3_kernels",
    "Native CPU kernel of the two-body D3(BJ) dispersion (called through ctypes).", -1, nullptr};

PyMODINIT_FUNC PyInit__d3_kernels(void) { return PyModule_Create(&d3KernelsModule); }
