/* Constrained minimiser of the PQEq energy over the charges and shell displacements (PQEqSolver.h; the
 * objective, its projection and its preconditioner are PQEqCalculator's).
 *
 * Preconditioned L-BFGS, the same algorithm as the Python engine (openmm_polarml/pqeq/solver.py):
 * - variables x = (q of the equalised atoms, then the shell displacements); the charge gradient is
 *   projected onto the fragment constraints by removing each fragment's mean; under split charge
 *   transfer the first block holds one unconstrained variable per bond (PQEqSplitCharge.cpp);
 * - the preconditioner P (PQEqPreconditioner.h) is linear, so each curvature pair keeps
 *   P y = P g_new - P g_old and one application of P per iteration suffices;
 * - backtracking Armijo line search from the unit step; below the energy's rounding noise, decrease is
 *   judged on the trapezoid estimate of the slopes (exact for a quadratic);
 * - the curvature pairs survive between calls while the preconditioner is unchanged: along MD the
 *   Hessian barely changes from one step to the next, so the first steps are nearly Newton steps.
 * Every iterate is evaluated exactly; convergence is declared on the exact gradient only. */

#include "PQEqSolver.h"
#include "openmm/OpenMMException.h"
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <sstream>

using namespace OpenMM;
using namespace PolarML;
using namespace std;

namespace {
const int MEMORY_SIZE = 30;          // curvature pairs kept
const int MAX_LINE_SEARCH_TRIALS = 30;
const double ARMIJO_C1 = 1e-4;

double dot(const vector<double>& a, const vector<double>& b) {
    double s = 0;
    for (size_t k = 0; k < a.size(); k++)
        s += a[k] * b[k];
    return s;
}
} // namespace

void PQEqLBFGS::searchDirection(const vector<double>& gp, const vector<double>& pg, vector<double>& p) const {
    // two-loop recursion; r tracks P v
    vector<double> v = gp;
    p = pg;
    int m = (int) memory.size();
    vector<double> alphas(m);
    for (int j = m - 1; j >= 0; j--) {
        const CurvaturePair& c = memory[j];
        double a = c.rho * dot(c.s, v);
        alphas[j] = a;
        for (size_t k = 0; k < v.size(); k++) {
            v[k] -= a * c.y[k];
            p[k] -= a * c.py[k];
        }
    }
    if (m > 0) {   // scale P to the latest curvature (Nocedal & Wright 7.20)
        const CurvaturePair& c = memory[m - 1];
        double scale = (1.0 / c.rho) / dot(c.y, c.py);
        for (double& x : p)
            x *= scale;
    }
    for (int j = 0; j < m; j++) {
        const CurvaturePair& c = memory[j];
        double b = c.rho * dot(c.y, p);
        for (size_t k = 0; k < p.size(); k++)
            p[k] += (alphas[j] - b) * c.s[k];
    }
    for (double& x : p)
        x = -x;
}

void PQEqLBFGS::catastrophe(PQEqObjective& f, const string& what) {
    f.failed();
    stringstream msg;
    msg << "PQEqForce: " << what
        << ": polarisation catastrophe or unphysical parameters (too soft springs Ks, too small eta, "
           "overlapping atoms or too strong a field).";
    throw OpenMMException(msg.str());
}

double PQEqLBFGS::minimise(PQEqObjective& f, vector<double>& x, double tolerance, int maxIterations) {
    int n = (int) x.size();
    vector<double> g, gp, pg, p, xt(n), gt, gpt, pgt, s(n), y(n);
    double E = f.energy(x, g);
    double rq, rd;
    f.project(g, gp, rq, rd);
    f.precondition(gp, pg);
    const bool trace = getenv("POLARML_PQEQ_TRACE") != NULL;
    int it = 0;
    for (;; it++) {
        if (!(rq == rq) || !(rd == rd))
            catastrophe(f, "the charge/shell solver produced NaN");
        if (trace)
            fprintf(stderr, "  it %d rq %.3e rd %.3e memory %d\n", it, rq, rd, (int) memory.size());
        if (rq < tolerance && rd < tolerance)
            break;
        if (it == maxIterations) {
            f.failed();
            stringstream msg;
            msg << "PQEqForce: the charge/shell solver did not converge in " << maxIterations
                << " iterations (residual " << rq << " eV/e, " << rd << " eV/A; tolerance " << tolerance
                << "). Increase setSolverMaxIterations or the tolerance.";
            throw OpenMMException(msg.str());
        }
        searchDirection(gp, pg, p);
        double slope = dot(gp, p);
        if (!(slope < 0)) {   // lost descent (rounding): restart from the preconditioned gradient
            memory.clear();
            for (int k = 0; k < n; k++)
                p[k] = -pg[k];
            slope = dot(gp, p);
            if (!(slope < 0)) {   // rounding noise dominates the gradient: the tolerance is out of reach
                f.failed();
                stringstream msg;
                msg << "PQEqForce: the charge/shell solver stalled at residual " << rq << " eV/e, " << rd
                    << " eV/A (no descent direction left at double precision; tolerance " << tolerance
                    << "). Loosen the solver tolerance.";
                throw OpenMMException(msg.str());
            }
        }
        double step = 1.0, Et = 0;
        const double noise = 64.0 * numeric_limits<double>::epsilon() * max(1.0, fabs(E));
        for (int trial = 0;; trial++) {
            for (int k = 0; k < n; k++)
                xt[k] = x[k] + step * p[k];
            Et = f.energy(xt, gt);
            if (!isfinite(Et)) {
                step *= 0.1;
                if (trial >= MAX_LINE_SEARCH_TRIALS)
                    catastrophe(f, "the energy is not finite along the search direction");
                continue;
            }
            double rqt, rdt;
            f.project(gt, gpt, rqt, rdt);
            double slopeNew = dot(gpt, p);
            bool accepted = (-ARMIJO_C1 * step * slope > noise ? Et <= E + ARMIJO_C1 * step * slope
                                                                : 0.5 * (slope + slopeNew) <= ARMIJO_C1 * slope);
            if (accepted || trial >= MAX_LINE_SEARCH_TRIALS) {
                rq = rqt;
                rd = rdt;
                break;
            }
            if (slopeNew > slope)   // positive curvature along p: secant minimiser of E'
                step *= min(max(-slope / (slopeNew - slope), 0.1), 0.9);
            else {
                double curvature = (Et - E - slope * step) / (step * step);
                double quadratic = (curvature > 0 ? -slope / (2 * curvature) : 0.1 * step);
                step = min(max(quadratic, 0.1 * step), 0.5 * step);
            }
        }
        double sy = 0, sg = 0;
        for (int k = 0; k < n; k++) {
            s[k] = step * p[k];
            y[k] = gpt[k] - gp[k];
            sy += s[k] * y[k];
            sg += s[k] * gp[k];
        }
        double concavity = Et - E - sg;   // < 0 along negative curvature
        if (sy <= 0 && concavity < -1e-10 * max(1.0, fabs(E))) {
            stringstream what;
            what << "the charge/shell energy is not positive definite (curvature " << sy / dot(s, s)
                 << " kJ/mol per unit^2 along a solver step)";
            catastrophe(f, what.str());
        }
        f.precondition(gpt, pgt);
        if (sy > 0) {
            CurvaturePair c;
            c.s = s;
            c.y = y;
            c.py.resize(n);
            for (int k = 0; k < n; k++)
                c.py[k] = pgt[k] - pg[k];
            c.rho = 1.0 / sy;
            memory.push_back(c);
            if ((int) memory.size() > MEMORY_SIZE)
                memory.pop_front();
        }
        x.swap(xt);
        g.swap(gt);
        gp.swap(gpt);
        pg.swap(pgt);
        E = Et;
        string bad = f.unphysical(x);
        if (!bad.empty())
            catastrophe(f, bad);
    }
    lastIterations = it;
    return E;
}
