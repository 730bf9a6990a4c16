#include "PQEqForceProxy.h"
#include "PQEqForce.h"
#include "openmm/OpenMMException.h"
#include "openmm/serialization/SerializationNode.h"

using namespace OpenMM;
using namespace PolarML;
using namespace std;

static const int PQEQ_PROXY_VERSION = 3;  // 2: default external field; 3: charge transfer, split cutoff, bond hardness

PQEqForceProxy::PQEqForceProxy() : SerializationProxy("PQEqForce") {}

void PQEqForceProxy::serialize(const void* object, SerializationNode& node) const {
    node.setIntProperty("version", PQEQ_PROXY_VERSION);
    const PQEqForce& force = *reinterpret_cast<const PQEqForce*>(object);
    node.setIntProperty("forceGroup", force.getForceGroup());
    node.setStringProperty("name", force.getName());
    node.setIntProperty("method", (int) force.getNonbondedMethod());
    node.setDoubleProperty("cutoff", force.getCutoffDistance());
    node.setDoubleProperty("ewaldTolerance", force.getEwaldErrorTolerance());
    node.setDoubleProperty("solverTolerance", force.getSolverTolerance());
    node.setIntProperty("maxIterations", force.getSolverMaxIterations());
    node.setDoubleProperty("totalCharge", force.getTotalCharge());
    const Vec3 field = force.getDefaultExternalField();
    node.setDoubleProperty("fieldX", field[0]).setDoubleProperty("fieldY", field[1]).setDoubleProperty("fieldZ", field[2]);
    node.setIntProperty("chargeTransfer", (int) force.getChargeTransfer());
    node.setDoubleProperty("splitCutoff", force.getSplitCutoff());
    SerializationNode& particles = node.createChildNode("Particles");
    for (int i = 0; i < force.getNumParticles(); i++) {
        SerializationNode& p = particles.createChildNode("Particle");
        if (force.isFixedChargeParticle(i)) {
            double q, r;
            force.getFixedChargeParticleParameters(i, q, r);
            p.setIntProperty("fixed", 1).setDoubleProperty("q", q).setDoubleProperty("radius", r);
        }
        else {
            double chi, eta, r, k, zs;
            bool pol;
            force.getParticleParameters(i, chi, eta, r, k, zs, pol);
            p.setIntProperty("fixed", 0).setDoubleProperty("chi", chi).setDoubleProperty("eta", eta)
             .setDoubleProperty("radius", r).setDoubleProperty("k", k).setDoubleProperty("zs", zs)
             .setIntProperty("pol", pol ? 1 : 0).setDoubleProperty("kappa", force.getParticleBondHardness(i));
        }
    }
    SerializationNode& fragments = node.createChildNode("Fragments");
    for (int f = 0; f < force.getNumFragments(); f++) {
        vector<int> atoms;
        double q;
        force.getFragmentParameters(f, atoms, q);
        SerializationNode& fn = fragments.createChildNode("Fragment");
        fn.setDoubleProperty("q", q);
        for (int a : atoms)
            fn.createChildNode("Atom").setIntProperty("index", a);
    }
    SerializationNode& exclusions = node.createChildNode("Exclusions");
    for (int e = 0; e < force.getNumExclusions(); e++) {
        int a, b;
        force.getExclusionParticles(e, a, b);
        exclusions.createChildNode("Exclusion").setIntProperty("p1", a).setIntProperty("p2", b);
    }
}

void* PQEqForceProxy::deserialize(const SerializationNode& node) const {
    int version = node.getIntProperty("version");
    if (version < 1 || version > PQEQ_PROXY_VERSION)
        throw OpenMMException("Unsupported version number for PQEqForce");
    PQEqForce* force = new PQEqForce();
    try {
        force->setForceGroup(node.getIntProperty("forceGroup", 0));
        force->setName(node.getStringProperty("name", force->getName()));
        force->setNonbondedMethod((PQEqForce::NonbondedMethod) node.getIntProperty("method"));
        force->setCutoffDistance(node.getDoubleProperty("cutoff"));
        force->setEwaldErrorTolerance(node.getDoubleProperty("ewaldTolerance"));
        force->setSolverTolerance(node.getDoubleProperty("solverTolerance"));
        force->setSolverMaxIterations(node.getIntProperty("maxIterations"));
        force->setTotalCharge(node.getDoubleProperty("totalCharge"));
        if (version >= 2)
            force->setDefaultExternalField(node.getDoubleProperty("fieldX"), node.getDoubleProperty("fieldY"),
                                           node.getDoubleProperty("fieldZ"));
        if (version >= 3) {   // earlier files: Global charge transfer, default split settings
            force->setChargeTransfer((PQEqForce::ChargeTransfer) node.getIntProperty("chargeTransfer"));
            force->setSplitCutoff(node.getDoubleProperty("splitCutoff"));
        }
        for (const SerializationNode& p : node.getChildNode("Particles").getChildren()) {
            if (p.getIntProperty("fixed"))
                force->addFixedChargeParticle(p.getDoubleProperty("q"), p.getDoubleProperty("radius"));
            else {
                int index = force->addParticle(p.getDoubleProperty("chi"), p.getDoubleProperty("eta"), p.getDoubleProperty("radius"),
                                               p.getDoubleProperty("k"), p.getDoubleProperty("zs"), p.getIntProperty("pol") != 0);
                if (version >= 3)
                    force->setParticleBondHardness(index, p.getDoubleProperty("kappa"));
            }
        }
        for (const SerializationNode& fn : node.getChildNode("Fragments").getChildren()) {
            vector<int> atoms;
            for (const SerializationNode& a : fn.getChildren())
                atoms.push_back(a.getIntProperty("index"));
            force->addFragment(atoms, fn.getDoubleProperty("q"));
        }
        for (const SerializationNode& e : node.getChildNode("Exclusions").getChildren())
            force->addExclusion(e.getIntProperty("p1"), e.getIntProperty("p2"));
    }
    catch (...) {
        delete force;
        throw;
    }
    return force;
}
