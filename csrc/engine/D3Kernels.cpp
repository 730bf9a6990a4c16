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
 * Files: the entry points and the handle cache here; the passes in D3Passes.h (coordination numbers,
 * C6 interpolation, energies and gradients), the pair data in D3PairList.h, the cell list in
 * D3CellList.h.
 */

#include <Python.h>

#include "D3Passes.h"

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <vector>

using PolarML::d3_detail::buildGrid;
using PolarML::d3_detail::C6Tables;
using PolarML::d3_detail::D3Handle;
using PolarML::d3_detail::findPairsAndCoordinationNumbers;
using PolarML::d3_detail::Grid;
using PolarML::d3_detail::interpolateC6;
using PolarML::d3_detail::pairEnergies;
using PolarML::d3_detail::pairGradients;
using PolarML::d3_detail::PairChunk;

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
    const double rc = std::max(cutoff, cnCutoff);
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
    std::vector<double> cn;
    if (!findPairsAndCoordinationNumbers(pos, ptr, grids, frameOf, rcov, rc, cnCutoff, width, threads,
                                         h->pairs, cn)) {
        *status = 2;
        releaseHandle(h);
        return nullptr;
    }
    C6Tables tables;
    interpolateC6(nAtoms, nTypes, cn.data(), refcn, species, table, r4r2, a1, a2, threads, tables);
    pairEnergies(h->pairs, nAtoms, species, tables, cutoff, width, s6, s8, threads, energy);
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
    pairGradients(*static_cast<D3Handle*>(handle), g, gradPos, gradCell, std::max(1, threads));
}

}  // extern "C"

static struct PyModuleDef d3KernelsModule = {
    PyModuleDef_HEAD_INIT, "_d3_kernels",
    "Native CPU kernel of the two-body D3(BJ) dispersion (called through ctypes).", -1, nullptr};

PyMODINIT_FUNC PyInit__d3_kernels(void) { return PyModule_Create(&d3KernelsModule); }
