"""Analysis of MD runs (mdtraj + numpy): RDFs, MSD, energy/temperature series, PQEq charges.

``analyse_md`` turns the files OpenMM's reporters write (DCD + PDB + StateDataReporter CSV, plus
optional PQEq charges) into a summary dict, a printed table (:func:`format_summary`) and a PNG.
"""

from openmm_polarml.analysis.pqeq_report import induced_dipole, load_pqeq_report, mean_charges
from openmm_polarml.analysis.report import analyse_md, format_summary, plot_md
from openmm_polarml.analysis.thermo import energy_drift, read_state_csv, temperature_stats
from openmm_polarml.analysis.trajectory import (
    compute_rdfs,
    diffusion_coefficient,
    element_pairs,
    first_peak,
    load_trajectory,
    mean_square_displacement,
    unwrap_positions,
)

__all__ = [
    "analyse_md",
    "format_summary",
    "plot_md",
    "read_state_csv",
    "energy_drift",
    "temperature_stats",
    "load_trajectory",
    "element_pairs",
    "compute_rdfs",
    "first_peak",
    "unwrap_positions",
    "mean_square_displacement",
    "diffusion_coefficient",
    "load_pqeq_report",
    "mean_charges",
    "induced_dipole",
]
