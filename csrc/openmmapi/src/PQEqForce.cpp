#include "PQEqForce.h"
#include "internal/PQEqForceImpl.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/AssertionUtilities.h"
#include "openmm/internal/ContextImpl.h"

using namespace OpenMM;
using namespace PolarML;
using namespace std;

namespace {
// CODATA 2018, the same arithmetic as openmm_polarml/units.py and platforms/common/PQEqMath.h
const double EV_TO_KJ_PER_MOL = 1.602176634e-19 * 6.02214076e23 / 1000.0;
}

PQEqForce::PQEqForce() : method(NoCutoff), chargeTransfer(Global), splitCutoff(0.5), cutoff(-1.0), ewaldTolerance(1e-6), solverTolerance(1e-6),
        totalCharge(0.0), maxIterations(1000), defaultField(0.0, 0.0, 0.0) {}

double PQEqForce::defaultBondHardness() {
    return EV_TO_KJ_PER_MOL;
}

int PQEqForce::addParticle(double chi, double eta, double radius, double springK, double shellCharge, bool polarizable) {
    ParticleInfo p = {chi, eta, radius, springK, shellCharge, 0.0, polarizable, false, defaultBondHardness()};
    particles.push_back(p);
    return (int) particles.size() - 1;
}

void PQEqForce::getParticleParameters(int index, double& chi, double& eta, double& radius, double& springK,
                                      double& shellCharge, bool& polarizable) const {
    ASSERT_VALID_INDEX(index, particles);
    const ParticleInfo& p = particles[index];
    chi = p.chi; eta = p.eta; radius = p.radius; springK = p.springK; shellCharge = p.shellCharge;
    polarizable = p.polarizable;
}

void PQEqForce::setParticleParameters(int index, double chi, double eta, double radius, double springK,
                                      double shellCharge, bool polarizable) {
    ASSERT_VALID_INDEX(index, particles);
    ParticleInfo p = {chi, eta, radius, springK, shellCharge, 0.0, polarizable, false, particles[index].bondHardness};
    particles[index] = p;
}

int PQEqForce::addFixedChargeParticle(double charge, double radius) {
    ParticleInfo p = {0.0, 0.0, radius, 0.0, 0.0, charge, false, true, defaultBondHardness()};
    particles.push_back(p);
    return (int) particles.size() - 1;
}

void PQEqForce::getFixedChargeParticleParameters(int index, double& charge, double& radius) const {
    ASSERT_VALID_INDEX(index, particles);
    charge = particles[index].charge;
    radius = particles[index].radius;
}

void PQEqForce::setFixedChargeParticleParameters(int index, double charge, double radius) {
    ASSERT_VALID_INDEX(index, particles);
    ParticleInfo p = {0.0, 0.0, radius, 0.0, 0.0, charge, false, true, particles[index].bondHardness};
    particles[index] = p;
}

void PQEqForce::setChargeTransfer(ChargeTransfer model) {
    if (model != Global && model != Split)
        throw OpenMMException("PQEqForce: unknown charge transfer model " + to_string((int) model) + "; use PQEqForce::Global or PQEqForce::Split");
    chargeTransfer = model;
}

void PQEqForce::setSplitCutoff(double distance) {
    if (!(distance > 0.0 && distance < 1e300))
        throw OpenMMException("PQEqForce: the split-charge cutoff must be a positive, finite length (nm), got " + to_string(distance) + "; 0.5 nm is the default");
    splitCutoff = distance;
}

double PQEqForce::getParticleBondHardness(int index) const {
    ASSERT_VALID_INDEX(index, particles);
    return particles[index].bondHardness;
}

void PQEqForce::setParticleBondHardness(int index, double kappa) {
    ASSERT_VALID_INDEX(index, particles);
    if (!(kappa > 0.0 && kappa < 1e300))
        throw OpenMMException("PQEqForce: the bond hardness of particle " + to_string(index) + " must be positive and finite (kJ/mol/e^2), got "
                              + to_string(kappa) + " (zero makes the bond energy singular along rings of bonds); the default is 1 eV/e^2 = "
                              + to_string(defaultBondHardness()) + " kJ/mol/e^2");
    particles[index].bondHardness = kappa;
}

bool PQEqForce::isFixedChargeParticle(int index) const {
    ASSERT_VALID_INDEX(index, particles);
    return particles[index].fixed;
}

int PQEqForce::addFragment(const vector<int>& atoms, double charge) {
    FragmentInfo f = {atoms, charge};
    fragments.push_back(f);
    return (int) fragments.size() - 1;
}

void PQEqForce::getFragmentParameters(int index, vector<int>& atoms, double& charge) const {
    ASSERT_VALID_INDEX(index, fragments);
    atoms = fragments[index].particles;
    charge = fragments[index].totalCharge;
}

void PQEqForce::setFragmentParameters(int index, const vector<int>& atoms, double charge) {
    ASSERT_VALID_INDEX(index, fragments);
    fragments[index].particles = atoms;
    fragments[index].totalCharge = charge;
}

int PQEqForce::addExclusion(int particle1, int particle2) {
    exclusions.push_back(make_pair(particle1, particle2));
    return (int) exclusions.size() - 1;
}

void PQEqForce::getExclusionParticles(int index, int& particle1, int& particle2) const {
    ASSERT_VALID_INDEX(index, exclusions);
    particle1 = exclusions[index].first;
    particle2 = exclusions[index].second;
}

bool PQEqForce::usesPeriodicBoundaryConditions() const {
    return method == Ewald || method == PME || method == Taper;
}

ForceImpl* PQEqForce::createImpl() const {
    return new PQEqForceImpl(*this);
}

void PQEqForce::updateParametersInContext(Context& context) {
    dynamic_cast<PQEqForceImpl&>(getImplInContext(context)).updateParametersInContext(getContextImpl(context));
}

vector<double> PQEqForce::getCharges(Context& context) const {
    PQEqForce* self = const_cast<PQEqForce*>(this);
    return dynamic_cast<PQEqForceImpl&>(self->getImplInContext(context)).getCharges(self->getContextImpl(context));
}

vector<Vec3> PQEqForce::getShellDisplacements(Context& context) const {
    PQEqForce* self = const_cast<PQEqForce*>(this);
    return dynamic_cast<PQEqForceImpl&>(self->getImplInContext(context)).getShellDisplacements(self->getContextImpl(context));
}

int PQEqForce::getLastSolverIterations(Context& context) const {
    PQEqForce* self = const_cast<PQEqForce*>(this);
    return dynamic_cast<PQEqForceImpl&>(self->getImplInContext(context)).getLastSolverIterations(self->getContextImpl(context));
}

Vec3 PQEqForce::getDipole(Context& context) const {
    PQEqForce* self = const_cast<PQEqForce*>(this);
    return dynamic_cast<PQEqForceImpl&>(self->getImplInContext(context)).getDipole(self->getContextImpl(context));
}
