#ifndef POLARML_PQEQCUDACOMPAT_H_
#define POLARML_PQEQCUDACOMPAT_H_

/* The few CUDA constructs the PQEq device code uses, behind macros, so that the same source builds
 * (a) with nvcc for the GPU and (b) with a plain C++ compiler (POLARML_CUDA_EMULATION) as a serial
 * emulation in which every kernel launch is a loop over its threads. (b) lets the kernels be checked
 * against the Reference platform on a machine without a GPU; it says nothing about races or timing.
 * Rules the device code follows so that (b) is faithful: no shared memory, no __syncthreads, grid-stride
 * loops, reductions only through pqReduceAdd/pqReduceMax (called once by every thread of a launch). */

#include <cmath>
#include <cstddef>
#include <string>

#define PQ_BLOCK 128

#ifdef POLARML_CUDA_EMULATION

#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace PolarML {
namespace pqemu {
extern int tid, nthreads;
}
}
#define PQ_GLOBAL static
#define PQ_DEVICE static inline
#define PQ_TID (::PolarML::pqemu::tid)
#define PQ_NTHREADS (::PolarML::pqemu::nthreads)
#define PQ_LAUNCH(kernel, n, ...)                                                                         \
    do {                                                                                                  \
        ::PolarML::pqemu::nthreads = ((n) > 0 ? (int) (n) : 1);                                             \
        for (::PolarML::pqemu::tid = 0; ::PolarML::pqemu::tid < ::PolarML::pqemu::nthreads; ::PolarML::pqemu::tid++) \
            kernel(__VA_ARGS__);                                                                          \
    } while (0)

namespace PolarML {
typedef void* pqStream;
inline void* pqMalloc(size_t bytes) { return bytes ? std::calloc(bytes, 1) : nullptr; }
inline void pqFree(void* p) { std::free(p); }
inline void pqToDevice(void* dst, const void* src, size_t bytes, pqStream) { if (bytes) std::memcpy(dst, src, bytes); }
inline void pqToHost(void* dst, const void* src, size_t bytes, pqStream) { if (bytes) std::memcpy(dst, src, bytes); }
inline void pqCopy(void* dst, const void* src, size_t bytes, pqStream) { if (bytes) std::memcpy(dst, src, bytes); }
inline void pqZero(void* dst, size_t bytes, pqStream) { if (bytes) std::memset(dst, 0, bytes); }
inline void pqSync(pqStream) {}
template <class T> PQ_DEVICE void pqAtomicAdd(T* p, T v) { *p += v; }
PQ_DEVICE int pqAtomicInc(int* p) { return (*p)++; }
PQ_DEVICE void pqAtomicAddFixed(long long* p, double v) { *p += (long long) (v * 0x100000000LL); }
PQ_DEVICE void pqReduceAdd(double* dst, double v) { *dst += v; }
PQ_DEVICE void pqReduceMax(double* dst, double v) { if (v > *dst) *dst = v; }
}

#else // CUDA

#include <cuda_runtime.h>

#define PQ_GLOBAL __global__
#define PQ_DEVICE __device__ static inline
#define PQ_TID ((int) (blockIdx.x * blockDim.x + threadIdx.x))
#define PQ_NTHREADS ((int) (gridDim.x * blockDim.x))
#define PQ_LAUNCH(kernel, n, ...)                                                                         \
    do {                                                                                                  \
        kernel<<<::PolarML::pqGridSize(n), PQ_BLOCK, 0, stream>>>(__VA_ARGS__);                           \
        ::PolarML::pqCheck(cudaGetLastError(), #kernel);                                                  \
    } while (0)

namespace PolarML {
typedef cudaStream_t pqStream;
void pqCheck(cudaError_t err, const char* what);   // throws OpenMMException
inline int pqGridSize(long long n) {
    long long blocks = (n + PQ_BLOCK - 1) / PQ_BLOCK;
    if (blocks < 1)
        blocks = 1;
    if (blocks > 4096)
        blocks = 4096;   // grid-stride loops cover the rest
    return (int) blocks;
}
inline void* pqMalloc(size_t bytes) {
    void* p = nullptr;
    if (bytes) {
        pqCheck(cudaMalloc(&p, bytes), "cudaMalloc");
        pqCheck(cudaMemset(p, 0, bytes), "cudaMemset");
    }
    return p;
}
inline void pqFree(void* p) { if (p) cudaFree(p); }
inline void pqToDevice(void* dst, const void* src, size_t bytes, pqStream s) {
    if (bytes) pqCheck(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s), "cudaMemcpy H->D");
}
inline void pqToHost(void* dst, const void* src, size_t bytes, pqStream s) {
    if (bytes) {
        pqCheck(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s), "cudaMemcpy D->H");
        pqCheck(cudaStreamSynchronize(s), "cudaStreamSynchronize");
    }
}
inline void pqCopy(void* dst, const void* src, size_t bytes, pqStream s) {
    if (bytes) pqCheck(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s), "cudaMemcpy D->D");
}
inline void pqZero(void* dst, size_t bytes, pqStream s) {
    if (bytes) pqCheck(cudaMemsetAsync(dst, 0, bytes, s), "cudaMemset");
}
inline void pqSync(pqStream s) { pqCheck(cudaStreamSynchronize(s), "cudaStreamSynchronize"); }
#ifdef __CUDACC__
template <class T> __device__ static inline void pqAtomicAdd(T* p, T v) { atomicAdd(p, v); }
/* Increments *p and returns its old value. */
__device__ static inline int pqAtomicInc(int* p) { return atomicAdd(p, 1); }
__device__ static inline void pqAtomicAddFixed(long long* p, double v) {
    atomicAdd((unsigned long long*) p, (unsigned long long) ((long long) (v * 0x100000000LL)));
}
/* Warp-level sum, then one atomic per warp: every lane of the warp must call it. */
__device__ static inline void pqReduceAdd(double* dst, double v) {
    for (int off = 16; off > 0; off >>= 1)
        v += __shfl_down_sync(0xffffffffu, v, off);
    if ((threadIdx.x & 31) == 0 && v != 0)
        atomicAdd(dst, v);
}
/* Maximum of non-negative values (the bit patterns of non-negative doubles order like the numbers). */
__device__ static inline void pqReduceMax(double* dst, double v) {
    for (int off = 16; off > 0; off >>= 1)
        v = fmax(v, __shfl_down_sync(0xffffffffu, v, off));
    if ((threadIdx.x & 31) == 0 && v > 0)
        atomicMax((unsigned long long*) dst, (unsigned long long) __double_as_longlong(v));
}
#endif
}

#endif

namespace PolarML {
/* Precision-overloaded math that maps to the float or double intrinsics on both sides. */
#if defined(__CUDACC__)
#define PQ_MATH __host__ __device__ static inline
#else
#define PQ_MATH static inline
#endif
PQ_MATH float pqErf(float x) { return erff(x); }
PQ_MATH double pqErf(double x) { return erf(x); }
PQ_MATH float pqExp(float x) { return expf(x); }
PQ_MATH double pqExp(double x) { return exp(x); }
PQ_MATH float pqSqrt(float x) { return sqrtf(x); }
PQ_MATH double pqSqrt(double x) { return sqrt(x); }
PQ_MATH float pqFloor(float x) { return floorf(x); }
PQ_MATH double pqFloor(double x) { return floor(x); }
PQ_MATH void pqSinCos(float x, float* s, float* c) { *s = sinf(x); *c = cosf(x); }
PQ_MATH void pqSinCos(double x, double* s, double* c) { *s = sin(x); *c = cos(x); }
}

#endif
