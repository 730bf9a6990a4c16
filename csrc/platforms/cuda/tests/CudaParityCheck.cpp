/* GPU check of the CUDA PQEqForce without Python: Reference vs CUDA (single, mixed, double) energies,
 * forces and charges for every nonbonded method, a short MD run (atom reordering, fixed-point forces),
 * and a timing table. Usage:
 *   CudaParityCheck OPENMM_PLUGIN_DIR POLARML_PLUGIN_DIR [--quick]
 * Exit status: 0 all agree, 1 a mismatch, 2 an error, 77 no CUDA platform or device (skipped). */

#include "PQEqForce.h"
#include "openmm/Context.h"
#include "openmm/OpenMMException.h"
#include "openmm/Platform.h"
#include "openmm/State.h"
#include "openmm/System.h"
#include "openmm/VerletIntegrator.h"
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace OpenMM;
using namespace PolarML;
using namespace std;

namespace {

string TEST = "CUDA";   // --self-test: the CPU platform stands in for CUDA (checks this harness without a GPU)

struct Element { double chi, eta, radius, k; };
const Element NA = {274.30779922657035, 443.06064511023953, 0.2085, 5762.564624};
const Element CL = {826.300384304027, 954.4329053637827, 0.0994, 63731.85952};
const Element O = {801.6107526669931, 1414.5984701528425, 0.0669, 173236.222984};
const Element H = {455.87775662950014, 1502.6027415825138, 0.0371, 852364.735224};

struct Setup {
    string name;
    PQEqForce* force;   // owned by the System
    System system;
    vector<Vec3> pos;
};

void addAtom(Setup& s, const Element& e, Vec3 r, double mass, bool pol = true) {
    s.force->addParticle(e.chi, e.eta, e.radius, e.k, -1.0, pol);
    s.system.addParticle(mass);
    s.pos.push_back(r);
}

unique_ptr<Setup> nacl(int method, int reps, double jitter) {
    unique_ptr<Setup> s(new Setup);
    s->force = new PQEqForce();
    s->system.addForce(s->force);
    double a = 0.564;
    mt19937 rng(7);
    normal_distribution<double> nd(0.0, jitter);
    const double base[4][3] = {{0, 0, 0}, {0.5, 0.5, 0}, {0.5, 0, 0.5}, {0, 0.5, 0.5}};
    for (int i = 0; i < reps; i++)
        for (int j = 0; j < reps; j++)
            for (int k = 0; k < reps; k++)
                for (int t = 0; t < 2; t++)
                    for (auto& b : base)
                        addAtom(*s, t == 0 ? NA : CL,
                                Vec3((b[0] + 0.5 * t + i) * a + nd(rng), (b[1] + j) * a + nd(rng), (b[2] + k) * a + nd(rng)),
                                t == 0 ? 22.99 : 35.45);
    double L = a * reps;
    s->system.setDefaultPeriodicBoxVectors(Vec3(L, 0, 0), Vec3(0, L, 0), Vec3(0, 0, L));
    s->force->setNonbondedMethod((PQEqForce::NonbondedMethod) method);
    if (method != PQEqForce::Taper)
        s->force->setCutoffDistance(min(0.9, 0.5 * L));
    s->force->setSolverTolerance(1e-8);
    s->name = "NaCl" + to_string(8 * reps * reps * reps) + (method == PQEqForce::Ewald ? " Ewald" : method == PQEqForce::PME ? " PME" : " Taper");
    return s;
}

unique_ptr<Setup> water(int method) {
    unique_ptr<Setup> s(new Setup);
    s->force = new PQEqForce();
    s->system.addForce(s->force);
    mt19937 rng(3);
    normal_distribution<double> nd(0.0, 0.01);
    const double W[3][3] = {{0, 0, 0}, {0.09572, 0, 0}, {-0.02399, 0.09266, 0}};
    int m = 0;
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) {
            Vec3 shift(i * 0.31 + nd(rng), j * 0.31 + nd(rng), nd(rng));
            vector<int> frag;
            for (int k = 0; k < 3; k++) {
                addAtom(*s, k == 0 ? O : H, shift + Vec3(W[k][0], W[k][1], W[k][2]), k == 0 ? 16.0 : 1.008, k != 2 || m != 1);
                frag.push_back(3 * m + k);
            }
            s->force->addFragment(frag, m == 0 ? 0.1 : 0.0);
            s->force->addExclusion(3 * m, 3 * m + 1);
            m++;
        }
    s->force->addFixedChargeParticle(0.4, 0.0);
    s->system.addParticle(10.0);
    s->pos.push_back(Vec3(0.8, 0.7, 0.5));
    s->force->addFixedChargeParticle(-0.3, 0.1);
    s->system.addParticle(10.0);
    s->pos.push_back(Vec3(-0.5, 0.2, 0.4));
    s->force->setNonbondedMethod((PQEqForce::NonbondedMethod) method);
    s->force->setSolverTolerance(1e-8);
    s->name = method == PQEqForce::NoCutoff ? "water NoCutoff" : "water TaperNonPeriodic";
    return s;
}

struct Result {
    double energy;
    vector<Vec3> forces;
    vector<double> charges;
};

Result evaluate(Setup& s, const string& platform, const string& precision, const Vec3& field) {
    VerletIntegrator integ(0.0005);
    map<string, string> props;
    if (platform == "CUDA")
        props["Precision"] = precision;
    Context ctx(s.system, integ, Platform::getPlatformByName(platform), props);
    ctx.setPositions(s.pos);
    ctx.setParameter(PQEqForce::FieldX(), field[0]);
    ctx.setParameter(PQEqForce::FieldY(), field[1]);
    ctx.setParameter(PQEqForce::FieldZ(), field[2]);
    State st = ctx.getState(State::Energy | State::Forces);
    Result r;
    r.energy = st.getPotentialEnergy();
    r.forces = st.getForces();
    r.charges = s.force->getCharges(ctx);
    return r;
}

bool compare(const string& name, const string& precision, const Result& ref, const Result& r) {
    double fmax = 1.0, df = 0, dq = 0;
    for (size_t i = 0; i < ref.forces.size(); i++) {
        fmax = max(fmax, sqrt(ref.forces[i].dot(ref.forces[i])));
        Vec3 d = r.forces[i] - ref.forces[i];
        df = max(df, sqrt(d.dot(d)));
        dq = max(dq, fabs(r.charges[i] - ref.charges[i]));
    }
    double de = fabs(r.energy - ref.energy) / max(1.0, fabs(ref.energy));
    bool dbl = (precision == "double");
    double tolE = dbl ? 1e-8 : 3e-4, tolF = dbl ? 1e-6 : 1e-2, tolQ = dbl ? 1e-6 : 2e-3;
    bool ok = de < tolE && df / fmax < tolF && dq < tolQ;
    printf("| %-24s | %-6s | %14.6f | %9.2e | %9.2e | %9.2e | %-4s |\n", name.c_str(), precision.c_str(), ref.energy, de,
           df / fmax, dq, ok ? "ok" : "FAIL");
    return ok;
}

/* Short NVE run from rest on both platforms (double): checks positions read through the atom index and forces
 * added to the fixed-point buffer while the CUDA platform reorders atoms. */
bool mdCheck(Setup& s) {
    double e[2];
    vector<Vec3> p[2];
    const char* names[2] = {"Reference", TEST.c_str()};
    for (int k = 0; k < 2; k++) {
        VerletIntegrator integ(0.0005);
        map<string, string> props;
        if (k == 1 && TEST == "CUDA")
            props["Precision"] = "double";
        Context ctx(s.system, integ, Platform::getPlatformByName(names[k]), props);
        ctx.setPositions(s.pos);
        integ.step(50);
        State st = ctx.getState(State::Energy | State::Positions);
        e[k] = st.getPotentialEnergy();
        p[k] = st.getPositions();
    }
    double dp = 0;
    for (size_t i = 0; i < p[0].size(); i++) {
        Vec3 d = p[1][i] - p[0][i];
        dp = max(dp, sqrt(d.dot(d)));
    }
    bool ok = dp < 1e-6 && fabs(e[1] - e[0]) < 1e-6 * max(1.0, fabs(e[0]));
    printf("MD 50 steps %-20s: max |dx| = %.2e nm, dE = %.2e kJ/mol: %s\n", s.name.c_str(), dp, e[1] - e[0], ok ? "ok" : "FAIL");
    return ok;
}

double timeEvaluations(Setup& s, const string& platform, const string& precision, int repeats) {
    VerletIntegrator integ(0.0005);
    map<string, string> props;
    if (platform == "CUDA")
        props["Precision"] = precision;
    Context ctx(s.system, integ, Platform::getPlatformByName(platform), props);
    ctx.setPositions(s.pos);
    ctx.getState(State::Energy | State::Forces);   // first solve (cold start), kernel set-up
    vector<Vec3> pos = s.pos;
    auto t0 = chrono::steady_clock::now();
    for (int r = 0; r < repeats; r++) {
        for (auto& x : pos)
            x += Vec3(1e-4, -0.5e-4, 0.7e-4);   // a small MD-like displacement: warm-started solve
        ctx.setPositions(pos);
        ctx.getState(State::Energy | State::Forces);
    }
    return chrono::duration<double>(chrono::steady_clock::now() - t0).count() / repeats * 1000.0;
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s OPENMM_PLUGIN_DIR POLARML_PLUGIN_DIR [--quick]\n", argv[0]);
        return 2;
    }
    bool quick = false;
    for (int i = 3; i < argc; i++) {
        quick |= (strcmp(argv[i], "--quick") == 0);
        if (strcmp(argv[i], "--self-test") == 0)
            TEST = "CPU";
    }
    try {
        Platform::loadPluginsFromDirectory(argv[1]);
        Platform::loadPluginsFromDirectory(argv[2]);
        for (const string& f : Platform::getPluginLoadFailures())
            printf("plugin load failure: %s\n", f.c_str());
        bool haveCuda = false;
        for (int i = 0; i < Platform::getNumPlatforms(); i++)
            haveCuda |= (Platform::getPlatform(i).getName() == TEST);
        if (!haveCuda) {
            printf("SKIP: no CUDA platform (install the openmm-cuda wheel matching openmm)\n");
            return 77;
        }
        Vec3 field(40.0, -20.0, 10.0);
        int failures = 0;
        printf("| %-24s | %-6s | %14s | %9s | %9s | %9s | %-4s |\n", "system", "prec", "E ref (kJ/mol)", "dE/|E|",
               "dF/Fmax", "max dq", "");
        printf("|---|---|---|---|---|---|---|\n");
        vector<unique_ptr<Setup> > cases;
        cases.push_back(water(PQEqForce::NoCutoff));
        cases.push_back(water(PQEqForce::TaperNonPeriodic));
        cases.push_back(nacl(PQEqForce::Taper, 1, 0.01));
        cases.push_back(nacl(PQEqForce::Ewald, 2, 0.01));
        cases.push_back(nacl(PQEqForce::PME, 2, 0.01));
        for (auto& c : cases) {
            Result ref = evaluate(*c, "Reference", "double", field);
            for (const char* prec : {"single", "mixed", "double"}) {
                if (TEST != "CUDA" && string(prec) != "double")
                    continue;
                try {
                    failures += !compare(c->name, prec, ref, evaluate(*c, TEST, prec, field));
                }
                catch (const OpenMMException& e) {
                    string msg = e.what();
                    if (msg.find("no CUDA-capable device") != string::npos || msg.find("Error initializing CUDA") != string::npos ||
                        msg.find("CUDA_ERROR_NO_DEVICE") != string::npos) {
                        printf("SKIP: no usable CUDA device (%s)\n", msg.c_str());
                        return 77;
                    }
                    printf("| %-24s | %-6s | error: %s\n", c->name.c_str(), prec, msg.c_str());
                    failures++;
                }
            }
        }
        failures += !mdCheck(*cases[3]);
        failures += !mdCheck(*cases[4]);
        printf("\nTiming: ms per energy+forces evaluation (warm-started solve after a small displacement)\n");
        printf("| %-18s | %5s | %10s | %10s | %10s | %10s |\n", "system", "atoms", "Reference", "CUDA single", "CUDA mixed", "CUDA double");
        printf("|---|---|---|---|---|---|\n");
        vector<int> sizes = quick ? vector<int>{2, 4} : vector<int>{2, 4, 6, 8};
        for (int reps : sizes) {
            unique_ptr<Setup> s = nacl(PQEqForce::PME, reps, 0.01);
            int nrep = reps <= 4 ? 10 : 5;
            string tref = (reps <= 4 ? to_string(timeEvaluations(*s, "Reference", "double", reps <= 2 ? 5 : 2)) : string("-"));
            double ts = timeEvaluations(*s, TEST, "single", nrep);
            double tm = timeEvaluations(*s, TEST, "mixed", nrep);
            double td = timeEvaluations(*s, TEST, "double", nrep);
            printf("| %-18s | %5d | %10.10s | %10.2f | %10.2f | %10.2f |\n", s->name.c_str(), (int) s->pos.size(), tref.c_str(), ts, tm, td);
        }
        printf("\n%d failed\n", failures);
        return failures == 0 ? 0 : 1;
    }
    catch (const exception& e) {
        printf("error: %s\n", e.what());
        return 2;
    }
}
