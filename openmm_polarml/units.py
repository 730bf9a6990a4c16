"""Physical constants and unit conversions: the single source for every number with a unit.

Internal units follow ASE: energy eV, length Å, charge e, field V/Å. OpenMM's boundary uses
kJ/mol, nm and e. Every constant below is derived from CODATA 2018 exact or recommended values,
so the conversions are mutually consistent to machine precision.

Examples
--------
>>> from openmm_polarml import units
>>> round(units.EV_TO_KJ_PER_MOL, 6)
96.485332
"""

from __future__ import annotations

import math

# --- CODATA 2018 defining / recommended constants (SI) -------------------------------------
ELEMENTARY_CHARGE_C = 1.602176634e-19  # C (exact)
AVOGADRO_PER_MOL = 6.02214076e23  # 1/mol (exact)
VACUUM_PERMITTIVITY_F_PER_M = 8.8541878128e-12  # F/m (CODATA 2018)
BOLTZMANN_J_PER_K = 1.380649e-23  # J/K (exact)
THERMOCHEMICAL_CALORIE_J = 4.184  # J (exact by definition)

# --- energy --------------------------------------------------------------------------------
EV_TO_J = ELEMENTARY_CHARGE_C
EV_TO_KJ_PER_MOL = EV_TO_J * AVOGADRO_PER_MOL / 1000.0  # 96.485332123...
KJ_PER_MOL_TO_EV = 1.0 / EV_TO_KJ_PER_MOL
KCAL_PER_MOL_TO_EV = THERMOCHEMICAL_CALORIE_J / EV_TO_KJ_PER_MOL  # 0.0433641...
EV_TO_KCAL_PER_MOL = 1.0 / KCAL_PER_MOL_TO_EV  # 23.0605478...
BOLTZMANN_EV_PER_K = BOLTZMANN_J_PER_K / EV_TO_J  # 8.617333e-5

# kinetic units: 1 amu·Å²/fs² in eV (103.6427...); the unified atomic mass unit, CODATA 2018
ATOMIC_MASS_KG = 1.66053906660e-27  # kg
AMU_A2_PER_FS2_TO_EV = ATOMIC_MASS_KG * 1e-20 / 1e-30 / EV_TO_J

# --- length --------------------------------------------------------------------------------
ANGSTROM_TO_NM = 0.1
NM_TO_ANGSTROM = 10.0

# --- Coulomb constant k_e = e^2 / (4 pi eps0) -------------------------------------------------
# in eV·Å/e²: e / (4 pi eps0 · 1 Å) expressed in volts
COULOMB_EV_ANGSTROM = ELEMENTARY_CHARGE_C / (4.0 * math.pi * VACUUM_PERMITTIVITY_F_PER_M * 1e-10)
# in kJ/mol·nm/e² (OpenMM's ONE_4PI_EPS0 = 138.935456...)
COULOMB_KJ_PER_MOL_NM = COULOMB_EV_ANGSTROM * EV_TO_KJ_PER_MOL * ANGSTROM_TO_NM
# in kcal/mol·Å/e² (the published code's solver constant, 332.0637...)
COULOMB_KCAL_PER_MOL_ANGSTROM = COULOMB_EV_ANGSTROM * EV_TO_KCAL_PER_MOL
# eps0 in e/(V·Å) = 1 / (4 pi k_e): polarisabilities (e·Å²/V) to volumes (Å³) and to ε∞
VACUUM_PERMITTIVITY_E_PER_V_ANGSTROM = 1.0 / (4.0 * math.pi * COULOMB_EV_ANGSTROM)
# polarisation: 1 e/Å² in C/m²
E_PER_ANGSTROM2_TO_C_PER_M2 = ELEMENTARY_CHARGE_C / 1e-20

# --- electric field --------------------------------------------------------------------------
# A field of 1 V/Å acting on 1 e over 1 Å does 1 eV of work.
V_PER_ANGSTROM_TO_EV_PER_ANGSTROM_E = 1.0
V_PER_NM_TO_V_PER_ANGSTROM = 0.1
# OpenMM field parameter unit: kJ/mol/nm/e. 1 V/Å = 1 eV/(Å e) = 96.485.../0.1 kJ/mol/nm/e
V_PER_ANGSTROM_TO_KJ_PER_MOL_NM_E = EV_TO_KJ_PER_MOL / ANGSTROM_TO_NM
V_PER_NM_TO_KJ_PER_MOL_NM_E = EV_TO_KJ_PER_MOL  # 1 V/nm = 1 eV/(nm e)
# The largest homogeneous field any interface takes (V/Å): 10x the strongest field in training
# (0.5 V/Å) and beyond dielectric breakdown of any material; stronger fields pull shells out of
# their atoms (PQEq's polarisation catastrophe). The native force uses the same number.
MAX_EXTERNAL_FIELD_V_PER_ANGSTROM = 5.0

# --- composite: stress, dipole, polarisability ------------------------------------------------
EV_PER_A3_TO_GPA = EV_TO_J / 1e-30 / 1e9  # 160.21766...
DEBYE_TO_E_ANGSTROM = 1e-21 / 299792458.0 / ELEMENTARY_CHARGE_C / 1e-10  # 0.2081943...
E_ANGSTROM_TO_DEBYE = 1.0 / DEBYE_TO_E_ANGSTROM
# polarisability volume alpha' = alpha / (4 pi eps0); with alpha in e Å / (V/Å) = e Å²/V:
# alpha' [Å^3] = alpha [e Å^2 / V] * k_e [eV Å / e^2] / 1 (eV/(e V) = 1)
POLARIZABILITY_E_A2_PER_V_TO_A3 = COULOMB_EV_ANGSTROM

# --- transport and dielectric (analysis of MD) ---------------------------------------------------
# Yeh & Hummer, J. Phys. Chem. B 108, 15873 (2004): D_inf = D_pbc + xi kB T / (6 pi eta L) for a
# cubic box of edge L; xi is the cubic-lattice constant (minus the Madelung-like sum).
YEH_HUMMER_XI_CUBIC = 2.837297
NM_TO_M = 1e-9
PS_TO_S = 1e-12
NM2_PER_PS_TO_M2_PER_S = 1e-6  # = NM_TO_M**2 / PS_TO_S; 1 nm^2/ps = 1e-2 cm^2/s
MPA_S_TO_PA_S = 1e-3  # viscosity: mPa s (cP) -> Pa s

# --- PQEq (Rappé–Goddard / Naserifar–Goddard) ----------------------------------------------------
# Gaussian exponent alpha_i = PQEQ_LAMBDA / (2 R_i^2) for the Gaussian radius R_i in Å.
PQEQ_LAMBDA = 0.462770
# The published code converts springs with 1 eV = 23.060549 kcal/mol; we use CODATA (2.7e-8 relative apart).
