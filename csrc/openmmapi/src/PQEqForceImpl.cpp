#include "internal/PQEqForceImpl.h"
#include "PQEqKernels.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/ContextImpl.h"
#include <cmath>
#include <set>
#include <sstream>

using namespace OpenMM;
using namespace PolarML;
using namespace std;

PQEqForceImpl::PQEqForceImpl(const PQEqForce& owner) : owner(owner) {}

PQEqForceImpl::~PQEqForceImpl() {}

void PQEqForceImpl::validate(const System& system, const PQEqForce& force) {
    int n = force.getNumParticles();
    if (n != system.getNumParticles())
        throw OpenMMException("PQEqForce must have exactly as many particles as the System it belongs to.");
    for (int i = 0; i < n; i++) {
        if (force.isFixedChargeParticle(i)) {
            double q, r;
            force.getFixedChargeParticleParameters(i, q, r);
            if (r < 0)
                throw OpenMMException("PQEqForce: negative radius for a fixed-charge particle.");
            continue;
        }
        double chi, eta, radius, k, zs;
        bool pol;
        force.getParticleParameters(i, chi, eta, radius, k, zs, pol);
        if (!(eta > 0))
            throw OpenMMException("PQEqForce: eta must be positive for every equilibrated particle.");
        if (radius < 0 || k < 0)
            throw OpenMMException("PQEqForce: radius and springK must be non-negative.");
        if (pol && k > 0 && radius == 0)
            throw OpenMMException("PQEqForce: a polarizable particle needs a Gaussian radius > 0.");
    }
    vector<int> owner(n, -1);
    for (int f = 0; f < force.getNumFragments(); f++) {
        vector<int> atoms;
        double q;
        force.getFragmentParameters(f, atoms, q);
        for (int a : atoms) {
            if (a < 0 || a >= n)
                throw OpenMMException("PQEqForce: fragment contains an illegal particle index.");
            if (force.isFixedChargeParticle(a))
                throw OpenMMException("PQEqForce: a fixed-charge particle cannot belong to a fragment.");
            if (owner[a] != -1) {
                stringstream msg;
                msg << "PQEqForce: particle " << a << " belongs to more than one fragment.";
                throw OpenMMException(msg.str());
            }
            owner[a] = f;
        }
        if (atoms.empty())
            throw OpenMMException("PQEqForce: empty fragment.");
    }
    if (force.getNumFragments() > 0)
        for (int i = 0; i < n; i++)
            if (!force.isFixedChargeParticle(i) && owner[i] == -1) {
                stringstream msg;
                msg << "PQEqForce: equilibrated particle " << i << " is in no fragment (fragments must cover all equilibrated particles).";
                throw OpenMMException(msg.str());
            }
    set<pair<int, int> > seen;
    for (int e = 0; e < force.getNumExclusions(); e++) {
        int a, b;
        force.getExclusionParticles(e, a, b);
        if (a < 0 || b < 0 || a >= n || b >= n || a == b)
            throw OpenMMException("PQEqForce: illegal exclusion.");
        if (!seen.insert(make_pair(min(a, b), max(a, b))).second) {
            stringstream msg;
            msg << "PQEqForce: multiple exclusions are specified for particles " << a << " and " << b;
            throw OpenMMException(msg.str());
        }
    }
    if (force.getEwaldErrorTolerance() <= 0 || force.getEwaldErrorTolerance() >= 0.5)
        throw OpenMMException("PQEqForce: Ewald error tolerance must be in (0, 0.5).");
    if (force.getSolverTolerance() <= 0)
        throw OpenMMException("PQEqForce: solver tolerance must be positive.");
}

void PQEqForceImpl::initialize(ContextImpl& context) {
    const System& system = context.getSystem();
    validate(system, owner);
    kernel = context.getPlatform().createKernel(CalcPQEqForceKernel::Name(), context);
    kernel.getAs<CalcPQEqForceKernel>().initialize(system, owner);
}

double PQEqForceImpl::calcForcesAndEnergy(ContextImpl& context, bool includeForces, bool includeEnergy, int groups) {
    if ((groups & (1 << owner.getForceGroup())) != 0) {
        double energy = kernel.getAs<CalcPQEqForceKernel>().execute(context, includeForces, includeEnergy);
        lastIterations = kernel.getAs<CalcPQEqForceKernel>().getLastSolverIterations(context);
        return energy;
    }
    return 0.0;
}

map<string, double> PQEqForceImpl::getDefaultParameters() {
    map<string, double> p;
    const Vec3 field = owner.getDefaultExternalField();
    p[PQEqForce::FieldX()] = field[0];
    p[PQEqForce::FieldY()] = field[1];
    p[PQEqForce::FieldZ()] = field[2];
    return p;
}

vector<string> PQEqForceImpl::getKernelNames() {
    vector<string> names;
    names.push_back(CalcPQEqForceKernel::Name());
    return names;
}

void PQEqForceImpl::updateParametersInContext(ContextImpl& context) {
    validate(context.getSystem(), owner);
    kernel.getAs<CalcPQEqForceKernel>().copyParametersToContext(context, owner);
    context.systemChanged();
}

void PQEqForceImpl::refresh(ContextImpl& context) {
    // Solve for the current positions/parameters so that the returned state is up to date.
    kernel.getAs<CalcPQEqForceKernel>().execute(context, false, true);
}

vector<double> PQEqForceImpl::getCharges(ContextImpl& context) {
    refresh(context);
    vector<double> q;
    kernel.getAs<CalcPQEqForceKernel>().getCharges(context, q);
    return q;
}

vector<Vec3> PQEqForceImpl::getShellDisplacements(ContextImpl& context) {
    refresh(context);
    vector<Vec3> d;
    kernel.getAs<CalcPQEqForceKernel>().getShellDisplacements(context, d);
    return d;
}

int PQEqForceImpl::getLastSolverIterations(ContextImpl& context) {
    return lastIterations;   // a refresh (getCharges, getDipole, ...) does not overwrite it
}

Vec3 PQEqForceImpl::getDipole(ContextImpl& context) {
    refresh(context);
    return kernel.getAs<CalcPQEqForceKernel>().getDipole(context);
}
