#ifndef POLARML_CUDAPQEQKERNELS_H_
#define POLARML_CUDAPQEQKERNELS_H_

#include "PQEqCudaEngine.h"
#include "PQEqKernels.h"
#include "openmm/KernelFactory.h"
#include <memory>

namespace OpenMM {
class CudaContext;
}

namespace PolarML {

/** CalcPQEqForceKernel on OpenMM's CUDA platform. Positions are read from the context's posq (+ the
 *  mixed-precision correction) through the atom index array, forces are added to the context's 64-bit
 *  fixed-point force buffer, the energy is returned to OpenMM. The PQEq algorithm runs in a
 *  PQEqCudaEngine (own device buffers, own nvcc-compiled kernels) inside the context's CUDA context.
 *  Only header-inline members of CudaContext are used, so the plugin does not link libOpenMMCUDA. */
class CudaCalcPQEqForceKernel : public CalcPQEqForceKernel {
public:
    CudaCalcPQEqForceKernel(std::string name, const OpenMM::Platform& platform, OpenMM::CudaContext& cu)
        : CalcPQEqForceKernel(name, platform), cu(cu), periodic(false) {}
    ~CudaCalcPQEqForceKernel();
    void initialize(const OpenMM::System& system, const PQEqForce& force);
    double execute(OpenMM::ContextImpl& context, bool includeForces, bool includeEnergy);
    void copyParametersToContext(OpenMM::ContextImpl& context, const PQEqForce& force);
    void getCharges(OpenMM::ContextImpl& context, std::vector<double>& charges);
    void getShellDisplacements(OpenMM::ContextImpl& context, std::vector<OpenMM::Vec3>& d);
    OpenMM::Vec3 getDipole(OpenMM::ContextImpl& context);
    int getLastSolverIterations(OpenMM::ContextImpl& context);
private:
    OpenMM::CudaContext& cu;
    /** Host copy of the positions through the input checks of every platform (PQEqInputChecks.h). */
    void checkInput(OpenMM::ContextImpl& context, const OpenMM::Vec3* box, const OpenMM::Vec3& field);
    static const long long CHECK_INTERVAL = 100;   // evaluations between two input checks
    std::unique_ptr<PQEqCudaEngine> engine;
    bool periodic;
    long long evaluationsSinceCheck = 0;
};

class CudaPQEqKernelFactory : public OpenMM::KernelFactory {
public:
    OpenMM::KernelImpl* createKernelImpl(std::string name, const OpenMM::Platform& platform, OpenMM::ContextImpl& context) const;
};

} // namespace PolarML

#endif
