"""``nst train-style`` stopped from outside, as ``timeout``, ``kill`` or a job scheduler stops it.

The real command runs in a subprocess and is sent a real SIGTERM once it has written a
checkpoint; it must exit with 143, keep that checkpoint and write the network it has, and
``--resume`` must carry on from the step where it stopped.
"""

import os
import signal
import subprocess
import sys
import time

from nst_helpers import feedforward as ff

ENV = {**os.environ, "NST_BACKBONE": "vgg19", "TF_CPP_MIN_LOG_LEVEL": "3"}
EXE = os.path.join(os.path.dirname(sys.executable), "nst")
NST = [EXE] if os.path.exists(EXE) else [sys.executable, "-m", "nst_helpers"]
#: A tiny network on tiny crops, so that a step takes a fraction of a second.
TINY = ["--size", "32", "--batch-size", "2", "--style-size", "64", "--filters", "4,8,8",
        "--blocks", "1", "--precision", "float32", "--content-layers", "block2_conv1",
        "--style-layers", "block1_conv1,block2_conv1", "-q"]


def test_sigterm_keeps_the_last_checkpoint_and_resume_continues(tmp_path):
    model = tmp_path / "model.keras"
    checkpoints = tmp_path / "model.checkpoints"
    proc = subprocess.Popen(NST + ["train-style", "starry_night", "-o", str(model), "--steps",
                                   "100000", "--checkpoint-every", "2"] + TINY,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    end = time.monotonic() + 300
    while time.monotonic() < end and not ff.latest_step(checkpoints):
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "Traceback" not in err and "--resume" in err
    stopped_at = ff.latest_step(checkpoints)
    assert stopped_at and stopped_at < 100000
    assert model.is_file() and ff.network_info(ff.load_network(model))["steps"] >= stopped_at

    steps = stopped_at + 2
    resumed = subprocess.run(NST + ["train-style", "starry_night", "-o", str(model), "--steps",
                                    str(steps), "--checkpoint-every", "2", "--resume", "--force"]
                             + TINY, capture_output=True, text=True, env=ENV, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert ff.latest_step(checkpoints) == steps
    assert ff.network_info(ff.load_network(model))["steps"] == steps

