"""tools/reference_network.py: the reference network's training, in sittings that resume."""

import importlib.util
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "reference_network", ROOT / "tools" / "reference_network.py"
)
ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ref)


def _feedforward_tests():
    """tests/test_feedforward.py as a module (its TINY settings)."""
    spec = importlib.util.spec_from_file_location(
        "ff_tests", ROOT / "tests" / "test_feedforward.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: tests/test_feedforward.py's tiny network and crops, a checkpoint at every step.
TINY = dict(_feedforward_tests().TINY, checkpoint_every=1)


def test_two_sittings_resume_keep_one_checkpoint_and_log_both(tmp_path):
    first = ref.sitting(tmp_path, minutes=30, steps=2, **TINY)
    assert first["steps"] == [0, 2] and first["stop_reason"] == "finished"
    second = ref.sitting(tmp_path, minutes=30, steps=4, **TINY)
    assert second["steps"] == [2, 4]  # resumed where the first sitting stopped
    log = json.loads((tmp_path / "log.json").read_text())
    assert log == [first, second]
    # each row judges the network on the held-out photographs, and says so per photograph
    assert set(second["held_out_loss"]) == {"tubingen", "chelsea", "mean"}
    assert second["held_out_loss"]["mean"] > 0
    # only the newest checkpoint stays, and the network so far is beside it
    kept = {p.name.split(".")[0] for p in (tmp_path / "checkpoints").glob("ckpt-*")}
    assert kept == {"ckpt-4"}
    assert (tmp_path / "starry_night.keras").stat().st_size > 0
    assert "2 sitting(s), 4 steps" in ref.status(tmp_path)


def test_the_reference_network_trains_on_scenes_not_textures():
    names = ref.photos()
    assert len(names) >= 60 and len(set(names)) == len(names)
    assert not {"brick", "gravel", "grass", "coins", "tubingen", "chelsea"} & set(names)
