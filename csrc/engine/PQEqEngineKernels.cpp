/* Native inner-loop kernels of the PyTorch PQEq engine (openmm_polarml.pqeq), CPU, float64.
 *
 * The charge/shell solve evaluates the site potential and the shell gradient 20-40 times at fixed
 * cores. These C functions do the parts that are slow as tensor code: B-spline spreading and
 * gathering of PME, the reciprocal convolution with real influence functions, and the real-space
 * pairs that involve shells. They compute exactly what openmm_polarml/pqeq/electrostatics/frozen.py
 * and pme.py compute (same pair lists, kernels, stencils; only the summation order differs) and are
 * called through ctypes on tensor data pointers (openmm_polarml/pqeq/electrostatics/native.py).
 *
 * The library is also a (method-less) Python extension module so that the package finds it through
 * the normal import machinery, editable installs included. No torch or OpenMM symbols are used.
 * Threads: every function takes a thread count; results do not depend on it (each output element
 * is summed in one fixed order by one thread).
 */

#include <Python.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "PQEqKernelTable.h"
#include "PQEqMath.h"

using PolarML::pqeq_detail::bspline;
using PolarML::pqeq_detail::tableEval;
using PolarML::pqeq_detail::TWO_OVER_SQRT_PI;

namespace {

const int MAX_ORDER = 16;

/* Stencil of one site: base indices along each axis and spline values/derivatives. */
struct SiteStencil {
    int64_t index[3][MAX_ORDER];
    double w[3][MAX_ORDER], dw[3][MAX_ORDER];
};

inline void siteStencil(const double* u, const int32_t* mesh, int order, SiteStencil& s) {
    for (int a = 0; a < 3; a++) {
        double base = std::floor(u[a]);
        bspline(u[a] - base, order, s.w[a], s.dw[a]);
        int64_t b = (int64_t) base, n = mesh[a];
        for (int j = 0; j < order; j++)
            s.index[a][j] = (((b - j) % n) + n) % n;
    }
}

/* Whether the stencil of scaled coordinate ux reaches an x plane in [lo, hi) of a mesh of nx planes
 * (the planes floor(ux) - j mod nx, j = 0..order-1). */
inline bool touchesPlanes(double ux, int64_t nx, int order, int64_t lo, int64_t hi) {
    int64_t top = (((int64_t) std::floor(ux)) % nx + nx) % nx;
    for (int j = 0; j < order; j++) {
        int64_t ix = (top - j + nx) % nx;
        if (ix >= lo && ix < hi)
            return true;
    }
    return false;
}

/* Pair kernel K(r) and dK/dr without the Coulomb constant (Å^-1, Å^-2), as frozen.py's
 * kernel_and_derivative: kind 0 direct erf(a r)/r, 1 published taper, 2 Ewald real space. */
inline void pairKernel(int kind, double r, double a, double beta, double taperCutoff, double& k, double& dk) {
    double gauss = TWO_OVER_SQRT_PI * a * std::exp(-(a * r) * (a * r));
    if (kind == 2) {
        k = (std::erfc(beta * r) - std::erfc(a * r)) / r;
        double screen = TWO_OVER_SQRT_PI * beta * std::exp(-(beta * r) * (beta * r));
        dk = (gauss - screen - k) / r;
        return;
    }
    double value = std::erf(a * r) / r;
    double slope = (gauss - value) / r;
    if (kind == 0) {
        k = value;
        dk = slope;
        return;
    }
    double x = r / taperCutoff;
    x = (x < 1.0 ? x : 1.0);
    double x4 = x * x * x * x;
    double taper = 1.0 + x4 * (-35.0 + x * (84.0 + x * (-70.0 + 20.0 * x)));
    double dtaper = 140.0 * x * x * x * (-1.0 + x * (3.0 - x * (3.0 - x))) / taperCutoff;
    k = value * taper;
    dk = slope * taper + value * dtaper;
}

/* Ewald kernel tables (optional): table index of each pair (-1: exact kernel), the tables'
 * coefficients back to back, where each starts, its 1/h and the common end smax (A^2). Pairs with
 * r^2 > smax (shells displaced far) use the exact kernel. */
struct Tables {
    const int32_t* index;
    const double* coefficients;
    const int64_t* start;
    const double* invh;
    double smax;
};

inline void kernelAt(int kind, double r2, double a, double beta, double taperCutoff, const Tables& t,
                     int64_t p, double& k, double& dkOverR) {
    if (t.index && t.index[p] >= 0 && r2 <= t.smax) {
        // value from the table (replaces the two erfc calls); slope from it and the two Gaussians
        // (the tabulated slope loses digits to cancellation in the cubic's coefficients)
        int table = t.index[p];
        double dg, r = std::sqrt(r2);
        tableEval(t.coefficients + t.start[table], t.invh[table], r2, k, dg);
        double gauss = TWO_OVER_SQRT_PI * (a * std::exp(-a * a * r2) - beta * std::exp(-beta * beta * r2));
        dkOverR = (gauss - k) / r2;
        return;
    }
    double r = std::sqrt(r2), dk;
    pairKernel(kind, r, a, beta, taperCutoff, k, dk);
    dkOverR = dk / r;
}

/* Kernel k[p] and g[p] = (dK/dr) q_a q_b v / r [3] of pairs (a[p], b[p]) with separation
 * v = vec[p] + d_b - d_a (d_a left out when aMoves is false: site a is a core). Parallel over pairs. */
void pairTerms(int kind, double beta, double taperCutoff, const Tables& t, int64_t count,
               const int64_t* a, const int64_t* b, const double* vec, const double* alpha,
               const double* qa, const double* qb, const double* d, bool aMoves, double* k,
               double* g, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t p = 0; p < count; p++) {
        const double *d_b = d + 3 * b[p], *d_a = d + 3 * a[p];
        double v[3];
        for (int c = 0; c < 3; c++)
            v[c] = vec[3 * p + c] + d_b[c] - (aMoves ? d_a[c] : 0.0);
        double dkr;
        kernelAt(kind, v[0] * v[0] + v[1] * v[1] + v[2] * v[2], alpha[p], beta, taperCutoff, t, p, k[p], dkr);
        double f = dkr * qa[a[p]] * qb[b[p]];
        for (int c = 0; c < 3; c++)
            g[3 * p + c] = f * v[c];
    }
}

}  // namespace

extern "C" {

/* rho[offset[s] + flat(ix, iy, iz)] += q[s] M(ux) M(uy) M(uz) for m sites with scaled fractional
 * coordinates u [m, 3] (u = frac * mesh). Each thread owns a contiguous range of x planes, so
 * every mesh point is summed by one thread in site order. */
void polarml_pme_spread(int64_t m, const double* u, const double* q, const int64_t* offset,
                        const int32_t* mesh, int order, double* rho, int threads) {
    const int64_t ny = mesh[1], nz = mesh[2], nx = mesh[0];
#pragma omp parallel num_threads(threads)
    {
        int t = PolarML::pqeq_detail::threadIndex(), nt = PolarML::pqeq_detail::threadCount();
        int64_t lo = nx * t / nt, hi = nx * (t + 1) / nt;
        SiteStencil s;
        for (int64_t i = 0; i < m; i++) {
            if (q[i] == 0.0 || !touchesPlanes(u[3 * i], nx, order, lo, hi))
                continue;
            siteStencil(u + 3 * i, mesh, order, s);
            double* base = rho + offset[i];
            for (int jx = 0; jx < order; jx++) {
                int64_t ix = s.index[0][jx];
                if (ix < lo || ix >= hi)
                    continue;
                double qx = q[i] * s.w[0][jx];
                for (int jy = 0; jy < order; jy++) {
                    double qxy = qx * s.w[1][jy];
                    double* row = base + (ix * ny + s.index[1][jy]) * nz;
                    for (int jz = 0; jz < order; jz++)
                        row[s.index[2][jz]] += qxy * s.w[2][jz];
                }
            }
        }
    }
}

/* value[s] = sum M M M phi at m sites; du[s] (if not null) = its gradient in scaled coordinates. */
void polarml_pme_gather(int64_t m, const double* u, const int64_t* offset, const int32_t* mesh,
                        int order, const double* phi, double* value, double* du, int threads) {
    const int64_t ny = mesh[1], nz = mesh[2];
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < m; i++) {
        SiteStencil s;
        siteStencil(u + 3 * i, mesh, order, s);
        const double* base = phi + offset[i];
        double v = 0, gx = 0, gy = 0, gz = 0;
        for (int jx = 0; jx < order; jx++) {
            double vy = 0, gyy = 0, gzy = 0;
            for (int jy = 0; jy < order; jy++) {
                const double* row = base + (s.index[0][jx] * ny + s.index[1][jy]) * nz;
                double vz = 0, dz = 0;
                for (int jz = 0; jz < order; jz++) {
                    double p = row[s.index[2][jz]];
                    vz += p * s.w[2][jz];
                    dz += p * s.dw[2][jz];
                }
                vy += vz * s.w[1][jy];
                gyy += vz * s.dw[1][jy];
                gzy += dz * s.w[1][jy];
            }
            v += vy * s.w[0][jx];
            gx += vy * s.dw[0][jx];
            gy += gyy * s.w[0][jx];
            gz += gzy * s.w[0][jx];
        }
        value[i] = v;
        if (du) {
            du[3 * i] = gx;
            du[3 * i + 1] = gy;
            du[3 * i + 2] = gz;
        }
    }
}

/* phi_hat[h, k] = sum_g influence[g, h, k] rho_hat[g, k] for G groups and nk complex points
 * (interleaved re/im doubles); the influence functions are real. */
void polarml_pme_convolve(int groups, int64_t nk, const double* influence, const double* rho_hat,
                          double* phi_hat, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t k = 0; k < nk; k++)
        for (int h = 0; h < groups; h++) {
            double re = 0, im = 0;
            for (int g = 0; g < groups; g++) {
                double f = influence[((int64_t) g * groups + h) * nk + k];
                re += f * rho_hat[2 * ((int64_t) g * nk + k)];
                im += f * rho_hat[2 * ((int64_t) g * nk + k) + 1];
            }
            phi_hat[2 * ((int64_t) h * nk + k)] = re;
            phi_hat[2 * ((int64_t) h * nk + k) + 1] = im;
        }
}

/* Intervals of the Ewald kernel table of pair exponent a (1/A) on s = r^2 in [0, smax] (A^2) at
 * step h a^2 = hAlpha2. */
int polarml_kernel_table_intervals(double a, double smax, double hAlpha2) {
    return PolarML::pqeq_detail::kernelTableIntervals(a, smax, hAlpha2);
}

/* Fill 4 (n + 1) coefficients of the table of [erf(a r) - erf(beta r)]/r (no Coulomb constant). */
void polarml_kernel_table_fill(double a, double beta, double smax, int n, double* coefficients) {
    PolarML::pqeq_detail::fillKernelTable(a, beta, 1.0, smax, n, coefficients);
}

/* Real-space pairs that involve shells at fixed cores (frozen.py FrozenCoreCoulomb._real_space):
 * core-shell pairs (core a, shell b, vector x_b - x_a at d = 0, exponent) and shell-shell pairs
 * (i, j, vector x_j - x_i at d = 0, exponent). Adds the potentials at cores phi_c [N] and shells
 * phi_s [N] and the shell gradient grad [N, 3] (no Coulomb constant), and the core side of the
 * core-shell pairs to gradCore [N, 3] when it is not null. Pair contributions are
 * computed in parallel into the workspace (4 max(ncs, nss) doubles, reused across calls: a fresh
 * buffer of this size costs its page faults), then accumulated serially in pair order. */
void polarml_real_space_shells(int kind, double beta, double taperCutoff, int64_t ncs,
                               const int64_t* csCore, const int64_t* csShell, const double* csVec,
                               const double* csAlpha, const int32_t* csTable, int64_t nss,
                               const int64_t* ssI, const int64_t* ssJ, const double* ssVec,
                               const double* ssAlpha, const int32_t* ssTable,
                               const double* coefficients, const int64_t* tableStart,
                               const double* tableInvh, double tableSmax, const double* qc,
                               const double* qs, const double* d, double* phiC, double* phiS,
                               double* grad, double* gradCore, double* work, int threads) {
    int64_t most = (ncs > nss ? ncs : nss);
    double *k = work, *g = work + most;  // caller's workspace of 4 max(ncs, nss) doubles
    Tables cs = {csTable, coefficients, tableStart, tableInvh, tableSmax};
    Tables ss = {ssTable, coefficients, tableStart, tableInvh, tableSmax};
    pairTerms(kind, beta, taperCutoff, cs, ncs, csCore, csShell, csVec, csAlpha, qc, qs, d, false,
              k, g, threads);
    for (int64_t p = 0; p < ncs; p++) {
        phiC[csCore[p]] += k[p] * qs[csShell[p]];
        phiS[csShell[p]] += k[p] * qc[csCore[p]];
        for (int a = 0; a < 3; a++)
            grad[3 * csShell[p] + a] += g[3 * p + a];
        if (gradCore)
            for (int a = 0; a < 3; a++)
                gradCore[3 * csCore[p] + a] -= g[3 * p + a];
    }
    pairTerms(kind, beta, taperCutoff, ss, nss, ssI, ssJ, ssVec, ssAlpha, qs, qs, d, true,
              k, g, threads);
    for (int64_t p = 0; p < nss; p++) {
        phiS[ssI[p]] += k[p] * qs[ssJ[p]];
        phiS[ssJ[p]] += k[p] * qs[ssI[p]];
        for (int a = 0; a < 3; a++) {
            grad[3 * ssJ[p] + a] += g[3 * p + a];
            grad[3 * ssI[p] + a] -= g[3 * p + a];
        }
    }
}

/* phi_c[i] += k[p] qc[j], phi_c[j] += k[p] qc[i] over the cached core-core pairs (serial). */
void polarml_core_core_potential(int64_t ncc, const int64_t* i, const int64_t* j, const double* k,
                                 const double* qc, double* phiC) {
    for (int64_t p = 0; p < ncc; p++) {
        phiC[i[p]] += k[p] * qc[j[p]];
        phiC[j[p]] += k[p] * qc[i[p]];
    }
}

}  // extern "C"

static struct PyModuleDef engineKernelsModule = {
    PyModuleDef_HEAD_INIT, "_engine_kernels",
    "Native CPU kernels of the PQEq engine's solver loop (called through ctypes).", -1, nullptr};

PyMODINIT_FUNC PyInit__engine_kernels(void) { return PyModule_Create(&engineKernelsModule); }
