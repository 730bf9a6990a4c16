#include "PQEqCalculator.h"
#include "PQEqInputChecks.h"
#include "PQEqMath.h"
#include "openmm/OpenMMException.h"
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <sstream>
#include <cstdio>
#include <cstdlib>

using namespace OpenMM;
using namespace PolarML;
using namespace PolarML::pqeq_detail;
using namespace std;

double PQEqCalculator::coulombConstant() {
    return coulombConstantKJ();
}

PQEqCalculator::PQEqCalculator() : ke(coulombConstant()), boxValid(false), haveState(false), haveRef(false),
        lastIterations(0), numEvaluations(0), listSkin(0.05), ccValid(false), coreGradPending(false),
        coreSplinesValid(false), lastPredictionOrder(0), profile(getenv("POLARML_PQEQ_PROFILE") != NULL), timeReal(0), timeRecip(0) {}

void PQEqCalculator::setup(const PQEqForce& force, bool keepState) {
    int oldN = N, oldP = P;
    vector<int> oldPol = polAtoms;
    setupLayout(force);
    boxValid = false;
    preconditionerValid = false;
    curvatureMemory.clear();
    historyPos.clear();
    historyQ.clear();
    historyS.clear();
    historyD.clear();
    bool sameLayout = keepState && haveState && oldN == N && oldP == P && oldPol == polAtoms;
    bondsChanged = true;
    chargeGradient.assign(N, 0.0);
    if (!sameLayout) {
        bonds.clear();
        splitS.clear();
        q.assign(N, 0.0);
        d.assign(N, Vec3());
        for (size_t f = 0; f < fragMembers.size(); f++)
            for (int k : fragMembers[f])
                q[eqAtoms[k]] = fragCharge[f] / fragMembers[f].size();
        haveState = false;
    }
    for (int i = 0; i < N; i++)
        if (fixed[i]) {
            q[i] = fixedQ[i];
            d[i] = Vec3();
        }
        else if (Ks[i] == 0)
            d[i] = Vec3();
    if (oldN != N)
        haveRef = false;
}

void PQEqCalculator::setupBox(const Vec3* box) {
    if (!periodic)
        return;
    bool same = boxValid;
    for (int k = 0; k < 3 && same; k++)
        same = (box[k] == boxVec[k]);
    if (same)
        return;
    listX.clear();   // the pair list depends on the box and on beta
    splitListPos.clear();   // so does the split-charge bond list
    preconditionerValid = false;
    boxValid = false;
    setBoxVectors(box);
    chooseCutoff(method, cutoffUser);
    boxValid = true;
    if (method == PQEqForce::Taper)
        return;
    setupScreening(*this, ewaldTolerance);
    if (method == PQEqForce::Ewald) {
        setupKVectors();
        kfac.clear();
        for (const Vec3& kv : kvecs)
            kfac.push_back(8 * M_PI * ke / (volume * kv.dot(kv)));
    }
    else if (method == PQEqForce::PME)
        setupPME();
    buildKernelTables();
}


double PQEqCalculator::electrostatics(const vector<Vec3>& x, const vector<double>& Q, vector<double>& phi, vector<Vec3>& grad) {
    phi.assign(nS, 0.0);
    grad.assign(nS, Vec3());
    double t0 = (profile ? nowSeconds() : 0.0);
    realSpace(x, Q, phi, grad);
    if (profile)
        timeReal += nowSeconds() - t0;
    if (method == PQEqForce::Ewald || method == PQEqForce::PME) {
        int G = numGroups;
        // self and k = 0 terms
        vector<double> groupQ(G, 0.0);
        for (int a = 0; a < nS; a++)
            groupQ[siteGroup[a]] += Q[a];
        for (int a = 0; a < nS; a++) {
            int c = siteClass[a];
            double gself = min(pairAlpha[c * numClasses + c], beta);
            phi[a] -= 2 * ke * Q[a] * gself / SQRT_PI;
            int g = siteGroup[a];
            for (int h = 0; h < G; h++) {
                double gm = groupGamma[g * G + h];
                phi[a] -= M_PI * ke / volume * groupQ[h] / (gm * gm);
            }
        }
        // excluded pairs: remove what the reciprocal sum included
        for (int a = 0; a < nS; a++)
            for (int b : siteExclusions[a]) {
                if (b <= a || Q[a] == 0 || Q[b] == 0)
                    continue;
                double gm = min(pairAlpha[siteClass[a] * numClasses + siteClass[b]], beta);
                Vec3 dr = minimumImage(x[b] - x[a]);
                double r = sqrt(dr.dot(dr)), f, df;
                erfOverR(gm, r, f, df);
                phi[a] -= ke * Q[b] * f;
                phi[b] -= ke * Q[a] * f;
                if (r > 0) {
                    Vec3 gvec = dr * (-ke * Q[a] * Q[b] * df / r);
                    grad[b] += gvec;
                    grad[a] -= gvec;
                }
            }
        double t1 = (profile ? nowSeconds() : 0.0);
        if (method == PQEqForce::Ewald)
            reciprocalEwald(x, Q, phi, grad);
        else
            reciprocalPME(x, Q, phi, grad);
        if (profile)
            timeRecip += nowSeconds() - t1;
    }
    double E = 0;
    for (int a = 0; a < nS; a++)
        E += 0.5 * Q[a] * phi[a];
    return E;
}

double PQEqCalculator::evaluate(const vector<double>& xv, vector<double>& g, bool forces) {
    numEvaluations++;
    if (splitCharge)
        splitCharges(xv);
    else
        for (int k = 0; k < nq; k++)
            q[eqAtoms[k]] = xv[k];
    for (int k = 0; k < P; k++)
        d[polAtoms[k]] = Vec3(xv[nx + 3 * k], xv[nx + 3 * k + 1], xv[nx + 3 * k + 2]);
    siteX.resize(nS);
    siteQ.resize(nS);
    for (int i = 0; i < N; i++) {
        siteX[i] = pos[i];
        siteQ[i] = q[i] + Z[i];
    }
    for (int k = 0; k < P; k++) {
        int i = polAtoms[k];
        siteX[N + k] = pos[i] + d[i];
        siteQ[N + k] = -Z[i];
    }
    double E = electrostatics(siteX, siteQ, phiBuf, gradBuf);
    g.resize(nx + 3 * P);
    for (int k = 0; k < nq; k++) {
        int i = eqAtoms[k];
        E += chi[i] * q[i] + 0.5 * eta[i] * q[i] * q[i];
        double gq = chi[i] + eta[i] * q[i] + phiBuf[i];
        if (splitCharge)
            chargeGradient[i] = gq;
        else
            g[k] = gq - field.dot(u[i]);
    }
    for (int k = 0; k < P; k++) {
        int i = polAtoms[k];
        E += 0.5 * Ks[i] * d[i].dot(d[i]);
        Vec3 gd = d[i] * Ks[i] + gradBuf[N + k] + field * Z[i];
        for (int c = 0; c < 3; c++)
            g[nx + 3 * k + c] = gd[c];
    }
    // split: the reference charges couple to the field at u, the bond charges along their bonds
    dipole = Vec3();
    for (int i = 0; i < N; i++)
        dipole += u[i] * (splitCharge ? referenceQ[i] : q[i]) - d[i] * Z[i];
    if (splitCharge)
        E += splitBondTerms(xv, g);
    E -= field.dot(dipole);
    return E;
}

namespace {
const int MAX_HISTORY = 4;
/* Polynomial extrapolation to the next point of equally spaced samples (newest first), orders 0-3. */
const double EXTRAPOLATION[4][4] = {{1, 0, 0, 0}, {2, -1, 0, 0}, {3, -3, 1, 0}, {4, -6, 4, -1}};
}

double PQEqCalculator::compute(const vector<Vec3>& positions, const Vec3* box, const Vec3& fieldIn, vector<Vec3>* forces) {
    double tStart = (profile ? nowSeconds() : 0.0);
    int evaluationsBefore = numEvaluations;
    timeReal = timeRecip = 0;
    ccValid = false;            // the cores moved: the pairs of the solve, core-core kernels and core B-splines are stale
    coreSplinesValid = false;
    coreGradPending = false;
    pos = positions;
    field = fieldIn;
    if (periodic) {
        if (box == NULL)
            throw OpenMMException("PQEqForce: periodic method without box vectors.");
        setupBox(box);
    }
    checkField(fieldIn);
    checkOverlaps(positions, eqAtoms, periodic ? boxVec : NULL, [&](int i, int j) {
        const std::vector<int>& ex = siteExclusions[i];
        return std::binary_search(ex.begin(), ex.end(), j);
    });
    if (!haveRef || (int) refPos.size() != N) {
        refPos = positions;
        haveRef = true;
    }
    u.resize(N);
    for (int i = 0; i < N; i++)
        u[i] = (periodic ? refPos[i] + minimumImage(pos[i] - refPos[i]) : pos[i]);
    nx = nq;
    if (splitCharge) {
        if (periodic)
            checkSplitCutoff(splitCutoff);
        buildSplitBonds();   // warm start: the bond variables of the previous solve
        nx = (int) bonds.size();
    }
    int n = nx + 3 * P;
    vector<double> x(n);
    predictStart();
    // warm start (projected onto the fragment constraints)
    for (size_t f = 0; f < fragMembers.size() && !splitCharge; f++) {
        double sum = 0;
        for (int k : fragMembers[f])
            sum += q[eqAtoms[k]];
        double shift = (fragCharge[f] - sum) / fragMembers[f].size();
        for (int k : fragMembers[f])
            q[eqAtoms[k]] += shift;
    }
    for (int k = 0; k < nx; k++)
        x[k] = (splitCharge ? splitS[k] : q[eqAtoms[k]]);
    for (int k = 0; k < P; k++)
        for (int c = 0; c < 3; c++)
            x[nx + 3 * k + c] = d[polAtoms[k]][c];
    if (preconditionerStale()) {
        buildPreconditioner();
        curvatureMemory.clear();   // its pairs carry P y of the old preconditioner
    }
    lastIterations = 0;
    vector<double> g;
    double E = (n > 0 ? solve(x) : evaluate(x, g, false));
    if (splitCharge)
        splitS.assign(x.begin(), x.begin() + nx);
    haveState = true;
    recordSolution();
    if (profile)
        fprintf(stderr, "PQEqForce profile: %d evaluations, %d iterations (start order %d), %d threads, %.4f s (real space %.4f s, reciprocal %.4f s)\n",
                numEvaluations - evaluationsBefore, lastIterations, lastPredictionOrder, numThreads, nowSeconds() - tStart, timeReal, timeRecip);
    if (forces != NULL) {
        coreCoreGradient(siteQ, gradBuf);
        vector<Vec3>& f = *forces;
        for (int i = 0; i < N; i++)
            f[i] += field * (splitCharge ? referenceQ[i] : q[i]) - gradBuf[i];
        for (int k = 0; k < P; k++)
            f[polAtoms[k]] -= gradBuf[N + k];
        if (splitCharge)
            addSplitForces(f);
    }
    return E;
}


void PQEqCalculator::predictStart() {
    // Start from a polynomial extrapolation of the previous solutions when the positions themselves follow
    // the same extrapolation (MD with a fixed step): the prediction error then shrinks with the order.
    // The order is the highest whose position prediction misses by less than a quarter of the last
    // displacement; otherwise the previous solution is the start. Only the start changes, never the answer.
    lastPredictionOrder = 0;
    int h = (int) historyPos.size();
    if (h < 2 || !haveState)
        return;
    double step2 = 0;
    for (int i = 0; i < N; i++) {
        Vec3 dx = pos[i] - historyPos[0][i];
        step2 += dx.dot(dx);
    }
    if (step2 == 0)
        return;
    for (int order = min(h - 1, 3); order >= 1; order--) {
        const double* c = EXTRAPOLATION[order];
        double miss2 = 0;
        for (int i = 0; i < N; i++) {
            Vec3 pred;
            for (int j = 0; j <= order; j++)
                pred += historyPos[j][i] * c[j];
            Vec3 dx = pos[i] - pred;
            miss2 += dx.dot(dx);
        }
        if (miss2 < 0.0625 * step2) {
            for (int i = 0; i < N; i++) {
                if (fixed[i])
                    continue;
                double qi = 0;
                Vec3 di;
                for (int j = 0; j <= order; j++) {
                    qi += historyQ[j][i] * c[j];
                    di += historyD[j][i] * c[j];
                }
                q[i] = qi;
                if (Ks[i] > 0)
                    d[i] = di;
            }
            if (splitCharge)
                predictSplitStart(order, c);
            lastPredictionOrder = order;
            return;
        }
    }
}

void PQEqCalculator::recordSolution() {
    if (!historyPos.empty() && historyPos[0] == pos) {
        historyQ[0] = q;   // same positions (e.g. a state query after a step): refresh, do not extend
        if (splitCharge && !historyS.empty())
            historyS[0] = splitS;
        historyD[0] = d;
        return;
    }
    historyPos.insert(historyPos.begin(), pos);
    historyQ.insert(historyQ.begin(), q);
    if (splitCharge)   // bond variables of the same bond list (cleared when the list changes)
        historyS.insert(historyS.begin(), splitS);
    if ((int) historyS.size() > MAX_HISTORY)
        historyS.pop_back();
    historyD.insert(historyD.begin(), d);
    if ((int) historyPos.size() > MAX_HISTORY) {
        historyPos.pop_back();
        historyQ.pop_back();
        historyD.pop_back();
    }
}

void PQEqCalculator::setupStateReset() {
    haveState = false;
    bonds.clear();
    splitS.clear();
    bondsChanged = true;
    curvatureMemory.clear();
    historyPos.clear();
    historyQ.clear();
    historyS.clear();
    historyD.clear();
    for (int i = 0; i < N; i++) {
        q[i] = fixed[i] ? fixedQ[i] : 0.0;
        d[i] = Vec3();
    }
    for (size_t f = 0; f < fragMembers.size(); f++)
        for (int k : fragMembers[f])
            q[eqAtoms[k]] = fragCharge[f] / fragMembers[f].size();
}
