#ifndef POLARML_PQEQSOLVER_H_
#define POLARML_PQEQSOLVER_H_

/* The charge/shell minimiser of the Reference calculator (PQEqCalculator): preconditioned L-BFGS against
 * an objective interface. Inputs: the objective (energy and gradient, projection onto the constraints,
 * preconditioner, physical checks), the start x, the tolerance and the iteration limit. Outputs: the
 * minimiser in x, the energy there, the iterations taken. The curvature memory is its own and is kept
 * between solves until clearMemory() (the preconditioner changed, the state was reset). */

#include <deque>
#include <string>
#include <vector>

namespace PolarML {

/** What the solver minimises. Variables and gradients are plain vectors of numVariables entries. */
class PQEqObjective {
public:
    virtual ~PQEqObjective() {}
    /** E(x) (kJ/mol) and g = dE/dx. */
    virtual double energy(const std::vector<double>& x, std::vector<double>& g) = 0;
    /** gp: g projected onto the constraints; rq, rd: the residuals compared with the tolerance. */
    virtual void project(const std::vector<double>& g, std::vector<double>& gp, double& rq, double& rd) const = 0;
    /** z = M^-1 gp for a symmetric positive definite M. */
    virtual void precondition(const std::vector<double>& gp, std::vector<double>& z) const = 0;
    /** A description of what is unphysical about an accepted iterate x, empty when nothing is. */
    virtual std::string unphysical(const std::vector<double>& x) const = 0;
    /** The solve failed: called before the solver throws. */
    virtual void failed() = 0;
};

class PQEqLBFGS {
public:
    /** Minimise f from x (overwritten with the minimiser) until both residuals are below tolerance;
     *  returns the energy. Throws OpenMMException (after f.failed()) on NaN, non-convergence in
     *  maxIterations, a stall at rounding level, negative curvature or an unphysical iterate. */
    double minimise(PQEqObjective& f, std::vector<double>& x, double tolerance, int maxIterations);
    void clearMemory() { memory.clear(); }
    int getLastIterations() const { return lastIterations; }
private:
    /** One L-BFGS curvature pair: step s, gradient change y, P y, 1/(s.y). */
    struct CurvaturePair {
        std::vector<double> s, y, py;
        double rho;
    };
    void searchDirection(const std::vector<double>& gp, const std::vector<double>& pg, std::vector<double>& p) const;
    [[noreturn]] void catastrophe(PQEqObjective& f, const std::string& what);
    std::deque<CurvaturePair> memory;   // kept between solves while the preconditioner is unchanged
    int lastIterations = 0;
};

} // namespace PolarML

#endif
