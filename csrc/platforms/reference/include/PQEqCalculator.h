#ifndef POLARML_PQEQCALCULATOR_H_
#define POLARML_PQEQCALCULATOR_H_

/* Platform-independent double-precision implementation of the PQEq energy of docs/conventions.md
 * (OpenMM units: kJ/mol, nm, e) and its constrained minimiser. Used by the Reference kernel (which
 * also serves the CPU platform) and as the host-side oracle of the other platforms. */

#include "PQEqForce.h"
#include "openmm/Vec3.h"
#include <complex>
#include <vector>

namespace PolarML {

class PQEqCalculator {
public:
    PQEqCalculator();
    /** Copy parameters from a force. keepState: keep the warm-start charges/shells when possible. */
    void setup(const PQEqForce& force, bool keepState);
    /** Solve for charges and shells, return the energy (kJ/mol) and add forces (kJ/mol/nm) if requested.
     *  box: three periodic box vectors, or NULL for a non-periodic method. field: kJ/mol/nm/e. */
    double compute(const std::vector<OpenMM::Vec3>& positions, const OpenMM::Vec3* box,
                   const OpenMM::Vec3& field, std::vector<OpenMM::Vec3>* forces);
    const std::vector<double>& getCharges() const { return q; }
    const std::vector<OpenMM::Vec3>& getShellDisplacements() const { return d; }
    OpenMM::Vec3 getDipole() const { return dipole; }
    int getLastIterations() const { return lastIterations; }
    int getNumEvaluations() const { return numEvaluations; }
    /** Coulomb energy E_C of given site positions/charges (sites: cores then shells of polarizable atoms);
     *  also fills dE/dQ (phi) and dE/dx (grad). Exposed for tests and other platforms. */
    double electrostatics(const std::vector<OpenMM::Vec3>& x, const std::vector<double>& Q,
                          std::vector<double>& phi, std::vector<OpenMM::Vec3>& grad);
    static double coulombConstant();   // kJ/mol nm / e^2
private:
    typedef std::complex<double> cplx;
    void setupBox(const OpenMM::Vec3* box);
    double evaluate(const std::vector<double>& x, std::vector<double>& g, bool forces);
    void pairKernel(int sa, int sb, double r, double& K, double& dK) const;
    void realSpace(const std::vector<OpenMM::Vec3>& x, const std::vector<double>& Q,
                   std::vector<double>& phi, std::vector<OpenMM::Vec3>& grad);
    void reciprocalEwald(const std::vector<OpenMM::Vec3>& x, const std::vector<double>& Q,
                         std::vector<double>& phi, std::vector<OpenMM::Vec3>& grad);
    void reciprocalPME(const std::vector<OpenMM::Vec3>& x, const std::vector<double>& Q,
                       std::vector<double>& phi, std::vector<OpenMM::Vec3>& grad);
    void fft3d(std::vector<cplx>& data, int sign);
    void buildPairList(const std::vector<OpenMM::Vec3>& x, const std::vector<double>& Q, double rlist);
    OpenMM::Vec3 minimumImage(OpenMM::Vec3 dr) const;
    void setupStateReset();

    // parameters
    int N, P, nq, nS, method, maxIterations;
    double cutoffUser, ewaldTolerance, solverTolerance, ke;
    bool periodic;
    std::vector<char> fixed;
    std::vector<double> chi, eta, alpha, Ks, Z, fixedQ;
    std::vector<int> eqAtoms, polAtoms, eqFragment, siteAtom, siteClass, siteGroup;
    std::vector<double> fragCharge;
    std::vector<std::vector<int> > fragMembers;   // positions in eqAtoms
    std::vector<std::vector<int> > siteExclusions; // sorted, partner sites (both directions)
    int numClasses, numGroups;
    std::vector<double> classAlpha, pairAlpha;     // pairAlpha[c1*C+c2] (1/nm), inf for point charges
    std::vector<int> classGroup;
    // geometry
    OpenMM::Vec3 boxVec[3], recip[3];
    double volume, rc, beta, kmax;
    bool boxValid;
    std::vector<double> groupGamma;                // [g1*G+g2]
    std::vector<OpenMM::Vec3> kvecs;               // Ewald half-space k vectors
    std::vector<double> kfac;                      // 8 pi ke / V / k^2 per k
    int ngrid[3];
    std::vector<double> bmod[3];
    std::vector<int> pairList;
    std::vector<OpenMM::Vec3> pairListX;
    std::vector<double> influence;                 // PME influence function per group pair
    // state
    std::vector<double> q;
    std::vector<OpenMM::Vec3> d, refPos, pos, u;
    OpenMM::Vec3 field, dipole;
    bool haveState, haveRef;
    int lastIterations, numEvaluations;
    std::vector<double> phiBuf;
    std::vector<OpenMM::Vec3> gradBuf, siteX;
    std::vector<double> siteQ;
};

} // namespace PolarML

#endif
