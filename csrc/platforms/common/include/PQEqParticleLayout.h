#ifndef POLARML_PQEQPARTICLELAYOUT_H_
#define POLARML_PQEQPARTICLELAYOUT_H_

/* What every platform reads from a PQEqForce before any geometry: per-atom parameters (OpenMM units),
 * equilibrated and polarisable atoms, sites (cores 0..N-1, then one shell per polarisable atom),
 * Gaussian width classes, fragments and site exclusions. One set-up for the Reference calculator
 * (PQEqCalculator) and the CUDA host model (PQEqSystemModel); the rules are those of
 * docs/conventions.md. Header-only, plain C++. */

#include "PQEqForce.h"
#include "PQEqMath.h"
#include <algorithm>
#include <map>
#include <vector>

namespace PolarML {

struct PQEqParticleLayout {
    int N = 0, P = 0, nq = 0, nS = 0, method = 0, maxIterations = 1000;
    double cutoffUser = -1, ewaldTolerance = 1e-6, solverTolerance = 1e-6;
    bool periodic = false;
    bool splitCharge = false;                             // PQEqForce::Split charge transfer
    double splitCutoff = 0.5;                             // nm
    std::vector<double> bondHardness;                     // per atom, kJ/mol/e^2 (split only)
    std::vector<double> referenceQ;                       // per atom q0 (e): fragment charge / size; fixed charges
    std::vector<char> fixed;
    std::vector<double> chi, eta, alpha, Ks, Z, fixedQ;   // per atom; alpha = inf for point charges
    std::vector<int> eqAtoms, polAtoms;                   // equilibrated atoms; atoms with a shell
    std::vector<int> eqIndex, polIndex;                   // atom -> position in eqAtoms / polAtoms, -1: none
    std::vector<int> eqFragment;                          // position in eqAtoms -> fragment
    std::vector<double> fragCharge;
    std::vector<std::vector<int> > fragMembers;           // positions in eqAtoms
    std::vector<int> siteAtom, siteClass;
    int numClasses = 0;
    std::vector<double> classAlpha, pairAlpha;            // pairAlpha[c1*C+c2] (1/nm), inf for point charges
    std::vector<std::vector<int> > siteExclusions;        // sorted, partner sites (both directions)

    /** Read parameters, fragments, classes and exclusions from a force (kJ/mol, nm, e). */
    void setupLayout(const PQEqForce& force) {
        using namespace pqeq_detail;
        N = force.getNumParticles();
        method = force.getNonbondedMethod();
        periodic = force.usesPeriodicBoundaryConditions();
        cutoffUser = force.getCutoffDistance();
        ewaldTolerance = force.getEwaldErrorTolerance();
        solverTolerance = force.getSolverTolerance();
        maxIterations = force.getSolverMaxIterations();
        splitCharge = (force.getChargeTransfer() == PQEqForce::Split);
        splitCutoff = force.getSplitCutoff();
        bondHardness.assign(N, 0);
        fixed.assign(N, 0);
        chi.assign(N, 0);
        eta.assign(N, 0);
        alpha.assign(N, INF);
        Ks.assign(N, 0);
        Z.assign(N, 0);
        fixedQ.assign(N, 0);
        eqAtoms.clear();
        polAtoms.clear();
        eqIndex.assign(N, -1);
        polIndex.assign(N, -1);
        for (int i = 0; i < N; i++) {
            double radius;
            if (force.isFixedChargeParticle(i)) {
                fixed[i] = 1;
                force.getFixedChargeParticleParameters(i, fixedQ[i], radius);
            }
            else {
                double zs;
                bool pol;
                force.getParticleParameters(i, chi[i], eta[i], radius, Ks[i], zs, pol);
                if (pol && Ks[i] > 0 && zs != 0) {
                    Z[i] = -zs;   // the force holds the shell's charge -Z_i
                    polIndex[i] = (int) polAtoms.size();
                    polAtoms.push_back(i);
                }
                else
                    Ks[i] = 0;
                eqIndex[i] = (int) eqAtoms.size();
                eqAtoms.push_back(i);
            }
            alpha[i] = (radius > 0 ? PQEQ_LAMBDA / (2.0 * radius * radius) : INF);
            bondHardness[i] = force.getParticleBondHardness(i);
        }
        nq = (int) eqAtoms.size();
        P = (int) polAtoms.size();
        nS = N + P;
        setupFragments(force);
        referenceQ = fixedQ;
        for (size_t f = 0; f < fragMembers.size(); f++)
            for (int k : fragMembers[f])
                referenceQ[eqAtoms[k]] = fragCharge[f] / fragMembers[f].size();
        setupClasses();
        setupExclusions(force);
    }

private:
    void setupFragments(const PQEqForce& force) {
        fragMembers.clear();
        fragCharge.clear();
        eqFragment.assign(nq, 0);
        if (force.getNumFragments() == 0) {
            if (nq > 0) {
                fragMembers.push_back(std::vector<int>());
                for (int k = 0; k < nq; k++)
                    fragMembers[0].push_back(k);
                fragCharge.push_back(force.getTotalCharge());
            }
            return;
        }
        for (int f = 0; f < force.getNumFragments(); f++) {
            std::vector<int> atoms;
            double qf;
            force.getFragmentParameters(f, atoms, qf);
            std::vector<int> members;
            for (int a : atoms) {
                members.push_back(eqIndex[a]);
                eqFragment[eqIndex[a]] = f;
            }
            fragMembers.push_back(members);
            fragCharge.push_back(qf);
        }
    }

    /** Sites and classes: one class per distinct Gaussian exponent, in order of first appearance. */
    void setupClasses() {
        siteAtom.resize(nS);
        for (int i = 0; i < N; i++)
            siteAtom[i] = i;
        for (int k = 0; k < P; k++)
            siteAtom[N + k] = polAtoms[k];
        std::map<double, int> classOf;
        classAlpha.clear();
        siteClass.resize(nS);
        for (int s = 0; s < nS; s++) {
            double a = alpha[siteAtom[s]];
            if (classOf.find(a) == classOf.end()) {
                classOf[a] = (int) classAlpha.size();
                classAlpha.push_back(a);
            }
            siteClass[s] = classOf[a];
        }
        numClasses = (int) classAlpha.size();
        pairAlpha.resize(numClasses * numClasses);
        for (int c1 = 0; c1 < numClasses; c1++)
            for (int c2 = 0; c2 < numClasses; c2++)
                pairAlpha[c1 * numClasses + c2] = pqeq_detail::pairExponent(classAlpha[c1], classAlpha[c2]);
    }

    /** Each core with its own shell, and every site pair of an excluded atom pair. */
    void setupExclusions(const PQEqForce& force) {
        siteExclusions.assign(nS, std::vector<int>());
        for (int k = 0; k < P; k++) {
            siteExclusions[polAtoms[k]].push_back(N + k);
            siteExclusions[N + k].push_back(polAtoms[k]);
        }
        for (int e = 0; e < force.getNumExclusions(); e++) {
            int a, b;
            force.getExclusionParticles(e, a, b);
            int sa[2] = {a, polIndex[a] >= 0 ? N + polIndex[a] : -1};
            int sb[2] = {b, polIndex[b] >= 0 ? N + polIndex[b] : -1};
            for (int x : sa)
                for (int y : sb)
                    if (x >= 0 && y >= 0) {
                        siteExclusions[x].push_back(y);
                        siteExclusions[y].push_back(x);
                    }
        }
        for (auto& v : siteExclusions)
            std::sort(v.begin(), v.end());
    }
};

} // namespace PolarML

#endif
