#include "ReferencePQEqKernelFactory.h"
#include "ReferencePQEqKernels.h"
#include "openmm/OpenMMException.h"
#include "openmm/reference/ReferencePlatform.h"
#include "openmm/internal/ContextImpl.h"

using namespace OpenMM;
using namespace PolarML;

extern "C" __attribute__((visibility("default"))) void registerPlatforms() {}

extern "C" __attribute__((visibility("default"))) void registerKernelFactories() {
    // Every platform derived from ReferencePlatform (Reference, CPU) gets the reference kernel.
    for (int i = 0; i < Platform::getNumPlatforms(); i++) {
        Platform& platform = Platform::getPlatform(i);
        if (dynamic_cast<ReferencePlatform*>(&platform) != NULL)
            platform.registerKernelFactory(CalcPQEqForceKernel::Name(), new ReferencePQEqKernelFactory());
    }
}

extern "C" __attribute__((visibility("default"))) void registerPQEqReferenceKernelFactories() {
    registerKernelFactories();
}

KernelImpl* ReferencePQEqKernelFactory::createKernelImpl(std::string name, const Platform& platform, ContextImpl& context) const {
    if (name == CalcPQEqForceKernel::Name())
        return new ReferenceCalcPQEqForceKernel(name, platform);
    throw OpenMMException((std::string("Tried to create kernel with illegal kernel name '") + name + "'").c_str());
}
