#include "CudaPQEqKernels.h"
#include "openmm/OpenMMException.h"
#include "openmm/Platform.h"

using namespace OpenMM;
using namespace PolarML;

extern "C" __attribute__((visibility("default"))) void registerPlatforms() {}

/* Registers the kernel for OpenMM's "CUDA" platform when that platform is loaded (the openmm-cuda-NN
 * wheel, or an OpenMM built with CUDA); without it this plugin registers nothing and is harmless. */
extern "C" __attribute__((visibility("default"))) void registerKernelFactories() {
    for (int i = 0; i < Platform::getNumPlatforms(); i++) {
        Platform& platform = Platform::getPlatform(i);
        if (platform.getName() == "CUDA")
            platform.registerKernelFactory(CalcPQEqForceKernel::Name(), new CudaPQEqKernelFactory());
    }
}

extern "C" __attribute__((visibility("default"))) void registerPQEqCudaKernelFactories() {
    registerKernelFactories();
}
