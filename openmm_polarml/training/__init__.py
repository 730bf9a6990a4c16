"""Training and fine-tuning: configuration, data, loss, EMA, the trainer, evaluation, plots."""

from openmm_polarml.training.config import DEFAULTS, load_config, resolve
from openmm_polarml.training.trainer import Trainer

__all__ = ["DEFAULTS", "load_config", "resolve", "Trainer"]
