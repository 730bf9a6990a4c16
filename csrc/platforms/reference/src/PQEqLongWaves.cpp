/* Long-wavelength Coulomb modes in the preconditioner of PQEqCalculator (PQEqPreconditioner.h; periodic
 * Ewald/PME).
 *
 * In a large periodic fragment (a crystal, an ionic liquid under one total-charge constraint) a charge
 * density wave of wave vector k costs 4 pi ke rho / k^2 on top of eta, so in a box of edge L the longest
 * waves are (L/a)^2 stiffer than the diagonal preconditioner says, and the iteration count grows like
 * N^(1/3). As in the Python engine (openmm_polarml/pqeq/preconditioners.py), the charge Hessian of those
 * fragments is modelled as M = D + U U^T with U_{i,k} = sqrt(w_k) (cos k.r_i, sin k.r_i) over the
 * half-space reciprocal vectors below a small cutoff, w_k = (8 pi ke / V) exp(-k^2 / 4 beta^2) / k^2, and
 * inverted on the fragment constraints by the Woodbury identity with the constrained inverse B of D:
 *     M^-1 = B - B U (I + U^T B U)^-1 U^T B.
 * M is symmetric positive definite for any positions, so it is always a valid preconditioner. Fragments
 * with a dense block (molecules) are left out: a neutral molecule cannot carry a long charge wave. */

#include "PQEqPreconditioner.h"
#include "PQEqKVectors.h"
#include "PQEqMath.h"
#include <algorithm>
#include <cmath>
#include <cstdio>

using namespace OpenMM;
using namespace PolarML;
using namespace PolarML::pqeq_detail;
using namespace std;

namespace {
const int MAX_WAVES = 128;                // half-space k vectors at most (cost: N x 2K per application)
const double SHORTEST_WAVELENGTH = 0.6;    // nm: shorter waves are left to the diagonal (stiffness ~ eta)
const int GRAM_ROW_CHUNK = 256;            // atoms per cache block of the Gram matrix
const int MIN_WAVE_ROWS = 64;              // smaller fragments gain nothing
} // namespace

void PQEqPreconditioner::buildLongWaves(const vector<Vec3>& pos, const PQEqBoxSetup& box) {
    waveCols = 0;
    waveVar.clear();
    waveU.clear();
    waveL.clear();
    if (!periodic || !(method == PQEqForce::Ewald || method == PQEqForce::PME))
        return;
    for (size_t f = 0; f < fragMembers.size(); f++)
        if (fragBlock[f] < 0)
            for (int k : fragMembers[f])
                waveVar.push_back(k);
    if ((int) waveVar.size() < MIN_WAVE_ROWS) {
        waveVar.clear();
        return;
    }
    // half-space k vectors below the cutoff
    const double volume = box.volume, beta = box.beta;
    double kcut = min(2 * M_PI / SHORTEST_WAVELENGTH, cbrt(12.0 * M_PI * M_PI * MAX_WAVES / volume));
    vector<Vec3> kv = halfSpaceKVectors(box.boxVec, box.recip, kcut);
    vector<double> root;
    for (const Vec3& k : kv) {
        double k2 = k.dot(k);
        root.push_back(sqrt(8 * M_PI * ke / (volume * k2) * exp(-k2 / (4 * beta * beta))));
    }
    int K = (int) kv.size();
    if (K == 0) {
        waveVar.clear();
        return;
    }
    int R = (int) waveVar.size(), C = 2 * K;
    waveCols = C;
    waveU.assign((size_t) C * R, 0.0);
    [[maybe_unused]] const int T = numThreads;
#pragma omp parallel for schedule(static) num_threads(T) if (T > 1)
    for (int r = 0; r < R; r++) {
        const Vec3& x = pos[eqAtoms[waveVar[r]]];
        for (int j = 0; j < K; j++) {
            double phase = kv[j].dot(x);
            waveU[(size_t) j * R + r] = root[j] * cos(phase);
            waveU[(size_t) (K + j) * R + r] = root[j] * sin(phase);
        }
    }
    // I + U^T B U with B = D^-1 minus the rank-one constraint correction of each fragment
    vector<double> invEta(R), Gm((size_t) C * C, 0.0);
    for (int r = 0; r < R; r++)
        invEta[r] = 1.0 / eta[eqAtoms[waveVar[r]]];
    for (int r0 = 0; r0 < R; r0 += GRAM_ROW_CHUNK) {
        int r1 = min(R, r0 + GRAM_ROW_CHUNK);
#pragma omp parallel for schedule(dynamic, 8) num_threads(T) if (T > 1)
        for (int a = 0; a < C; a++) {
            const double* ua = &waveU[(size_t) a * R];
            for (int b = 0; b <= a; b++) {
                const double* ub = &waveU[(size_t) b * R];
                double sum = 0;
                for (int r = r0; r < r1; r++)
                    sum += ua[r] * invEta[r] * ub[r];
                Gm[(size_t) a * C + b] += sum;
            }
        }
    }
    int r = 0;
    vector<double> v(C);
    for (size_t f = 0; f < fragMembers.size(); f++) {
        if (fragBlock[f] < 0) {
            int rows = (int) fragMembers[f].size();
            double s = 0;
            for (int c = 0; c < C; c++) {
                double sum = 0;
                for (int t = r; t < r + rows; t++)
                    sum += waveU[(size_t) c * R + t] * invEta[t];
                v[c] = sum;
            }
            for (int t = r; t < r + rows; t++)
                s += invEta[t];
            for (int a = 0; a < C; a++)
                for (int b = 0; b <= a; b++)
                    Gm[(size_t) a * C + b] -= v[a] * v[b] / s;
            r += rows;
        }
    }
    for (int a = 0; a < C; a++)
        Gm[(size_t) a * C + a] += 1.0;
    if (!cholesky(Gm, C)) {   // I + U^T B U is SPD in exact arithmetic; rounding: keep the diagonal
        waveCols = 0;
        waveVar.clear();
        waveU.clear();
        return;
    }
    waveL.swap(Gm);
    if (profile)
        fprintf(stderr, "PQEqForce profile: preconditioner with %d long waves over %d charges\n", K, R);
}

void PQEqPreconditioner::apply(const vector<double>& gp, vector<double>& z) const {
    if (splitCharge) {
        applySplitPreconditioner(gp, z);
        return;
    }
    applyBlockPreconditioner(gp, z);
    if (waveCols == 0)
        return;
    const int R = (int) waveVar.size(), C = waveCols;
    [[maybe_unused]] const int T = numThreads;
    vector<double> t(C), w(R);
    // t = U^T B g
#pragma omp parallel for schedule(static) num_threads(T) if (T > 1)
    for (int c = 0; c < C; c++) {
        const double* u = &waveU[(size_t) c * R];
        double sum = 0;
        for (int r = 0; r < R; r++)
            sum += u[r] * z[waveVar[r]];
        t[c] = sum;
    }
    choleskySolve(waveL, C, t.data());
    // w = U t on the wave rows, then z -= B w (B: diagonal, constrained per fragment)
#pragma omp parallel for schedule(static) num_threads(T) if (T > 1)
    for (int r0 = 0; r0 < R; r0 += GRAM_ROW_CHUNK) {
        int r1 = min(R, r0 + GRAM_ROW_CHUNK);
        for (int c = 0; c < C; c++) {
            const double* u = &waveU[(size_t) c * R];
            for (int r = r0; r < r1; r++)
                w[r] += u[r] * t[c];
        }
    }
    int r = 0;
    for (size_t f = 0; f < fragMembers.size(); f++) {
        if (fragBlock[f] >= 0)
            continue;
        int rows = (int) fragMembers[f].size();
        double sw = 0, s = 0;
        for (int k = r; k < r + rows; k++) {
            double ie = 1.0 / eta[eqAtoms[waveVar[k]]];
            sw += w[k] * ie;
            s += ie;
        }
        for (int k = r; k < r + rows; k++) {
            double ie = 1.0 / eta[eqAtoms[waveVar[k]]];
            z[waveVar[k]] -= ie * (w[k] - sw / s);
        }
        r += rows;
    }
}
