#include "PQEqCudaModel.h"
#include "PQEqKVectors.h"
#include "PQEqMath.h"
#include "openmm/OpenMMException.h"
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <sstream>

using namespace OpenMM;
using namespace PolarML;
using namespace std;

using namespace PolarML::pqeq_detail;

void PQEqSystemModel::setup(const PQEqForce& force) {
    ke = coulombConstantKJ();
    N = force.getNumParticles();
    method = force.getNonbondedMethod();
    periodic = force.usesPeriodicBoundaryConditions();
    cutoffUser = force.getCutoffDistance();
    ewaldTolerance = force.getEwaldErrorTolerance();
    solverTolerance = force.getSolverTolerance();
    maxIterations = force.getSolverMaxIterations();
    fixed.assign(N, 0);
    chi.assign(N, 0);
    eta.assign(N, 0);
    alpha.assign(N, INF);
    Ks.assign(N, 0);
    Z.assign(N, 0);
    fixedQ.assign(N, 0);
    eqAtoms.clear();
    polAtoms.clear();
    eqIndex.assign(N, -1);
    polIndex.assign(N, -1);
    for (int i = 0; i < N; i++) {
        double radius;
        if (force.isFixedChargeParticle(i)) {
            fixed[i] = 1;
            force.getFixedChargeParticleParameters(i, fixedQ[i], radius);
        }
        else {
            double zs;
            bool pol;
            force.getParticleParameters(i, chi[i], eta[i], radius, Ks[i], zs, pol);
            if (pol && Ks[i] > 0 && zs != 0) {
                Z[i] = -zs;
                polIndex[i] = (int) polAtoms.size();
                polAtoms.push_back(i);
            }
            else
                Ks[i] = 0;
            eqIndex[i] = (int) eqAtoms.size();
            eqAtoms.push_back(i);
        }
        alpha[i] = (radius > 0 ? PQEQ_LAMBDA / (2.0 * radius * radius) : INF);
    }
    nq = (int) eqAtoms.size();
    P = (int) polAtoms.size();
    nS = N + P;
    fragMembers.clear();
    fragCharge.clear();
    eqFragment.assign(nq, 0);
    if (force.getNumFragments() == 0) {
        if (nq > 0) {
            fragMembers.push_back(vector<int>());
            for (int k = 0; k < nq; k++)
                fragMembers[0].push_back(k);
            fragCharge.push_back(force.getTotalCharge());
        }
    }
    else {
        for (int f = 0; f < force.getNumFragments(); f++) {
            vector<int> atoms;
            double qf;
            force.getFragmentParameters(f, atoms, qf);
            vector<int> members;
            for (int a : atoms) {
                members.push_back(eqIndex[a]);
                eqFragment[eqIndex[a]] = f;
            }
            fragMembers.push_back(members);
            fragCharge.push_back(qf);
        }
    }
    siteAtom.resize(nS);
    for (int i = 0; i < N; i++)
        siteAtom[i] = i;
    for (int k = 0; k < P; k++)
        siteAtom[N + k] = polAtoms[k];
    map<double, int> classOf;
    classAlpha.clear();
    siteClass.resize(nS);
    for (int s = 0; s < nS; s++) {
        double a = alpha[siteAtom[s]];
        if (classOf.find(a) == classOf.end()) {
            classOf[a] = (int) classAlpha.size();
            classAlpha.push_back(a);
        }
        siteClass[s] = classOf[a];
    }
    numClasses = (int) classAlpha.size();
    pairAlpha.resize(numClasses * numClasses);
    for (int c1 = 0; c1 < numClasses; c1++)
        for (int c2 = 0; c2 < numClasses; c2++)
            pairAlpha[c1 * numClasses + c2] = pairExponent(classAlpha[c1], classAlpha[c2]);
    vector<vector<int> > excl(nS);
    for (int k = 0; k < P; k++) {
        excl[polAtoms[k]].push_back(N + k);
        excl[N + k].push_back(polAtoms[k]);
    }
    for (int e = 0; e < force.getNumExclusions(); e++) {
        int a, b;
        force.getExclusionParticles(e, a, b);
        int sa[2] = {a, polIndex[a] >= 0 ? N + polIndex[a] : -1};
        int sb[2] = {b, polIndex[b] >= 0 ? N + polIndex[b] : -1};
        for (int x : sa)
            for (int y : sb)
                if (x >= 0 && y >= 0) {
                    excl[x].push_back(y);
                    excl[y].push_back(x);
                }
    }
    exclStart.assign(nS + 1, 0);
    exclList.clear();
    for (int s = 0; s < nS; s++) {
        sort(excl[s].begin(), excl[s].end());
        exclList.insert(exclList.end(), excl[s].begin(), excl[s].end());
        exclStart[s + 1] = (int) exclList.size();
    }
}

bool PQEqSystemModel::sameLayout(const PQEqSystemModel& other) const {
    return N == other.N && P == other.P && polAtoms == other.polAtoms && fixed == other.fixed;
}

bool PQEqBoxModel::setup(const PQEqSystemModel& m, const Vec3* boxIn) {
    if (!m.periodic) {
        if (valid)
            return false;
        valid = true;
        rc = (m.method == PQEqForce::TaperNonPeriodic ? (m.cutoffUser > 0 ? m.cutoffUser : 1.25) : INF);
        shifts.assign(1, Vec3());
        nimg[0] = nimg[1] = nimg[2] = 0;
        numGroups = 1;
        siteGroup.assign(m.nS, 0);
        return true;
    }
    bool same = valid;
    for (int k = 0; k < 3 && same; k++)
        same = (boxIn[k] == box[k]);
    if (same)
        return false;
    valid = false;
    for (int k = 0; k < 3; k++)
        box[k] = boxIn[k];
    volume = box[0].dot(box[1].cross(box[2]));
    if (!(volume > 0))
        throw OpenMMException("PQEqForce: the periodic box has zero or negative volume.");
    recip[0] = box[1].cross(box[2]) / volume;
    recip[1] = box[2].cross(box[0]) / volume;
    recip[2] = box[0].cross(box[1]) / volume;
    double minWidth = INF;
    for (int k = 0; k < 3; k++)
        minWidth = min(minWidth, 1.0 / sqrt(recip[k].dot(recip[k])));
    if (m.method == PQEqForce::Taper)
        rc = (m.cutoffUser > 0 ? m.cutoffUser : 1.25);
    else {
        rc = (m.cutoffUser > 0 ? m.cutoffUser : min(0.6, 0.5 * minWidth));
        if (rc > 0.5 * minWidth * (1 + 1e-12)) {
            stringstream msg;
            msg << "PQEqForce (CellTooSmallError): the cutoff " << rc << " nm exceeds half the smallest perpendicular box width ("
                << 0.5 * minWidth << " nm). Use a larger box or a smaller cutoff.";
            throw OpenMMException(msg.str());
        }
    }
    for (int k = 0; k < 3; k++) {
        double width = 1.0 / sqrt(recip[k].dot(recip[k]));
        nimg[k] = (int) floor(rc / width + 0.5);
    }
    shifts.clear();
    shifts.push_back(Vec3());
    for (int n1 = -nimg[0]; n1 <= nimg[0]; n1++)
        for (int n2 = -nimg[1]; n2 <= nimg[1]; n2++)
            for (int n3 = -nimg[2]; n3 <= nimg[2]; n3++)
                if (n1 != 0 || n2 != 0 || n3 != 0)
                    shifts.push_back(box[0] * n1 + box[1] * n2 + box[2] * n3);
    valid = true;
    numGroups = 1;
    siteGroup.assign(m.nS, 0);
    if (m.method == PQEqForce::Taper)
        return true;
    double delta = m.ewaldTolerance;
    beta = sqrt(-log(2.0 * delta)) / rc;
    int C = m.numClasses;
    vector<double> gamma(C * C);
    for (int i = 0; i < C * C; i++)
        gamma[i] = min(m.pairAlpha[i], beta);
    double meshScreening = maxScreening(gamma.data(), C * C);
    kmax = ewaldKMax(meshScreening, delta);
    selfGamma.resize(C);
    for (int c = 0; c < C; c++)
        selfGamma[c] = gamma[c * C + c];
    vector<int> classGroup(C, -1), rep;
    for (int c = 0; c < C; c++) {
        for (size_t g = 0; g < rep.size(); g++) {
            bool eq = true;
            for (int t = 0; t < C && eq; t++)
                eq = (gamma[c * C + t] == gamma[rep[g] * C + t]);
            if (eq) {
                classGroup[c] = (int) g;
                break;
            }
        }
        if (classGroup[c] < 0) {
            classGroup[c] = (int) rep.size();
            rep.push_back(c);
        }
    }
    int G = numGroups = (int) rep.size();
    groupGamma.resize(G * G);
    for (int g1 = 0; g1 < G; g1++)
        for (int g2 = 0; g2 < G; g2++)
            groupGamma[g1 * G + g2] = gamma[rep[g1] * C + rep[g2]];
    for (int s = 0; s < m.nS; s++)
        siteGroup[s] = classGroup[m.siteClass[s]];
    if (m.method == PQEqForce::Ewald) {
        kvecs = halfSpaceKVectors(box, recip, kmax);
        kweight.clear();
        for (const Vec3& kv : kvecs) {
            double k2 = kv.dot(kv);
            double f = 8 * M_PI * m.ke / (volume * k2);
            for (int gh = 0; gh < G * G; gh++) {
                double gm = groupGamma[gh];
                kweight.push_back(f * (gm == INF ? 1.0 : exp(-k2 / (4 * gm * gm))));
            }
        }
    }
    else if (m.method == PQEqForce::PME) {
        vector<double> bmod[3];
        double w[16], dw[16];
        bspline(0.0, PME_ORDER, w, dw);   // w[j] = M_p(j)
        for (int k = 0; k < 3; k++) {
            double L = sqrt(box[k].dot(box[k]));
            ngrid[k] = pmeMeshSize(L, meshScreening, delta);
            int ng = ngrid[k];
            bmod[k].resize(ng);
            for (int mm = 0; mm < ng; mm++) {
                double re = 0, im = 0;
                for (int j = 0; j < PME_ORDER - 1; j++) {
                    double arg = 2 * M_PI * mm * j / ng;
                    re += w[j + 1] * cos(arg);
                    im += w[j + 1] * sin(arg);
                }
                bmod[k][mm] = 1.0 / (re * re + im * im);
            }
        }
        int n0 = ngrid[0], n1 = ngrid[1], n2 = ngrid[2];
        size_t total = (size_t) n0 * n1 * n2;
        influence.assign((size_t) G * G * total, 0.0);
        double pref = 4 * M_PI * m.ke / volume;
        for (int m0 = 0; m0 < n0; m0++) {
            int s0 = (m0 <= n0 / 2 ? m0 : m0 - n0);
            for (int m1 = 0; m1 < n1; m1++) {
                int s1 = (m1 <= n1 / 2 ? m1 : m1 - n1);
                for (int m2 = 0; m2 < n2; m2++) {
                    int s2 = (m2 <= n2 / 2 ? m2 : m2 - n2);
                    if (s0 == 0 && s1 == 0 && s2 == 0)
                        continue;
                    Vec3 kv = (recip[0] * s0 + recip[1] * s1 + recip[2] * s2) * (2 * M_PI);
                    double k2 = kv.dot(kv);
                    double f = pref * bmod[0][m0] * bmod[1][m1] * bmod[2][m2] / k2;
                    size_t idx = ((size_t) m0 * n1 + m1) * n2 + m2;
                    for (int gh = 0; gh < G * G; gh++) {
                        double gm = groupGamma[gh];
                        influence[gh * total + idx] = f * (gm == INF ? 1.0 : exp(-k2 / (4 * gm * gm)));
                    }
                }
            }
        }
    }
    return true;
}
