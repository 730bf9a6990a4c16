"""Analysis of MD runs (mdtraj + numpy): RDFs, MSD, energy/temperature series, PQEq charges.

``analyse_md`` turns the files OpenMM's reporters write (DCD + PDB + StateDataReporter CSV, plus
optional PQEq charges) into a summary dict, a printed table (:func:`format_summary`) and a PNG.
The studies build on :mod:`.elastic` (finite-strain elastic tensors), :mod:`.transport`
(dielectric constant, conductivity, finite-size corrected diffusion) and :mod:`.statistics`
(block averages, bootstrapped Arrhenius fits).
"""

from openmm_polarml.analysis.elastic import ElasticProblem, elastic_tensor, voigt_reuss_hill
from openmm_polarml.analysis.pqeq_report import induced_dipole, load_pqeq_report, mean_charges
from openmm_polarml.analysis.report import analyse_md, format_summary, plot_md
from openmm_polarml.analysis.statistics import arrhenius_fit, block_average, block_estimates
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
from openmm_polarml.analysis.transport import (
    einstein_helfand_conductivity,
    nernst_einstein_conductivity,
    static_dielectric_constant,
    translational_dipole,
    yeh_hummer_correction,
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
    "ElasticProblem",
    "elastic_tensor",
    "voigt_reuss_hill",
    "block_average",
    "block_estimates",
    "arrhenius_fit",
    "static_dielectric_constant",
    "translational_dipole",
    "einstein_helfand_conductivity",
    "nernst_einstein_conductivity",
    "yeh_hummer_correction",
]
