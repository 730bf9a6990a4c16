#include "ReferencePQEqKernels.h"
#include "openmm/OpenMMException.h"
#include "openmm/reference/ReferencePlatform.h"
#include "openmm/Context.h"
#include "openmm/Platform.h"
#include "openmm/internal/ContextImpl.h"
#include <cstdlib>
#include <string>

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

static int pqeqThreads(ContextImpl& context) {
    const Platform& platform = context.getPlatform();
    if (platform.getName() != "CPU")
        return 1;   // Reference: the serial reference implementation
    const char* force = getenv("POLARML_PQEQ_THREADS");   // explicit override (tests, benchmarks)
    if (force != NULL && atoi(force) > 0)
        return atoi(force);
    int n = 1;
    try {
        n = atoi(platform.getPropertyValue(context.getOwner(), "Threads").c_str());
    }
    catch (...) {
        n = 1;
    }
    const char* omp = getenv("OMP_NUM_THREADS");
    if (omp != NULL && atoi(omp) > 0 && atoi(omp) < n)
        n = atoi(omp);
    return (n > 1 ? n : 1);
}

double ReferenceCalcPQEqForceKernel::execute(ContextImpl& context, bool includeForces, bool includeEnergy) {
    if (!threadsSet) {
        calc.setNumThreads(pqeqThreads(context));
        threadsSet = true;
    }
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
