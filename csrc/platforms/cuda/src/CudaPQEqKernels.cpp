#include "CudaPQEqKernels.h"
#include "openmm/OpenMMException.h"
#include <cmath>
#include "openmm/common/ContextSelector.h"
#include "openmm/cuda/CudaContext.h"
#include "openmm/cuda/CudaPlatform.h"
#include "openmm/internal/ContextImpl.h"
#include <cuda_runtime.h>

using namespace OpenMM;
using namespace PolarML;
using namespace std;

/* Only inline members of CudaContext/CudaArray and virtual calls through ComputeContext are used below
 * (posq, posqCorrection, atom index, force buffer, precision flags, push/pop of the CUDA context): the
 * plugin works with the libOpenMMCUDA of the same OpenMM version without linking it. */

static void syncDevice() {
    cudaError_t err = cudaDeviceSynchronize();
    if (err != cudaSuccess)
        throw OpenMMException(string("PQEqForce (CUDA): cudaDeviceSynchronize failed: ") + cudaGetErrorString(err));
}

CudaCalcPQEqForceKernel::~CudaCalcPQEqForceKernel() {
    if (engine) {
        ContextSelector selector(cu);
        engine.reset();
    }
}

void CudaCalcPQEqForceKernel::initialize(const System& system, const PQEqForce& force) {
    ContextSelector selector(cu);
    engine.reset(PQEqCudaEngine::create(cu.getUseDoublePrecision(), nullptr));
    engine->setup(force, false);
    periodic = force.usesPeriodicBoundaryConditions();
}

double CudaCalcPQEqForceKernel::execute(ContextImpl& context, bool includeForces, bool includeEnergy) {
    ContextSelector selector(cu);
    syncDevice();   // OpenMM's own stream has produced posq; our kernels run on the default stream
    int numAtoms = cu.getNumAtoms();
    const int* atomIndex = (const int*) cu.getAtomIndexArray().getDevicePointer();
    bool dbl = cu.getUseDoublePrecision();
    const void* corr = (cu.getUseMixedPrecision() ? (const void*) cu.getPosqCorrection().getDevicePointer() : nullptr);
    engine->setPositionsFromPosq((const void*) cu.getPosq().getDevicePointer(), corr, atomIndex, numAtoms, dbl);
    Vec3 box[3];
    if (periodic)
        context.getPeriodicBoxVectors(box[0], box[1], box[2]);
    Vec3 field(context.getParameter(PQEqForce::FieldX()), context.getParameter(PQEqForce::FieldY()),
               context.getParameter(PQEqForce::FieldZ()));
    // the input checks of every platform need host positions: on the first evaluation, every
    // CHECK_INTERVAL evaluations after it, and whenever the result is not finite
    if (evaluationsSinceCheck++ % CHECK_INTERVAL == 0)
        checkInput(context, box, field);
    double energy = engine->compute(periodic ? box : NULL, field);
    if (!std::isfinite(energy)) {
        checkInput(context, box, field);
        throw OpenMMException("PQEqForce (CUDA): the energy is not finite; check the positions and the solver settings");
    }
    if (includeForces)
        engine->addForcesToFixedPoint((long long*) cu.getLongForceBuffer().getDevicePointer(), atomIndex, numAtoms,
                                      cu.getPaddedNumAtoms());
    syncDevice();
    return energy;
}

void CudaCalcPQEqForceKernel::checkInput(ContextImpl& context, const Vec3* box, const Vec3& field) {
    vector<Vec3> positions;
    context.getPositions(positions);
    engine->checkInput(positions, periodic ? box : NULL, field);
}

void CudaCalcPQEqForceKernel::copyParametersToContext(ContextImpl& context, const PQEqForce& force) {
    if (force.getNumParticles() != context.getSystem().getNumParticles())
        throw OpenMMException("updateParametersInContext: the number of particles has changed");
    ContextSelector selector(cu);
    engine->setup(force, true);
    periodic = force.usesPeriodicBoundaryConditions();
}

void CudaCalcPQEqForceKernel::getCharges(ContextImpl& context, vector<double>& charges) {
    ContextSelector selector(cu);
    engine->getCharges(charges);
}

void CudaCalcPQEqForceKernel::getShellDisplacements(ContextImpl& context, vector<Vec3>& d) {
    ContextSelector selector(cu);
    engine->getShellDisplacements(d);
}

int CudaCalcPQEqForceKernel::getLastSolverIterations(ContextImpl& context) {
    return engine->getLastIterations();
}

Vec3 CudaCalcPQEqForceKernel::getDipole(ContextImpl& context) {
    return engine->getDipole();
}

KernelImpl* CudaPQEqKernelFactory::createKernelImpl(string name, const Platform& platform, ContextImpl& context) const {
    CudaPlatform::PlatformData& data = *static_cast<CudaPlatform::PlatformData*>(context.getPlatformData());
    if (data.contexts.size() != 1)
        throw OpenMMException("PQEqForce (CUDA): only a single CUDA device per Context is supported");
    if (name == CalcPQEqForceKernel::Name())
        return new CudaCalcPQEqForceKernel(name, platform, *data.contexts[0]);
    throw OpenMMException((string("Tried to create kernel with illegal kernel name '") + name + "'").c_str());
}
