/* Constrained minimiser of the PQEq energy over the charges and shell displacements (PQEqCalculator).
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

#include "PQEqCalculator.h"
#include "PQEqMath.h"
#include "openmm/OpenMMException.h"
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <sstream>

using namespace OpenMM;
using namespace PolarML;
using namespace PolarML::pqeq_detail;
using namespace std;

namespace {
const int MEMORY_SIZE = 30;          // curvature pairs kept
const int MAX_LINE_SEARCH_TRIALS = 30;
const double ARMIJO_C1 = 1e-4;
const double MAX_SHELL_DISPLACEMENT = 0.3;   // nm

double dot(const vector<double>& a, const vector<double>& b) {
    double s = 0;
    for (size_t k = 0; k < a.size(); k++)
        s += a[k] * b[k];
    return s;
}
} // namespace

void PQEqCalculator::projectGradient(const vector<double>& g, vector<double>& gp, double& rq, double& rd) const {
    int n = nx + 3 * P;
    gp.resize(n);
    rq = rd = 0;
    if (splitCharge)   // bond variables are unconstrained
        for (int k = 0; k < nx; k++) {
            gp[k] = g[k];
            rq = max(rq, fabs(g[k]));
        }
    for (size_t f = 0; f < fragMembers.size() && !splitCharge; f++) {
        double mean = 0;
        for (int k : fragMembers[f])
            mean += g[k];
        mean /= fragMembers[f].size();
        for (int k : fragMembers[f]) {
            gp[k] = g[k] - mean;
            rq = max(rq, fabs(gp[k]));
        }
    }
    for (int k = nx; k < n; k++) {
        gp[k] = g[k];
        rd = max(rd, fabs(g[k]));
    }
    rq /= EV_TO_KJ_PER_MOL;            // eV/e
    rd /= EV_TO_KJ_PER_MOL * 10.0;     // eV/A
}

void PQEqCalculator::searchDirection(const vector<double>& gp, const vector<double>& pg, vector<double>& p) const {
    // two-loop recursion; r tracks P v
    vector<double> v = gp;
    p = pg;
    int m = (int) curvatureMemory.size();
    vector<double> alphas(m);
    for (int j = m - 1; j >= 0; j--) {
        const CurvaturePair& c = curvatureMemory[j];
        double a = c.rho * dot(c.s, v);
        alphas[j] = a;
        for (size_t k = 0; k < v.size(); k++) {
            v[k] -= a * c.y[k];
            p[k] -= a * c.py[k];
        }
    }
    if (m > 0) {   // scale P to the latest curvature (Nocedal & Wright 7.20)
        const CurvaturePair& c = curvatureMemory[m - 1];
        double scale = (1.0 / c.rho) / dot(c.y, c.py);
        for (double& x : p)
            x *= scale;
    }
    for (int j = 0; j < m; j++) {
        const CurvaturePair& c = curvatureMemory[j];
        double b = c.rho * dot(c.y, p);
        for (size_t k = 0; k < p.size(); k++)
            p[k] += (alphas[j] - b) * c.s[k];
    }
    for (double& x : p)
        x = -x;
}

void PQEqCalculator::throwCatastrophe(const string& what) {
    setupStateReset();
    stringstream msg;
    msg << "PQEqForce: " << what
        << ": polarisation catastrophe or unphysical parameters (too soft springs Ks, too small eta, "
           "overlapping atoms or too strong a field).";
    throw OpenMMException(msg.str());
}

double PQEqCalculator::solve(vector<double>& x) {
    int n = nx + 3 * P;
    vector<double> g, gp, pg, p, xt(n), gt, gpt, pgt, s(n), y(n);
    double E = evaluate(x, g, false);
    double rq, rd;
    projectGradient(g, gp, rq, rd);
    preconditioner.apply(gp, pg);
    const bool trace = getenv("POLARML_PQEQ_TRACE") != NULL;
    int it = 0;
    for (;; it++) {
        if (!(rq == rq) || !(rd == rd))
            throwCatastrophe("the charge/shell solver produced NaN");
        if (trace)
            fprintf(stderr, "  it %d rq %.3e rd %.3e memory %d\n", it, rq, rd, (int) curvatureMemory.size());
        if (rq < solverTolerance && rd < solverTolerance)
            break;
        if (it == maxIterations) {
            setupStateReset();
            stringstream msg;
            msg << "PQEqForce: the charge/shell solver did not converge in " << maxIterations
                << " iterations (residual " << rq << " eV/e, " << rd << " eV/A; tolerance " << solverTolerance
                << "). Increase setSolverMaxIterations or the tolerance.";
            throw OpenMMException(msg.str());
        }
        searchDirection(gp, pg, p);
        double slope = dot(gp, p);
        if (!(slope < 0)) {   // lost descent (rounding): restart from the preconditioned gradient
            curvatureMemory.clear();
            for (int k = 0; k < n; k++)
                p[k] = -pg[k];
            slope = dot(gp, p);
            if (!(slope < 0)) {   // rounding noise dominates the gradient: the tolerance is out of reach
                setupStateReset();
                stringstream msg;
                msg << "PQEqForce: the charge/shell solver stalled at residual " << rq << " eV/e, " << rd
                    << " eV/A (no descent direction left at double precision; tolerance " << solverTolerance
                    << "). Loosen the solver tolerance.";
                throw OpenMMException(msg.str());
            }
        }
        double step = 1.0, Et = 0;
        const double noise = 64.0 * numeric_limits<double>::epsilon() * max(1.0, fabs(E));
        for (int trial = 0;; trial++) {
            for (int k = 0; k < n; k++)
                xt[k] = x[k] + step * p[k];
            Et = evaluate(xt, gt, false);
            if (!isfinite(Et)) {
                step *= 0.1;
                if (trial >= MAX_LINE_SEARCH_TRIALS)
                    throwCatastrophe("the energy is not finite along the search direction");
                continue;
            }
            double rqt, rdt;
            projectGradient(gt, gpt, rqt, rdt);
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
            throwCatastrophe(what.str());
        }
        preconditioner.apply(gpt, pgt);
        if (sy > 0) {
            CurvaturePair c;
            c.s = s;
            c.y = y;
            c.py.resize(n);
            for (int k = 0; k < n; k++)
                c.py[k] = pgt[k] - pg[k];
            c.rho = 1.0 / sy;
            curvatureMemory.push_back(c);
            if ((int) curvatureMemory.size() > MEMORY_SIZE)
                curvatureMemory.pop_front();
        }
        x.swap(xt);
        g.swap(gt);
        gp.swap(gpt);
        pg.swap(pgt);
        E = Et;
        for (int k = 0; k < P; k++) {
            double dx = x[nx + 3 * k], dy = x[nx + 3 * k + 1], dz = x[nx + 3 * k + 2];
            if (dx * dx + dy * dy + dz * dz > MAX_SHELL_DISPLACEMENT * MAX_SHELL_DISPLACEMENT) {
                stringstream what;
                what << "shell of particle " << polAtoms[k] << " ran away (|d| > " << MAX_SHELL_DISPLACEMENT << " nm)";
                throwCatastrophe(what.str());
            }
        }
    }
    lastIterations = it;
    return E;
}
