/* The Coulomb operator of PQEqCalculator (PQEqCoulombOperator.h): parameters, box, cache validity, and the
 * sum of real space, the self and k = 0 terms, the excluded pairs and reciprocal space. */

#include "PQEqCoulombOperator.h"
#include "PQEqMath.h"
#include <algorithm>
#include <cmath>
#include <cstdlib>

using namespace OpenMM;
using namespace PolarML;
using namespace PolarML::pqeq_detail;
using namespace std;

PQEqCoulombOperator::PQEqCoulombOperator() : ke(coulombConstantKJ()), profile(getenv("POLARML_PQEQ_PROFILE") != NULL) {}

void PQEqCoulombOperator::setup(const PQEqParticleLayout& layout) {
    static_cast<PQEqParticleLayout&>(*this) = layout;
    boxValid = false;
    listX.clear();
    invalidate();
}

void PQEqCoulombOperator::invalidate() {
    ccValid = false;
    coreSplinesValid = false;
    coreGradPending = false;
}

bool PQEqCoulombOperator::setBox(const Vec3* box) {
    bool same = boxValid;
    for (int k = 0; k < 3 && same; k++)
        same = (box[k] == boxVec[k]);
    if (same)
        return false;
    listX.clear();   // the pair list depends on the box and on beta
    boxValid = false;
    setBoxVectors(box);
    chooseCutoff(method, cutoffUser);
    boxValid = true;
    if (method == PQEqForce::Taper)
        return true;
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
    return true;
}

double PQEqCoulombOperator::evaluate(const vector<Vec3>& x, const vector<double>& Q, vector<double>& phi, vector<Vec3>& grad) {
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
