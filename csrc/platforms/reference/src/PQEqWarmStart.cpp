/* Warm-start predictor of PQEqCalculator (PQEqWarmStart.h). */

#include "PQEqWarmStart.h"
#include <algorithm>

using namespace OpenMM;
using namespace PolarML;
using namespace std;

namespace {
const int MAX_HISTORY = 4;
/* Polynomial extrapolation to the next point of equally spaced samples (newest first), orders 0-3. */
const double EXTRAPOLATION[4][4] = {{1, 0, 0, 0}, {2, -1, 0, 0}, {3, -3, 1, 0}, {4, -6, 4, -1}};
}

void PQEqWarmStart::clear() {
    historyPos.clear();
    historyQ.clear();
    historyS.clear();
    historyD.clear();
}

int PQEqWarmStart::predict(const vector<Vec3>& pos, const vector<char>& fixed, const vector<double>& Ks,
                           vector<double>& q, vector<Vec3>& d, vector<double>* splitS) const {
    // Start from a polynomial extrapolation of the previous solutions when the positions themselves follow
    // the same extrapolation (MD with a fixed step): the prediction error then shrinks with the order.
    // The order is the highest whose position prediction misses by less than a quarter of the last
    // displacement; otherwise the previous solution is the start.
    const int N = (int) pos.size();
    int h = (int) historyPos.size();
    if (h < 2)
        return 0;
    double step2 = 0;
    for (int i = 0; i < N; i++) {
        Vec3 dx = pos[i] - historyPos[0][i];
        step2 += dx.dot(dx);
    }
    if (step2 == 0)
        return 0;
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
            // the bond variables, when the history reaches back that far on the current bond list
            if (splitS != NULL && (int) historyS.size() > order)
                for (size_t b = 0; b < splitS->size(); b++) {
                    double s = 0;
                    for (int j = 0; j <= order; j++)
                        s += historyS[j][b] * c[j];
                    (*splitS)[b] = s;
                }
            return order;
        }
    }
    return 0;
}

void PQEqWarmStart::record(const vector<Vec3>& pos, const vector<double>& q, const vector<Vec3>& d,
                           const vector<double>* splitS) {
    if (!historyPos.empty() && historyPos[0] == pos) {
        historyQ[0] = q;   // same positions (e.g. a state query after a step): refresh, do not extend
        if (splitS != NULL && !historyS.empty())
            historyS[0] = *splitS;
        historyD[0] = d;
        return;
    }
    historyPos.insert(historyPos.begin(), pos);
    historyQ.insert(historyQ.begin(), q);
    if (splitS != NULL)   // bond variables of the same bond list (cleared when the list changes)
        historyS.insert(historyS.begin(), *splitS);
    if ((int) historyS.size() > MAX_HISTORY)
        historyS.pop_back();
    historyD.insert(historyD.begin(), d);
    if ((int) historyPos.size() > MAX_HISTORY) {
        historyPos.pop_back();
        historyQ.pop_back();
        historyD.pop_back();
    }
}
