/* SWIG bindings of PQEqForce; the module is openmm_polarml.openmm.pqeqplugin and PQEqForce derives
 * from openmm.Force (same SWIG runtime as the openmm wheel). */
%module(package="openmm_polarml.openmm") pqeqplugin

%import(module="openmm") "swig/OpenMMSwigHeaders.i"
%include "swig/typemaps.i"
%include "std_string.i"
%include "typemaps.i"

%{
#include "PQEqForce.h"
#include "OpenMM.h"
#include "OpenMMAmoeba.h"
#include "OpenMMDrude.h"
#include "openmm/RPMDIntegrator.h"
#include "openmm/RPMDMonteCarloBarostat.h"
#include <vector>
%}

%typemap(in) const std::vector<int>& (std::vector<int> temp) {
    PyObject* seq = PySequence_Fast($input, "expected a sequence of particle indices");
    if (seq == NULL)
        SWIG_fail;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject* item = PySequence_Fast_GET_ITEM(seq, i);
        PyObject* asInt = PyNumber_Index(item);
        if (asInt == NULL) {
            Py_DECREF(seq);
            SWIG_fail;
        }
        temp.push_back((int) PyLong_AsLong(asInt));
        Py_DECREF(asInt);
    }
    Py_DECREF(seq);
    $1 = &temp;
}
%typemap(typecheck, precedence=SWIG_TYPECHECK_INT32_ARRAY) const std::vector<int>& {
    $1 = PySequence_Check($input) ? 1 : 0;
}
%typemap(in, numinputs=0) std::vector<int>& OUTLIST (std::vector<int> temp) {
    $1 = &temp;
}
%typemap(argout) std::vector<int>& OUTLIST {
    PyObject* list = PyTuple_New($1->size());
    for (size_t i = 0; i < $1->size(); i++)
        PyTuple_SET_ITEM(list, i, PyLong_FromLong((*$1)[i]));
    $result = SWIG_AppendOutput($result, list);
}
%typemap(out) std::vector<double> {
    $result = PyList_New($1.size());
    for (size_t i = 0; i < $1.size(); i++)
        PyList_SET_ITEM($result, i, PyFloat_FromDouble($1[i]));
}
%typemap(out) std::vector<OpenMM::Vec3> {
    $result = PyList_New($1.size());
    for (size_t i = 0; i < $1.size(); i++) {
        PyObject* t = Py_BuildValue("(ddd)", $1[i][0], $1[i][1], $1[i][2]);
        PyList_SET_ITEM($result, i, t);
    }
}
%typemap(out) OpenMM::Vec3 {
    $result = Py_BuildValue("(ddd)", $1[0], $1[1], $1[2]);
}

%apply double& OUTPUT { double& chi, double& eta, double& radius, double& springK, double& shellCharge,
                        double& charge, double& totalCharge };
%apply bool& OUTPUT { bool& polarizable };
%apply int& OUTPUT { int& particle1, int& particle2 };
%apply std::vector<int>& OUTLIST { std::vector<int>& particles };

%exception {
    try {
        $action
    } catch (std::exception& e) {
        // raise openmm.OpenMMException (an Exception subclass), as OpenMM's own wrappers do
        PyObject* type = PyExc_Exception;
        PyObject* module = PyImport_ImportModule("openmm");
        PyObject* cls = module ? PyObject_GetAttrString(module, "OpenMMException") : NULL;
        if (cls != NULL && PyType_Check(cls))
            type = cls;
        PyErr_Clear();
        PyErr_SetString(type, const_cast<char*>(e.what()));
        Py_XDECREF(cls);
        Py_XDECREF(module);
        return NULL;
    }
}

namespace PolarML {

class PQEqForce : public OpenMM::Force {
public:
    enum NonbondedMethod { NoCutoff = 0, Ewald = 1, PME = 2, Taper = 3, TaperNonPeriodic = 4 };
    enum ChargeTransfer { Global = 0, Split = 1 };
    static const char* FieldX();
    static const char* FieldY();
    static const char* FieldZ();
    PQEqForce();
    int addParticle(double chi, double eta, double radius, double springK, double shellCharge, bool polarizable);
    void getParticleParameters(int index, double& chi, double& eta, double& radius, double& springK,
                               double& shellCharge, bool& polarizable) const;
    void setParticleParameters(int index, double chi, double eta, double radius, double springK,
                               double shellCharge, bool polarizable);
    int addFixedChargeParticle(double charge, double radius);
    void getFixedChargeParticleParameters(int index, double& charge, double& radius) const;
    void setFixedChargeParticleParameters(int index, double charge, double radius);
    bool isFixedChargeParticle(int index) const;
    int getNumParticles() const;
    int addFragment(const std::vector<int>& particles, double totalCharge);
    void getFragmentParameters(int index, std::vector<int>& particles, double& totalCharge) const;
    void setFragmentParameters(int index, const std::vector<int>& particles, double totalCharge);
    int getNumFragments() const;
    void setTotalCharge(double charge);
    double getTotalCharge() const;
    int addExclusion(int particle1, int particle2);
    void getExclusionParticles(int index, int& particle1, int& particle2) const;
    int getNumExclusions() const;
    NonbondedMethod getNonbondedMethod() const;
    void setNonbondedMethod(NonbondedMethod m);
    double getCutoffDistance() const;
    void setCutoffDistance(double distance);
    double getEwaldErrorTolerance() const;
    void setEwaldErrorTolerance(double tol);
    double getSolverTolerance() const;
    void setSolverTolerance(double tol);
    int getSolverMaxIterations() const;
    void setSolverMaxIterations(int n);
    ChargeTransfer getChargeTransfer() const;
    void setChargeTransfer(ChargeTransfer model);
    double getSplitCutoff() const;
    void setSplitCutoff(double distance);
    double getParticleBondHardness(int index) const;
    void setParticleBondHardness(int index, double kappa);
    static double defaultBondHardness();
    void setDefaultExternalField(double fieldX, double fieldY, double fieldZ);
    OpenMM::Vec3 getDefaultExternalField() const;
    void updateParametersInContext(OpenMM::Context& context);
    std::vector<double> getCharges(OpenMM::Context& context) const;
    std::vector<OpenMM::Vec3> getShellDisplacements(OpenMM::Context& context) const;
    OpenMM::Vec3 getDipole(OpenMM::Context& context) const;
    int getLastSolverIterations(OpenMM::Context& context) const;
    bool usesPeriodicBoundaryConditions() const;

    %extend {
        static PolarML::PQEqForce& cast(OpenMM::Force& force) {
            return dynamic_cast<PolarML::PQEqForce&>(force);
        }
        static bool isinstance(OpenMM::Force& force) {
            return (dynamic_cast<PolarML::PQEqForce*>(&force) != NULL);
        }
        %newobject __copy__;
        PolarML::PQEqForce* __copy__() {
            return new PolarML::PQEqForce(*self);
        }
        %pythoncode %{
            def __deepcopy__(self, memo):
                return self.__copy__()
        %}
    }
};

} // namespace PolarML
