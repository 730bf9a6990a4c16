#ifndef POLARML_PQEQCUDAENGINEIMPL_CUH_
#define POLARML_PQEQCUDAENGINEIMPL_CUH_

/* The CUDA PQEq engine behind PQEqCudaEngine (see PQEqCudaEngine.h): its device buffers and the argument
 * block of its kernels, for the real types float and double. Its members are defined in two sources, each
 * compiled by nvcc, or by a C++ compiler with POLARML_CUDA_EMULATION as a serial emulation:
 *   PQEqCudaEngine.cu  set-up, device memory, positions in and results out; instantiates the class
 *   PQEqCudaSolve.cu   the evaluation of energy and gradient, the solver driver and the forces (compute) */

#include "PQEqCudaEngine.h"
#include "PQEqCudaKernelArgs.cuh"
#include "PQEqCudaModel.h"
#include "PQEqSplitBonds.h"
#include <algorithm>
#include <vector>

namespace PolarML {

/* A device array that owns its memory. */
template <class V> class DevArray {
public:
    DevArray() : ptr(nullptr), count(0) {}
    ~DevArray() { pqFree(ptr); }
    DevArray(const DevArray&) = delete;
    DevArray& operator=(const DevArray&) = delete;
    void resize(size_t n) {
        if (n == count)
            return;
        pqFree(ptr);
        ptr = (V*) pqMalloc(n * sizeof(V));
        count = n;
    }
    void upload(const std::vector<V>& host, pqStream s) {
        resize(host.size());
        pqToDevice(ptr, host.data(), host.size() * sizeof(V), s);
    }
    void download(std::vector<V>& host, pqStream s) const {
        host.resize(count);
        pqToHost(host.data(), ptr, count * sizeof(V), s);
    }
    V* get() const { return ptr; }
    size_t size() const { return count; }
private:
    V* ptr;
    size_t count;
};

template <class T> class PQEqCudaEngineImpl : public PQEqCudaEngine {
public:
    explicit PQEqCudaEngineImpl(void* streamIn) : stream((pqStream) streamIn), haveState(false), haveRef(false), lastIterations(0) {
        std::fill(dipole, dipole + 3, 0.0);
    }
    void setup(const PQEqForce& force, bool keepState) override;
    void setPositions(const std::vector<OpenMM::Vec3>& positions) override;
    void setPositionsFromPosq(const void* posq, const void* corr, const int* atomIndex, int numAtoms, bool posqIsDouble) override;
    double compute(const OpenMM::Vec3* box, const OpenMM::Vec3& field) override;
    void addForcesToFixedPoint(long long* buffer, const int* atomIndex, int numAtoms, int padded) override;
    void addForces(std::vector<OpenMM::Vec3>& forces) override;
    void getCharges(std::vector<double>& q) override;
    void getShellDisplacements(std::vector<OpenMM::Vec3>& d) override;
    OpenMM::Vec3 getDipole() override { return OpenMM::Vec3(dipole[0], dipole[1], dipole[2]); }
    int getLastIterations() const override { return lastIterations; }
    void checkInput(const std::vector<OpenMM::Vec3>& positions, const OpenMM::Vec3* box, const OpenMM::Vec3& field) const override;
private:
    // PQEqCudaEngine.cu
    void uploadBox();
    void uploadCells();
    void resetState();
    void resizeSolver();
    void buildSplitBonds();
    // PQEqCudaSolve.cu
    double evaluate(double* x, double* g, bool wantEnergy);
    void electrostatics();
    void buildCells();
    void readScalars(int first, int count);
    void zeroScalars(int first, int count) { pqZero(dScalars.get() + first, count * sizeof(double), stream); }
    double residual(const double* g, double& rq, double& rd);
    pqStream stream;
    PQEqSystemModel model;
    PQEqBoxModel boxModel;
    KP<T> kp;
    bool haveState, haveRef;
    bool cellsBuilt = false;   // Ewald/PME: the cell list of this compute() (cores do not move during a solve)
    std::vector<OpenMM::Vec3> hostPositions;   // positions given by setPositions, checked at the next compute()
    std::vector<pqeq_detail::SplitBond> bonds;   // split charges: the bonds of the last solve (order of dX)
    std::vector<double> shellInvPrec;  // 1/Ks per shell component
    int lastIterations;
    double dipole[3], scalars[S_COUNT];
    // device data
    DevArray<double> dChi, dEta, dKs, dZ, dFixedQ, dInvPrec, dFragInvEta, dFragCharge, dFragCount;
    DevArray<int> dEqIndex, dPolIndex, dEqAtoms, dPolAtoms, dEqFragment;
    DevArray<double> dPos, dRef, dU, dQAtom, dDAtom, dForces;
    DevArray<int> dSiteClass, dSiteGroup, dExclStart, dExclList;
    DevArray<T> dSx, dSy, dSz, dSq, dPairAlpha, dSelfGamma, dShifts, dKvec, dKweight, dGrid, dTmp, dPot, dTw[3], dInfluence;
    DevArray<double> dPhi, dGrad, dGroupQ, dK0coef, dPr, dPi;
    DevArray<double> dX, dG, dXt, dGt, dP, dZv, dGp, dZPrev, dGPrev, dFragSum, dFragWg, dFragSz, dScalars;
    DevArray<double> dRefQ, dChargeGrad, dBondR, dBondLen, dBondW, dBondDW, dBondKappa, dBondDEdR;
    DevArray<int> dBondI, dBondJ, dAtomBondStart, dAtomBondList;
    DevArray<int> dSiteCell, dCellCount, dCellStart, dCellTmp, dCellSites, dChunkSum;
};

} // namespace PolarML

#endif
