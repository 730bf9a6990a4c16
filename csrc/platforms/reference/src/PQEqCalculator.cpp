#include "PQEqCalculator.h"
#include "openmm/OpenMMException.h"
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <sstream>

using namespace OpenMM;
using namespace PolarML;
using namespace std;

namespace {

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

int nextSmooth(int n) {
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

/* w[j] = M_p(fr + j), dw[j] = M_p'(fr + j), j = 0..p-1 (cardinal B-spline of order p). */
void bspline(double fr, int p, double* w, double* dw) {
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

} // namespace

double PQEqCalculator::coulombConstant() {
    double keEvA = ELEMENTARY_CHARGE_C / (4.0 * M_PI * VACUUM_PERMITTIVITY * 1e-10);
    return keEvA * EV_TO_KJ_PER_MOL * 0.1;
}

PQEqCalculator::PQEqCalculator() : N(0), P(0), nq(0), nS(0), method(0), maxIterations(1000), cutoffUser(-1),
        ewaldTolerance(1e-6), solverTolerance(1e-6), ke(coulombConstant()), periodic(false), numClasses(0),
        numGroups(0), volume(0), rc(0), beta(0), kmax(0), boxValid(false), haveState(false), haveRef(false),
        lastIterations(0), numEvaluations(0) {}

void PQEqCalculator::setup(const PQEqForce& force, bool keepState) {
    int oldN = N, oldP = P;
    vector<int> oldPol = polAtoms;
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
    vector<int> eqIndex(N, -1);
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
    // fragments
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
    // sites and classes (one class per distinct Gaussian exponent)
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
    // exclusions
    siteExclusions.assign(nS, vector<int>());
    vector<int> shellOf(N, -1);
    for (int k = 0; k < P; k++)
        shellOf[polAtoms[k]] = N + k;
    for (int k = 0; k < P; k++) {
        siteExclusions[polAtoms[k]].push_back(N + k);
        siteExclusions[N + k].push_back(polAtoms[k]);
    }
    for (int e = 0; e < force.getNumExclusions(); e++) {
        int a, b;
        force.getExclusionParticles(e, a, b);
        int sa[2] = {a, shellOf[a]}, sb[2] = {b, shellOf[b]};
        for (int x : sa)
            for (int y : sb)
                if (x >= 0 && y >= 0) {
                    siteExclusions[x].push_back(y);
                    siteExclusions[y].push_back(x);
                }
    }
    for (auto& v : siteExclusions)
        sort(v.begin(), v.end());
    boxValid = false;
    bool sameLayout = keepState && haveState && oldN == N && oldP == P && oldPol == polAtoms;
    if (!sameLayout) {
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

Vec3 PQEqCalculator::minimumImage(Vec3 dr) const {
    for (int k = 2; k >= 0; k--) {
        double f = dr.dot(recip[k]);
        dr -= boxVec[k] * floor(f + 0.5);
    }
    return dr;
}

void PQEqCalculator::setupBox(const Vec3* box) {
    if (!periodic)
        return;
    bool same = boxValid;
    for (int k = 0; k < 3 && same; k++)
        same = (box[k] == boxVec[k]);
    if (same)
        return;
    influence.clear();
    pairListX.clear();
    for (int k = 0; k < 3; k++)
        boxVec[k] = box[k];
    volume = boxVec[0].dot(boxVec[1].cross(boxVec[2]));
    if (!(volume > 0))
        throw OpenMMException("PQEqForce: the periodic box has zero or negative volume.");
    recip[0] = boxVec[1].cross(boxVec[2]) / volume;
    recip[1] = boxVec[2].cross(boxVec[0]) / volume;
    recip[2] = boxVec[0].cross(boxVec[1]) / volume;
    double minWidth = INF;
    for (int k = 0; k < 3; k++)
        minWidth = min(minWidth, 1.0 / sqrt(recip[k].dot(recip[k])));
    boxValid = true;
    if (method == PQEqForce::Taper) {
        rc = (cutoffUser > 0 ? cutoffUser : 1.25);
        return;
    }
    rc = (cutoffUser > 0 ? cutoffUser : min(0.9, 0.5 * minWidth));
    if (rc > 0.5 * minWidth * (1 + 1e-12)) {
        stringstream msg;
        msg << "PQEqForce (CellTooSmallError): the cutoff " << rc << " nm exceeds half the smallest perpendicular box width ("
            << 0.5 * minWidth << " nm). Use a larger box or a smaller cutoff.";
        boxValid = false;
        throw OpenMMException(msg.str());
    }
    double delta = ewaldTolerance;
    beta = sqrt(-log(2.0 * delta)) / rc;
    kmax = 2.0 * beta * sqrt(-log(delta));
    // groups of classes with identical gamma rows
    int C = numClasses;
    vector<double> gamma(C * C);
    for (int i = 0; i < C * C; i++)
        gamma[i] = min(pairAlpha[i], beta);
    classGroup.assign(C, -1);
    vector<int> rep;
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
    numGroups = (int) rep.size();
    groupGamma.resize(numGroups * numGroups);
    for (int g1 = 0; g1 < numGroups; g1++)
        for (int g2 = 0; g2 < numGroups; g2++)
            groupGamma[g1 * numGroups + g2] = gamma[rep[g1] * C + rep[g2]];
    siteGroup.resize(nS);
    for (int s = 0; s < nS; s++)
        siteGroup[s] = classGroup[siteClass[s]];
    if (method == PQEqForce::Ewald) {
        kvecs.clear();
        kfac.clear();
        int nmax[3];
        for (int k = 0; k < 3; k++)
            nmax[k] = (int) floor(kmax * sqrt(boxVec[k].dot(boxVec[k])) / (2 * M_PI)) + 1;
        for (int n1 = 0; n1 <= nmax[0]; n1++)
            for (int n2 = -nmax[1]; n2 <= nmax[1]; n2++)
                for (int n3 = -nmax[2]; n3 <= nmax[2]; n3++) {
                    if (n1 == 0 && (n2 < 0 || (n2 == 0 && n3 <= 0)))
                        continue;
                    Vec3 kv = (recip[0] * n1 + recip[1] * n2 + recip[2] * n3) * (2 * M_PI);
                    double k2 = kv.dot(kv);
                    if (k2 > kmax * kmax)
                        continue;
                    kvecs.push_back(kv);
                    kfac.push_back(8 * M_PI * ke / (volume * k2));
                }
    }
    else if (method == PQEqForce::PME) {
        for (int k = 0; k < 3; k++) {
            double L = sqrt(boxVec[k].dot(boxVec[k]));
            // calibrated spacing: c_6 (beta h)^6 <= delta, c_6 = 4.0e-3 (docs/conventions.md)
            double spacing = pow(delta / 4.0e-3, 1.0 / 6.0) / beta;
            int n = (int) ceil(L / spacing);
            ngrid[k] = nextSmooth(max(n, 2 * PME_ORDER));
            int ng = ngrid[k];
            double w[16], dw[16];
            bspline(0.0, PME_ORDER, w, dw);   // w[j] = M_p(j)
            bmod[k].resize(ng);
            for (int m = 0; m < ng; m++) {
                double re = 0, im = 0;
                for (int j = 0; j < PME_ORDER - 1; j++) {
                    double arg = 2 * M_PI * m * j / ng;
                    re += w[j + 1] * cos(arg);
                    im += w[j + 1] * sin(arg);
                }
                bmod[k][m] = 1.0 / (re * re + im * im);
            }
        }
    }
}

void PQEqCalculator::pairKernel(int sa, int sb, double r, double& K, double& dK) const {
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

void PQEqCalculator::realSpace(const vector<Vec3>& x, const vector<double>& Q, vector<double>& phi, vector<Vec3>& grad) {
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
    for (int k = 0; k < 3; k++) {
        double width = 1.0 / sqrt(recip[k].dot(recip[k]));
        nimg[k] = (int) floor(rc / width + 0.5);
    }
    bool images = (nimg[0] || nimg[1] || nimg[2]);
    if (!images && (method == PQEqForce::Ewald || method == PQEqForce::PME)) {
        // cell-list pair list (rebuilt when a site moved more than half the skin)
        const double skin = 0.03;
        bool rebuild = (pairListX.size() != (size_t) nS);
        for (int a = 0; a < nS && !rebuild; a++) {
            Vec3 dx = x[a] - pairListX[a];
            rebuild = (dx.dot(dx) > 0.25 * skin * skin);
        }
        if (rebuild)
            buildPairList(x, Q, rc + skin);
        for (size_t n = 0; n < pairList.size(); n += 2) {
            int a = pairList[n], b = pairList[n + 1];
            Vec3 dr = minimumImage(x[b] - x[a]);
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
        return;
    }
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

void PQEqCalculator::buildPairList(const vector<Vec3>& x, const vector<double>& Q, double rlist) {
    pairList.clear();
    pairListX = x;
    int nc[3];
    double frac[3];
    for (int k = 0; k < 3; k++) {
        double width = 1.0 / sqrt(recip[k].dot(recip[k]));
        nc[k] = max(1, (int) floor(width / rlist));
    }
    bool useCells = (nc[0] >= 3 && nc[1] >= 3 && nc[2] >= 3);
    vector<char> excluded(nS, 0);
    auto consider = [&](int a, int b) {
        if (excluded[b])
            return;
        if (!(pairAlpha[siteClass[a] * numClasses + siteClass[b]] > beta))
            return;   // broad pair: reciprocal space only
        Vec3 dr = minimumImage(x[b] - x[a]);
        if (dr.dot(dr) < rlist * rlist) {
            pairList.push_back(a);
            pairList.push_back(b);
        }
    };
    if (!useCells) {
        for (int a = 0; a < nS; a++) {
            for (int e : siteExclusions[a])
                excluded[e] = 1;
            for (int b = a + 1; b < nS; b++)
                consider(a, b);
            for (int e : siteExclusions[a])
                excluded[e] = 0;
        }
        return;
    }
    int ncell = nc[0] * nc[1] * nc[2];
    vector<vector<int> > cells(ncell);
    vector<int> cellOf(nS);
    for (int a = 0; a < nS; a++) {
        int c[3];
        for (int k = 0; k < 3; k++) {
            frac[k] = x[a].dot(recip[k]);
            frac[k] -= floor(frac[k]);
            c[k] = min(nc[k] - 1, (int) (frac[k] * nc[k]));
        }
        cellOf[a] = (c[0] * nc[1] + c[1]) * nc[2] + c[2];
        cells[cellOf[a]].push_back(a);
    }
    for (int a = 0; a < nS; a++) {
        for (int e : siteExclusions[a])
            excluded[e] = 1;
        int c0 = cellOf[a] / (nc[1] * nc[2]), c1 = (cellOf[a] / nc[2]) % nc[1], c2 = cellOf[a] % nc[2];
        for (int d0 = -1; d0 <= 1; d0++)
            for (int d1 = -1; d1 <= 1; d1++)
                for (int d2 = -1; d2 <= 1; d2++) {
                    int n0 = (c0 + d0 + nc[0]) % nc[0], n1 = (c1 + d1 + nc[1]) % nc[1], n2 = (c2 + d2 + nc[2]) % nc[2];
                    for (int b : cells[(n0 * nc[1] + n1) * nc[2] + n2])
                        if (b > a)
                            consider(a, b);
                }
        for (int e : siteExclusions[a])
            excluded[e] = 0;
    }
}

void PQEqCalculator::reciprocalEwald(const vector<Vec3>& x, const vector<double>& Q, vector<double>& phi, vector<Vec3>& grad) {
    int G = numGroups;
    vector<double> c(nS), s(nS);
    vector<double> Sr(G), Si(G), Pr(G), Pi(G);
    for (size_t kk = 0; kk < kvecs.size(); kk++) {
        const Vec3& k = kvecs[kk];
        fill(Sr.begin(), Sr.end(), 0.0);
        fill(Si.begin(), Si.end(), 0.0);
        for (int a = 0; a < nS; a++) {
            if (Q[a] == 0)
                continue;
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
        for (int a = 0; a < nS; a++) {
            if (Q[a] == 0)
                continue;
            int g = siteGroup[a];
            phi[a] += c[a] * Pr[g] + s[a] * Pi[g];
            grad[a] += k * (Q[a] * (c[a] * Pi[g] - s[a] * Pr[g]));
        }
    }
}

namespace {
/* Stockham autosort mixed-radix FFT of one line (n = 2^a 3^b 5^c ...), unnormalised, sign +1/-1. */
void stockham(complex<double>* x, complex<double>* y, int n, int sign, const vector<complex<double> >& tw) {
    // tw[k] = exp(+2 pi i k / n); sign -1 uses the conjugates
    int n0 = n, s = 1;
    bool inX = true;
    complex<double> a[16], root[16];
    while (n0 > 1) {
        int p = 2;
        while (n0 % p != 0)
            p++;
        int m = n0 / p;
        complex<double>* src = inX ? x : y;
        complex<double>* dst = inX ? y : x;
        for (int t = 0; t < p; t++)
            root[t] = (sign > 0 ? tw[t * (n / p)] : conj(tw[t * (n / p)]));
        int step = n / n0;
        for (int q = 0; q < m; q++) {
            complex<double> wq = (sign > 0 ? tw[q * step] : conj(tw[q * step]));
            for (int s_ = 0; s_ < s; s_++) {
                for (int r = 0; r < p; r++)
                    a[r] = src[s_ + s * (q + m * r)];
                complex<double> w(1.0, 0.0);
                for (int t = 0; t < p; t++) {
                    complex<double> acc = a[0];
                    for (int r = 1; r < p; r++)
                        acc += a[r] * root[(r * t) % p];
                    dst[s_ + s * (p * q + t)] = acc * w;
                    w *= wq;
                }
            }
        }
        n0 = m;
        s *= p;
        inX = !inX;
    }
    if (!inX)
        for (int k = 0; k < n; k++)
            x[k] = y[k];
}
}

void PQEqCalculator::fft3d(vector<cplx>& data, int sign) {
    int n0 = ngrid[0], n1 = ngrid[1], n2 = ngrid[2];
    int nmax = max(n0, max(n1, n2));
    vector<cplx> line(nmax), work(nmax);
    vector<cplx> tw[3];
    for (int d = 0; d < 3; d++) {
        tw[d].resize(ngrid[d]);
        for (int k = 0; k < ngrid[d]; k++)
            tw[d][k] = cplx(cos(2 * M_PI * k / ngrid[d]), sin(2 * M_PI * k / ngrid[d]));
    }
    // last axis: contiguous lines
    for (int i = 0; i < n0 * n1; i++)
        stockham(&data[(size_t) i * n2], work.data(), n2, sign, tw[2]);
    // middle axis
    for (int i0 = 0; i0 < n0; i0++)
        for (int i2 = 0; i2 < n2; i2++) {
            size_t base = (size_t) i0 * n1 * n2 + i2;
            for (int k = 0; k < n1; k++)
                line[k] = data[base + (size_t) k * n2];
            stockham(line.data(), work.data(), n1, sign, tw[1]);
            for (int k = 0; k < n1; k++)
                data[base + (size_t) k * n2] = line[k];
        }
    // first axis
    for (int i = 0; i < n1 * n2; i++) {
        for (int k = 0; k < n0; k++)
            line[k] = data[i + (size_t) k * n1 * n2];
        stockham(line.data(), work.data(), n0, sign, tw[0]);
        for (int k = 0; k < n0; k++)
            data[i + (size_t) k * n1 * n2] = line[k];
    }
}

void PQEqCalculator::reciprocalPME(const vector<Vec3>& x, const vector<double>& Q, vector<double>& phi, vector<Vec3>& grad) {
    const int p = PME_ORDER;
    int G = numGroups;
    int n0 = ngrid[0], n1 = ngrid[1], n2 = ngrid[2];
    size_t total = (size_t) n0 * n1 * n2;
    vector<double> W(nS * 3 * p), dW(nS * 3 * p);
    vector<int> I0(nS * 3);
    for (int a = 0; a < nS; a++) {
        if (Q[a] == 0)
            continue;
        for (int dd = 0; dd < 3; dd++) {
            double f = x[a].dot(recip[dd]);
            f -= floor(f);
            double u = f * ngrid[dd];
            int iu = (int) floor(u);
            double fr = u - iu;
            bspline(fr, p, &W[(a * 3 + dd) * p], &dW[(a * 3 + dd) * p]);
            I0[a * 3 + dd] = iu;
        }
    }
    vector<vector<cplx> > grids(G, vector<cplx>(total, cplx(0, 0)));
    auto gridIndex = [&](int a, int dd, int j) {
        int k = I0[a * 3 + dd] - j;
        int n = ngrid[dd];
        k %= n;
        if (k < 0)
            k += n;
        return k;
    };
    for (int a = 0; a < nS; a++) {
        if (Q[a] == 0)
            continue;
        vector<cplx>& grid = grids[siteGroup[a]];
        const double* w0 = &W[(a * 3 + 0) * p];
        const double* w1 = &W[(a * 3 + 1) * p];
        const double* w2 = &W[(a * 3 + 2) * p];
        for (int j0 = 0; j0 < p; j0++) {
            int k0 = gridIndex(a, 0, j0);
            for (int j1 = 0; j1 < p; j1++) {
                int k1 = gridIndex(a, 1, j1);
                double w01 = Q[a] * w0[j0] * w1[j1];
                size_t base = ((size_t) k0 * n1 + k1) * n2;
                for (int j2 = 0; j2 < p; j2++)
                    grid[base + gridIndex(a, 2, j2)] += w01 * w2[j2];
            }
        }
    }
    for (int g = 0; g < G; g++)
        fft3d(grids[g], 1);
    vector<vector<cplx> > pot(G, vector<cplx>(total, cplx(0, 0)));
    if (influence.size() != (size_t) G * G * total) {
        influence.assign((size_t) G * G * total, 0.0);
        double pref = 4 * M_PI * ke / volume;
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
    for (size_t idx = 0; idx < total; idx++)
        for (int g = 0; g < G; g++) {
            cplx acc(0, 0);
            for (int h = 0; h < G; h++)
                acc += influence[(g * G + h) * total + idx] * grids[h][idx];
            pot[g][idx] = acc;
        }
    for (int g = 0; g < G; g++)
        fft3d(pot[g], -1);
    for (int a = 0; a < nS; a++) {
        if (Q[a] == 0)
            continue;
        const vector<cplx>& grid = pot[siteGroup[a]];
        const double* w0 = &W[(a * 3 + 0) * p];
        const double* w1 = &W[(a * 3 + 1) * p];
        const double* w2 = &W[(a * 3 + 2) * p];
        const double* d0 = &dW[(a * 3 + 0) * p];
        const double* d1 = &dW[(a * 3 + 1) * p];
        const double* d2 = &dW[(a * 3 + 2) * p];
        double v = 0, g0 = 0, g1 = 0, g2 = 0;
        for (int j0 = 0; j0 < p; j0++) {
            int k0 = gridIndex(a, 0, j0);
            for (int j1 = 0; j1 < p; j1++) {
                int k1 = gridIndex(a, 1, j1);
                size_t base = ((size_t) k0 * n1 + k1) * n2;
                for (int j2 = 0; j2 < p; j2++) {
                    double val = grid[base + gridIndex(a, 2, j2)].real();
                    v += val * w0[j0] * w1[j1] * w2[j2];
                    g0 += val * d0[j0] * w1[j1] * w2[j2];
                    g1 += val * w0[j0] * d1[j1] * w2[j2];
                    g2 += val * w0[j0] * w1[j1] * d2[j2];
                }
            }
        }
        phi[a] += v;
        // du_d/dx = n_d * recip_d
        grad[a] += (recip[0] * (g0 * n0) + recip[1] * (g1 * n1) + recip[2] * (g2 * n2)) * Q[a];
    }
}

double PQEqCalculator::electrostatics(const vector<Vec3>& x, const vector<double>& Q, vector<double>& phi, vector<Vec3>& grad) {
    phi.assign(nS, 0.0);
    grad.assign(nS, Vec3());
    realSpace(x, Q, phi, grad);
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
        if (method == PQEqForce::Ewald)
            reciprocalEwald(x, Q, phi, grad);
        else
            reciprocalPME(x, Q, phi, grad);
    }
    double E = 0;
    for (int a = 0; a < nS; a++)
        E += 0.5 * Q[a] * phi[a];
    return E;
}

double PQEqCalculator::evaluate(const vector<double>& xv, vector<double>& g, bool forces) {
    numEvaluations++;
    for (int k = 0; k < nq; k++)
        q[eqAtoms[k]] = xv[k];
    for (int k = 0; k < P; k++)
        d[polAtoms[k]] = Vec3(xv[nq + 3 * k], xv[nq + 3 * k + 1], xv[nq + 3 * k + 2]);
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
    g.resize(nq + 3 * P);
    for (int k = 0; k < nq; k++) {
        int i = eqAtoms[k];
        E += chi[i] * q[i] + 0.5 * eta[i] * q[i] * q[i];
        g[k] = chi[i] + eta[i] * q[i] + phiBuf[i] - field.dot(u[i]);
    }
    for (int k = 0; k < P; k++) {
        int i = polAtoms[k];
        E += 0.5 * Ks[i] * d[i].dot(d[i]);
        Vec3 gd = d[i] * Ks[i] + gradBuf[N + k] + field * Z[i];
        for (int c = 0; c < 3; c++)
            g[nq + 3 * k + c] = gd[c];
    }
    dipole = Vec3();
    for (int i = 0; i < N; i++)
        dipole += u[i] * q[i] - d[i] * Z[i];
    E -= field.dot(dipole);
    return E;
}

double PQEqCalculator::compute(const vector<Vec3>& positions, const Vec3* box, const Vec3& fieldIn, vector<Vec3>* forces) {
    pos = positions;
    field = fieldIn;
    if (periodic) {
        if (box == NULL)
            throw OpenMMException("PQEqForce: periodic method without box vectors.");
        setupBox(box);
    }
    if (!haveRef || (int) refPos.size() != N) {
        refPos = positions;
        haveRef = true;
    }
    u.resize(N);
    for (int i = 0; i < N; i++)
        u[i] = (periodic ? refPos[i] + minimumImage(pos[i] - refPos[i]) : pos[i]);
    int n = nq + 3 * P;
    vector<double> x(n), g, gt, xt(n), z(n), p(n, 0.0), gp(n), zPrev, gPrev;
    // warm start (projected onto the fragment constraints)
    for (size_t f = 0; f < fragMembers.size(); f++) {
        double sum = 0;
        for (int k : fragMembers[f])
            sum += q[eqAtoms[k]];
        double shift = (fragCharge[f] - sum) / fragMembers[f].size();
        for (int k : fragMembers[f])
            q[eqAtoms[k]] += shift;
    }
    for (int k = 0; k < nq; k++)
        x[k] = q[eqAtoms[k]];
    for (int k = 0; k < P; k++)
        for (int c = 0; c < 3; c++)
            x[nq + 3 * k + c] = d[polAtoms[k]][c];
    const double EV = EV_TO_KJ_PER_MOL;
    const double EV_PER_A = EV_TO_KJ_PER_MOL * 10.0;
    double E = evaluate(x, g, false);
    bool exact = true, havePrev = false;
    int sinceExact = 0;
    lastIterations = 0;
    if (n > 0) {
        int it;
        for (it = 0; it <= maxIterations; it++) {
            // residuals
            double rq = 0, rd = 0;
            vector<double> lambda(fragMembers.size(), 0.0);
            for (size_t f = 0; f < fragMembers.size(); f++) {
                double mean = 0, wsum = 0, wg = 0;
                for (int k : fragMembers[f]) {
                    mean += g[k];
                    wg += g[k] / eta[eqAtoms[k]];
                    wsum += 1.0 / eta[eqAtoms[k]];
                }
                mean /= fragMembers[f].size();
                for (int k : fragMembers[f])
                    rq = max(rq, fabs(g[k] - mean));
                lambda[f] = wg / wsum;
            }
            for (int k = 0; k < 3 * P; k++)
                rd = max(rd, fabs(g[nq + k]));
            double res = max(rq / EV, rd / EV_PER_A);
            if (!(res == res))
                throw OpenMMException("PQEqForce: the charge/shell solver produced NaN.");
            if (res < solverTolerance) {
                if (exact)
                    break;
                E = evaluate(x, g, false);
                exact = true;
                havePrev = false;
                sinceExact = 0;
                continue;
            }
            if (it == maxIterations)
                break;
            // projected gradient (the fragment multiplier removed: avoids cancellation), preconditioned
            for (int k = 0; k < nq; k++)
                gp[k] = g[k] - lambda[eqFragment[k]];
            for (int k = nq; k < n; k++)
                gp[k] = g[k];
            for (int k = 0; k < nq; k++)
                z[k] = gp[k] / eta[eqAtoms[k]];
            for (int k = 0; k < P; k++)
                for (int c = 0; c < 3; c++)
                    z[nq + 3 * k + c] = gp[nq + 3 * k + c] / Ks[polAtoms[k]];
            // z sums to zero per fragment up to rounding: remove the residue
            for (size_t f = 0; f < fragMembers.size(); f++) {
                double sz = 0, w = 0;
                for (int k : fragMembers[f]) {
                    sz += z[k];
                    w += 1.0 / eta[eqAtoms[k]];
                }
                for (int k : fragMembers[f])
                    z[k] -= sz / (w * eta[eqAtoms[k]]);
            }
            double zg = 0, betaCG = 0;
            for (int k = 0; k < n; k++)
                zg += z[k] * gp[k];
            if (havePrev) {
                double num = 0, den = 0;
                for (int k = 0; k < n; k++) {
                    num += z[k] * (gp[k] - gPrev[k]);
                    den += zPrev[k] * gPrev[k];
                }
                betaCG = (den > 0 ? max(0.0, num / den) : 0.0);
            }
            double pg = 0;
            for (int k = 0; k < n; k++) {
                p[k] = -z[k] + betaCG * p[k];
                pg += p[k] * gp[k];
            }
            if (!(pg < 0)) {
                pg = -zg;
                for (int k = 0; k < n; k++)
                    p[k] = -z[k];
            }
            if (!(pg < 0))
                break;   // no descent direction left at this precision
            // secant line search (exact for the quadratic part)
            const double t0 = 1.0;
            for (int k = 0; k < n; k++)
                xt[k] = x[k] + t0 * p[k];
            evaluate(xt, gt, false);
            double curv = 0, pp = 0;
            for (int k = 0; k < n; k++) {
                curv += p[k] * (gt[k] - g[k]);
                pp += p[k] * p[k];
            }
            curv /= t0;
            if (!(curv > 0)) {
                haveState = false;
                setupStateReset();
                stringstream msg;
                msg << "PQEqForce: the charge/shell energy is not positive definite (curvature " << curv / pp
                    << " along the search direction): polarisation catastrophe or unphysical parameters "
                    << "(too soft springs, too small eta).";
                throw OpenMMException(msg.str());
            }
            double t = -pg / curv;
            zPrev = z;
            gPrev = gp;
            havePrev = true;
            E += t * pg + 0.5 * t * t * curv;
            for (int k = 0; k < n; k++) {
                x[k] += t * p[k];
                g[k] += (t / t0) * (gt[k] - g[k]);
            }
            exact = false;
            if (P > 0 && ++sinceExact >= 4) {
                E = evaluate(x, g, false);
                exact = true;
                sinceExact = 0;
            }
            for (int k = 0; k < P; k++) {
                double dx = x[nq + 3 * k], dy = x[nq + 3 * k + 1], dz = x[nq + 3 * k + 2];
                if (dx * dx + dy * dy + dz * dz > 0.3 * 0.3) {
                    setupStateReset();
                    stringstream msg;
                    msg << "PQEqForce: shell of particle " << polAtoms[k]
                        << " ran away (|d| > 0.3 nm): polarisation catastrophe or unphysical parameters.";
                    throw OpenMMException(msg.str());
                }
            }
        }
        lastIterations = it;
        {
            // final check with an exact gradient
            if (!exact)
                E = evaluate(x, g, false);
            double rq = 0, rd = 0;
            for (size_t f = 0; f < fragMembers.size(); f++) {
                double mean = 0;
                for (int k : fragMembers[f])
                    mean += g[k];
                mean /= fragMembers[f].size();
                for (int k : fragMembers[f])
                    rq = max(rq, fabs(g[k] - mean));
            }
            for (int k = 0; k < 3 * P; k++)
                rd = max(rd, fabs(g[nq + k]));
            if (max(rq / EV, rd / EV_PER_A) >= solverTolerance) {
                setupStateReset();
                stringstream msg;
                msg << "PQEqForce: the charge/shell solver did not converge in " << maxIterations
                    << " iterations (residual " << rq / EV << " eV/e, " << rd / EV_PER_A << " eV/A; tolerance "
                    << solverTolerance << "). Increase setSolverMaxIterations or the tolerance.";
                throw OpenMMException(msg.str());
            }
        }
    }
    haveState = true;
    if (forces != NULL) {
        vector<Vec3>& f = *forces;
        for (int i = 0; i < N; i++)
            f[i] += field * q[i] - gradBuf[i];
        for (int k = 0; k < P; k++)
            f[polAtoms[k]] -= gradBuf[N + k];
    }
    return E;
}

void PQEqCalculator::setupStateReset() {
    haveState = false;
    for (int i = 0; i < N; i++) {
        q[i] = fixed[i] ? fixedQ[i] : 0.0;
        d[i] = Vec3();
    }
    for (size_t f = 0; f < fragMembers.size(); f++)
        for (int k : fragMembers[f])
            q[eqAtoms[k]] = fragCharge[f] / fragMembers[f].size();
}
