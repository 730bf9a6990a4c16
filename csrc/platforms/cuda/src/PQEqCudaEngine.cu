/* The CUDA PQEq engine, part 1 (see PQEqCudaEngineImpl.cuh): set-up from the force, device memory, the
 * split-charge bond list, the box-dependent arrays, positions in and results out. Compiled by nvcc, or
 * by a C++ compiler with POLARML_CUDA_EMULATION as a serial emulation (see PQEqCudaCompat.h). */

#include "PQEqCudaEngineImpl.cuh"
#include "PQEqCudaContextKernels.cuh"
#include "PQEqInputChecks.h"
#include "openmm/OpenMMException.h"
#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

using namespace OpenMM;
using namespace PolarML;
using namespace std;

#ifdef POLARML_CUDA_EMULATION
int PolarML::pqemu::tid = 0;
int PolarML::pqemu::nthreads = 1;
#else
void PolarML::pqCheck(cudaError_t err, const char* what) {
    if (err != cudaSuccess) {
        stringstream msg;
        msg << "PQEqForce (CUDA): " << what << " failed: " << cudaGetErrorString(err);
        throw OpenMMException(msg.str());
    }
}
#endif

namespace {

const double INF = numeric_limits<double>::infinity();

template <class A, class B> vector<A> convert(const vector<B>& v) {
    return vector<A>(v.begin(), v.end());
}

} // namespace

template <class T> void PQEqCudaEngineImpl<T>::setup(const PQEqForce& force, bool keepState) {
    PQEqSystemModel old = model;
    model.setup(force);
    const PQEqSystemModel& m = model;
    bool same = keepState && haveState && m.sameLayout(old);
    if (!same)
        bonds.clear();
    boxModel = PQEqBoxModel();
    kp = KP<T>();
    kp.N = m.N;
    kp.P = m.P;
    kp.nq = m.nq;
    kp.nS = m.nS;
    kp.split = m.splitCharge ? 1 : 0;
    kp.nb = (int) bonds.size();   // split: one variable per bond (of the last solve; buildSplitBonds)
    kp.nx = (m.splitCharge ? kp.nb : m.nq);
    kp.n = kp.nx + 3 * m.P;
    kp.method = m.method;
    kp.periodic = m.periodic ? 1 : 0;
    kp.C = m.numClasses;
    kp.nfrag = (int) m.fragMembers.size();
    kp.ke = (T) m.ke;
    dChi.upload(m.chi, stream);
    dEta.upload(m.eta, stream);
    dKs.upload(m.Ks, stream);
    dZ.upload(m.Z, stream);
    dFixedQ.upload(m.fixedQ, stream);
    dEqIndex.upload(m.eqIndex, stream);
    dPolIndex.upload(m.polIndex, stream);
    dEqAtoms.upload(m.eqAtoms, stream);
    dPolAtoms.upload(m.polAtoms, stream);
    dEqFragment.upload(m.eqFragment, stream);
    vector<double> invPrec(kp.n), fragInvEta(kp.nfrag, 0.0), fragCount(kp.nfrag, 0.0);
    for (int k = 0; k < m.nq; k++) {
        double v = 1.0 / m.eta[m.eqAtoms[k]];
        if (!m.splitCharge)
            invPrec[k] = v;
        fragInvEta[m.eqFragment[k]] += v;
        fragCount[m.eqFragment[k]] += 1.0;
    }
    shellInvPrec.resize(3 * m.P);
    for (int s = 0; s < m.P; s++)
        for (int c = 0; c < 3; c++)
            invPrec[kp.nx + 3 * s + c] = shellInvPrec[3 * s + c] = 1.0 / m.Ks[m.polAtoms[s]];
    dInvPrec.upload(invPrec.empty() ? vector<double>(1, 0.0) : invPrec, stream);
    dFragInvEta.upload(fragInvEta, stream);
    dFragCount.upload(fragCount, stream);
    dFragCharge.upload(m.fragCharge, stream);
    dSiteClass.upload(m.siteClass, stream);
    dExclStart.upload(m.exclStart, stream);
    dExclList.upload(m.exclList.empty() ? vector<int>(1, 0) : m.exclList, stream);
    vector<T> pairAlpha(m.pairAlpha.size());
    for (size_t i = 0; i < pairAlpha.size(); i++)
        pairAlpha[i] = (m.pairAlpha[i] == INF ? numeric_limits<T>::infinity() : (T) m.pairAlpha[i]);
    dPairAlpha.upload(pairAlpha, stream);
    for (auto* a : {&dPos, &dRef, &dU, &dDAtom, &dForces})
        a->resize(3 * m.N);
    dQAtom.resize(m.N);
    for (auto* a : {&dSx, &dSy, &dSz, &dSq})
        a->resize(m.nS);
    dPhi.resize(m.nS);
    dGrad.resize(3 * m.nS);
    dRefQ.upload(m.referenceQ, stream);
    dChargeGrad.resize(m.N);
    resizeSolver();
    for (auto* a : {&dFragSum, &dFragWg, &dFragSz})
        a->resize(max(kp.nfrag, 1));
    dScalars.resize(S_COUNT);
    kp.chi = dChi.get();
    kp.eta = dEta.get();
    kp.Ks = dKs.get();
    kp.Z = dZ.get();
    kp.fixedQ = dFixedQ.get();
    kp.invPrec = dInvPrec.get();
    kp.fragInvEta = dFragInvEta.get();
    kp.fragCharge = dFragCharge.get();
    kp.fragCount = dFragCount.get();
    kp.eqIndex = dEqIndex.get();
    kp.polIndex = dPolIndex.get();
    kp.eqAtoms = dEqAtoms.get();
    kp.polAtoms = dPolAtoms.get();
    kp.eqFragment = dEqFragment.get();
    kp.pos = dPos.get();
    kp.ref = dRef.get();
    kp.u = dU.get();
    kp.qAtom = dQAtom.get();
    kp.dAtom = dDAtom.get();
    kp.forces = dForces.get();
    kp.siteClass = dSiteClass.get();
    kp.exclStart = dExclStart.get();
    kp.exclList = dExclList.get();
    kp.sx = dSx.get();
    kp.sy = dSy.get();
    kp.sz = dSz.get();
    kp.sq = dSq.get();
    kp.phi = dPhi.get();
    kp.grad = dGrad.get();
    kp.pairAlpha = dPairAlpha.get();
    kp.fragSum = dFragSum.get();
    kp.fragWg = dFragWg.get();
    kp.fragSz = dFragSz.get();
    kp.scalars = dScalars.get();
    kp.refQ = dRefQ.get();
    kp.chargeGrad = dChargeGrad.get();
    if (!same)
        resetState();
    else {
        // fixed charges may have changed: the unknowns x hold only equilibrated charges and shells
    }
    if (old.N != m.N)
        haveRef = false;
}

/* Initial guess: each fragment's charge spread evenly, shells at the cores. */
template <class T> void PQEqCudaEngineImpl<T>::resetState() {
    if (model.splitCharge) {   // no bonds yet: buildSplitBonds starts every bond variable at 0
        bonds.clear();
        kp.nx = kp.nb = 0;
        kp.n = 3 * model.P;
        resizeSolver();
    }
    vector<double> x(max(kp.n, 1), 0.0);
    for (size_t f = 0; f < model.fragMembers.size() && !model.splitCharge; f++)
        for (int k : model.fragMembers[f])
            x[k] = model.fragCharge[f] / model.fragMembers[f].size();
    dX.upload(x, stream);
    haveState = false;
}

/* The solver vectors for kp.n unknowns (resize() keeps an array whose size is unchanged). */
template <class T> void PQEqCudaEngineImpl<T>::resizeSolver() {
    for (auto* a : {&dX, &dG, &dXt, &dGt, &dP, &dZv, &dGp, &dZPrev, &dGPrev})
        a->resize(max(kp.n, 1));
}

/* Split charges: the bonds at the current positions (PQEqSplitBonds.h, the Reference platform's rule:
 * equilibrated pairs closer than the split cutoff, minimum image), the bond variables of the previous
 * solve carried over by pair, the shells kept; then the bond arrays, the per-atom bond lists and the
 * diagonal preconditioner w^2 (eta_i + eta_j) + kappa of the bond block. The positions come to the
 * host for this (3N doubles per evaluation). */
template <class T> void PQEqCudaEngineImpl<T>::buildSplitBonds() {
    const PQEqSystemModel& m = model;
    vector<double> flat, xOld;
    dPos.download(flat, stream);
    dX.download(xOld, stream);
    vector<Vec3> pos(m.N);
    for (int i = 0; i < m.N; i++)
        pos[i] = Vec3(flat[3 * i], flat[3 * i + 1], flat[3 * i + 2]);
    auto image = [&](const Vec3& dr) { return m.periodic ? boxModel.minimumImage(dr) : dr; };
    vector<pqeq_detail::SplitBond> found;
    pqeq_detail::findSplitBonds(pos, m.eqAtoms, m.splitCutoff, m.splitCutoff, m.bondHardness, image, found);
    vector<double> oldS(xOld.begin(), xOld.begin() + min((size_t) kp.nb, xOld.size())), s;
    pqeq_detail::carrySplitVariables(bonds, oldS, found, s);
    int nb = (int) found.size();
    vector<double> x(s), invPrec(nb);
    x.resize(nb + 3 * m.P);
    for (int k = 0; k < 3 * m.P && kp.nx + k < (int) xOld.size(); k++)
        x[nb + k] = xOld[kp.nx + k];
    bonds.swap(found);
    vector<double> R(3 * nb), len(nb), w(nb), dw(nb), kappa(nb);
    vector<int> bi(nb), bj(nb), start(m.N + 1, 0), list(2 * nb);
    for (int b = 0; b < nb; b++) {
        const pqeq_detail::SplitBond& B = bonds[b];
        for (int c = 0; c < 3; c++)
            R[3 * b + c] = B.R[c];
        len[b] = B.r;
        w[b] = B.w;
        dw[b] = B.dw;
        kappa[b] = B.kappa;
        bi[b] = B.i;
        bj[b] = B.j;
        start[B.i + 1]++;
        start[B.j + 1]++;
        invPrec[b] = 1.0 / (B.w * B.w * (m.eta[B.i] + m.eta[B.j]) + B.kappa);
    }
    for (int i = 0; i < m.N; i++)
        start[i + 1] += start[i];
    vector<int> fill(start.begin(), start.end() - 1);
    for (int b = 0; b < nb; b++) {   // ascending b per atom: the Reference platform's summation order
        list[fill[bonds[b].i]++] = b;
        list[fill[bonds[b].j]++] = -b - 1;
    }
    invPrec.insert(invPrec.end(), shellInvPrec.begin(), shellInvPrec.end());
    auto nonEmpty = [](vector<double> v) { return v.empty() ? vector<double>(1, 0.0) : v; };
    auto nonEmptyInt = [](vector<int> v) { return v.empty() ? vector<int>(1, 0) : v; };
    kp.nb = kp.nx = nb;
    kp.n = nb + 3 * m.P;
    resizeSolver();
    dX.upload(nonEmpty(x), stream);
    dInvPrec.upload(nonEmpty(invPrec), stream);
    dBondR.upload(nonEmpty(R), stream);
    dBondLen.upload(nonEmpty(len), stream);
    dBondW.upload(nonEmpty(w), stream);
    dBondDW.upload(nonEmpty(dw), stream);
    dBondKappa.upload(nonEmpty(kappa), stream);
    dBondI.upload(nonEmptyInt(bi), stream);
    dBondJ.upload(nonEmptyInt(bj), stream);
    dAtomBondStart.upload(start, stream);
    dAtomBondList.upload(nonEmptyInt(list), stream);
    dBondDEdR.resize(max(3 * nb, 1));
    kp.invPrec = dInvPrec.get();
    kp.bondR = dBondR.get();
    kp.bondLen = dBondLen.get();
    kp.bondW = dBondW.get();
    kp.bondDW = dBondDW.get();
    kp.bondKappa = dBondKappa.get();
    kp.bondI = dBondI.get();
    kp.bondJ = dBondJ.get();
    kp.atomBondStart = dAtomBondStart.get();
    kp.atomBondList = dAtomBondList.get();
    kp.bondDEdR = dBondDEdR.get();
}

template <class T> void PQEqCudaEngineImpl<T>::checkInput(const vector<Vec3>& positions, const Vec3* box, const Vec3& field) const {
    checkField(field);
    checkOverlaps(positions, model.eqAtoms, model.periodic ? box : NULL, [&](int i, int j) {
        const vector<int>& ex = model.siteExclusions[i];
        return std::binary_search(ex.begin(), ex.end(), j);
    });
}

template <class T> void PQEqCudaEngineImpl<T>::setPositions(const vector<Vec3>& positions) {
    if ((int) positions.size() != model.N)
        throw OpenMMException("PQEqForce (CUDA): wrong number of positions");
    hostPositions = positions;
    vector<double> flat(3 * model.N);
    for (int i = 0; i < model.N; i++)
        for (int c = 0; c < 3; c++)
            flat[3 * i + c] = positions[i][c];
    pqToDevice(dPos.get(), flat.data(), flat.size() * sizeof(double), stream);
}

template <class T> void PQEqCudaEngineImpl<T>::setPositionsFromPosq(const void* posq, const void* corr, const int* atomIndex, int numAtoms, bool posqIsDouble) {
    if (posqIsDouble)
        PQ_LAUNCH(kPositionsFromPosq<double>, numAtoms, (const double*) posq, (const float*) nullptr, atomIndex, numAtoms, dPos.get());
    else
        PQ_LAUNCH(kPositionsFromPosq<float>, numAtoms, (const float*) posq, (const float*) corr, atomIndex, numAtoms, dPos.get());
}

template <class T> void PQEqCudaEngineImpl<T>::uploadBox() {
    const PQEqBoxModel& b = boxModel;
    int G = b.numGroups;
    if (G > PQ_MAX_GROUPS) {
        stringstream msg;
        msg << "PQEqForce (CUDA): " << G << " Gaussian class groups; at most " << PQ_MAX_GROUPS << " are supported";
        throw OpenMMException(msg.str());
    }
    kp.G = G;
    kp.rc = (T) b.rc;
    kp.rc2 = (b.rc == INF ? numeric_limits<T>::infinity() : (T) (b.rc * b.rc));
    kp.beta = (T) b.beta;
    for (int k = 0; k < 3; k++)
        for (int c = 0; c < 3; c++) {
            kp.box[3 * k + c] = (T) b.boxVec[k][c];
            kp.recip[3 * k + c] = (T) b.recip[k][c];
            kp.boxD[3 * k + c] = b.boxVec[k][c];
            kp.recipD[3 * k + c] = b.recip[k][c];
        }
    vector<T> shifts;
    for (const Vec3& s : b.shifts)
        for (int c = 0; c < 3; c++)
            shifts.push_back((T) s[c]);
    dShifts.upload(shifts, stream);
    kp.shifts = dShifts.get();
    kp.nshift = (int) b.shifts.size();
    uploadCells();
    dSiteGroup.upload(b.siteGroup, stream);
    kp.siteGroup = dSiteGroup.get();
    dGroupQ.resize(G);
    kp.groupQ = dGroupQ.get();
    bool ewaldLike = (model.method == M_EWALD || model.method == M_PME);
    vector<double> k0coef(G * G, 0.0);
    vector<T> selfGamma(max(model.numClasses, 1), (T) 0);
    if (ewaldLike) {
        for (int gh = 0; gh < G * G; gh++)
            k0coef[gh] = M_PI * model.ke / b.volume / (b.groupGamma[gh] * b.groupGamma[gh]);
        for (int c = 0; c < model.numClasses; c++)
            selfGamma[c] = (T) b.selfGamma[c];
    }
    dK0coef.upload(k0coef, stream);
    kp.k0coef = dK0coef.get();
    dSelfGamma.upload(selfGamma, stream);
    kp.selfGamma = dSelfGamma.get();
    kp.nk = 0;
    if (model.method == M_EWALD) {
        vector<T> kvec;
        for (const Vec3& k : b.kvecs)
            for (int c = 0; c < 3; c++)
                kvec.push_back((T) k[c]);
        kp.nk = (int) b.kvecs.size();
        dKvec.upload(kvec.empty() ? vector<T>(3, (T) 0) : kvec, stream);
        dKweight.upload(b.kweight.empty() ? vector<T>(1, (T) 0) : convert<T>(b.kweight), stream);
        dPr.resize(max(kp.nk * G, 1));
        dPi.resize(max(kp.nk * G, 1));
        kp.kvec = dKvec.get();
        kp.kweight = dKweight.get();
        kp.Pr = dPr.get();
        kp.Pi = dPi.get();
    }
    if (model.method == M_PME) {
        for (int d = 0; d < 3; d++) {
            kp.ng[d] = b.ngrid[d];
            vector<T> tw(2 * b.ngrid[d]);
            for (int k = 0; k < b.ngrid[d]; k++) {
                tw[2 * k] = (T) cos(2 * M_PI * k / b.ngrid[d]);
                tw[2 * k + 1] = (T) sin(2 * M_PI * k / b.ngrid[d]);
            }
            dTw[d].upload(tw, stream);
            kp.tw[d] = dTw[d].get();
        }
        kp.total = (long long) b.ngrid[0] * b.ngrid[1] * b.ngrid[2];
        dGrid.resize(2 * kp.total * G);
        dTmp.resize(2 * kp.total * G);
        dPot.resize(2 * kp.total * G);
        dInfluence.upload(convert<T>(b.influence), stream);
        kp.grid = dGrid.get();
        kp.tmp = dTmp.get();
        kp.pot = dPot.get();
        kp.influence = dInfluence.get();
    }
}

/* The real-space cell list of the box (PQEqBoxModel::chooseCells): its grid and arrays; cells = 0 where
 * the kernels sum over all pairs. */
template <class T> void PQEqCudaEngineImpl<T>::uploadCells() {
    const PQEqBoxModel& b = boxModel;
    kp.cells = (b.ncell[0] > 0 ? 1 : 0);
    if (!kp.cells)
        return;
    for (int k = 0; k < 3; k++)
        kp.nc[k] = b.ncell[k];
    kp.nCells = b.ncell[0] * b.ncell[1] * b.ncell[2];
    kp.nChunks = (kp.nCells + PQ_CELL_CHUNK - 1) / PQ_CELL_CHUNK;
    for (auto* a : {&dSiteCell, &dCellTmp, &dCellSites})
        a->resize(kp.nS);
    dCellCount.resize(kp.nCells);
    dCellStart.resize(kp.nCells + 1);
    dChunkSum.resize(kp.nChunks);
    kp.siteCell = dSiteCell.get();
    kp.cellCount = dCellCount.get();
    kp.cellStart = dCellStart.get();
    kp.cellTmp = dCellTmp.get();
    kp.cellSites = dCellSites.get();
    kp.chunkSum = dChunkSum.get();
}

template <class T> void PQEqCudaEngineImpl<T>::addForcesToFixedPoint(long long* buffer, const int* atomIndex, int numAtoms, int padded) {
    PQ_LAUNCH(kAddFixedPointForces, numAtoms, (const double*) dForces.get(), atomIndex, numAtoms, padded, buffer);
}

template <class T> void PQEqCudaEngineImpl<T>::addForces(vector<Vec3>& forces) {
    vector<double> f;
    dForces.download(f, stream);
    for (int i = 0; i < model.N; i++)
        forces[i] += Vec3(f[3 * i], f[3 * i + 1], f[3 * i + 2]);
}

template <class T> void PQEqCudaEngineImpl<T>::getCharges(vector<double>& q) {
    dQAtom.download(q, stream);
}

template <class T> void PQEqCudaEngineImpl<T>::getShellDisplacements(vector<Vec3>& d) {
    vector<double> f;
    dDAtom.download(f, stream);
    d.resize(model.N);
    for (int i = 0; i < model.N; i++)
        d[i] = Vec3(f[3 * i], f[3 * i + 1], f[3 * i + 2]);
}

template class PolarML::PQEqCudaEngineImpl<float>;
template class PolarML::PQEqCudaEngineImpl<double>;

PQEqCudaEngine* PQEqCudaEngine::create(bool doublePrecision, void* stream) {
    if (doublePrecision)
        return new PQEqCudaEngineImpl<double>(stream);
    return new PQEqCudaEngineImpl<float>(stream);
}
