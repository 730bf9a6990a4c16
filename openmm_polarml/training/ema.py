"""Exponential moving average of model parameters."""

from __future__ import annotations

import torch


class EMA:
    """Shadow copy ``s ← d·s + (1 − d)·p`` of the trainable parameters (buffers copied as is).

    Parameters
    ----------
    model : torch.nn.Module
        The model being trained.
    decay : float
        EMA decay per optimiser step (0 disables averaging: the shadow equals the model).
    """

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = float(decay)
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        params = dict(model.named_parameters())
        for key, value in model.state_dict().items():
            p = params.get(key)
            if p is not None and p.requires_grad and value.is_floating_point():
                self.shadow[key].mul_(self.decay).add_(value.detach(), alpha=1.0 - self.decay)
            else:
                self.shadow[key].copy_(value)

    def state_dict(self) -> dict:
        return {k: v.clone() for k, v in self.shadow.items()}

    def load_state_dict(self, state: dict) -> None:
        self.shadow = {k: v.clone() for k, v in state.items()}
