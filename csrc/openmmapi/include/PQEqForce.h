#ifndef POLARML_PQEQFORCE_H_
#define POLARML_PQEQFORCE_H_

/* PQEqForce: polarizable charge equilibration (Gaussian cores + Gaussian shells on springs) for OpenMM.
 *
 * The energy function is defined in docs/conventions.md of openmm_polarml; this force evaluates it in
 * OpenMM units (kJ/mol, nm, e). Charges q and shell displacements d are the constrained minimum of
 * E(q, d; r) (one total-charge constraint per fragment), found iteratively at every evaluation and
 * warm-started from the previous evaluation; forces are Hellmann-Feynman gradients at that point.
 *
 * Charge transfer (setChargeTransfer): Global (the default) equilibrates charges freely within each
 * fragment; Split moves charge only along bonds shorter than the split cutoff, at a bond-hardness cost
 * (split-charge equilibration, openmm_polarml/pqeq/split_charge.py; docs/conventions.md): the solver's
 * variables are then one charge s_b per bond and the shells, and the fragments only set the reference
 * charges. Split is implemented on the Reference/CPU platforms and in the CUDA kernels (docs/cuda.md).
 *
 * Global context parameters (kJ/mol/nm/e; 1 V/nm = 96.4853321 kJ/mol/nm/e):
 *   PQEqFieldX, PQEqFieldY, PQEqFieldZ   homogeneous external field, energy term -F.mu
 */

#include "openmm/Context.h"
#include "openmm/Force.h"
#include "openmm/Vec3.h"
#include <string>
#include <vector>

#if defined(_WIN32)
#define OPENMM_EXPORT_PQEQ __declspec(dllexport)
#else
#define OPENMM_EXPORT_PQEQ __attribute__((visibility("default")))
#endif

namespace PolarML {

class OPENMM_EXPORT_PQEQ PQEqForce : public OpenMM::Force {
public:
    enum NonbondedMethod {
        NoCutoff = 0,          // direct sum over all pairs, no periodicity
        Ewald = 1,             // exact lattice sum, class-based Ewald split, explicit k-vectors
        PME = 2,               // exact lattice sum, smooth PME (B-splines of order 6) for the reciprocal part
        Taper = 3,             // published kernel erf(a r)/r * T(r/rt), all periodic images inside rt
        TaperNonPeriodic = 4   // published kernel without periodicity
    };
    /** How charge moves between particles (see the header comment). */
    enum ChargeTransfer {
        Global = 0,            // freely within each fragment (one total-charge constraint per fragment)
        Split = 1              // along bonds shorter than the split cutoff (split-charge equilibration)
    };
    static const char* FieldX() { return "PQEqFieldX"; }
    static const char* FieldY() { return "PQEqFieldY"; }
    static const char* FieldZ() { return "PQEqFieldZ"; }

    PQEqForce();
    /** Add an equilibrated particle. chi (kJ/mol/e), eta (kJ/mol/e^2), radius: Gaussian radius R (nm;
     *  exponent alpha = 0.462770/(2 R^2); 0 = point charge), springK (kJ/mol/nm^2), shellCharge (e, the
     *  shell carries shellCharge = -Z, the core q + Z), polarizable (false or springK = 0: no shell).
     *  Returns the particle index. */
    int addParticle(double chi, double eta, double radius, double springK, double shellCharge, bool polarizable);
    void getParticleParameters(int index, double& chi, double& eta, double& radius, double& springK,
                               double& shellCharge, bool& polarizable) const;
    void setParticleParameters(int index, double chi, double eta, double radius, double springK,
                               double shellCharge, bool polarizable);
    /** Add a fixed-charge particle (e.g. an MM atom): a Gaussian (radius nm, 0 = point charge) of fixed
     *  charge that polarizes the others but is not equilibrated and has no shell. */
    int addFixedChargeParticle(double charge, double radius);
    void getFixedChargeParticleParameters(int index, double& charge, double& radius) const;
    void setFixedChargeParticleParameters(int index, double charge, double radius);
    bool isFixedChargeParticle(int index) const;
    int getNumParticles() const { return (int) particles.size(); }

    /** Fragments: disjoint groups of equilibrated particles with fixed total charges. Without any
     *  fragment, all equilibrated particles form one fragment of total charge getTotalCharge(). */
    int addFragment(const std::vector<int>& particles, double totalCharge);
    void getFragmentParameters(int index, std::vector<int>& particles, double& totalCharge) const;
    void setFragmentParameters(int index, const std::vector<int>& particles, double totalCharge);
    int getNumFragments() const { return (int) fragments.size(); }
    void setTotalCharge(double charge) { totalCharge = charge; }
    double getTotalCharge() const { return totalCharge; }

    /** Exclusions remove every site-site interaction between two particles (core and shell). */
    int addExclusion(int particle1, int particle2);
    void getExclusionParticles(int index, int& particle1, int& particle2) const;
    int getNumExclusions() const { return (int) exclusions.size(); }

    NonbondedMethod getNonbondedMethod() const { return method; }
    void setNonbondedMethod(NonbondedMethod m) { method = m; }
    /** Real-space cutoff (Ewald, PME) or taper radius (Taper*), nm. A value <= 0 (the default) selects
     *  min(0.6 nm, half the smallest perpendicular box width) for Ewald/PME and 1.25 nm for Taper. */
    double getCutoffDistance() const { return cutoff; }
    void setCutoffDistance(double distance) { cutoff = distance; }
    /** Target relative accuracy delta of the lattice sum (default 1e-6). */
    double getEwaldErrorTolerance() const { return ewaldTolerance; }
    void setEwaldErrorTolerance(double tol) {
        if (!(tol > 0.0 && tol < 1.0))
            throw OpenMM::OpenMMException("PQEqForce: the Ewald error tolerance must lie in (0, 1), got " + std::to_string(tol) + "; 1e-6 is the default");
        ewaldTolerance = tol;
    }
    /** Solver tolerance: max |dE/dq - mu_f| in eV/e and max |dE/dd| in eV/Angstrom (default 1e-6). */
    double getSolverTolerance() const { return solverTolerance; }
    /** Must be positive and finite (the solver stops when every residual falls below it). */
    void setSolverTolerance(double tol) {
        if (!(tol > 0.0 && tol < 1e300))
            throw OpenMM::OpenMMException("PQEqForce: the solver tolerance must be positive and finite, got " + std::to_string(tol) + " (eV/e and eV/Angstrom); 1e-6 is the default");
        solverTolerance = tol;
    }
    int getSolverMaxIterations() const { return maxIterations; }
    /** At least 1: an unconverged solve then raises instead of running without end. */
    void setSolverMaxIterations(int n) {
        if (n < 1)
            throw OpenMM::OpenMMException("PQEqForce: the solver's iteration limit must be at least 1, got " + std::to_string(n) + "; an unconverged solve raises an error when it is reached");
        maxIterations = n;
    }
    /** Default values (kJ/mol/nm/e) of the field Context parameters PQEqFieldX/Y/Z in a new Context. */
    void setDefaultExternalField(double fieldX, double fieldY, double fieldZ) { defaultField = OpenMM::Vec3(fieldX, fieldY, fieldZ); }
    OpenMM::Vec3 getDefaultExternalField() const { return defaultField; }

    /** Charge-transfer model (default Global: the behaviour and numbers of earlier versions). */
    ChargeTransfer getChargeTransfer() const { return chargeTransfer; }
    void setChargeTransfer(ChargeTransfer model);
    /** Split only: bonds at least this long (nm) carry no charge; the taper runs from
     *  min(0.25 nm, cutoff/2) to it. Default 0.5 nm. Periodic systems need it <= half the smallest
     *  perpendicular box width (each pair then has at most one bonded image). */
    double getSplitCutoff() const { return splitCutoff; }
    void setSplitCutoff(double distance);
    /** Split only: per-particle bond hardness kappa_i (kJ/mol/e^2); a bond i-j has kappa_i + kappa_j.
     *  Must be positive; default defaultBondHardness() (1 eV/e^2). Ignored for fixed-charge particles. */
    double getParticleBondHardness(int index) const;
    void setParticleBondHardness(int index, double kappa);
    /** 1 eV/e^2 in kJ/mol/e^2, the bond hardness of a new particle. */
    static double defaultBondHardness();

    /** Copy per-particle and per-fragment parameters into a Context (the topology must not change). */
    void updateParametersInContext(OpenMM::Context& context);
    /** Net atomic charges q (e) at the solution for the Context's current state. */
    std::vector<double> getCharges(OpenMM::Context& context) const;
    /** Shell displacements d (nm) at the solution. */
    std::vector<OpenMM::Vec3> getShellDisplacements(OpenMM::Context& context) const;
    /** Dipole (e nm): sum q_i u_i - sum Z_i d_i, u_i unwrapped relative to the reference geometry
     *  (the positions at the first evaluation) for periodic systems. */
    OpenMM::Vec3 getDipole(OpenMM::Context& context) const;
    /** Solver iterations of the most recent solve in the Context (0: the start already met the tolerance).
     *  Does not solve again. */
    int getLastSolverIterations(OpenMM::Context& context) const;

    bool usesPeriodicBoundaryConditions() const;

    struct ParticleInfo {
        double chi, eta, radius, springK, shellCharge, charge;
        bool polarizable, fixed;
        double bondHardness;   // kJ/mol/e^2, split charge transfer only
    };
    struct FragmentInfo {
        std::vector<int> particles;
        double totalCharge;
    };
protected:
    OpenMM::ForceImpl* createImpl() const;
private:
    std::vector<ParticleInfo> particles;
    std::vector<FragmentInfo> fragments;
    std::vector<std::pair<int, int> > exclusions;
    NonbondedMethod method;
    ChargeTransfer chargeTransfer;
    double splitCutoff;
    double cutoff, ewaldTolerance, solverTolerance, totalCharge;
    int maxIterations;
    OpenMM::Vec3 defaultField;
};

} // namespace PolarML

#endif
