#ifndef POLARML_REFERENCEPQEQKERNELS_H_
#define POLARML_REFERENCEPQEQKERNELS_H_

#include "PQEqCalculator.h"
#include "PQEqKernels.h"

namespace PolarML {

/** Reference implementation (double precision); registered for every ReferencePlatform-derived
 *  platform, so it also serves the CPU platform. On the CPU platform its OpenMP loops use the platform's
 *  Threads property, capped by OMP_NUM_THREADS when that is set (POLARML_PQEQ_THREADS overrides both);
 *  on Reference they run serially. The results do not depend on the thread count (bitwise). */
class ReferenceCalcPQEqForceKernel : public CalcPQEqForceKernel {
public:
    ReferenceCalcPQEqForceKernel(std::string name, const OpenMM::Platform& platform) : CalcPQEqForceKernel(name, platform) {}
    void initialize(const OpenMM::System& system, const PQEqForce& force);
    double execute(OpenMM::ContextImpl& context, bool includeForces, bool includeEnergy);
    void copyParametersToContext(OpenMM::ContextImpl& context, const PQEqForce& force);
    void getCharges(OpenMM::ContextImpl& context, std::vector<double>& charges);
    void getShellDisplacements(OpenMM::ContextImpl& context, std::vector<OpenMM::Vec3>& d);
    OpenMM::Vec3 getDipole(OpenMM::ContextImpl& context);
    int getLastSolverIterations(OpenMM::ContextImpl& context) { return calc.getLastIterations(); }
private:
    PQEqCalculator calc;
    bool periodic;
    bool threadsSet = false;
};

} // namespace PolarML

#endif
