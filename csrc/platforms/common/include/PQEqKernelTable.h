#ifndef POLARML_PQEQKERNELTABLE_H_
#define POLARML_PQEQKERNELTABLE_H_

/* Cubic Hermite tables of the Ewald real-space kernel between Gaussian charges, in s = r^2.
 * Shared by the OpenMM plugin (nm, with the Coulomb constant) and the engine's solver kernels
 * (Angstrom, ke = 1). Header-only, internal linkage. */

#include <algorithm>
#include <cmath>
#include <vector>

#include "PQEqMath.h"

namespace PolarML {
namespace pqeq_detail {

/* Tabulation step in s = r^2: h a^2 <= 0.004 keeps the cubic Hermite error of the value near 1e-13 and of
 * its derivative near 1e-10 (relative to the kernel's scale) for the sharpest pair exponent a. */
const double TABLE_H_ALPHA2 = 0.004;
const int TABLE_MAX_INTERVALS = 1 << 18;

/* g(s) = ke [erf(a r) - erf(b r)] / r and dg/ds, s = r^2 (a may be inf: ke erfc(b r)/r is not tabulated). */
inline void ewaldKernelS(double a, double b, double ke, double s, double& g, double& dg) {
    double r = std::sqrt(s);
    double fa, dfa, fb, dfb;
    erfOverR(a, r, fa, dfa);
    erfOverR(b, r, fb, dfb);
    g = ke * (fa - fb);
    // d/ds = (1/2r) d/dr; near r = 0 use the series of erf(x)/x in s
    double x2 = std::max(a * a, b * b) * s;
    if (x2 < 1e-2) {
        // erf(c r)/r = (2c/sqrt(pi)) sum_k (-1)^k (c^2 s)^k / (k! (2k+1))
        const double coef[6] = {1.0, -1.0 / 3.0, 1.0 / 10.0, -1.0 / 42.0, 1.0 / 216.0, -1.0 / 1320.0};
        double da = 0, db = 0;
        double a2 = a * a, b2 = b * b, pa = 1, pb = 1;
        for (int k = 1; k < 6; k++) {
            da += k * coef[k] * pa * a2;
            db += k * coef[k] * pb * b2;
            pa *= a2 * s;
            pb *= b2 * s;
        }
        dg = ke * TWO_OVER_SQRT_PI * (a * da - b * db);
    }
    else
        dg = ke * (dfa - dfb) / (2 * r);
}

/* A kernel table on [0, smax]: per interval the coefficients c0..c3 of the cubic in t = s/h - i. */
struct KernelTable {
    double invh = 0.0;
    int n = 0;
    std::vector<double> c;
};

/* Number of intervals of the table of exponent a on [0, smax] at step h a^2 = hAlpha2 (the error of
 * the value scales as hAlpha2^4, of the slope as hAlpha2^3). */
inline int kernelTableIntervals(double a, double smax, double hAlpha2 = TABLE_H_ALPHA2) {
    return (int) std::min((double) TABLE_MAX_INTERVALS, std::max(64.0, std::ceil(smax * a * a / hAlpha2)));
}

/* Coefficients (4 per interval, n + 1 intervals: s = smax and rounding stay inside) of the table of
 * g(s) = ke [erf(a r) - erf(beta r)]/r with n intervals on [0, smax]. */
inline void fillKernelTable(double a, double beta, double ke, double smax, int n, double* c) {
    double h = smax / n;
    int m = n + 1;
    std::vector<double> g(m + 1), dg(m + 1);
    for (int i = 0; i <= m; i++)
        ewaldKernelS(a, beta, ke, i * h, g[i], dg[i]);
    for (int i = 0; i < m; i++) {
        double m0 = h * dg[i], m1 = h * dg[i + 1];
        c[4 * i] = g[i];
        c[4 * i + 1] = m0;
        c[4 * i + 2] = 3 * (g[i + 1] - g[i]) - 2 * m0 - m1;
        c[4 * i + 3] = 2 * (g[i] - g[i + 1]) + m0 + m1;
    }
}

inline KernelTable buildKernelTable(double a, double beta, double ke, double smax) {
    KernelTable T;
    T.n = kernelTableIntervals(a, smax);
    T.invh = 1.0 / (smax / T.n);
    T.c.resize(4 * (T.n + 1));
    fillKernelTable(a, beta, ke, smax, T.n, T.c.data());
    return T;
}

/* g(s) and dg/ds from a table (s must lie in [0, smax]). */
inline void tableEval(const double* c, double invh, double s, double& g, double& dg) {
    double u = s * invh;
    int i = (int) u;
    double t = u - i;
    const double* ci = c + 4 * i;
    g = ci[0] + t * (ci[1] + t * (ci[2] + t * ci[3]));
    dg = (ci[1] + t * (2 * ci[2] + 3 * t * ci[3])) * invh;
}

} // namespace pqeq_detail
} // namespace PolarML

#endif
