/* Reciprocal-space sums of the Coulomb operator (PQEqCoulombOperator.h): explicit Ewald (class-screened
 * structure factors) and smooth PME (Essmann 1995; cardinal B-splines of order 6 with the Euler
 * exponential-spline modulus correction). Every group of classes with identical screening rows gamma_st
 * has its own charge mesh; two real meshes travel through one complex FFT (real and imaginary parts) and
 * are separated in k-space by the Hermitian symmetry. B-spline weights of the cores are computed once
 * per solve. */

#include "PQEqCoulombOperator.h"
#include "PQEqMath.h"
#include <algorithm>
#include <cmath>

using namespace OpenMM;
using namespace PolarML;
using namespace PolarML::pqeq_detail;
using namespace std;

void PQEqCoulombOperator::reciprocalEwald(const vector<Vec3>& x, const vector<double>& Q, vector<double>& phi, vector<Vec3>& grad) {
    const int G = numGroups;
    const int K = (int) kvecs.size();
    // screened structure factors P_g(k) = kfac sum_h w_gh(k) S_h(k), each k summed over sites in order
    auto structure = [&](int kk, double* c, double* s, double* Sr, double* Si, double* Pr, double* Pi) {
        const Vec3& k = kvecs[kk];
        for (int g = 0; g < G; g++)
            Sr[g] = Si[g] = 0.0;
        for (int a = 0; a < nS; a++) {
            double arg = k.dot(x[a]);
            c[a] = cos(arg);
            s[a] = sin(arg);
            Sr[siteGroup[a]] += Q[a] * c[a];
            Si[siteGroup[a]] += Q[a] * s[a];
        }
        double k2 = k.dot(k);
        for (int g = 0; g < G; g++) {
            Pr[g] = Pi[g] = 0;
            for (int h = 0; h < G; h++) {
                double gm = groupGamma[g * G + h];
                double w = (gm == INF ? 1.0 : exp(-k2 / (4 * gm * gm)));
                Pr[g] += w * Sr[h];
                Pi[g] += w * Si[h];
            }
            Pr[g] *= kfac[kk];
            Pi[g] *= kfac[kk];
        }
    };
    if (numThreads <= 1 || K < 64) {
        vector<double> c(nS), s(nS);
        vector<double> Sr(G), Si(G), Pr(G), Pi(G);
        for (int kk = 0; kk < K; kk++) {
            const Vec3& k = kvecs[kk];
            structure(kk, c.data(), s.data(), Sr.data(), Si.data(), Pr.data(), Pi.data());
            for (int a = 0; a < nS; a++) {
                int g = siteGroup[a];
                phi[a] += c[a] * Pr[g] + s[a] * Pi[g];
                grad[a] += k * (Q[a] * (c[a] * Pi[g] - s[a] * Pr[g]));
            }
        }
        return;
    }
    // threads: structure factors in parallel over k, then every site adds its k terms in the serial order
    // (its phases recomputed: bitwise the serial result)
    [[maybe_unused]] const int T = numThreads;
    ewaldP.resize((size_t) K * 2 * G);
#pragma omp parallel num_threads(T)
    {
        vector<double> c(nS), s(nS), Sr(G), Si(G);
#pragma omp for schedule(static)
        for (int kk = 0; kk < K; kk++)
            structure(kk, c.data(), s.data(), Sr.data(), Si.data(), &ewaldP[(size_t) kk * 2 * G], &ewaldP[(size_t) kk * 2 * G + G]);
#pragma omp for schedule(static)
        for (int a = 0; a < nS; a++) {
            int g = siteGroup[a];
            double pa = phi[a];
            Vec3 ga = grad[a];
            for (int kk = 0; kk < K; kk++) {
                const Vec3& k = kvecs[kk];
                double arg = k.dot(x[a]);
                double ca = cos(arg), sa = sin(arg);
                double Pr = ewaldP[(size_t) kk * 2 * G + g], Pi = ewaldP[(size_t) kk * 2 * G + G + g];
                pa += ca * Pr + sa * Pi;
                ga += k * (Q[a] * (ca * Pi - sa * Pr));
            }
            phi[a] = pa;
            grad[a] = ga;
        }
    }
}

namespace {

/* Stockham autosort FFT of one line, unnormalised, exp(sign 2 pi i jk/n), radices 4, 2, 3, 5 with
 * hand-written butterflies in real arithmetic (std::complex products go through NaN-checking library
 * calls without -ffast-math). tw[k] = exp(+2 pi i k/n); sign -1 uses the conjugates. */
void stockham(complex<double>* xc, complex<double>* yc, int n, int sign, const vector<complex<double> >& twc) {
    double* x = reinterpret_cast<double*>(xc);
    double* y = reinterpret_cast<double*>(yc);
    const double* tw = reinterpret_cast<const double*>(twc.data());
    const double sg = (sign > 0 ? 1.0 : -1.0);
    int n0 = n, s = 1;
    bool inX = true;
    while (n0 > 1) {
        int p = (n0 % 4 == 0 ? 4 : (n0 % 2 == 0 ? 2 : (n0 % 3 == 0 ? 3 : (n0 % 5 == 0 ? 5 : n0))));
        int m = n0 / p;
        const double* src = inX ? x : y;
        double* dst = inX ? y : x;
        int step = n / n0;
        for (int q = 0; q < m; q++) {
            // twiddles w^t, w = exp(sign 2 pi i q / n0)
            double wr[8], wi[8];
            for (int t = 1; t < p; t++) {
                int k = (q * t * step) % n;
                wr[t] = tw[2 * k];
                wi[t] = sg * tw[2 * k + 1];
            }
            for (int s_ = 0; s_ < s; s_++) {
                double ar[8], ai[8], br[8], bi[8];
                for (int r = 0; r < p; r++) {
                    size_t k = 2 * (size_t) (s_ + s * (q + m * r));
                    ar[r] = src[k];
                    ai[r] = src[k + 1];
                }
                if (p == 4) {
                    double b0r = ar[0] + ar[2], b0i = ai[0] + ai[2];
                    double b1r = ar[0] - ar[2], b1i = ai[0] - ai[2];
                    double b2r = ar[1] + ar[3], b2i = ai[1] + ai[3];
                    double dr = ar[1] - ar[3], di = ai[1] - ai[3];
                    double b3r = -sg * di, b3i = sg * dr;   // (a1 - a3) * (sign i)
                    br[0] = b0r + b2r; bi[0] = b0i + b2i;
                    br[2] = b0r - b2r; bi[2] = b0i - b2i;
                    br[1] = b1r + b3r; bi[1] = b1i + b3i;
                    br[3] = b1r - b3r; bi[3] = b1i - b3i;
                }
                else if (p == 2) {
                    br[0] = ar[0] + ar[1]; bi[0] = ai[0] + ai[1];
                    br[1] = ar[0] - ar[1]; bi[1] = ai[0] - ai[1];
                }
                else if (p == 3) {
                    const double h = 0.86602540378443864676 * sg;
                    double sr = ar[1] + ar[2], si = ai[1] + ai[2];
                    double dr = ar[1] - ar[2], di = ai[1] - ai[2];
                    double tr = ar[0] - 0.5 * sr, ti = ai[0] - 0.5 * si;
                    br[0] = ar[0] + sr; bi[0] = ai[0] + si;
                    br[1] = tr - h * di; bi[1] = ti + h * dr;
                    br[2] = tr + h * di; bi[2] = ti - h * dr;
                }
                else {
                    // generic radix (5 or a larger prime)
                    for (int t = 0; t < p; t++) {
                        double accr = ar[0], acci = ai[0];
                        for (int r = 1; r < p; r++) {
                            int k = ((r * t) % p) * (n / p);
                            double cr = tw[2 * k], ci = sg * tw[2 * k + 1];
                            accr += ar[r] * cr - ai[r] * ci;
                            acci += ar[r] * ci + ai[r] * cr;
                        }
                        br[t] = accr;
                        bi[t] = acci;
                    }
                }
                size_t k0 = 2 * (size_t) (s_ + s * p * q);
                dst[k0] = br[0];
                dst[k0 + 1] = bi[0];
                for (int t = 1; t < p; t++) {
                    size_t k = k0 + 2 * (size_t) s * t;
                    dst[k] = br[t] * wr[t] - bi[t] * wi[t];
                    dst[k + 1] = br[t] * wi[t] + bi[t] * wr[t];
                }
            }
        }
        n0 = m;
        s *= p;
        inX = !inX;
    }
    if (!inX)
        for (int k = 0; k < 2 * n; k++)
            x[k] = y[k];
}

} // namespace

void PQEqCoulombOperator::fft3d(vector<cplx>& data, int sign) {
    // every line is transformed by one thread with the serial arithmetic: the result does not depend on
    // the thread count
    const int n0 = ngrid[0], n1 = ngrid[1], n2 = ngrid[2];
    const int nmax = max(n0, max(n1, n2));
    const int B = 8;   // lines gathered together along the strided axes
    [[maybe_unused]] const int T = numThreads;
    const size_t plane = (size_t) n1 * n2;
    const int nBlock2 = (n2 + B - 1) / B;
    const long nPlaneBlocks = (long) ((plane + B - 1) / B);
#pragma omp parallel num_threads(T) if (T > 1)
    {
        vector<cplx> lines((size_t) B * nmax), work(nmax);
        // last axis: contiguous lines
#pragma omp for schedule(static)
        for (int i = 0; i < n0 * n1; i++)
            stockham(&data[(size_t) i * n2], work.data(), n2, sign, twiddle[2]);
        // middle axis (stride n2): blocks of B adjacent lines
#pragma omp for schedule(static)
        for (int ib = 0; ib < n0 * nBlock2; ib++) {
            int i0 = ib / nBlock2, i2 = (ib % nBlock2) * B;
            int nb = min(B, n2 - i2);
            size_t base = (size_t) i0 * n1 * n2 + i2;
            for (int k = 0; k < n1; k++)
                for (int b = 0; b < nb; b++)
                    lines[(size_t) b * nmax + k] = data[base + (size_t) k * n2 + b];
            for (int b = 0; b < nb; b++)
                stockham(&lines[(size_t) b * nmax], work.data(), n1, sign, twiddle[1]);
            for (int k = 0; k < n1; k++)
                for (int b = 0; b < nb; b++)
                    data[base + (size_t) k * n2 + b] = lines[(size_t) b * nmax + k];
        }
        // first axis (stride n1 n2)
#pragma omp for schedule(static)
        for (long ib = 0; ib < nPlaneBlocks; ib++) {
            size_t i = (size_t) ib * B;
            int nb = (int) min((size_t) B, plane - i);
            for (int k = 0; k < n0; k++)
                for (int b = 0; b < nb; b++)
                    lines[(size_t) b * nmax + k] = data[i + b + (size_t) k * plane];
            for (int b = 0; b < nb; b++)
                stockham(&lines[(size_t) b * nmax], work.data(), n0, sign, twiddle[0]);
            for (int k = 0; k < n0; k++)
                for (int b = 0; b < nb; b++)
                    data[i + b + (size_t) k * plane] = lines[(size_t) b * nmax + k];
        }
    }
}

void PQEqCoulombOperator::setupPME() {
    setupPmeMesh(ewaldTolerance);
    for (int k = 0; k < 3; k++) {
        int ng = ngrid[k];
        twiddle[k].resize(ng);
        for (int m = 0; m < ng; m++)
            twiddle[k][m] = cplx(cos(2 * M_PI * m / ng), sin(2 * M_PI * m / ng));
    }
    // influence function, one per distinct screening exponent
    int G = numGroups;
    vector<double> distinct;
    gammaIndex.assign(G * G, 0);
    for (int gh = 0; gh < G * G; gh++) {
        size_t j = 0;
        while (j < distinct.size() && distinct[j] != groupGamma[gh])
            j++;
        if (j == distinct.size())
            distinct.push_back(groupGamma[gh]);
        gammaIndex[gh] = (int) j;
    }
    pmeInfluence(ke, distinct, influence);
    size_t total = (size_t) ngrid[0] * ngrid[1] * ngrid[2];
    int nPacked = (G + 1) / 2;
    meshes.assign(nPacked, vector<cplx>(total));
    potMeshes.assign(nPacked, vector<cplx>(total));
    coreSplinesValid = false;
}

void PQEqCoulombOperator::reciprocalPME(const vector<Vec3>& x, const vector<double>& Q, vector<double>& phi, vector<Vec3>& grad) {
    const int p = PME_ORDER;
    int G = numGroups;
    int n0 = ngrid[0], n1 = ngrid[1], n2 = ngrid[2];
    size_t total = (size_t) n0 * n1 * n2;
    size_t per = 3 * p;
    splineIdx.resize(nS * per);
    splineW.resize(nS * per);
    splineDW.resize(nS * per);
    [[maybe_unused]] const int T = numThreads;
    // B-spline weights and mesh indices (cores: once per solve; shells: every evaluation)
#pragma omp parallel for num_threads(T) if (T > 1) schedule(static)
    for (int a = (coreSplinesValid ? N : 0); a < nS; a++)
        for (int dd = 0; dd < 3; dd++) {
            double f = x[a].dot(recip[dd]);
            f -= floor(f);
            double uu = f * ngrid[dd];
            int iu = (int) floor(uu);
            double fr = uu - iu;
            bspline(fr, p, &splineW[a * per + dd * p], &splineDW[a * per + dd * p]);
            int n = ngrid[dd];
            for (int j = 0; j < p; j++) {
                int k = (iu - j) % n;
                splineIdx[a * per + dd * p + j] = (k < 0 ? k + n : k);
            }
        }
    coreSplinesValid = true;
    // spread: group g goes to the real (even g) or imaginary (odd g) part of packed mesh g/2. With threads,
    // thread t owns the mesh planes k0 in [n0 t/T, n0 (t+1)/T) and adds the sites' contributions to them in
    // the serial order (bitwise the serial result, no write conflicts)
    for (auto& m : meshes)
        fill(m.begin(), m.end(), cplx(0, 0));
#pragma omp parallel num_threads(T) if (T > 1)
    {
        int t = threadIndex(), nt = threadCount();
        int lo = n0 * t / nt, hi = n0 * (t + 1) / nt;
        for (int a = 0; a < nS; a++) {
            if (Q[a] == 0)
                continue;
            int g = siteGroup[a];
            double* mesh = reinterpret_cast<double*>(meshes[g / 2].data()) + (g % 2);
            const double* w0 = &splineW[a * per];
            const double* w1 = w0 + p;
            const double* w2 = w1 + p;
            const int* k0 = &splineIdx[a * per];
            const int* k1 = k0 + p;
            const int* k2 = k1 + p;
            for (int j0 = 0; j0 < p; j0++) {
                if (k0[j0] < lo || k0[j0] >= hi)
                    continue;
                for (int j1 = 0; j1 < p; j1++) {
                    double w01 = Q[a] * w0[j0] * w1[j1];
                    double* row = mesh + 2 * ((size_t) k0[j0] * n1 + k1[j1]) * n2;
                    for (int j2 = 0; j2 < p; j2++)
                        row[2 * k2[j2]] += w01 * w2[j2];
                }
            }
        }
    }
    const int nPacked = (G + 1) / 2;
    for (int m = 0; m < nPacked; m++)
        fft3d(meshes[m], 1);
    // convolution: rho_g(k) from the packed spectra, pot_g = sum_h I_gh rho_h, packed again
    const cplx I(0, 1);
#pragma omp parallel num_threads(T) if (T > 1)
    {
        vector<cplx> rho(G);
#pragma omp for schedule(static)
        for (int m0 = 0; m0 < n0; m0++) {
            int r0 = (n0 - m0) % n0;
            for (int m1 = 0; m1 < n1; m1++) {
                int r1 = (n1 - m1) % n1;
                for (int m2 = 0; m2 < n2; m2++) {
                    int r2 = (n2 - m2) % n2;
                    size_t idx = ((size_t) m0 * n1 + m1) * n2 + m2;
                    size_t ridx = ((size_t) r0 * n1 + r1) * n2 + r2;
                    for (int m = 0; m < nPacked; m++) {
                        cplx z = meshes[m][idx], zr = conj(meshes[m][ridx]);
                        rho[2 * m] = 0.5 * (z + zr);
                        if (2 * m + 1 < G)
                            rho[2 * m + 1] = -0.5 * I * (z - zr);
                    }
                    for (int m = 0; m < nPacked; m++) {
                        cplx acc(0, 0);
                        for (int gg = 2 * m; gg < min(G, 2 * m + 2); gg++) {
                            cplx pot(0, 0);
                            for (int h = 0; h < G; h++)
                                pot += influence[gammaIndex[gg * G + h] * total + idx] * rho[h];
                            acc += (gg % 2 ? I * pot : pot);
                        }
                        potMeshes[m][idx] = acc;
                    }
                }
            }
        }
    }
    for (int m = 0; m < nPacked; m++)
        fft3d(potMeshes[m], -1);
    // gather potentials and gradients (one site per iteration: independent of the thread count)
#pragma omp parallel for num_threads(T) if (T > 1) schedule(static)
    for (int a = 0; a < nS; a++) {
        int g = siteGroup[a];
        const double* mesh = reinterpret_cast<const double*>(potMeshes[g / 2].data()) + (g % 2);
        const double* w0 = &splineW[a * per];
        const double* w1 = w0 + p;
        const double* w2 = w1 + p;
        const double* d0 = &splineDW[a * per];
        const double* d1 = d0 + p;
        const double* d2 = d1 + p;
        const int* k0 = &splineIdx[a * per];
        const int* k1 = k0 + p;
        const int* k2 = k1 + p;
        double v = 0, g0 = 0, g1 = 0, g2 = 0;
        for (int j0 = 0; j0 < p; j0++)
            for (int j1 = 0; j1 < p; j1++) {
                const double* row = mesh + 2 * ((size_t) k0[j0] * n1 + k1[j1]) * n2;
                double s = 0, sd = 0;
                for (int j2 = 0; j2 < p; j2++) {
                    double val = row[2 * k2[j2]];
                    s += val * w2[j2];
                    sd += val * d2[j2];
                }
                v += s * w0[j0] * w1[j1];
                g0 += s * d0[j0] * w1[j1];
                g1 += s * w0[j0] * d1[j1];
                g2 += sd * w0[j0] * w1[j1];
            }
        phi[a] += v;
        // du_d/dx = n_d * recip_d
        grad[a] += (recip[0] * (g0 * n0) + recip[1] * (g1 * n1) + recip[2] * (g2 * n2)) * Q[a];
    }
}
