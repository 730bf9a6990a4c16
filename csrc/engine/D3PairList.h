/* Pair data of the native D3 kernel (D3Kernels.cpp): the pairs found by the forward, one chunk per
 * thread, and the handle that keeps them for the backward. */

#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <vector>

namespace PolarML {
namespace d3_detail {

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

/* Everything the backward needs from a forward. */
struct D3Handle {
    int64_t nAtoms = 0, nFrames = 0;
    std::vector<PairChunk> pairs;  // one chunk per thread of the forward
    std::vector<int32_t> frame;    // [N] frame of each atom
};

}  // namespace d3_detail
}  // namespace PolarML
