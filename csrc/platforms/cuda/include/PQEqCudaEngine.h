#ifndef POLARML_PQEQCUDAENGINE_H_
#define POLARML_PQEQCUDAENGINE_H_

/* The PQEq algorithm on the GPU: device buffers, kernels for the real-space pairs, the reciprocal
 * space (Ewald structure factors or smooth PME: B-spline spreading, 3D DFT, influence function,
 * gathering), the split-charge bonds (PQEqForce::Split: bond list on the host by PQEqSplitBonds.h, one
 * thread per bond for the bond gradient and forces) and the solver's vector operations; the nonlinear-CG
 * driver loop runs on the host and reads a few reduced scalars per iteration. Pair/grid arithmetic in the real type T (float for the
 * single and mixed precision modes, double for double); potentials, gradients, the solver vectors
 * and all reductions in double. No CUDA types in this header (the OpenMM glue is plain C++). */

#include "PQEqForce.h"
#include "openmm/Vec3.h"
#include <vector>

namespace PolarML {

class PQEqCudaEngine {
public:
    /** doublePrecision: the real type of the pair and grid arithmetic. stream: a cudaStream_t (or NULL). */
    static PQEqCudaEngine* create(bool doublePrecision, void* stream);
    virtual ~PQEqCudaEngine() {}
    /** Copy parameters from a force; keepState keeps the warm start when the particle layout is the same. */
    virtual void setup(const PQEqForce& force, bool keepState) = 0;
    /** Positions from host memory (nm). */
    virtual void setPositions(const std::vector<OpenMM::Vec3>& positions) = 0;
    /** Positions from OpenMM's CUDA posq (float4 or double4, sorted order), the mixed-precision correction
     *  (float4 or NULL) and the atom index array (sorted -> original). Device pointers. */
    virtual void setPositionsFromPosq(const void* posq, const void* posqCorrection, const int* atomIndex,
                                      int numAtoms, bool posqIsDouble) = 0;
    /** Solve for charges and shells at the current positions; returns the energy (kJ/mol). box: three
     *  vectors or NULL for non-periodic methods; field in kJ/mol/nm/e. Forces stay on the device. */
    virtual double compute(const OpenMM::Vec3* box, const OpenMM::Vec3& field) = 0;
    /** Add the forces of the last compute() to OpenMM's 64-bit fixed-point force buffer (device). */
    virtual void addForcesToFixedPoint(long long* forceBuffer, const int* atomIndex, int numAtoms, int paddedNumAtoms) = 0;
    /** Add the forces of the last compute() to a host array. */
    virtual void addForces(std::vector<OpenMM::Vec3>& forces) = 0;
    virtual void getCharges(std::vector<double>& q) = 0;
    virtual void getShellDisplacements(std::vector<OpenMM::Vec3>& d) = 0;
    virtual OpenMM::Vec3 getDipole() = 0;
    virtual int getLastIterations() const = 0;
    /** The input checks of every platform (PQEqInputChecks.h): finite positions, no two equilibrated atoms
     *  closer than 0.05 nm unless excluded, and a field below the limit; throws OpenMMException.
     *  positions: host copy (nm), original order; box: three vectors or NULL. */
    virtual void checkInput(const std::vector<OpenMM::Vec3>& positions, const OpenMM::Vec3* box,
                            const OpenMM::Vec3& field) const = 0;
};

} // namespace PolarML

#endif
