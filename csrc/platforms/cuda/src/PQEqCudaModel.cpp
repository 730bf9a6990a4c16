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
    if (force.getChargeTransfer() != PQEqForce::Global)
        throw OpenMMException("PQEqForce: split charge transfer is implemented on the Reference/CPU platform only; "
                              "use the Reference or CPU platform, or setChargeTransfer(PQEqForce::Global) on CUDA");
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
