#ifndef POLARML_PQEQCUDACELLKERNELS_CUH_
#define POLARML_PQEQCUDACELLKERNELS_CUH_

/* Device kernels of the real-space cell list (see PQEqCudaKernelArgs.cuh): a counting sort of the sites
 * into nc[0] x nc[1] x nc[2] cells of the periodic box in fractional coordinates (cells at least rc wide,
 * PQEqBoxModel::chooseCells), launched in this order:
 *   kCellCount     (per site)   cell of each site, count per cell (integer atomics)
 *   kCellChunkSums (per chunk)  sum of the counts of PQ_CELL_CHUNK cells
 *   kCellChunkScan (1 thread)   exclusive prefix sum over the chunks
 *   kCellStarts    (per chunk)  first slot of every cell; the counts become the scatter's next free slot
 *   kCellScatter   (per site)   every site into a free slot of its cell (order depends on the atomics)
 *   kCellOrder     (per site)   every site to its rank in its cell: ascending site index, deterministic
 * Ewald and PME bin a site by its atom's core (their pair criterion is the core-core distance, so a shell
 * lies in its core's cell); the taper kernel bins every site by its own position. */

#include "PQEqCudaKernelArgs.cuh"

namespace PolarML {

template <class T> PQ_GLOBAL void kCellCount(KP<T> p) {
    bool ewaldLike = (p.method == M_EWALD || p.method == M_PME);
    for (int a = PQ_TID; a < p.nS; a += PQ_NTHREADS) {
        int key = (ewaldLike && a >= p.N ? p.polAtoms[a - p.N] : a);
        double x = (double) p.sx[key], y = (double) p.sy[key], z = (double) p.sz[key];
        int cell = 0;
        for (int k = 0; k < 3; k++) {
            double f = x * p.recipD[3 * k] + y * p.recipD[3 * k + 1] + z * p.recipD[3 * k + 2];
            double t = (f - pqFloor(f)) * p.nc[k];
            int i = (t >= 1 ? (int) t : 0);   // also 0 for a non-finite position
            cell = cell * p.nc[k] + (i < p.nc[k] ? i : p.nc[k] - 1);
        }
        p.siteCell[a] = cell;
        pqAtomicAdd(&p.cellCount[cell], 1);
    }
}

template <class T> PQ_GLOBAL void kCellChunkSums(KP<T> p) {
    for (int c = PQ_TID; c < p.nChunks; c += PQ_NTHREADS) {
        int sum = 0, end = (c + 1) * PQ_CELL_CHUNK < p.nCells ? (c + 1) * PQ_CELL_CHUNK : p.nCells;
        for (int cell = c * PQ_CELL_CHUNK; cell < end; cell++)
            sum += p.cellCount[cell];
        p.chunkSum[c] = sum;
    }
}

template <class T> PQ_GLOBAL void kCellChunkScan(KP<T> p) {
    for (int t = PQ_TID; t < 1; t += PQ_NTHREADS) {
        int run = 0;
        for (int c = 0; c < p.nChunks; c++) {
            int n = p.chunkSum[c];
            p.chunkSum[c] = run;
            run += n;
        }
    }
}

template <class T> PQ_GLOBAL void kCellStarts(KP<T> p) {
    for (int c = PQ_TID; c < p.nChunks; c += PQ_NTHREADS) {
        int run = p.chunkSum[c], end = (c + 1) * PQ_CELL_CHUNK < p.nCells ? (c + 1) * PQ_CELL_CHUNK : p.nCells;
        for (int cell = c * PQ_CELL_CHUNK; cell < end; cell++) {
            int n = p.cellCount[cell];
            p.cellStart[cell] = p.cellCount[cell] = run;
            run += n;
        }
        if (end == p.nCells)
            p.cellStart[p.nCells] = run;
    }
}

template <class T> PQ_GLOBAL void kCellScatter(KP<T> p) {
    for (int a = PQ_TID; a < p.nS; a += PQ_NTHREADS)
        p.cellTmp[pqAtomicInc(&p.cellCount[p.siteCell[a]])] = a;
}

template <class T> PQ_GLOBAL void kCellOrder(KP<T> p) {
    for (int a = PQ_TID; a < p.nS; a += PQ_NTHREADS) {
        int cell = p.siteCell[a], start = p.cellStart[cell], rank = 0;
        for (int k = start; k < p.cellStart[cell + 1]; k++)
            rank += (p.cellTmp[k] < a ? 1 : 0);
        p.cellSites[start + rank] = a;
    }
}

} // namespace PolarML

#endif
