"""The reference network for The Starry Night: one long training, run in sittings.

    python tools/reference_network.py --minutes 40     # one sitting: resume, train, save, log
    python tools/reference_network.py --status         # steps, hours and held-out loss so far

Notebook 09 trains a network for 8 minutes on a laptop; this one is the yardstick, the same
method trained as far as this project can afford. Every sitting resumes from the checkpoint in
``data/reference/checkpoints/`` (the first one starts there), trains for at most ``--minutes``
(set-up included) by :data:`RECIPE`, writes the network so far (``data/reference/
starry_night.keras``), keeps only the newest checkpoint, and adds a row to ``data/reference/
log.json``: when, the steps from and to, the seconds of training, the load on the machine, and
the float32 perceptual loss of its pictures of the held-out photographs at 256 px
(:func:`nst_helpers.feedforward.held_out_loss`). Ctrl-C or SIGTERM end a sitting early the same
way, with its checkpoint. Run it where nothing else runs: its seconds are the record of its cost.

The recipe is the laptop run's (``nst train-style``'s defaults: the course's network, 128 px
crops, batch 4, the same loss and weights) on a better training set, for many more steps: so the
two networks differ in budget and photographs only.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: What the reference network is trained on: the course's 59 photographs of real scenes and the
#: four real scenes of the laptop set (its textures and scientific images left out).
SCENES = ("astronaut", "coffee", "rocket", "motorcycle")
#: Training settings beyond nst train-style's defaults: open-ended (sittings stop by minutes).
RECIPE = dict(steps=1_000_000, checkpoint_every=200)
STYLE = "starry_night"


def photos() -> list[str]:
    """The names of the reference network's training photographs."""
    from nst_helpers.feedforward.data import COURSE_PHOTOS

    return list(COURSE_PHOTOS) + list(SCENES)


def _log(folder: pathlib.Path) -> list[dict]:
    path = folder / "log.json"
    return json.loads(path.read_text()) if path.exists() else []


def _keep_newest(checkpoints: pathlib.Path) -> None:
    """Delete every checkpoint but the newest, and name only that one in the folder's list."""
    from nst_helpers.feedforward import latest_step
    from nst_helpers.feedforward.checkpoints import write_state

    newest = latest_step(checkpoints)
    if newest is None:
        return
    for path in checkpoints.glob("ckpt-*"):
        if path.name.split(".")[0] != f"ckpt-{newest}":
            path.unlink()
    write_state(checkpoints, [newest])


def sitting(folder: pathlib.Path, minutes: float, **changes) -> dict:
    """Train one sitting into ``folder`` and return its row of the log."""
    from nst_helpers.feedforward import held_out_loss, latest_step, train

    checkpoints = folder / "checkpoints"
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    load_before = os.getloadavg()[0]
    result = train(
        STYLE,
        photos=photos(),
        checkpoint_dir=checkpoints,
        resume=latest_step(checkpoints) is not None,
        progress=False,
        max_minutes=minutes,
        **dict(RECIPE, **changes),
    )
    result.save(folder / f"{STYLE}.keras", force=True)
    _keep_newest(checkpoints)
    judged = held_out_loss(result.model, STYLE)
    row = {
        "started": started,
        "steps": [result.start_step, result.step],
        "seconds": round(result.seconds, 1),
        "setup_seconds": round(result.setup_seconds + result.compile_seconds, 1),
        "ms_per_step": round(1000 * result.seconds_per_step, 1),
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "stop_reason": result.stop_reason,
        "held_out_loss": {k: round(v["total"], 1) for k, v in judged.items()},
        "precision": result.precision,
    }
    log = _log(folder) + [row]
    (folder / "log.json").write_text(json.dumps(log, indent=1) + "\n")
    return row


def status(folder: pathlib.Path) -> str:
    """One paragraph: how far the reference network has come."""
    log = _log(folder)
    if not log:
        return f"{folder}: no sitting yet."
    hours = sum(r["seconds"] for r in log) / 3600
    last = log[-1]
    return (
        f"{len(log)} sitting(s), {last['steps'][1]} steps, {hours:.2f} hours of training; "
        f"held-out loss after the last: {last['held_out_loss']['mean']:.4g} "
        f"(first sitting: {log[0]['held_out_loss']['mean']:.4g})"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=40.0, help="length of this sitting")
    parser.add_argument("--folder", default=str(ROOT / "data" / "reference"))
    parser.add_argument("--status", action="store_true", help="say how far it has come, and stop")
    args = parser.parse_args(argv)
    folder = pathlib.Path(args.folder)
    if not args.status:
        folder.mkdir(parents=True, exist_ok=True)
        print(json.dumps(sitting(folder, args.minutes)), flush=True)
    print(status(folder))
    return 0


if __name__ == "__main__":
    sys.exit(main())
