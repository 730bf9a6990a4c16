"""The training loop: AdamW, LR schedule, EMA, early stopping, clipping, exact resume, DDP."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch

from openmm_polarml.data_io import collate, dataset_statistics
from openmm_polarml.data_io import keys as K
from openmm_polarml.model.builder import DTYPES, build_model, resolve_config
from openmm_polarml.model.network import HEAD
from openmm_polarml.model.presets import preset
from openmm_polarml.model.serialization import CHECKPOINT_FORMAT, plain, read_blob
from openmm_polarml.pqeq.errors import ConvergenceError
from openmm_polarml.training import distributed as dist
from openmm_polarml.training.config import resolve
from openmm_polarml.training.data import (
    float64_copy,
    make_splits,
    report_label_cap,
    subtract_fixed_terms,
    within_label_cap,
)
from openmm_polarml.training.ema import EMA
from openmm_polarml.training.finetune import (
    apply_finetune,
    init_statistics,
    load_checkpoint_state,
    refit_shifts,
)
from openmm_polarml.training.loss import (
    add_mae_sums,
    frame_groups,
    global_counts,
    loss_terms,
    mae_table,
    total_loss,
)

#: joint PQEq fitting stops when more than this fraction of an epoch's batches fail the solve
MAX_SKIPPED_FRACTION = 0.01


class Trainer:
    """Train a model from a configuration dict (see :mod:`openmm_polarml.training.config`).

    Parameters
    ----------
    config : dict
        Partial or full configuration; resolved against the defaults.
    splits : dict, optional
        Pre-loaded ``{"train", "validation", "test"}`` frame lists (otherwise read from ``data``).
    """

    def __init__(self, config: dict, splits: dict | None = None):
        self.cfg = resolve(config)
        t = self.cfg["training"]
        self.rank, self.world = dist.rank_and_world()
        self.out = Path(t["output_dir"])
        self.out.mkdir(parents=True, exist_ok=True)
        self.dtype = DTYPES[t["dtype"]]
        self.heads = self._heads()
        self.fragments = self._charge_model()
        self.splits = (
            splits
            if splits is not None
            else make_splits(self.cfg["data"], self.heads, self.fragments)
        )
        self.model = self._build_model()
        self.model.config["fragments"] = self.fragments
        self.device = dist.resolve_device(t["device"])
        self._check_routing()
        offsets = getattr(self.model, "pqeq_chi_offset", None)
        self.joint = self.model.pqeq is not None and (
            any(p.requires_grad for p in self.model.pqeq.parameters())
            or (offsets is not None and offsets.requires_grad)
        )
        self.delta = bool(t["delta"]) and not self.joint
        if self.model.pqeq is not None:
            # implicit derivatives of charges/dipole cost a Hessian solve: only for a dipole loss
            self.model.pqeq.differentiable_solution = t["loss_weights"].get("dipole", 0.0) > 0
        self.dropped: dict = {}
        _require_labels(self.splits["train"])
        self.train_frames = self._targets(self.splits["train"], "train")
        self.val_frames = self._targets(self.splits["validation"], "validation")
        ft = self.cfg["finetune"]
        if not ft:
            init_statistics(self.model, self.train_frames)
        elif ft.get("refit_shifts", True):
            refit_shifts(self.model, self.train_frames, full_energy=not self.delta)
        self.optimizer = torch.optim.AdamW(
            self._parameter_groups(), lr=t["lr"], weight_decay=t["weight_decay"]
        )
        self.scheduler = self._scheduler()
        self.model.to(self.device)
        self.ema = EMA(self.model, t["ema_decay"])
        self.ddp = dist.wrap(self.model, self.device)
        self.epoch = 0
        self.step = 0
        self.best = math.inf
        self.bad_epochs = 0
        self.history: list[dict] = []
        self.progress = new_progress()
        self._eval_models: dict = {}

    # ---- setup -----------------------------------------------------------------------------
    def _parameter_groups(self) -> list[dict]:
        """Trainable parameters; the PQEq element parameters at ``training.pqeq_lr`` when set."""
        t = self.cfg["training"]
        trainable = [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]
        pqeq = [p for n, p in trainable if n.startswith("pqeq")]  # table and per-head χ offsets
        rest = [p for n, p in trainable if not n.startswith("pqeq")]
        if not pqeq or t["pqeq_lr"] is None:
            return [{"params": rest + pqeq}]
        return [{"params": rest}, {"params": pqeq, "lr": float(t["pqeq_lr"])}]

    def _heads(self) -> list[str]:
        """Readout heads of the model to train (frames are routed by ``info["level"]``)."""
        ft = self.cfg["finetune"]
        config = load_checkpoint_state(ft["checkpoint"])[0] if ft else self.cfg["model"]
        return list(resolve_config(config)["heads"])

    def _charge_model(self) -> str:
        """The charge model trained (``"none"`` or ``"molecules"``): ``finetune.fragments``,
        else the fine-tuned checkpoint's, else ``model.fragments``."""
        ft = self.cfg["finetune"]
        if ft and ft.get("fragments") is not None:
            mode = ft["fragments"]
        elif ft:
            mode = resolve_config(load_checkpoint_state(ft["checkpoint"])[0])["fragments"]
        else:
            mode = resolve_config(self.cfg["model"])["fragments"]
        if mode not in ("none", "molecules"):
            raise ValueError(f"fragments must be 'none' or 'molecules', got {mode!r}")
        return mode

    def _check_routing(self) -> None:
        """With several heads every frame must carry its head index (from its level)."""
        if len(self.heads) == 1:
            return
        for name, frames in self.splits.items():
            if any(HEAD not in f for f in frames):
                raise ValueError(
                    f"{name} frames lack a head index for the heads {self.heads}: load them "
                    "with openmm_polarml.training.data.load_frames(path, heads=...) or "
                    "frames_from_atoms(atoms, heads) (routing by atoms.info['level'])"
                )

    def _build_model(self):
        t = self.cfg["training"]
        ft = self.cfg["finetune"]
        mcfg = {**self.cfg["model"], "dtype": t["dtype"], "seed": t["seed"]}
        if ft:
            return apply_finetune(ft, t["dtype"])
        stats = dataset_statistics(self.splits["train"], preset_r_max(mcfg))
        if self.rank == 0:
            (self.out / "dataset_statistics.json").write_text(json.dumps(stats, indent=1))
        mcfg["network"] = {
            "avg_num_neighbors": stats["avg_num_neighbors"],
            **mcfg.get("network", {}),
        }
        return build_model(mcfg)

    def _targets(self, frames: list, name: str = "") -> list:
        """Delta-learning labels (or, in joint mode, the frames PQEq can solve)."""
        d = self.cfg["data"]
        if self.model.pqeq is None and not self.model.shortrange.has_d3:
            return self._capped(name, frames, frames)
        residual, dropped = subtract_fixed_terms(
            float64_copy(self.model),
            frames,
            d["drop_pqeq_failures"],
            d["max_fixed_force"],
            cache=self.out / f"fixed_terms_{name}_rank{self.rank}.pt" if name else None,
            progress=bool(self.cfg["training"]["progress"]) and self.rank == 0,
        )
        self.dropped[name] = dropped
        if dropped and self.rank == 0:
            print(
                f"[polarml] {name}: dropped {len(dropped)} of {len(frames)} frames "
                "(PQEq failure or fixed-term force above data.max_fixed_force)"
            )
        gone = set(dropped)
        inputs = [f for k, f in enumerate(frames) if k not in gone]  # the residual's frames
        return self._capped(name, inputs, residual if self.delta else inputs)

    def _capped(self, name: str, labelled: list, targets: list) -> list:
        """``targets`` without the entries whose ``labelled`` frame (same position) has reference
        forces above ``data.max_label_force``."""
        cap = self.cfg["data"].get("max_label_force")
        mask = within_label_cap(labelled, cap)
        if self.rank == 0:
            report_label_cap(name, mask, cap)
        return [t for t, ok in zip(targets, mask, strict=True) if ok]

    def _scheduler(self):
        t = self.cfg["training"]
        if t["scheduler"] == "plateau":
            return torch.optim.lr_scheduler.ReduceLROnPlateau(
                self.optimizer, factor=t["plateau_factor"], patience=t["plateau_patience"]
            )
        epochs, warm = max(int(t["epochs"]), 1), int(t["warmup_epochs"])

        def factor(epoch: int) -> float:
            if epoch < warm:
                return (epoch + 1) / (warm + 1)
            if t["scheduler"] == "constant":
                return 1.0
            x = (epoch - warm) / max(epochs - warm, 1)
            return 0.5 * (1.0 + math.cos(math.pi * min(x, 1.0)))

        return torch.optim.lr_scheduler.LambdaLR(self.optimizer, factor)

    # ---- one step ----------------------------------------------------------------------------
    def predict(self, model, batch: dict, create_graph: bool) -> dict:
        """Model outputs needed by the loss (network only in delta mode)."""
        stress = bool(batch[K.HAS_STRESS].any())
        full = not self.delta
        return model(
            batch,
            compute_forces=True,
            compute_stress=stress,
            create_graph=create_graph,
            include_pqeq=full,
            include_d3=full,
        )

    def _train_step(self, frames: list) -> dict:
        t = self.cfg["training"]
        counts = global_counts(collate(frames, self.dtype))
        mine = frames[self.rank :: self.world]
        self.optimizer.zero_grad(set_to_none=True)
        # under DDP every rank must run forward and backward; a rank without frames runs the
        # first frame with weight 0 (it adds nothing to the averaged gradient)
        weight = float(self.world) if mine else 0.0
        batch = dist.to_device(collate(mine or frames[:1], self.dtype), self.device)
        terms = loss_terms(self.predict(self.ddp, batch, True), batch, counts, t["huber_delta"])
        loss = total_loss(terms, t["loss_weights"])
        (loss * weight).backward()  # DDP averages over ranks: × world gives the global sum
        if not mine:
            terms = {}
        if t["grad_clip"]:
            torch.nn.utils.clip_grad_norm_(
                [p for p in self.model.parameters() if p.requires_grad], t["grad_clip"]
            )
        self.optimizer.step()
        if self.joint:  # keep the fitted PQEq parameters in the stable region
            self.model.pqeq.element_parameters.project_()
        self.ema.update(self.model)
        self.step += 1
        values = {k: float(v.detach()) for k, v in terms.items()}
        return dist.all_reduce_dict(values, list(t["loss_weights"]))

    def _guarded_step(self, frames: list, skipped: list, n_batches: int) -> dict:
        """One optimiser step; in joint PQEq fitting a batch whose charge/shell solve fails at
        the current parameters is skipped (no update) and remembered. More than
        :data:`MAX_SKIPPED_FRACTION` of an epoch's batches skipped stops training: the
        parameters have left the stable region (lower ``training.pqeq_lr``)."""
        if not self.joint or self.world > 1:  # ranks must take the same steps
            return self._train_step(frames)
        try:
            return self._train_step(frames)
        except ConvergenceError as err:
            self.optimizer.zero_grad(set_to_none=True)
            skipped.append(str(err))
            limit = max(3, int(MAX_SKIPPED_FRACTION * n_batches))
            if self.rank == 0:
                print(f"[polarml] skipped a batch ({len(skipped)}/{limit} allowed): {err}")
            if len(skipped) > limit:
                raise RuntimeError(
                    f"{len(skipped)} batches of epoch {self.epoch + 1} failed the PQEq solve at "
                    f"the current parameters (last: {err}); lower training.pqeq_lr or drop the "
                    "frames"
                ) from err
            return {}

    # ---- evaluation ----------------------------------------------------------------------------
    def eval_model(self, dtype: str | None = None):
        """The EMA weights in a fresh model of ``dtype`` (default: ``training.eval_dtype``)."""
        dtype = dtype or self.cfg["training"]["eval_dtype"]
        if dtype not in self._eval_models:
            self._eval_models[dtype] = build_model({**self.model.config, "dtype": dtype})
        model = self._eval_models[dtype].to(self.device)
        model.load_state_dict(self.ema.state_dict())
        if self.joint:  # an average of projected values may leave the region by a hair
            model.pqeq.element_parameters.project_()
        return model

    def validation_loss(self, model=None) -> dict:
        """Loss terms on the validation frames (EMA weights, evaluation dtype)."""
        model = model or self.eval_model()
        dtype = model.shortrange.network.shift.dtype
        t = self.cfg["training"]
        frames = self.val_frames
        if not frames:
            return {"loss": float("nan")}
        counts = global_counts(collate(frames, dtype))
        sums: dict = {}
        mae_sums: dict = {}
        bs = t["batch_size"]
        for start in range(0, len(frames), bs):
            batch = dist.to_device(collate(frames[start : start + bs], dtype), self.device)
            pred = self.predict(model, batch, False)
            terms = loss_terms(pred, batch, counts, t["huber_delta"])
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
            add_mae_sums(mae_sums, pred, batch, frame_groups(batch, self.heads))
        sums["loss"] = float(
            total_loss({k: torch.tensor(v) for k, v in sums.items()}, t["loss_weights"])
        )
        sums["mae"] = mae_table(mae_sums)  # per head and neutral/charged/field
        return sums

    # ---- checkpoints -----------------------------------------------------------------------------
    def state(self) -> dict:
        """The checkpoint: plain types and tensors only (loads with ``weights_only=True``)."""
        return {
            "format": CHECKPOINT_FORMAT,
            "config": plain(self.model.config, "config"),
            "train_config": plain(self.cfg, "train_config"),
            "model_state": self.model.state_dict(),
            "ema_state": self.ema.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "best": self.best,
            "bad_epochs": self.bad_epochs,
            "history": plain(self.history, "history"),
            "rng": torch.random.get_rng_state(),
            "progress": plain(self.progress, "progress"),
        }

    def save(self, name: str = "last.pt") -> Path:
        path = self.out / name
        if self.rank == 0:
            tmp = path.with_suffix(".tmp")
            torch.save(self.state(), tmp)
            tmp.replace(path)
        return path

    def load(self, path: str | Path) -> None:
        """Resume from a checkpoint written by :meth:`save`."""
        blob = read_blob(path)
        try:
            self.model.load_state_dict(blob["model_state"])
        except RuntimeError as err:
            raise ValueError(
                f"{path} holds a checkpoint of another model architecture than this "
                f"configuration builds ({str(err).splitlines()[0]}); choose another "
                "training.output_dir or delete the checkpoint to start afresh"
            ) from None
        self.ema.load_state_dict(blob["ema_state"])
        self.optimizer.load_state_dict(blob["optimizer"])
        self.scheduler.load_state_dict(blob["scheduler"])
        self.epoch, self.step = blob["epoch"], blob["step"]
        self.best, self.bad_epochs = blob["best"], blob["bad_epochs"]
        self.history = blob["history"]
        torch.random.set_rng_state(blob["rng"])
        self.progress = blob.get("progress") or new_progress()

    # ---- loop ------------------------------------------------------------------------------------
    def _order(self, epoch: int) -> list:
        gen = torch.Generator().manual_seed(int(self.cfg["training"]["seed"]) * 100003 + epoch)
        return torch.randperm(len(self.train_frames), generator=gen).tolist()

    def fit(self, resume: bool = True, epochs: int | None = None) -> list:
        """Train until ``epochs`` (default: configuration), early stopping, ``max_steps`` or
        ``max_minutes`` of wall time.

        Resumes from ``output_dir/last.pt`` when it exists and ``resume`` is True. A run cut by
        ``max_minutes`` stops after the current batch and checkpoints mid-epoch (batch position,
        partial sums, optimiser, EMA, RNG): the next call continues exactly where it stopped.
        Returns the history (one dict per epoch).
        """
        t = self.cfg["training"]
        last = self.out / "last.pt"
        self.stopped_by_time = False  # set when max_minutes cuts the run (resume to continue)
        if resume and last.exists():
            self.load(last)
        n_epochs = int(epochs if epochs is not None else t["epochs"])
        deadline = None if t["max_minutes"] is None else time.time() + 60.0 * t["max_minutes"]
        bar = _progress(t["progress"] and self.rank == 0, n_epochs, self.epoch)
        while self.epoch < n_epochs:
            if t["max_steps"] is not None and self.step >= t["max_steps"]:
                break
            if self.bad_epochs >= t["patience"]:
                break
            if not self._run_epoch(deadline):
                self.stopped_by_time = True
                self.save("last.pt")
                if self.rank == 0:
                    print(
                        f"[polarml] max_minutes reached in epoch {self.epoch + 1} at batch "
                        f"{self.progress['batch']}: checkpoint {last}; run again to continue",
                        flush=True,
                    )
                bar.close()
                return self.history
            self._end_epoch()
            bar.update(1)
            bar.set_postfix(val=f"{self.history[-1]['validation']['loss']:.3g}")
        bar.close()
        self.save("last.pt")
        return self.history

    def _run_epoch(self, deadline: float | None) -> bool:
        """Train the current epoch from ``self.progress``; False when cut by the deadline."""
        t = self.cfg["training"]
        bs = int(t["batch_size"])
        order = self._order(self.epoch)
        p = self.progress
        n_batches = -(-len(order) // bs)
        batches = _progress(
            t["progress"] and self.rank == 0, n_batches, p["batch"],
            f"epoch {self.epoch + 1}", leave=False,
        )  # fmt: skip
        started = time.perf_counter() - p["elapsed"]
        for b in range(p["batch"], n_batches):
            if t["max_steps"] is not None and self.step >= t["max_steps"]:
                break
            batch = [self.train_frames[i] for i in order[b * bs : (b + 1) * bs]]
            terms = self._guarded_step(batch, p["skipped"], n_batches)
            for k, v in terms.items():
                p["sums"][k] = p["sums"].get(k, 0.0) + v
            p["n_steps"] += 1
            p["batch"] = b + 1
            p["elapsed"] = time.perf_counter() - started
            batches.update(1)
            if deadline is not None and time.time() >= deadline and b + 1 < n_batches:
                batches.close()
                return False
        batches.close()
        return True

    def _end_epoch(self) -> None:
        """Validation, scheduler, early-stopping bookkeeping, log line and checkpoints."""
        t = self.cfg["training"]
        p = self.progress
        val = self.validation_loss()
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler.step(val["loss"])
        else:
            self.scheduler.step()
        self.epoch += 1
        improved = val["loss"] < self.best
        self.best = min(self.best, val["loss"])
        self.bad_epochs = 0 if improved else self.bad_epochs + 1
        record = {
            "epoch": self.epoch,
            "step": self.step,
            "lr": self.optimizer.param_groups[0]["lr"],
            "train": {k: v / max(p["n_steps"], 1) for k, v in p["sums"].items()},
            "validation": val,
            "structures_per_s": len(self.train_frames) / max(p["elapsed"], 1e-9),
            "skipped_batches": len(p["skipped"]),
        }
        self.history.append(record)
        self.progress = new_progress()
        if self.rank == 0:
            with open(self.out / "log.jsonl", "a") as fh:
                fh.write(json.dumps(record) + "\n")
        if improved:
            self.save("best.pt")
        if self.epoch % int(t["checkpoint_every"]) == 0:
            self.save("last.pt")


def _require_labels(frames: list) -> None:
    """Refuse training frames without any energy or force label (the loss would be zero)."""
    if not frames:
        raise ValueError("no training frames: check data.train and data.split")
    labelled = sum(bool(f[K.HAS_ENERGY].any() or f[K.HAS_FORCES].any()) for f in frames)
    if labelled == 0:
        raise ValueError(
            f"none of the {len(frames)} training frames carries an energy or force label (ase "
            "keys energy/forces, REF_energy, ... or an attached calculator's results): the "
            "loss would be zero. Check how the data file was written"
        )


def new_progress() -> dict:
    """Position inside an epoch: next batch, partial loss sums, steps, skipped, seconds."""
    return {"batch": 0, "sums": {}, "n_steps": 0, "skipped": [], "elapsed": 0.0}


def preset_r_max(model_cfg: dict) -> float:
    cfg = resolve_config(model_cfg)
    return float(preset(cfg["preset"], **cfg["network"])["r_max"])


def _progress(enabled: bool, total: int, initial: int, desc: str = "epochs", leave: bool = True):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, disable=not enabled, desc=desc, leave=leave)
