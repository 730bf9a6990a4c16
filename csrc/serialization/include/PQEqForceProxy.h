#ifndef POLARML_PQEQFORCEPROXY_H_
#define POLARML_PQEQFORCEPROXY_H_

#include "openmm/serialization/SerializationProxy.h"

namespace PolarML {

/** XML serialisation of PQEqForce (versioned; current version 1). */
class PQEqForceProxy : public OpenMM::SerializationProxy {
public:
    PQEqForceProxy();
    void serialize(const void* object, OpenMM::SerializationNode& node) const;
    void* deserialize(const OpenMM::SerializationNode& node) const;
};

} // namespace PolarML

#endif
