#ifndef POLARML_PQEQKERNELS_H_
#define POLARML_PQEQKERNELS_H_

#include "PQEqForce.h"
#include "openmm/KernelImpl.h"
#include "openmm/Platform.h"
#include "openmm/System.h"
#include "openmm/Vec3.h"
#include "openmm/internal/ContextImpl.h"
#include <string>
#include <vector>

namespace PolarML {

/** Abstract kernel: evaluates the PQEq energy and forces at the converged charges and shells. */
class CalcPQEqForceKernel : public OpenMM::KernelImpl {
public:
    static std::string Name() { return "CalcPQEqForce"; }
    CalcPQEqForceKernel(std::string name, const OpenMM::Platform& platform) : OpenMM::KernelImpl(name, platform) {}
    virtual void initialize(const OpenMM::System& system, const PQEqForce& force) = 0;
    virtual double execute(OpenMM::ContextImpl& context, bool includeForces, bool includeEnergy) = 0;
    virtual void copyParametersToContext(OpenMM::ContextImpl& context, const PQEqForce& force) = 0;
    virtual void getCharges(OpenMM::ContextImpl& context, std::vector<double>& charges) = 0;
    virtual void getShellDisplacements(OpenMM::ContextImpl& context, std::vector<OpenMM::Vec3>& d) = 0;
    virtual OpenMM::Vec3 getDipole(OpenMM::ContextImpl& context) = 0;
    /** Iterations of the most recent solve. */
    virtual int getLastSolverIterations(OpenMM::ContextImpl& context) = 0;
};

} // namespace PolarML

#endif
