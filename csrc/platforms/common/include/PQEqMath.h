#ifndef POLARML_PQEQMATH_H_
#define POLARML_PQEQMATH_H_

/* Internal helpers shared by the PQEqCalculator translation units: constants, Gaussian kernels,
 * B-splines and FFT sizes. Header-only, internal linkage. */

#include <chrono>
#include <cmath>
#include <limits>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace PolarML {
namespace pqeq_detail {

using std::numeric_limits;

/* Thread index inside an OpenMP parallel region (0 without OpenMP). */
inline int threadIndex() {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* Number of threads of the current team (1 outside a parallel region or without OpenMP). */
inline int threadCount() {
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}


const double PQEQ_LAMBDA = 0.462770;
const double SQRT_PI = 1.7724538509055160273;
const double TWO_OVER_SQRT_PI = 1.1283791670955125739;
const double INF = numeric_limits<double>::infinity();
const int PME_ORDER = 6;

// CODATA 2018, the same arithmetic as openmm_polarml/units.py
const double ELEMENTARY_CHARGE_C = 1.602176634e-19;
const double AVOGADRO_PER_MOL = 6.02214076e23;
const double VACUUM_PERMITTIVITY = 8.8541878128e-12;
const double EV_TO_KJ_PER_MOL = ELEMENTARY_CHARGE_C * AVOGADRO_PER_MOL / 1000.0;

/* Coulomb constant k_e in kJ/mol nm / e^2 (CODATA 2018, as openmm_polarml/units.py). */
inline double coulombConstantKJ() {
    double keEvA = ELEMENTARY_CHARGE_C / (4.0 * M_PI * VACUUM_PERMITTIVITY * 1e-10);
    return keEvA * EV_TO_KJ_PER_MOL * 0.1;
}

/* f(r) = erf(a r)/r and df/dr; a = inf gives the point-charge kernel 1/r. */
inline void erfOverR(double a, double r, double& f, double& df) {
    if (a == INF) {
        f = 1.0 / r;
        df = -f / r;
        return;
    }
    double x = a * r;
    if (x < 1e-2) {
        double x2 = x * x;
        f = a * TWO_OVER_SQRT_PI * (1.0 - x2 / 3.0 + x2 * x2 / 10.0 - x2 * x2 * x2 / 42.0 + x2 * x2 * x2 * x2 / 216.0);
        df = a * a * TWO_OVER_SQRT_PI * x * (-2.0 / 3.0 + 0.4 * x2 - x2 * x2 / 7.0 + x2 * x2 * x2 / 27.0);
        return;
    }
    double e = erf(x);
    f = e / r;
    df = (a * TWO_OVER_SQRT_PI * exp(-x * x) - f) / r;
}

inline double pairExponent(double a, double b) {
    if (a == INF && b == INF)
        return INF;
    if (a == INF)
        return sqrt(b);
    if (b == INF)
        return sqrt(a);
    return sqrt(a * b / (a + b));
}

inline int nextSmooth(int n) {
    while (true) {
        int m = n;
        for (int f : {2, 3, 5})
            while (m % f == 0)
                m /= f;
        if (m == 1)
            return n;
        n++;
    }
}

/* Largest class-pair screening exponent max_st gamma_st (gamma_st = min(alpha_st, beta)): the widest
 * reciprocal kernel exp(-k^2 / 4 gamma^2) the mesh or k-sum must resolve. It is beta unless every
 * pair is broader than the real-space split (e.g. NaCl, BaTiO3), then coarser meshes suffice. */
inline double maxScreening(const double* gamma, int count) {
    double g = 0.0;
    for (int i = 0; i < count; i++)
        g = (gamma[i] > g ? gamma[i] : g);
    return g;
}

/* Reciprocal cutoff of the explicit Ewald sum for screening gammaMax (1/nm) and accuracy delta. */
inline double ewaldKMax(double gammaMax, double delta) {
    return 2.0 * gammaMax * std::sqrt(-std::log(delta));
}

/* PME mesh points along a lattice vector of length L (nm) for screening beta (1/nm; the largest
 * class-pair gamma, see maxScreening) and relative accuracy delta: the calibrated spacing h with c_6 (beta h)^6 <= delta, c_6 = 4.0e-3, rounded up
 * to a 2-3-5-smooth size of at least 2p (docs/conventions.md; same rule as the PyTorch engine). */
inline int pmeMeshSize(double L, double beta, double delta) {
    double spacing = std::pow(delta / 4.0e-3, 1.0 / 6.0) / beta;
    int n = (int) std::ceil(L / spacing);
    return nextSmooth(n > 2 * PME_ORDER ? n : 2 * PME_ORDER);
}

/* w[j] = M_p(fr + j), dw[j] = M_p'(fr + j), j = 0..p-1 (cardinal B-spline of order p). */
inline void bspline(double fr, int p, double* w, double* dw) {
    double prev[16], cur[16];
    prev[0] = fr;
    prev[1] = 1.0 - fr;
    for (int n = 3; n <= p; n++) {
        for (int j = 0; j < n; j++) {
            double a = (j < n - 1 ? prev[j] : 0.0);
            double b = (j > 0 ? prev[j - 1] : 0.0);
            cur[j] = ((fr + j) * a + (n - fr - j) * b) / (n - 1);
        }
        if (n == p)
            for (int j = 0; j < n; j++)
                dw[j] = (j < n - 1 ? prev[j] : 0.0) - (j > 0 ? prev[j - 1] : 0.0);
        for (int j = 0; j < n; j++)
            prev[j] = cur[j];
    }
    for (int j = 0; j < p; j++)
        w[j] = prev[j];
}


/* In-place Cholesky factor (lower triangle, row-major m x m) of a symmetric matrix given by its lower
 * triangle; false if it is not positive definite. */
inline bool cholesky(std::vector<double>& A, int m) {
    for (int j = 0; j < m; j++) {
        double s = A[j * m + j];
        for (int k = 0; k < j; k++)
            s -= A[j * m + k] * A[j * m + k];
        if (!(s > 0))
            return false;
        double l = std::sqrt(s);
        A[j * m + j] = l;
        for (int i = j + 1; i < m; i++) {
            double v = A[i * m + j];
            for (int k = 0; k < j; k++)
                v -= A[i * m + k] * A[j * m + k];
            A[i * m + j] = v / l;
        }
    }
    return true;
}

/* x <- A^-1 x from the factor of cholesky(). */
inline void choleskySolve(const std::vector<double>& L, int m, double* x) {
    for (int i = 0; i < m; i++) {
        double v = x[i];
        for (int k = 0; k < i; k++)
            v -= L[i * m + k] * x[k];
        x[i] = v / L[i * m + i];
    }
    for (int i = m - 1; i >= 0; i--) {
        double v = x[i];
        for (int k = i + 1; k < m; k++)
            v -= L[k * m + i] * x[k];
        x[i] = v / L[i * m + i];
    }
}

inline double nowSeconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

} // namespace pqeq_detail
} // namespace PolarML

#endif
