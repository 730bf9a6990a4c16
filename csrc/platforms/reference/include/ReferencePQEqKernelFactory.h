#ifndef POLARML_REFERENCEPQEQKERNELFACTORY_H_
#define POLARML_REFERENCEPQEQKERNELFACTORY_H_

#include "openmm/KernelFactory.h"

namespace PolarML {

class ReferencePQEqKernelFactory : public OpenMM::KernelFactory {
public:
    OpenMM::KernelImpl* createKernelImpl(std::string name, const OpenMM::Platform& platform, OpenMM::ContextImpl& context) const;
};

} // namespace PolarML

#endif
