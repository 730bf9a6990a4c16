"""Field names of the dict-of-tensors data format (one place, as in NequIP).

Per frame: ``cell [B,3,3]`` (Å, rows are lattice vectors), ``pbc [B,3]`` (bool), ``energy [B]`` (eV),
``stress [B,3,3]`` (eV/Å³, σ = (1/V) ∂E/∂ε), ``total_charge [B]`` (e), ``field [B,3]`` (V/Å),
``dipole [B,3]`` (e·Å), ``n_atoms [B]``, ``ptr [B+1]``, and ``has_*`` masks ``[B]`` for optional labels.
Per atom: ``positions [N,3]`` (Å), ``numbers [N]`` (long), ``forces [N,3]`` (eV/Å), ``batch [N]``.
"""

POSITIONS = "positions"
NUMBERS = "numbers"
CELL = "cell"
PBC = "pbc"
BATCH = "batch"
PTR = "ptr"
N_ATOMS = "n_atoms"
ENERGY = "energy"
FORCES = "forces"
STRESS = "stress"
TOTAL_CHARGE = "total_charge"
FIELD = "field"
DIPOLE = "dipole"
CHARGES = "charges"
# optional, per frame, not collated: list over frames of atom-index groups / their charges (e)
FRAGMENTS = "fragments"
FRAGMENT_CHARGES = "fragment_charges"
HAS_ENERGY = "has_energy"
HAS_FORCES = "has_forces"
HAS_STRESS = "has_stress"
HAS_DIPOLE = "has_dipole"

PER_ATOM = (POSITIONS, NUMBERS, FORCES)
PER_FRAME = (
    CELL,
    PBC,
    ENERGY,
    STRESS,
    TOTAL_CHARGE,
    FIELD,
    DIPOLE,
    HAS_ENERGY,
    HAS_FORCES,
    HAS_STRESS,
    HAS_DIPOLE,
)
