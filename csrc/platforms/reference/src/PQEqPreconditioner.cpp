/* Preconditioner of the charge/shell solver of PQEqCalculator (PQEqPreconditioner.h).
 *
 * Fragments (molecules, ions) of at most MAX_BLOCK_ATOMS atoms get a dense block: the exact Hessian of
 * E(q, d) restricted to the fragment's own variables and its own site pairs (plain Gaussian Coulomb
 * kernels ke erf(a r)/r at minimum-image distances, eta on the charges, springs on the shells), solved
 * with the fragment's total-charge constraint (Cholesky, then the constrained correction). This
 * captures the strong intramolecular couplings (in water the O-H core-core coupling is 0.6 eta and
 * the shell-core curvature is comparable to the O spring), which dominate the convergence of a
 * diagonal preconditioner. Larger fragments keep the diagonal (eta, Ks) preconditioner; a block that
 * is not positive definite falls back to it as well. The preconditioner only changes the path of the
 * solver, never its converged answer. The long-wavelength Coulomb modes of large periodic fragments are
 * added in PQEqLongWaves.cpp. The preconditioner is kept while no atom has moved far from where it was
 * built (the solver's curvature memory lives as long as it). */

#include "PQEqPreconditioner.h"
#include "PQEqMath.h"
#include <algorithm>
#include <cmath>
#include <cstdlib>

using namespace OpenMM;
using namespace PolarML;
using namespace PolarML::pqeq_detail;
using namespace std;

namespace {

const int MAX_BLOCK_ATOMS = 64;
/* The preconditioner is rebuilt once an atom has moved this far (nm) from where it was built. Any stored
 * one is symmetric positive definite, so only the iteration count depends on this. */
const double PRECONDITIONER_REUSE_DISTANCE = 0.03;

/* Radial derivatives of K(r) = ke erf(a r)/r: value f, f' and f''. a = inf: point charges. */
void gaussianKernelDerivatives(double a, double r, double ke, double& f, double& f1, double& f2) {
    if (a == INF) {
        f = ke / r;
        f1 = -f / r;
        f2 = 2 * f / (r * r);
        return;
    }
    double x = a * r;
    if (x < 1e-3) {
        f = ke * a * TWO_OVER_SQRT_PI * (1 - x * x / 3);
        f1 = ke * a * a * a * TWO_OVER_SQRT_PI * (-2.0 / 3.0) * r;
        f2 = ke * a * a * a * TWO_OVER_SQRT_PI * (-2.0 / 3.0);
        return;
    }
    double e1 = a * TWO_OVER_SQRT_PI * exp(-x * x);
    double fr = erf(x) / r;
    double d1 = (e1 - fr) / r;
    f = ke * fr;
    f1 = ke * d1;
    f2 = ke * (-2 * a * a * e1 - 2 * d1 / r);
}

/* Hessian of K(|r|) with respect to the vector r: f'' rr/r^2 + (f'/r)(1 - rr/r^2); f'(r)/r -> f''(0) at 0. */
void kernelHessian(const Vec3& dr, double r, double f1, double f2, double Hm[3][3]) {
    double t = (r > 0 ? f1 / r : f2);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            double rr = (r > 0 ? dr[i] * dr[j] / (r * r) : 0.0);
            Hm[i][j] = f2 * rr + t * ((i == j ? 1.0 : 0.0) - rr);
        }
}

} // namespace

PQEqPreconditioner::PQEqPreconditioner() : ke(coulombConstantKJ()), profile(getenv("POLARML_PQEQ_PROFILE") != NULL) {}

void PQEqPreconditioner::setup(const PQEqParticleLayout& layout) {
    static_cast<PQEqParticleLayout&>(*this) = layout;
    valid = false;
}

bool PQEqPreconditioner::stale(const vector<Vec3>& pos, const PQEqBoxSetup& box, bool bondsChanged) const {
    if (splitCharge && bondsChanged)   // a different set of bond variables
        return true;
    if (!valid || (int) builtPos.size() != N)
        return true;
    double moved2 = 0;
    for (int i = 0; i < N; i++) {
        Vec3 dr = pos[i] - builtPos[i];
        if (periodic)
            dr = box.minimumImage(dr);
        moved2 = max(moved2, dr.dot(dr));
    }
    return moved2 > PRECONDITIONER_REUSE_DISTANCE * PRECONDITIONER_REUSE_DISTANCE;
}

void PQEqPreconditioner::build(const vector<Vec3>& pos, const vector<double>& q, const vector<Vec3>& d,
                               const PQEqBoxSetup& box) {
    builtPos = pos;
    valid = true;
    blocks.clear();
    fragBlock.assign(fragMembers.size(), -1);
    polInBlock.assign(P, 0);
    vector<int> polIndex(N, -1);
    for (int k = 0; k < P; k++)
        polIndex[polAtoms[k]] = k;
    for (size_t f = 0; f < fragMembers.size(); f++) {
        const vector<int>& members = fragMembers[f];
        if ((int) members.size() > MAX_BLOCK_ATOMS)
            continue;
        PrecondBlock B;
        // variables: charges of the members, then the shells of the polarizable members
        vector<int> atoms, qLocal, dLocal;
        for (int k : members) {
            atoms.push_back(eqAtoms[k]);
            B.vars.push_back(k);
        }
        B.nq = (int) B.vars.size();
        for (int i : atoms)
            if (polIndex[i] >= 0)
                for (int c = 0; c < 3; c++)
                    B.vars.push_back(nq + 3 * polIndex[i] + c);
        int m = (int) B.vars.size();
        B.m = m;
        vector<double>& H = B.L;
        H.assign(m * m, 0.0);
        // sites of the fragment: (site index, local charge variable or -1, local first shell variable or -1)
        struct Site { int s, qv, dv; Vec3 x; double Q; };
        vector<Site> sites;
        int dv = B.nq;
        for (int n = 0; n < (int) atoms.size(); n++) {
            int i = atoms[n];
            H[n * m + n] = eta[i];
            sites.push_back(Site{i, n, -1, pos[i], q[i] + Z[i]});
            if (polIndex[i] >= 0) {
                for (int c = 0; c < 3; c++)
                    H[(dv + c) * m + dv + c] = Ks[i];
                sites.push_back(Site{N + polIndex[i], -1, dv, pos[i] + d[i], -Z[i]});
                dv += 3;
            }
        }
        for (size_t sa = 0; sa < sites.size(); sa++)
            for (size_t sb = sa + 1; sb < sites.size(); sb++) {
                const Site& A = sites[sa];
                const Site& Bs = sites[sb];
                if (binary_search(siteExclusions[A.s].begin(), siteExclusions[A.s].end(), Bs.s))
                    continue;
                Vec3 dr = Bs.x - A.x;
                if (periodic)
                    dr = box.minimumImage(dr);
                double r = sqrt(dr.dot(dr));
                double a = pairAlpha[siteClass[A.s] * numClasses + siteClass[Bs.s]];
                if (r == 0 && a == INF)
                    continue;
                double f0, f1, f2, Hm[3][3];
                gaussianKernelDerivatives(a, r, ke, f0, f1, f2);
                kernelHessian(dr, r, f1, f2, Hm);
                Vec3 gradK = (r > 0 ? dr * (f1 / r) : Vec3());   // dK/dx_b
                if (A.qv >= 0 && Bs.qv >= 0) {
                    H[A.qv * m + Bs.qv] += f0;
                    H[Bs.qv * m + A.qv] += f0;
                }
                // charge of one site with the position of the other
                if (A.qv >= 0 && Bs.dv >= 0)
                    for (int c = 0; c < 3; c++) {
                        H[A.qv * m + Bs.dv + c] += Bs.Q * gradK[c];
                        H[(Bs.dv + c) * m + A.qv] += Bs.Q * gradK[c];
                    }
                if (Bs.qv >= 0 && A.dv >= 0)
                    for (int c = 0; c < 3; c++) {
                        H[Bs.qv * m + A.dv + c] -= A.Q * gradK[c];
                        H[(A.dv + c) * m + Bs.qv] -= A.Q * gradK[c];
                    }
                // positions: Q_a Q_b Hess on both diagonal blocks, minus it off the diagonal
                double QQ = A.Q * Bs.Q;
                for (int i = 0; i < 3; i++)
                    for (int j = 0; j < 3; j++) {
                        double h = QQ * Hm[i][j];
                        if (A.dv >= 0)
                            H[(A.dv + i) * m + A.dv + j] += h;
                        if (Bs.dv >= 0)
                            H[(Bs.dv + i) * m + Bs.dv + j] += h;
                        if (A.dv >= 0 && Bs.dv >= 0) {
                            H[(A.dv + i) * m + Bs.dv + j] -= h;
                            H[(Bs.dv + i) * m + A.dv + j] -= h;
                        }
                    }
            }
        if (!cholesky(H, m))
            continue;
        B.Ha.assign(m, 0.0);
        for (int n = 0; n < B.nq; n++)
            B.Ha[n] = 1.0;
        choleskySolve(H, m, B.Ha.data());
        B.aHa = 0;
        for (int n = 0; n < B.nq; n++)
            B.aHa += B.Ha[n];
        fragBlock[f] = (int) blocks.size();
        for (int i : atoms)
            if (polIndex[i] >= 0)
                polInBlock[polIndex[i]] = 1;
        blocks.push_back(B);
    }
    buildLongWaves(pos, box);
}

void PQEqPreconditioner::applyBlockPreconditioner(const vector<double>& gp, vector<double>& z) const {
    int n = nq + 3 * P;
    z.resize(n);
    for (int k = 0; k < P; k++)
        if (!polInBlock[k])
            for (int c = 0; c < 3; c++)
                z[nq + 3 * k + c] = gp[nq + 3 * k + c] / Ks[polAtoms[k]];
    vector<double> y;
    for (size_t f = 0; f < fragMembers.size(); f++) {
        if (fragBlock[f] < 0) {
            // diagonal: z = gp/eta, then remove the residue of the fragment's charge sum
            double sz = 0, w = 0;
            for (int k : fragMembers[f]) {
                z[k] = gp[k] / eta[eqAtoms[k]];
                sz += z[k];
                w += 1.0 / eta[eqAtoms[k]];
            }
            for (int k : fragMembers[f])
                z[k] -= sz / (w * eta[eqAtoms[k]]);
            continue;
        }
        const PrecondBlock& B = blocks[fragBlock[f]];
        y.resize(B.m);
        for (int v = 0; v < B.m; v++)
            y[v] = gp[B.vars[v]];
        choleskySolve(B.L, B.m, y.data());
        double mu = 0;
        for (int v = 0; v < B.nq; v++)
            mu += y[v];
        mu /= B.aHa;
        for (int v = 0; v < B.m; v++)
            z[B.vars[v]] = y[v] - mu * B.Ha[v];
    }
}

namespace {
/* Above this many equilibrated atoms the bond block is preconditioned by its diagonal alone: the
 * Woodbury form factorises a dense [nq, nq] matrix (nq^3/3 flops) whenever it is rebuilt. The
 * engine's split_charge.WOODBURY_MAX_ATOMS. */
const int MAX_WOODBURY_ATOMS = 1500;
} // namespace

void PQEqPreconditioner::buildSplit(const vector<Vec3>& pos, const vector<SplitBond>& bondsIn) {
    // The exact inverse of the bond-space Hessian P^T H P + K with H = diag(eta) (P = B W, K = diag
    // kappa_b), the Python engine's matrix-free choice (split_charge.SplitChargePreconditioner):
    //   (P^T H P + K)^-1 = K^-1 - K^-1 P^T A^-1 P K^-1,   A = H^-1 + P K^-1 P^T   [nq, nq], SPD
    // Shells: 1/Ks. Larger systems (or a failed factorisation): the diagonal w_b^2 (eta_i + eta_j) + kappa_b.
    builtPos = pos;
    valid = true;
    bonds = bondsIn;   // kappa and atoms stay those of the solve's bonds while the list holds the same pairs
    blocks.clear();
    waveCols = 0;
    // the weights of this build stay with it: with the weights of later steps it could lose definiteness
    splitDiagonal.resize(bonds.size());
    splitPreconditionerW.resize(bonds.size());
    for (size_t b = 0; b < bonds.size(); b++) {
        const SplitBond& B = bonds[b];
        splitPreconditionerW[b] = B.w;
        splitDiagonal[b] = B.w * B.w * (eta[B.i] + eta[B.j]) + B.kappa;
    }
    splitFactor.clear();
    if (nq > MAX_WOODBURY_ATOMS || bonds.empty())
        return;
    splitFactor.assign((size_t) nq * nq, 0.0);
    for (int k = 0; k < nq; k++)
        splitFactor[(size_t) k * nq + k] = 1.0 / eta[eqAtoms[k]];
    for (const SplitBond& B : bonds) {
        double c = B.w * B.w / B.kappa;   // e^2 mol/kJ
        int a = eqIndex[B.i], b = eqIndex[B.j];
        splitFactor[(size_t) a * nq + a] += c;
        splitFactor[(size_t) b * nq + b] += c;
        splitFactor[(size_t) a * nq + b] -= c;
        splitFactor[(size_t) b * nq + a] -= c;
    }
    if (!cholesky(splitFactor, nq))
        splitFactor.clear();
}

void PQEqPreconditioner::applySplitPreconditioner(const vector<double>& gp, vector<double>& z) const {
    const int nx = (int) bonds.size();
    z.resize(nx + 3 * P);
    for (int k = 0; k < P; k++)
        for (int c = 0; c < 3; c++)
            z[nx + 3 * k + c] = gp[nx + 3 * k + c] / Ks[polAtoms[k]];
    if (splitFactor.empty()) {
        for (int b = 0; b < nx; b++)
            z[b] = gp[b] / splitDiagonal[b];
        return;
    }
    vector<double> v(nq, 0.0);   // P K^-1 g, then A^-1 P K^-1 g  [nq]
    const vector<double>& w = splitPreconditionerW;
    for (int b = 0; b < nx; b++) {
        const SplitBond& B = bonds[b];
        z[b] = gp[b] / B.kappa;
        v[eqIndex[B.i]] += w[b] * z[b];
        v[eqIndex[B.j]] -= w[b] * z[b];
    }
    choleskySolve(splitFactor, nq, v.data());
    for (int b = 0; b < nx; b++) {
        const SplitBond& B = bonds[b];
        z[b] -= w[b] * (v[eqIndex[B.i]] - v[eqIndex[B.j]]) / B.kappa;
    }
}
