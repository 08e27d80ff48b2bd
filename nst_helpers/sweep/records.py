"""What a sweep did: one :class:`RunRecord` per run, a :class:`SweepResult`, a folder read back."""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib

import numpy as np

from ..errors import NSTError
from ..images import load_image

__all__ = ["DONE", "RunRecord", "SweepResult", "load_sweep", "read_report"]

DONE = ("finished", "converged")  # a run that stopped otherwise is run again on resume


@dataclasses.dataclass
class RunRecord:
    """One finished (or failed) run of a sweep, as stored in its folder."""

    name: str
    settings: dict
    folder: pathlib.Path | None = None
    report: dict | None = None  # None when the run failed or has not run
    error: str = ""
    skipped: bool = False  # found done in the folder, not run again

    @property
    def done(self) -> bool:
        """Whether the run finished or converged."""
        return self.report is not None and self.report.get("stop_reason") in DONE

    def image(self, step: int | None = None) -> np.ndarray:
        """The run's best image, or its image at a snapshot ``step``, as uint8 RGB."""
        if self.folder is None:
            raise NSTError(f"run {self.name} has no folder; it failed: {self.error}")
        path = self.folder / ("result.png" if step is None else f"step_{int(step):05d}.png")
        if not path.exists():
            have = sorted(p.stem for p in self.folder.glob("step_*.png"))
            raise NSTError(
                f"{path} does not exist; this run has {', '.join(have) or 'no snapshots'}."
            )
        return load_image(path, max_side=None)


@dataclasses.dataclass
class SweepResult:
    """What :func:`run_sweep` did: one :class:`RunRecord` per run, in the order given."""

    folder: pathlib.Path
    runs: list[RunRecord]
    interrupted: bool = False  # Ctrl-C stopped the sweep; run it again to resume

    @property
    def failed(self) -> list[RunRecord]:
        """The runs that are not done."""
        return [r for r in self.runs if not r.done]

    def __repr__(self) -> str:
        done = sum(r.done for r in self.runs)
        skipped = sum(r.skipped for r in self.runs)
        return (
            f"SweepResult({self.folder}: {done}/{len(self.runs)} runs done, {skipped} of them "
            f"found done before, {len(self.failed)} not done"
            f"{', interrupted' if self.interrupted else ''})"
        )


def read_report(folder: pathlib.Path) -> dict | None:
    """The ``report.json`` of a run's folder, or None if it is missing or not a JSON object."""
    try:
        report = json.loads((folder / "report.json").read_text())
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) else None


def load_sweep(out_dir: str | os.PathLike) -> list[RunRecord]:
    """The finished runs stored in a sweep folder, in name order."""
    out = pathlib.Path(out_dir).expanduser()
    if not (out / "sweep.json").exists():
        raise NSTError(f"{out} holds no sweep (no sweep.json); give the folder run_sweep wrote.")
    records = []
    for folder in sorted(p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")):
        report = read_report(folder)
        if report is not None:
            records.append(
                RunRecord(
                    report.get("name", folder.name), report.get("settings", {}), folder, report
                )
            )
    return records
