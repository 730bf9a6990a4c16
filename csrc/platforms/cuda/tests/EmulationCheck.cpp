/* Serial emulation check of the CUDA PQEq kernels (no GPU needed): the engine's device code compiled
 * as plain C++ (POLARML_CUDA_EMULATION) against the Reference calculator, for every nonbonded method,
 * with fragments, fixed charges, exclusions and a field, in double (tight) and float (loose) arithmetic;
 * split charge transfer (PQEqForce::Split) on a charged water + Na+ cluster (no cutoff, taper without
 * periodicity) and a rattled rocksalt box (taper, Ewald, PME) in a field; the real-space cell list on a
 * 216-atom triclinic rocksalt box and a 125-water box (global and split charge transfer), and the
 * all-pairs fallback where a box has fewer than 3 cells per direction.
 * Exit status 0 when every case agrees. Build: cmake -DPOLARML_CUDA_EMULATION_CHECK=ON (see docs/cuda.md). */

#include "PQEqCalculator.h"
#include "PQEqCudaEngine.h"
#include "PQEqCudaModel.h"
#include "openmm/OpenMMException.h"
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace OpenMM;
using namespace PolarML;
using namespace std;

struct Element { double chi, eta, radius, k; };
static const Element NA = {274.30779922657035, 443.06064511023953, 0.2085, 5762.564624};
static const Element CL = {826.300384304027, 954.4329053637827, 0.0994, 63731.85952};
static const Element O = {801.6107526669931, 1414.5984701528425, 0.0669, 173236.222984};
static const Element H = {455.87775662950014, 1502.6027415825138, 0.0371, 852364.735224};
static const double WATER[3][3] = {{0, 0, 0}, {0.09572, 0, 0}, {-0.02399, 0.09266, 0}};   // O, H, H (nm)

struct Case {
    string name;
    PQEqForce force;
    vector<Vec3> pos;
    bool periodic;
    Vec3 box[3];
    Vec3 field;
    double tolE = 1e-8, tolF = 1e-6, tolQ = 1e-7;   // double precision: energy (relative), force (/Fmax), charge (e)
    bool rattleWarm = false;                        // warm-start step: move every atom differently
};

static void add(PQEqForce& f, const Element& e, bool pol = true) {
    f.addParticle(e.chi, e.eta, e.radius, e.k, -1.0, pol);
}

/** k x k x k conventional rocksalt cells (lattice constant a), every atom rattled by N(0, jitter); per atom
 *  the split-charge bond hardness into kappa. */
static void addRocksalt(Case& c, int k, double a, double jitter, unsigned seed, vector<double>& kappa) {
    mt19937 rng(seed);
    normal_distribution<double> nd(0.0, jitter);
    const double base[4][3] = {{0, 0, 0}, {0.5, 0.5, 0}, {0.5, 0, 0.5}, {0, 0.5, 0.5}};
    for (int n = 0; n < k * k * k; n++)
        for (int s = 0; s < 2; s++)
            for (auto& b : base) {
                add(c.force, s == 0 ? NA : CL);
                kappa.push_back(s == 0 ? 1.5 * 96.485 : 0.8 * 96.485);
                Vec3 cell(n % k, (n / k) % k, n / (k * k));
                c.pos.push_back(Vec3((cell[0] + b[0] + 0.5 * s) * a + nd(rng), (cell[1] + b[1]) * a + nd(rng),
                                     (cell[2] + b[2]) * a + nd(rng)));
            }
}

static Case nacl(int method, double jitter, unsigned seed) {
    Case c;
    c.name = string("NaCl method ") + to_string(method);
    double a = 0.564;
    vector<double> kappa;
    addRocksalt(c, 1, a, jitter, seed, kappa);
    c.force.setNonbondedMethod((PQEqForce::NonbondedMethod) method);
    c.force.setSolverTolerance(1e-10);
    c.periodic = true;
    c.box[0] = Vec3(a, 0, 0);
    c.box[1] = Vec3(0.02, a, 0);   // triclinic
    c.box[2] = Vec3(-0.03, 0.01, a);
    if (method == PQEqForce::Ewald || method == PQEqForce::PME)
        c.force.setCutoffDistance(0.25);
    c.field = Vec3(20.0, -10.0, 5.0);
    return c;
}

static Case water(int method, unsigned seed) {
    Case c;
    c.name = string("water cluster method ") + to_string(method);
    mt19937 rng(seed);
    normal_distribution<double> nd(0.0, 0.01);
    int m = 0;
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) {
            Vec3 shift(i * 0.31 + nd(rng), j * 0.31 + nd(rng), nd(rng));
            vector<int> frag;
            for (int k = 0; k < 3; k++) {
                add(c.force, k == 0 ? O : H, k != 2 || m != 1);   // one non-polarisable H
                c.pos.push_back(shift + Vec3(WATER[k][0], WATER[k][1], WATER[k][2]));
                frag.push_back(3 * m + k);
            }
            c.force.addFragment(frag, m == 0 ? 0.1 : 0.0);
            c.force.addExclusion(3 * m, 3 * m + 1);
            m++;
        }
    // one fixed-charge point (an MM site) and one fixed Gaussian
    c.force.addFixedChargeParticle(0.4, 0.0);
    c.pos.push_back(Vec3(0.8, 0.7, 0.5));
    c.force.addFixedChargeParticle(-0.3, 0.1);
    c.pos.push_back(Vec3(-0.5, 0.2, 0.4));
    c.force.setNonbondedMethod((PQEqForce::NonbondedMethod) method);
    c.force.setSolverTolerance(1e-10);
    c.periodic = (method != PQEqForce::NoCutoff && method != PQEqForce::TaperNonPeriodic);
    double L = 1.3;
    c.box[0] = Vec3(L, 0, 0);
    c.box[1] = Vec3(0, L, 0);
    c.box[2] = Vec3(0, 0, L);
    if (c.periodic && method != PQEqForce::Taper)
        c.force.setCutoffDistance(0.6);
    c.field = Vec3(30.0, 0.0, -15.0);
    return c;
}

/* Split charges: per-element bond hardness (kJ/mol/e^2; 1 eV/e^2 = 96.485 kJ/mol/e^2), tight solve and tolerances. */
static void makeSplit(Case& c, const vector<double>& kappa) {
    c.force.setChargeTransfer(PQEqForce::Split);
    for (size_t i = 0; i < kappa.size(); i++)
        c.force.setParticleBondHardness((int) i, kappa[i]);
    c.force.setSolverTolerance(1e-12);
    c.tolE = 1e-12;
    c.tolF = 1e-8;
    c.tolQ = 1e-9;
    c.rattleWarm = true;
    c.name = "split " + c.name;
}

/** Four waters (neutral fragments) and a Na+ (fragment of charge +1) 0.12 nm off their centre along
 *  (1, 1, 1), split charges without periodicity, in a field (tests/openmm/test_openmm_split_charge.py). */
static Case splitCluster(int method, unsigned seed) {
    Case c;
    c.name = string("water+Na cluster method ") + to_string(method);
    mt19937 rng(seed);
    normal_distribution<double> nd(0.0, 0.01);
    vector<double> kappa;
    Vec3 centre;
    for (int m = 0; m < 4; m++) {
        Vec3 shift((m % 2) * 0.29 + nd(rng), (m / 2) * 0.29 + nd(rng), 0.05 * m + nd(rng));
        vector<int> frag;
        for (int k = 0; k < 3; k++) {
            add(c.force, k == 0 ? O : H);
            kappa.push_back(k == 0 ? 96.485 : 1.2 * 96.485);
            c.pos.push_back(shift + Vec3(WATER[k][0], WATER[k][1], WATER[k][2]));
            centre += c.pos.back() / 12.0;
            frag.push_back(3 * m + k);
        }
        c.force.addFragment(frag, 0.0);
    }
    add(c.force, NA);
    kappa.push_back(1.5 * 96.485);
    c.pos.push_back(centre + Vec3(0.12, 0.12, 0.12));
    c.force.addFragment(vector<int>(1, 12), 1.0);
    c.force.setNonbondedMethod((PQEqForce::NonbondedMethod) method);
    c.periodic = false;
    c.field = Vec3(20.0, -10.0, 30.0);
    makeSplit(c, kappa);
    return c;
}

/** 2x2x2 conventional cells of NaCl (1.128 nm box, at least twice the 0.5 nm split cutoff) rattled by
 *  0.01 nm, split charges with Ewald or PME (real-space cutoff 0.5 nm), in a field. */
static Case splitRocksalt(int method, unsigned seed) {
    Case c;
    c.name = string("rocksalt 2x2x2 method ") + to_string(method);
    double a = 0.564;
    vector<double> kappa;
    addRocksalt(c, 2, a, 0.01, seed, kappa);
    c.force.setNonbondedMethod((PQEqForce::NonbondedMethod) method);
    c.force.setCutoffDistance(0.5);
    c.periodic = true;
    c.box[0] = Vec3(2 * a, 0, 0);
    c.box[1] = Vec3(0, 2 * a, 0);
    c.box[2] = Vec3(0, 0, 2 * a);
    c.field = Vec3(20.0, -10.0, 5.0);
    makeSplit(c, kappa);
    return c;
}

/** The engine's real-space path for a case (PQEqBoxModel::chooseCells): "cells n0xn1xn2" or "all pairs". */
static string realSpacePath(const Case& c) {
    if (!c.periodic)
        return "all pairs";
    PQEqSystemModel m;
    m.setup(c.force);
    PQEqBoxModel b;
    b.setup(m, c.box);
    if (b.ncell[0] == 0)
        return "all pairs";
    return "cells " + to_string(b.ncell[0]) + "x" + to_string(b.ncell[1]) + "x" + to_string(b.ncell[2]);
}

/** Cell list (issue #26): 3x3x3 rocksalt cells (216 atoms, 432 sites) in a triclinic box, rattled by 0.01 nm,
 *  global or split charge transfer; real-space cutoff 0.4 nm (4 cells per direction, 27 of 64 visited)
 *  or 0.6 nm (2 per direction: the all-pairs fallback). */
static Case bigRocksalt(int method, bool split, double cutoff, unsigned seed) {
    Case c;
    double a = 0.564, L = 3 * a;
    vector<double> kappa;
    addRocksalt(c, 3, a, 0.01, seed, kappa);
    c.force.setNonbondedMethod((PQEqForce::NonbondedMethod) method);
    c.force.setCutoffDistance(cutoff);
    c.force.setSolverTolerance(1e-10);
    c.periodic = true;
    c.box[0] = Vec3(L, 0, 0);
    c.box[1] = Vec3(0.05, L, 0);
    c.box[2] = Vec3(-0.04, 0.03, L);
    c.field = Vec3(20.0, -10.0, 5.0);
    if (split)
        makeSplit(c, kappa);
    c.name = (split ? "split " : "") + string("rocksalt 3x3x3 method ") + to_string(method);
    return c;
}

/** Cell list: 4x4x4 waters (192 atoms; the second H of every other water not polarisable) on a 0.42 nm
 *  grid, rattled by 0.01 nm, a neutral fragment and an O-H exclusion per water, cutoff 0.4 nm (4 cells
 *  per direction), in a field. */
static Case waterBox(int method, bool split, unsigned seed) {
    Case c;
    mt19937 rng(seed);
    normal_distribution<double> nd(0.0, 0.01);
    const int k = 4;
    const double spacing = 0.42;
    for (int m = 0; m < k * k * k; m++) {
        Vec3 shift((m % k) * spacing + nd(rng), ((m / k) % k) * spacing + nd(rng), (m / (k * k)) * spacing + nd(rng));
        vector<int> frag;
        for (int j = 0; j < 3; j++) {
            add(c.force, j == 0 ? O : H, j != 2 || m % 2 == 0);
            c.pos.push_back(shift + Vec3(WATER[j][0], WATER[j][1], WATER[j][2]));
            frag.push_back(3 * m + j);
        }
        c.force.addFragment(frag, 0.0);
        c.force.addExclusion(3 * m, 3 * m + 1);
    }
    c.force.setNonbondedMethod((PQEqForce::NonbondedMethod) method);
    c.force.setCutoffDistance(0.4);
    c.force.setSolverTolerance(1e-10);
    c.periodic = true;
    for (int d = 0; d < 3; d++) {
        c.box[d] = Vec3();
        c.box[d][d] = k * spacing;
    }
    c.field = Vec3(30.0, 0.0, -15.0);
    if (split)
        makeSplit(c, vector<double>(c.pos.size(), 96.485));
    c.name = (split ? "split " : "") + string("water box 4x4x4 method ") + to_string(method);
    return c;
}

static int check(Case& c, bool doublePrecision) {
    c.name += " (" + realSpacePath(c) + ")";
    PQEqCalculator ref;
    ref.setup(c.force, false);
    vector<Vec3> fRef(c.pos.size());
    double eRef = ref.compute(c.pos, c.periodic ? c.box : NULL, c.field, &fRef);
    unique_ptr<PQEqCudaEngine> eng(PQEqCudaEngine::create(doublePrecision, nullptr));
    eng->setup(c.force, false);
    eng->setPositions(c.pos);
    double e = eng->compute(c.periodic ? c.box : NULL, c.field);
    vector<Vec3> f(c.pos.size());
    eng->addForces(f);
    vector<double> q, qRef = ref.getCharges();
    eng->getCharges(q);
    double fmaxRef = 0, df = 0, dq = 0;
    for (size_t i = 0; i < f.size(); i++) {
        fmaxRef = max(fmaxRef, sqrt(fRef[i].dot(fRef[i])));
        Vec3 d = f[i] - fRef[i];
        df = max(df, sqrt(d.dot(d)));
        dq = max(dq, fabs(q[i] - qRef[i]));
    }
    Vec3 dmu = eng->getDipole() - ref.getDipole();
    double de = fabs(e - eRef) / max(1.0, fabs(eRef));
    double relF = df / max(fmaxRef, 1.0);
    double tolE = doublePrecision ? c.tolE : 2e-4, tolF = doublePrecision ? c.tolF : 5e-3, tolQ = doublePrecision ? c.tolQ : 2e-3;
    bool ok = de < tolE && relF < tolF && dq < tolQ && sqrt(dmu.dot(dmu)) < 10 * tolQ;
    printf("%-40s %-6s E=%.10f dE/E=%.2e |dF|/Fmax=%.2e |dq|=%.2e |dmu|=%.2e iters=%d/%d %s\n", c.name.c_str(),
           doublePrecision ? "double" : "float", eRef, de, relF, dq, sqrt(dmu.dot(dmu)), eng->getLastIterations(),
           ref.getLastIterations(), ok ? "ok" : "FAIL");
    // warm start: a second evaluation at displaced positions
    for (size_t i = 0; i < c.pos.size(); i++)
        c.pos[i] += Vec3(0.001, -0.0005, 0.0007) * (c.rattleWarm ? 1.0 + 0.7 * (double) (i % 5) : 1.0);
    ref.compute(c.pos, c.periodic ? c.box : NULL, c.field, NULL);
    eng->setPositions(c.pos);
    double e2 = eng->compute(c.periodic ? c.box : NULL, c.field);
    double e2Ref = ref.compute(c.pos, c.periodic ? c.box : NULL, c.field, NULL);
    bool ok2 = fabs(e2 - e2Ref) / max(1.0, fabs(e2Ref)) < tolE;
    if (!ok2)
        printf("  warm-start evaluation FAIL: %.10f vs %.10f\n", e2, e2Ref);
    // the same force again with keepState (updateParametersInContext): the kept state is a valid start
    eng->setup(c.force, true);
    eng->setPositions(c.pos);
    double e3 = eng->compute(c.periodic ? c.box : NULL, c.field);
    if (fabs(e3 - e2Ref) / max(1.0, fabs(e2Ref)) >= tolE) {
        printf("  kept-state evaluation FAIL: %.10f vs %.10f\n", e3, e2Ref);
        ok2 = false;
    }
    return (ok && ok2) ? 0 : 1;
}

/** The engine refuses what Reference refuses (PQEqInputChecks.h): two atoms 0.01 nm apart, a NaN position. */
static int checkInputRules(bool doublePrecision) {
    int failures = 0;
    for (int bad = 0; bad < 2; bad++) {
        Case c = water(PQEqForce::Ewald, 3);
        if (bad == 0)
            c.pos[3] = c.pos[0] + Vec3(0.01, 0.0, 0.0);   // an O of another water onto the first O
        else
            c.pos[1][0] = NAN;
        unique_ptr<PQEqCudaEngine> eng(PQEqCudaEngine::create(doublePrecision, nullptr));
        eng->setup(c.force, false);
        eng->setPositions(c.pos);
        bool refused = false;
        try {
            eng->compute(c.box, c.field);
        }
        catch (const OpenMMException& e) {
            refused = string(e.what()).find(bad == 0 ? "closer than" : "non-finite") != string::npos;
        }
        printf("%-40s %-6s %s\n", bad == 0 ? "input check: overlap" : "input check: NaN position",
               doublePrecision ? "double" : "float", refused ? "ok (refused)" : "FAIL (accepted)");
        failures += refused ? 0 : 1;
    }
    return failures;
}

int main() {
    int failures = 0;
    try {
        for (int prec = 1; prec >= 0; prec--) {
            for (int method : {PQEqForce::NoCutoff, PQEqForce::TaperNonPeriodic, PQEqForce::Taper, PQEqForce::Ewald, PQEqForce::PME}) {
                Case w = water(method, 3);
                failures += check(w, prec == 1);
            }
            for (int method : {PQEqForce::Taper, PQEqForce::Ewald, PQEqForce::PME}) {
                Case c = nacl(method, 0.01, 7);
                failures += check(c, prec == 1);
            }
            failures += checkInputRules(prec == 1);
            for (int method : {PQEqForce::NoCutoff, PQEqForce::TaperNonPeriodic}) {
                Case c = splitCluster(method, 5);
                failures += check(c, prec == 1);
            }
            for (int method : {PQEqForce::Ewald, PQEqForce::PME}) {
                Case c = splitRocksalt(method, 7);
                failures += check(c, prec == 1);
            }
            {   // periodic Taper (on rocksalt its kernel is not positive definite): the water box with
                // fixed charges, an exclusion and a non-polarisable H
                Case c = water(PQEqForce::Taper, 3);
                makeSplit(c, vector<double>(c.pos.size(), 96.485));
                failures += check(c, prec == 1);
            }
            // the real-space cell list (and the all-pairs fallback on the same system)
            for (int split = 0; split < 2; split++)
                for (int method : {PQEqForce::Ewald, PQEqForce::PME}) {
                    Case c = bigRocksalt(method, split == 1, 0.4, 11);
                    failures += check(c, prec == 1);
                }
            {
                Case c = bigRocksalt(PQEqForce::Ewald, false, 0.6, 11);
                failures += check(c, prec == 1);
            }
            for (int method : {PQEqForce::Taper, PQEqForce::Ewald}) {   // water PME: slow direct DFT here
                Case c = waterBox(method, false, 13);
                failures += check(c, prec == 1);
            }
            {
                Case c = waterBox(PQEqForce::Taper, true, 13);
                failures += check(c, prec == 1);
            }
        }
    }
    catch (const OpenMMException& e) {
        printf("exception: %s\n", e.what());
        return 2;
    }
    printf("%d failed\n", failures);
    return failures == 0 ? 0 : 1;
}
