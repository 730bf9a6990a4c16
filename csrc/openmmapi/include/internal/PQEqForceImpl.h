#ifndef POLARML_PQEQFORCEIMPL_H_
#define POLARML_PQEQFORCEIMPL_H_

#include "PQEqForce.h"
#include "openmm/Kernel.h"
#include "openmm/internal/ForceImpl.h"
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace PolarML {

class OPENMM_EXPORT_PQEQ PQEqForceImpl : public OpenMM::ForceImpl {
public:
    PQEqForceImpl(const PQEqForce& owner);
    ~PQEqForceImpl();
    void initialize(OpenMM::ContextImpl& context);
    const PQEqForce& getOwner() const { return owner; }
    void updateContextState(OpenMM::ContextImpl& context, bool& forcesInvalid) {}
    double calcForcesAndEnergy(OpenMM::ContextImpl& context, bool includeForces, bool includeEnergy, int groups);
    std::map<std::string, double> getDefaultParameters();
    std::vector<std::string> getKernelNames();
    void updateParametersInContext(OpenMM::ContextImpl& context);
    std::vector<double> getCharges(OpenMM::ContextImpl& context);
    std::vector<OpenMM::Vec3> getShellDisplacements(OpenMM::ContextImpl& context);
    OpenMM::Vec3 getDipole(OpenMM::ContextImpl& context);
    int getLastSolverIterations(OpenMM::ContextImpl& context);
    /** Validates a force against a system (particle count, fragments, parameters); throws on error. */
    static void validate(const OpenMM::System& system, const PQEqForce& force);
private:
    void refresh(OpenMM::ContextImpl& context);
    const PQEqForce& owner;
    OpenMM::Kernel kernel;
    int lastIterations = 0;   // of the last force/energy evaluation (not of a refresh for getCharges etc.)
};

} // namespace PolarML

#endif
