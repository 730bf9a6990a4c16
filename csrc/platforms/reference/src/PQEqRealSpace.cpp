/* Real-space pair sums of the Coulomb operator (PQEqCoulombOperator.h).
 *
 * Direct and taper kernels: plain double loops (all periodic images inside the taper radius).
 * Ewald/PME (docs/conventions.md): an atom pair contributes iff its core-core distance is below rc
 * (a core-core criterion: the pair set does not change while shells move), and then with all four
 * site pairs (core-core, core-shell, shell-core, shell-shell). Atoms are found with a neighbour list
 * over wrapped core positions with a skin (rebuilt when a core moved more than half the skin, so it
 * is reused across MD steps); the pairs with core distance < rc are selected once per solve (cores do
 * not move while charges and shells are solved). The kernel ke [erf(a r) - erf(beta r)]/r is tabulated
 * per class pair as a cubic Hermite polynomial in s = r^2 (relative error below 1e-12 in the value;
 * the gradient is the exact derivative of the tabulated energy, so forces stay conservative) up to
 * (rc + SHELL_REACH)^2; shell pairs farther apart (a shell displaced by more than ~0.5 A) are computed
 * directly. Core-core kernels are cached per solve and only their potentials are summed per
 * iteration; their gradient is added once, after convergence (addCoreCoreGradient). */

#include "PQEqCoulombOperator.h"
#include "PQEqMath.h"
#include <algorithm>
#include <cmath>
#include <cstdio>

using namespace OpenMM;
using namespace PolarML;
using namespace PolarML::pqeq_detail;
using namespace std;

void PQEqCoulombOperator::pairKernel(int sa, int sb, double r, double& K, double& dK) const {
    double a = pairAlpha[siteClass[sa] * numClasses + siteClass[sb]];
    double f, df;
    if (method == PQEqForce::NoCutoff) {
        erfOverR(a, r, f, df);
        K = ke * f;
        dK = ke * df;
    }
    else if (method == PQEqForce::Taper || method == PQEqForce::TaperNonPeriodic) {
        erfOverR(a, r, f, df);
        double x = r / rc, x2 = x * x, x3 = x2 * x, x4 = x3 * x;
        double T = 1 - 35 * x4 + 84 * x4 * x - 70 * x4 * x2 + 20 * x4 * x3;
        double dT = (-140 * x3 + 420 * x4 - 420 * x4 * x + 140 * x4 * x2) / rc;
        K = ke * f * T;
        dK = ke * (df * T + f * dT);
    }
    else {
        // Ewald real space: only pairs narrower than the Ewald Gaussian
        if (!(a > beta)) {
            K = dK = 0;
            return;
        }
        double fb, dfb;
        erfOverR(a, r, f, df);
        erfOverR(beta, r, fb, dfb);
        K = ke * (f - fb);
        dK = ke * (df - dfb);
    }
}

void PQEqCoulombOperator::realSpace(const vector<Vec3>& x, const vector<double>& Q, vector<double>& phi, vector<Vec3>& grad) {
    if (periodic && (method == PQEqForce::Ewald || method == PQEqForce::PME)) {
        realSpaceList(x, Q, phi, grad);
        return;
    }
    // direct and taper kernels: all pairs (and all images inside rc)
    vector<char> excluded(nS, 0);
    if (!periodic) {
        if (method == PQEqForce::TaperNonPeriodic)
            rc = (cutoffUser > 0 ? cutoffUser : 1.25);
        double rc2 = (method == PQEqForce::TaperNonPeriodic ? rc * rc : INF);
        for (int a = 0; a < nS; a++) {
            for (int e : siteExclusions[a])
                excluded[e] = 1;
            for (int b = a + 1; b < nS; b++) {
                if (excluded[b] || (Q[a] == 0 && Q[b] == 0))
                    continue;
                Vec3 dr = x[b] - x[a];
                double r2 = dr.dot(dr);
                if (r2 >= rc2)
                    continue;
                double r = sqrt(r2), K, dK;
                pairKernel(a, b, r, K, dK);
                phi[a] += Q[b] * K;
                phi[b] += Q[a] * K;
                Vec3 gvec = dr * (Q[a] * Q[b] * dK / r);
                grad[b] += gvec;
                grad[a] -= gvec;
            }
            for (int e : siteExclusions[a])
                excluded[e] = 0;
        }
        return;
    }
    // periodic: all images within rc
    double rc2 = rc * rc;
    int nimg[3];
    imageCounts(rc, nimg);
    bool images = (nimg[0] || nimg[1] || nimg[2]);
    vector<Vec3> shifts;
    for (int n1 = -nimg[0]; n1 <= nimg[0]; n1++)
        for (int n2 = -nimg[1]; n2 <= nimg[1]; n2++)
            for (int n3 = -nimg[2]; n3 <= nimg[2]; n3++)
                shifts.push_back(boxVec[0] * n1 + boxVec[1] * n2 + boxVec[2] * n3);
    for (int a = 0; a < nS; a++) {
        for (int e : siteExclusions[a])
            excluded[e] = 1;
        if (images && Q[a] != 0) {
            // interactions of a site with its own images
            for (const Vec3& s : shifts) {
                double r2 = s.dot(s);
                if (r2 == 0 || r2 >= rc2)
                    continue;
                double K, dK;
                pairKernel(a, a, sqrt(r2), K, dK);
                phi[a] += Q[a] * K;
            }
        }
        for (int b = a + 1; b < nS; b++) {
            if (Q[a] == 0 || Q[b] == 0)
                continue;
            Vec3 dr0 = minimumImage(x[b] - x[a]);
            if (!images) {
                if (excluded[b])
                    continue;
                double r2 = dr0.dot(dr0);
                if (r2 >= rc2)
                    continue;
                double r = sqrt(r2), K, dK;
                pairKernel(a, b, r, K, dK);
                phi[a] += Q[b] * K;
                phi[b] += Q[a] * K;
                Vec3 gvec = dr0 * (Q[a] * Q[b] * dK / r);
                grad[b] += gvec;
                grad[a] -= gvec;
                continue;
            }
            for (const Vec3& s : shifts) {
                Vec3 dr = dr0 + s;
                double r2 = dr.dot(dr);
                if (r2 >= rc2)
                    continue;
                if (excluded[b] && s.dot(s) == 0)
                    continue;
                double r = sqrt(r2), K, dK;
                pairKernel(a, b, r, K, dK);
                phi[a] += Q[b] * K;
                phi[b] += Q[a] * K;
                Vec3 gvec = dr * (Q[a] * Q[b] * dK / r);
                grad[b] += gvec;
                grad[a] -= gvec;
            }
        }
        for (int e : siteExclusions[a])
            excluded[e] = 0;
    }
}

/* Kernel g of the site pair (a, b) and its gradient vector gvec = dE/dx_b = -dE/dx_a for charges Q. */
inline void PQEqCoulombOperator::siteTerm(int a, int b, int table, const Vec3& shift, const double* Q, double& g,
                                     Vec3& gvec) const {
    Vec3 dr = xw[b] - xw[a] + shift;
    double s = dr.dot(dr), dg;
    if (table >= 0 && s < tableSmax)
        tableEval(tableCoef[table], tableInvh[table], s, g, dg);
    else {
        double r = sqrt(s);
        pairKernel(a, b, r, g, dg);
        dg /= 2 * r;
    }
    gvec = dr * (2 * Q[a] * Q[b] * dg);
}

inline void PQEqCoulombOperator::sitePair(int a, int b, int table, const Vec3& shift, const double* Q,
                                     double* phi, Vec3* grad) const {
    double g;
    Vec3 gvec;
    siteTerm(a, b, table, shift, Q, g, gvec);
    phi[a] += Q[b] * g;
    phi[b] += Q[a] * g;
    grad[b] += gvec;
    grad[a] -= gvec;
}

void PQEqCoulombOperator::activePairs(const double* Q, double* phi, Vec3* grad) const {
    for (const ActivePair& p : active) {
        phi[p.i] += Q[p.j] * p.K;
        phi[p.j] += Q[p.i] * p.K;
        if (p.si < 0 && p.sj < 0)
            continue;
        const Vec3& sh = shiftVec[p.shift];
        if (p.sj >= 0)
            sitePair(p.i, p.sj, p.table, sh, Q, phi, grad);
        if (p.si >= 0) {
            sitePair(p.si, p.j, p.table, sh, Q, phi, grad);
            if (p.sj >= 0)
                sitePair(p.si, p.sj, p.table, sh, Q, phi, grad);
        }
    }
}

void PQEqCoulombOperator::buildTermIncidence() {
    // terms 4n + t of active pair n: t = 0 core-core, 1 core i - shell j, 2 shell i - core j, 3 shell-shell;
    // per site (CSR) its terms in the order of the serial loop (activePairs), 2 e + 1 when it is the b side
    size_t M = active.size();
    termSite.assign(8 * M, -1);
    termStart.assign(nS + 1, 0);
    for (size_t n = 0; n < M; n++) {
        const ActivePair& p = active[n];
        int a[4] = {p.i, p.i, p.si, p.si}, b[4] = {p.j, p.sj, p.j, p.sj};
        for (int t = 0; t < 4; t++)
            if (a[t] >= 0 && b[t] >= 0) {
                termSite[2 * (4 * n + t)] = a[t];
                termSite[2 * (4 * n + t) + 1] = b[t];
                termStart[a[t] + 1]++;
                termStart[b[t] + 1]++;
            }
    }
    for (int x = 0; x < nS; x++)
        termStart[x + 1] += termStart[x];
    termInc.resize(termStart[nS]);
    vector<int> fill(termStart.begin(), termStart.end() - 1);
    for (size_t e = 0; e < 4 * M; e++)
        if (termSite[2 * e] >= 0) {
            termInc[fill[termSite[2 * e]]++] = (int) (2 * e);
            termInc[fill[termSite[2 * e + 1]]++] = (int) (2 * e + 1);
        }
    termG.resize(4 * M);
    termGrad.resize(4 * M);
}

void PQEqCoulombOperator::activePairsThreaded(const double* Q, double* phi, Vec3* grad) {
    // the serial sums, bitwise: the terms are computed in parallel over pairs, then every site adds its own
    // terms in the serial order (parallel over sites)
    [[maybe_unused]] const int T = numThreads;
    const long M = (long) active.size();
#pragma omp parallel num_threads(T)
    {
#pragma omp for schedule(static)
        for (long n = 0; n < M; n++) {
            const ActivePair& p = active[n];
            termG[4 * n] = p.K;
            if (p.si < 0 && p.sj < 0)
                continue;
            const Vec3& sh = shiftVec[p.shift];
            if (p.sj >= 0)
                siteTerm(p.i, p.sj, p.table, sh, Q, termG[4 * n + 1], termGrad[4 * n + 1]);
            if (p.si >= 0) {
                siteTerm(p.si, p.j, p.table, sh, Q, termG[4 * n + 2], termGrad[4 * n + 2]);
                if (p.sj >= 0)
                    siteTerm(p.si, p.sj, p.table, sh, Q, termG[4 * n + 3], termGrad[4 * n + 3]);
            }
        }
#pragma omp for schedule(static)
        for (int x = 0; x < nS; x++) {
            double px = phi[x];
            Vec3 gx = grad[x];
            for (int k = termStart[x]; k < termStart[x + 1]; k++) {
                int inc = termInc[k], e = inc >> 1;
                if ((inc & 1) == 0) {
                    px += Q[termSite[2 * e + 1]] * termG[e];
                    if (e % 4 != 0)
                        gx -= termGrad[e];
                }
                else {
                    px += Q[termSite[2 * e]] * termG[e];
                    if (e % 4 != 0)
                        gx += termGrad[e];
                }
            }
            phi[x] = px;
            grad[x] = gx;
        }
    }
}

void PQEqCoulombOperator::realSpaceList(const vector<Vec3>& x, const vector<double>& Q, vector<double>& phi, vector<Vec3>& grad) {
    bool rebuild = (listX.size() != (size_t) N);
    double lim2 = 0.25 * listSkin * listSkin;
    for (int a = 0; a < N && !rebuild; a++) {
        Vec3 dx = x[a] - listX[a];
        rebuild = (dx.dot(dx) > lim2);
    }
    if (rebuild) {
        buildPairList(x, rc + listSkin);
        if (profile)
            fprintf(stderr, "PQEqForce profile: atom pair list rebuilt (%zu pairs)\n", nbList.size());
    }
    tableCoef.resize(tables.size());
    tableInvh.resize(tables.size());
    for (size_t t = 0; t < tables.size(); t++) {
        tableCoef[t] = tables[t].c.data();
        tableInvh[t] = tables[t].invh;
    }
    for (int a = 0; a < nS; a++)
        xw[a] = x[a] - siteOffset[a];
    const double rc2 = rc * rc;
    // the atom pairs of this solve: core-core distance < rc (cores do not move during a solve), with their
    // core-core kernels; the gradient of those is added after convergence (addCoreCoreGradient)
    if (!ccValid) {
        active.clear();
        for (int a = 0; a < N; a++) {
            Vec3 xa = xw[a];
            for (int n = nbStart[a]; n < nbStart[a + 1]; n++) {
                const Neighbour& nb = nbList[n];
                Vec3 dr = xw[nb.b] - xa + shiftVec[nb.shift];
                double s = dr.dot(dr), g, dg;
                if (!(s < rc2))
                    continue;
                if (nb.table >= 0)
                    tableEval(tableCoef[nb.table], tableInvh[nb.table], s, g, dg);
                else
                    pairKernel(a, nb.b, sqrt(s), g, dg);
                ActivePair p;
                p.i = a;
                p.j = nb.b;
                p.si = shellSite[a];
                p.sj = shellSite[nb.b];
                p.table = nb.table;
                p.shift = nb.shift;
                p.K = g;
                active.push_back(p);
            }
        }
        ccValid = true;
        termsValid = false;
    }
    if (numThreads <= 1 || active.size() < 256)
        activePairs(Q.data(), phi.data(), grad.data());
    else {
        if (termStart.size() != (size_t) nS + 1 || !termsValid) {
            buildTermIncidence();
            termsValid = true;
        }
        activePairsThreaded(Q.data(), phi.data(), grad.data());
    }
    coreGradPending = true;
}

void PQEqCoulombOperator::addCoreCoreGradient(const vector<double>& Q, vector<Vec3>& grad) {
    if (!coreGradPending)
        return;
    coreGradPending = false;
    for (const ActivePair& p : active) {
        Vec3 dr = xw[p.j] - xw[p.i] + shiftVec[p.shift];
        double s = dr.dot(dr), g, dg;
        if (p.table >= 0)
            tableEval(tableCoef[p.table], tableInvh[p.table], s, g, dg);
        else {
            double r = sqrt(s);
            pairKernel(p.i, p.j, r, g, dg);
            dg /= 2 * r;
        }
        Vec3 gvec = dr * (2 * Q[p.i] * Q[p.j] * dg);
        grad[p.j] += gvec;
        grad[p.i] -= gvec;
    }
}
