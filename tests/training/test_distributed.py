"""DistributedDataParallel: two gloo processes on the same global batches give the same
parameters as one process (spawned, and launched by torchrun through the command line)."""

import os

import pytest
import torch
import torch.multiprocessing as mp

from openmm_polarml.training import Trainer
from tests.training.helpers import emt_frames, tiny_config, write_frames


def _worker(rank, world, port, cfg, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    try:
        trainer = Trainer(cfg)
        assert isinstance(trainer.ddp, torch.nn.parallel.DistributedDataParallel)
        trainer.fit(resume=False)
        if rank == 0:
            torch.save(trainer.model.state_dict(), out)
    finally:
        torch.distributed.destroy_process_group()


def test_two_processes_match_one(tmp_path):
    path = write_frames(tmp_path / "d.extxyz", emt_frames(6, seed=3))
    cfg = tiny_config(path, tmp_path / "single", epochs=1, batch_size=4, max_steps=3, ema_decay=0.0)
    single = Trainer(cfg)
    single.fit(resume=False)
    ref = single.model.state_dict()

    cfg2 = tiny_config(path, tmp_path / "ddp", epochs=1, batch_size=4, max_steps=3, ema_decay=0.0)
    out = str(tmp_path / "ddp_state.pt")
    port = 29500 + os.getpid() % 1000
    mp.spawn(_worker, args=(2, port, cfg2, out), nprocs=2, join=True)
    got = torch.load(out)
    changed = 0
    for key, value in ref.items():
        assert torch.allclose(value, got[key], rtol=1e-10, atol=1e-12), key
        changed += int(not torch.equal(value, Trainer(cfg).model.state_dict()[key]))
    assert changed > 0  # the step really updated the parameters


@pytest.mark.slow
def test_torchrun_command_line_matches_one_process(tmp_path):
    import subprocess
    import sys

    import yaml

    path = write_frames(tmp_path / "d.extxyz", emt_frames(6, seed=4))
    states = {}
    for name, launcher in (  # torch.distributed.run is torchrun
        ("single", [sys.executable, "-m", "openmm_polarml.cli"]),
        ("ddp", [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                 "--master_port", str(29700 + os.getpid() % 200), "-m", "openmm_polarml.cli"]),
    ):  # fmt: skip
        cfg = tiny_config(path, tmp_path / name, epochs=2, batch_size=4, ema_decay=0.0)
        cfg["training"]["plots"] = False
        config = tmp_path / f"{name}.yaml"
        config.write_text(yaml.safe_dump(cfg))
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        subprocess.run([*launcher, "train", str(config)], check=True, env=env, timeout=600)
        states[name] = torch.load(tmp_path / name / "last.pt", weights_only=True)["model_state"]
    for key, value in states["single"].items():
        assert torch.allclose(value, states["ddp"][key], rtol=1e-10, atol=1e-12), key
