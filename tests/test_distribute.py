"""tf.distribute: two replicas (this CPU split into two logical devices) reach the weights one replica
reaches at the same global batch. Each run is its own process: devices are fixed at TF's start."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from .conftest import ROOT, TINY_MODEL

RUN = r"""
import json, sys
import numpy as np
import pytest
import tensorflow as tf
replicas, data, out, lr = int(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[5])
if replicas > 1:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * replicas)
from training.config import ModelConfig, TrainConfig
from training.train import train
model = dict(json.loads(sys.argv[4]), dropout=0.0)
train(data, out, ModelConfig(**model),
      TrainConfig(epochs=1, batch_size=16, encoder_weights="none", min_count=1, val_fraction=0.2, eval_images=4,
                  hflip=False, label_smoothing=0.0, distribute="mirrored" if replicas > 1 else "none",
                  jit_compile=False, lr=lr), cache_dir=None)
import h5py
with h5py.File(out + "/decoder.weights.h5") as f:
    ws = []
    f.visit(lambda n: ws.append(np.asarray(f[n]).ravel()) if isinstance(f[n], h5py.Dataset) else None)
np.save(out + "/flat.npy", np.concatenate(ws))
"""


@pytest.mark.slow
def test_two_replicas_reach_the_weights_of_one_at_the_same_global_batch(scenes, tmp_path):
    flats = []
    for n, lr in ((1, 2e-3), (2, 2e-3), (1, 0.0)):  # the last: the initial weights, untrained
        out = tmp_path / f"r{n}_{lr}"
        r = subprocess.run(
            [sys.executable, "-c", RUN, str(n), str(scenes), str(out), json.dumps(TINY_MODEL), str(lr)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            env=dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2"),
        )
        assert r.returncode == 0, r.stderr[-3000:]
        flats.append(np.load(out / "flat.npy"))
    one, two, init = flats
    assert one.shape == two.shape == init.shape
    moved = np.abs(one - init).max()
    assert moved > 1e-2  # training changed the weights
    assert np.abs(one - two).max() < moved / 100, (float(np.abs(one - two).max()), float(moved))


MULTI = r"""
import json, sys
import numpy as np
import pytest
from training.config import ModelConfig, TrainConfig
from training.train import train
data, out, seed = sys.argv[1], sys.argv[2], int(sys.argv[4])
model = dict(json.loads(sys.argv[3]), dropout=0.0)
# the same split files, but each worker its own seed: another batch order and initialisation, so only
# the strategy (initial values from worker 0, gradients all-reduced) can keep them equal
train(data, out, ModelConfig(**model),
      TrainConfig(epochs=1, batch_size=16, encoder_weights="none", min_count=1, eval_images=4, seed=seed,
                  hflip=False, label_smoothing=0.0, distribute="multiworker", jit_compile=False), cache_dir=None,
      train_split=[sys.argv[5]], val_split=[sys.argv[6]])
import h5py
with h5py.File(out + "/decoder.weights.h5") as f:
    ws = []
    f.visit(lambda n: ws.append(np.asarray(f[n]).ravel()) if isinstance(f[n], h5py.Dataset) else None)
np.save(out + "/flat.npy", np.concatenate(ws))
"""


def _free_ports(n):
    import socket

    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.slow
def test_multiworker_training_on_two_local_processes_keeps_the_workers_in_step(scenes, tmp_path):
    names = sorted(p.name for p in (scenes.parent / "images").glob("*.jpg"))
    (tmp_path / "train.txt").write_text("\n".join(names[:48]))
    (tmp_path / "val.txt").write_text("\n".join(names[48:]))
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for i in range(2):
        env = dict(
            os.environ,
            PYTHONPATH=str(ROOT),
            TF_CPP_MIN_LOG_LEVEL="2",
            TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}),
        )
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    MULTI,
                    str(scenes),
                    str(tmp_path / f"w{i}"),
                    json.dumps(TINY_MODEL),
                    str(i),
                    str(tmp_path / "train.txt"),
                    str(tmp_path / "val.txt"),
                ],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
    w0, w1 = (np.load(tmp_path / f"w{i}" / "flat.npy") for i in range(2))
    assert np.array_equal(w0, w1)  # gradients all-reduced: both workers hold the same model
