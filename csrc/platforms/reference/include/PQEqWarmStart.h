#ifndef POLARML_PQEQWARMSTART_H_
#define POLARML_PQEQWARMSTART_H_

/* Warm-start predictor of the Reference calculator (PQEqCalculator): the solutions of previous solves
 * (newest first) and their polynomial extrapolation to the start of the next solve. Only the start of a
 * solve depends on it, never its answer.
 *
 * Inputs: the positions, charges, shell displacements and split bond variables of each solution (record);
 * the positions of the next solve (predict). Output: the extrapolated start (predict overwrites q, d, s)
 * and the order used. */

#include "openmm/Vec3.h"
#include <vector>

namespace PolarML {

class PQEqWarmStart {
public:
    /** Forget every solution (new parameters, a failed solve). */
    void clear();
    /** The split-charge bond list changed: the recorded bond variables belong to the old one. */
    void clearBondVariables() { historyS.clear(); }
    /** Start of the solve at positions pos: a polynomial extrapolation of the recorded solutions when the
     *  positions follow the same extrapolation (MD with a fixed step), written to q and d (atoms not fixed;
     *  d only where Ks > 0) and, when s is given and its history reaches back far enough, to s. Returns the
     *  order used, 0: q, d and s are left as they are. */
    int predict(const std::vector<OpenMM::Vec3>& pos, const std::vector<char>& fixed, const std::vector<double>& Ks,
                std::vector<double>& q, std::vector<OpenMM::Vec3>& d, std::vector<double>* s) const;
    /** Record the solution (q, d and, under split charges, the bond variables s) at positions pos; at the
     *  positions of the newest record it replaces that one. */
    void record(const std::vector<OpenMM::Vec3>& pos, const std::vector<double>& q,
                const std::vector<OpenMM::Vec3>& d, const std::vector<double>* s);
private:
    std::vector<std::vector<OpenMM::Vec3> > historyPos, historyD;
    std::vector<std::vector<double> > historyQ, historyS;   // historyS: split bond variables
};

} // namespace PolarML

#endif
