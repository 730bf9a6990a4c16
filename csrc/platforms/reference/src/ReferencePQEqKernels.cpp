#include "ReferencePQEqKernels.h"
#include "openmm/OpenMMException.h"
#include "openmm/reference/ReferencePlatform.h"

using namespace OpenMM;
using namespace PolarML;
using namespace std;

static ReferencePlatform::PlatformData* getData(ContextImpl& context) {
    return reinterpret_cast<ReferencePlatform::PlatformData*>(context.getPlatformData());
}

void ReferenceCalcPQEqForceKernel::initialize(const System& system, const PQEqForce& force) {
    calc.setup(force, false);
    periodic = force.usesPeriodicBoundaryConditions();
}

double ReferenceCalcPQEqForceKernel::execute(ContextImpl& context, bool includeForces, bool includeEnergy) {
    ReferencePlatform::PlatformData* data = getData(context);
    Vec3 field(context.getParameter(PQEqForce::FieldX()), context.getParameter(PQEqForce::FieldY()),
               context.getParameter(PQEqForce::FieldZ()));
    return calc.compute(*data->positions, periodic ? data->periodicBoxVectors : NULL, field,
                        includeForces ? data->forces : NULL);
}

void ReferenceCalcPQEqForceKernel::copyParametersToContext(ContextImpl& context, const PQEqForce& force) {
    if (force.getNumParticles() != context.getSystem().getNumParticles())
        throw OpenMMException("updateParametersInContext: the number of particles has changed");
    calc.setup(force, true);
    periodic = force.usesPeriodicBoundaryConditions();
}

void ReferenceCalcPQEqForceKernel::getCharges(ContextImpl& context, vector<double>& charges) {
    charges = calc.getCharges();
}

void ReferenceCalcPQEqForceKernel::getShellDisplacements(ContextImpl& context, vector<Vec3>& d) {
    d = calc.getShellDisplacements();
}

Vec3 ReferenceCalcPQEqForceKernel::getDipole(ContextImpl& context) {
    return calc.getDipole();
}
