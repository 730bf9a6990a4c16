#include "PQEqForce.h"
#include "PQEqForceProxy.h"
#include "openmm/serialization/SerializationProxy.h"

using namespace PolarML;

extern "C" __attribute__((visibility("default"), constructor)) void registerPQEqSerializationProxies() {
    OpenMM::SerializationProxy::registerProxy(typeid(PQEqForce), new PQEqForceProxy());
}
