#include "PQEqCudaModel.h"
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
    setupLayout(force);
    exclStart.assign(nS + 1, 0);
    exclList.clear();
    for (int s = 0; s < nS; s++) {
        exclList.insert(exclList.end(), siteExclusions[s].begin(), siteExclusions[s].end());
        exclStart[s + 1] = (int) exclList.size();
    }
}

bool PQEqSystemModel::sameLayout(const PQEqSystemModel& other) const {
    return N == other.N && P == other.P && polAtoms == other.polAtoms && fixed == other.fixed && splitCharge == other.splitCharge;
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
        ncell[0] = ncell[1] = ncell[2] = 0;
        return true;
    }
    bool same = valid;
    for (int k = 0; k < 3 && same; k++)
        same = (boxIn[k] == boxVec[k]);
    if (same)
        return false;
    valid = false;
    setBoxVectors(boxIn);
    chooseCutoff(m.method, m.cutoffUser);
    imageCounts(rc, nimg);
    shifts.clear();
    shifts.push_back(Vec3());
    for (int n1 = -nimg[0]; n1 <= nimg[0]; n1++)
        for (int n2 = -nimg[1]; n2 <= nimg[1]; n2++)
            for (int n3 = -nimg[2]; n3 <= nimg[2]; n3++)
                if (n1 != 0 || n2 != 0 || n3 != 0)
                    shifts.push_back(boxVec[0] * n1 + boxVec[1] * n2 + boxVec[2] * n3);
    chooseCells(m.nS);
    valid = true;
    numGroups = 1;
    siteGroup.assign(m.nS, 0);
    if (m.method == PQEqForce::Taper)
        return true;
    setupScreening(m, m.ewaldTolerance);
    int G = numGroups;
    if (m.method == PQEqForce::Ewald) {
        setupKVectors();
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
        setupPmeMesh(m.ewaldTolerance);
        pmeInfluence(m.ke, groupGamma, influence);   // one mesh per group pair: [(g*G+h)*total + idx]
    }
    return true;
}

void PQEqBoxModel::chooseCells(int nS) {
    cellCounts(rc * (1 + 1e-3), ncell);
    if (ncell[0] < 3 || ncell[1] < 3 || ncell[2] < 3) {
        ncell[0] = ncell[1] = ncell[2] = 0;
        return;
    }
    double total = (double) ncell[0] * ncell[1] * ncell[2], limit = max(27, nS);
    if (total > limit) {   // fewer, wider cells (at most about one per site)
        double f = cbrt(limit / total);
        for (int k = 0; k < 3; k++)
            ncell[k] = max(3, (int) floor(ncell[k] * f));
    }
}
