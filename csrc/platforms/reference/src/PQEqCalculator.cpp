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

PQEqCalculator::PQEqCalculator() : ke(coulombConstant()), haveState(false), haveRef(false), lastIterations(0),
        numEvaluations(0), lastPredictionOrder(0), profile(getenv("POLARML_PQEQ_PROFILE") != NULL) {}

void PQEqCalculator::setup(const PQEqForce& force, bool keepState) {
    int oldN = N, oldP = P;
    vector<int> oldPol = polAtoms;
    setupLayout(force);
    coulomb.setup(*this);
    preconditioner.setup(*this);
    solver.clearMemory();
    warmStart.clear();
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

double PQEqCalculator::electrostatics(const vector<Vec3>& x, const vector<double>& Q, vector<double>& phi, vector<Vec3>& grad) {
    return coulomb.evaluate(x, Q, phi, grad);
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

double PQEqCalculator::compute(const vector<Vec3>& positions, const Vec3* box, const Vec3& fieldIn, vector<Vec3>* forces) {
    double tStart = (profile ? nowSeconds() : 0.0);
    int evaluationsBefore = numEvaluations;
    coulomb.resetTimes();
    coulomb.invalidate();   // the cores moved: the pairs of the solve, core-core kernels and core B-splines are stale
    pos = positions;
    field = fieldIn;
    if (periodic) {
        if (box == NULL)
            throw OpenMMException("PQEqForce: periodic method without box vectors.");
        if (coulomb.setBox(box)) {
            splitListPos.clear();   // the split-charge bond list depends on the box
            preconditioner.invalidate();
        }
    }
    const PQEqBoxSetup& cell = boxSetup();
    checkField(fieldIn);
    checkOverlaps(positions, eqAtoms, periodic ? cell.boxVec : NULL, [&](int i, int j) {
        const std::vector<int>& ex = siteExclusions[i];
        return std::binary_search(ex.begin(), ex.end(), j);
    });
    if (!haveRef || (int) refPos.size() != N) {
        refPos = positions;
        haveRef = true;
    }
    u.resize(N);
    for (int i = 0; i < N; i++)
        u[i] = (periodic ? refPos[i] + cell.minimumImage(pos[i] - refPos[i]) : pos[i]);
    nx = nq;
    if (splitCharge) {
        if (periodic)
            cell.checkSplitCutoff(splitCutoff);
        buildSplitBonds();   // warm start: the bond variables of the previous solve
        nx = (int) bonds.size();
    }
    int n = nx + 3 * P;
    vector<double> x(n);
    // warm start: extrapolated from the previous solutions when the positions follow their extrapolation
    lastPredictionOrder = (haveState ? warmStart.predict(pos, fixed, Ks, q, d, splitCharge ? &splitS : NULL) : 0);
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
    if (preconditioner.stale(pos, boxSetup(), bondsChanged)) {
        if (splitCharge) {
            preconditioner.buildSplit(pos, bonds);
            bondsChanged = false;
        }
        else
            preconditioner.build(pos, q, d, boxSetup());
        solver.clearMemory();   // its pairs carry P y of the old preconditioner
    }
    lastIterations = 0;
    vector<double> g;
    double E = 0;
    if (n > 0) {
        E = solver.minimise(*this, x, solverTolerance, maxIterations);
        lastIterations = solver.getLastIterations();
    }
    else
        E = evaluate(x, g, false);
    if (splitCharge)
        splitS.assign(x.begin(), x.begin() + nx);
    haveState = true;
    warmStart.record(pos, q, d, splitCharge ? &splitS : NULL);
    if (profile)
        fprintf(stderr, "PQEqForce profile: %d evaluations, %d iterations (start order %d), %d threads, %.4f s (real space %.4f s, reciprocal %.4f s)\n",
                numEvaluations - evaluationsBefore, lastIterations, lastPredictionOrder, numThreads, nowSeconds() - tStart, coulomb.realSpaceSeconds(), coulomb.reciprocalSeconds());
    if (forces != NULL) {
        coulomb.addCoreCoreGradient(siteQ, gradBuf);
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


void PQEqCalculator::setupStateReset() {
    haveState = false;
    bonds.clear();
    splitS.clear();
    bondsChanged = true;
    solver.clearMemory();
    warmStart.clear();
    for (int i = 0; i < N; i++) {
        q[i] = fixed[i] ? fixedQ[i] : 0.0;
        d[i] = Vec3();
    }
    for (size_t f = 0; f < fragMembers.size(); f++)
        for (int k : fragMembers[f])
            q[eqAtoms[k]] = fragCharge[f] / fragMembers[f].size();
}

void PQEqCalculator::project(const vector<double>& g, vector<double>& gp, double& rq, double& rd) const {
    int n = nx + 3 * P;
    gp.resize(n);
    rq = rd = 0;
    if (splitCharge)   // bond variables are unconstrained
        for (int k = 0; k < nx; k++) {
            gp[k] = g[k];
            rq = max(rq, fabs(g[k]));
        }
    for (size_t f = 0; f < fragMembers.size() && !splitCharge; f++) {
        double mean = 0;
        for (int k : fragMembers[f])
            mean += g[k];
        mean /= fragMembers[f].size();
        for (int k : fragMembers[f]) {
            gp[k] = g[k] - mean;
            rq = max(rq, fabs(gp[k]));
        }
    }
    for (int k = nx; k < n; k++) {
        gp[k] = g[k];
        rd = max(rd, fabs(g[k]));
    }
    rq /= EV_TO_KJ_PER_MOL;            // eV/e
    rd /= EV_TO_KJ_PER_MOL * 10.0;     // eV/A
}

namespace {
const double MAX_SHELL_DISPLACEMENT = 0.3;   // nm
}

string PQEqCalculator::unphysical(const vector<double>& x) const {
    for (int k = 0; k < P; k++) {
        double dx = x[nx + 3 * k], dy = x[nx + 3 * k + 1], dz = x[nx + 3 * k + 2];
        if (dx * dx + dy * dy + dz * dz > MAX_SHELL_DISPLACEMENT * MAX_SHELL_DISPLACEMENT) {
            stringstream what;
            what << "shell of particle " << polAtoms[k] << " ran away (|d| > " << MAX_SHELL_DISPLACEMENT << " nm)";
            return what.str();
        }
    }
    return string();
}
