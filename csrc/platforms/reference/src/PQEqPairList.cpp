/* Kernel tables and the atom neighbour list of the Coulomb operator's Ewald/PME real space
 * (PQEqCoulombOperator.h; the pair sums are in PQEqRealSpace.cpp). */

#include "PQEqCoulombOperator.h"
#include "PQEqMath.h"
#include <algorithm>
#include <cmath>

using namespace OpenMM;
using namespace PolarML;
using namespace PolarML::pqeq_detail;
using namespace std;

void PQEqCoulombOperator::buildKernelTables() {
    int C = numClasses;
    tables.clear();
    classTable.assign(C * C, -2);
    tableSmax = (rc + SHELL_REACH) * (rc + SHELL_REACH);   // shell pairs of atoms closer than rc
    double smax = tableSmax;
    for (int c1 = 0; c1 < C; c1++)
        for (int c2 = c1; c2 < C; c2++) {
            double a = pairAlpha[c1 * C + c2];
            int t = -2;
            if (a == INF)
                t = -1;
            else if (a > beta) {
                // reuse a table of the same exponent
                for (int c3 = 0; c3 < C * C && t < 0; c3++)
                    if (classTable[c3] >= 0 && pairAlpha[c3] == a)
                        t = classTable[c3];
                if (t < 0) {
                    KernelTable T = buildKernelTable(a, beta, ke, smax);
                    t = (int) tables.size();
                    tables.push_back(T);
                }
            }
            classTable[c1 * C + c2] = classTable[c2 * C + c1] = t;
        }
}

void PQEqCoulombOperator::buildPairList(const vector<Vec3>& x, double rlist) {
    // neighbour list of atoms (cores): pairs (i, j > i) with |x_j + shift - x_i| < rlist
    nbList.clear();
    nbStart.assign(N + 1, 0);
    listX.assign(x.begin(), x.begin() + N);
    ccValid = false;
    int C = numClasses;
    // wrap every core into the unit cell; remember the lattice vector removed (a shell uses its atom's)
    siteOffset.resize(nS);
    xw.resize(nS);
    for (int a = 0; a < N; a++) {
        Vec3 off;
        for (int k = 0; k < 3; k++)
            off += boxVec[k] * floor(x[a].dot(recip[k]));
        siteOffset[a] = off;
        xw[a] = x[a] - off;
    }
    for (int a = N; a < nS; a++)
        siteOffset[a] = siteOffset[siteAtom[a]];
    shellSite.assign(N, -1);
    for (int k = 0; k < P; k++)
        shellSite[polAtoms[k]] = N + k;
    for (int n0 = -1; n0 <= 1; n0++)
        for (int n1 = -1; n1 <= 1; n1++)
            for (int n2 = -1; n2 <= 1; n2++)
                shiftVec[(n0 + 1) * 9 + (n1 + 1) * 3 + (n2 + 1)] = boxVec[0] * n0 + boxVec[1] * n1 + boxVec[2] * n2;
    double rl2 = rlist * rlist;
    // atom exclusions: the user's (they exclude all four site pairs of the two atoms)
    vector<char> excluded(N, 0);
    auto markExcl = [&](int a, char v) {
        for (int e : siteExclusions[a])
            if (e < N)
                excluded[e] = v;
    };
    auto add = [&](int a, int b, int shift) {
        int t = classTable[siteClass[a] * C + siteClass[b]];
        if (t == -2)
            return;   // broad pair: reciprocal space only
        Vec3 dr = xw[b] - xw[a] + shiftVec[shift];
        if (dr.dot(dr) >= rl2)
            return;
        Neighbour nb;
        nb.b = b;
        nb.table = (short) t;
        nb.shift = (short) shift;
        nbList.push_back(nb);
    };
    int nc[3];
    cellCounts(rlist, nc);
    if (!(nc[0] >= 3 && nc[1] >= 3 && nc[2] >= 3)) {
        // small cell: every pair, every neighbouring image whose fractional offsets allow |dr| < rlist
        // (|df_k| W_k <= |dr| for the perpendicular width W_k)
        double lim[3];
        for (int k = 0; k < 3; k++)
            lim[k] = rlist * sqrt(recip[k].dot(recip[k]));
        vector<double> frac(3 * N);
        for (int a = 0; a < N; a++)
            for (int k = 0; k < 3; k++)
                frac[3 * a + k] = xw[a].dot(recip[k]);
        for (int a = 0; a < N; a++) {
            nbStart[a] = (int) nbList.size();
            markExcl(a, 1);
            for (int b = a + 1; b < N; b++) {
                if (excluded[b])
                    continue;
                int cand[3][3], nc3[3] = {0, 0, 0};
                for (int k = 0; k < 3; k++) {
                    double df = frac[3 * b + k] - frac[3 * a + k];
                    for (int n = -1; n <= 1; n++)
                        if (fabs(df + n) < lim[k])
                            cand[k][nc3[k]++] = n;
                }
                for (int i0 = 0; i0 < nc3[0]; i0++)
                    for (int i1 = 0; i1 < nc3[1]; i1++)
                        for (int i2 = 0; i2 < nc3[2]; i2++)
                            add(a, b, (cand[0][i0] + 1) * 9 + (cand[1][i1] + 1) * 3 + (cand[2][i2] + 1));
            }
            markExcl(a, 0);
        }
        nbStart[N] = (int) nbList.size();
        return;
    }
    // cell list in fractional coordinates (cell widths >= rlist: neighbours lie in the 27 adjacent cells)
    int ncell = nc[0] * nc[1] * nc[2];
    vector<int> cellStart(ncell + 1, 0), cellOf(N), order(N);
    int cidx[3];
    vector<int> cellCoord(3 * N);
    for (int a = 0; a < N; a++) {
        for (int k = 0; k < 3; k++) {
            double f = xw[a].dot(recip[k]);
            cidx[k] = min(nc[k] - 1, max(0, (int) (f * nc[k])));
            cellCoord[3 * a + k] = cidx[k];
        }
        cellOf[a] = (cidx[0] * nc[1] + cidx[1]) * nc[2] + cidx[2];
        cellStart[cellOf[a] + 1]++;
    }
    for (int c = 0; c < ncell; c++)
        cellStart[c + 1] += cellStart[c];
    {
        vector<int> fill(cellStart.begin(), cellStart.end() - 1);
        for (int a = 0; a < N; a++)
            order[fill[cellOf[a]]++] = a;
    }
    vector<pair<int, int> > found;   // (b, shift) of a, sorted by b for memory locality
    for (int a = 0; a < N; a++) {
        nbStart[a] = (int) nbList.size();
        found.clear();
        markExcl(a, 1);
        const int* ca = &cellCoord[3 * a];
        for (int d0 = -1; d0 <= 1; d0++)
            for (int d1 = -1; d1 <= 1; d1++)
                for (int d2 = -1; d2 <= 1; d2++) {
                    int m[3] = {ca[0] + d0, ca[1] + d1, ca[2] + d2}, sh[3];
                    for (int k = 0; k < 3; k++) {
                        sh[k] = (m[k] < 0 ? -1 : (m[k] >= nc[k] ? 1 : 0));
                        m[k] -= sh[k] * nc[k];
                    }
                    int cell = (m[0] * nc[1] + m[1]) * nc[2] + m[2];
                    int shift = (sh[0] + 1) * 9 + (sh[1] + 1) * 3 + (sh[2] + 1);
                    for (int k = cellStart[cell]; k < cellStart[cell + 1]; k++) {
                        int b = order[k];
                        if (b > a && !excluded[b])
                            found.push_back(make_pair(b, shift));
                    }
                }
        sort(found.begin(), found.end());
        for (auto& bs : found)
            add(a, bs.first, bs.second);
        markExcl(a, 0);
    }
    nbStart[N] = (int) nbList.size();
}
