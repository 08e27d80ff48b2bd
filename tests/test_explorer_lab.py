"""The explorer in parts: the lab without any widget, the controls made from the settings table.

The lab's tests block ipywidgets altogether (an import of it fails), so they prove that images,
runs, sweeps, stopping, saving and loading need no widget. Runs use 64 px images and a few steps.
"""

import ast
import io
import json
import pathlib
import re
import sys
import time

import numpy as np
import pytest
from PIL import Image

from nst_helpers.config import POSITIVE, SETTINGS, Setting, preset
from nst_helpers.errors import NSTError
from nst_helpers.explorer import Job, Lab, Listener, parse_grid

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "nst_helpers" / "explorer"


class Recorder(Listener):
    """A listener that writes down what the lab tells it."""

    def __init__(self):
        self.events = []

    def message(self, kind, text):
        self.events.append(("message", kind))

    def image(self, which, key, image, options):
        assert key in [value for _, value in options]
        self.events.append(("image", which, key))

    def busy(self, busy):
        self.events.append(("busy", busy))

    def run_started(self, job, prefix):
        self.events.append(("run_started", job.config.steps))

    def run_step(self, progress, live):
        self.events.append(("run_step", progress.step, len(live["steps"])))

    def run_finished(self, entry, prefix):
        self.events.append(("run_finished", entry.number))

    def entry_added(self, entry):
        self.events.append(("entry_added", entry.number))

    def names(self):
        return [e[0] for e in self.events if e[0] != "message"]


def _png(width=64, height=48):
    buffer = io.BytesIO()
    Image.fromarray(np.full((height, width, 3), 200, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _wait_until(predicate, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end and not predicate():
        time.sleep(0.02)
    return predicate()


SMALL = {"max_side": 64, "steps": 3, "optimizer": "lbfgs"}


@pytest.fixture()
def lab(monkeypatch):
    """A lab with ipywidgets made impossible to import."""
    monkeypatch.setitem(sys.modules, "ipywidgets", None)
    recorder = Recorder()
    made = Lab(listener=recorder)
    assert made.set_image("content", "chelsea") and made.set_image("style", "starry_night")
    recorder.events.clear()
    yield made
    made.stop()
    made.wait(timeout=120)
    assert not made.running


def test_no_widgets_really(lab):
    with pytest.raises(ImportError):
        import ipywidgets  # noqa: F401


def test_a_run_tells_the_listener_in_order(lab):
    entry = lab.run(SMALL, block=True, every=1)
    assert (
        entry is lab.gallery[-1] and entry.number == 1 and entry.result.image.shape == (43, 64, 3)
    )
    names = lab.listener.names()
    assert names[:2] == ["busy", "run_started"] and names[-3:] == [
        "run_finished",
        "entry_added",
        "busy",
    ]
    steps = [e for e in lab.listener.events if e[0] == "run_step"]
    assert [e[1] for e in steps] == [1, 2, 3] and steps[-1][2] == 3
    assert "Run #1 finished: 3 steps" in lab.message and lab.messages[-1][0] == "ok"
    assert lab.live["history"]["total"] and "#1 chelsea × starry_night" in lab.table()


def test_settings_start_from_the_seed_and_this_lab_s_backbone(lab):
    from nst_helpers.images import default_max_side

    cfg = lab.config({"steps": 4})  # "auto" becomes this machine's size
    assert cfg == preset("seed", steps=4, backbone=lab.backbone_spec, max_side=default_max_side())
    cfg = lab.config({"max_side": 96, "steps": 7, "style_weight": 5.0}, preset="gatys")
    assert (cfg.normalization, cfg.max_side, cfg.steps) == ("paper", 96, 7)
    assert cfg.style_weight == preset("gatys").style_weight  # the preset replaces the rest
    with pytest.raises(NSTError, match="tick at least one style layer"):
        lab.config({"style_layers": ()})
    with pytest.raises(NSTError, match="unknown layer 'block9_conv1'"):
        lab.config({"style_layers": ("block9_conv1",)})


def test_values_for_the_controls(lab):
    values = lab.values("gatys", steps=9)
    assert "backbone" not in values and "max_side" not in values  # presets keep the size
    assert (values["optimizer"], values["steps"]) == ("lbfgs", 9)
    assert lab.values("fast")["max_side"] == 256
    with pytest.raises(NSTError, match="unknown setting colour"):
        lab.values(colour=1)
    with pytest.raises(NSTError, match="learning_rate must be positive"):
        lab.values("seed", learning_rate=0)


def test_stop_a_background_run(lab):
    assert lab.run({**SMALL, "optimizer": "adam", "steps": 5000}, every=1) is None
    assert _wait_until(lambda: len(lab.live["steps"]) >= 2), "the run never reported progress"
    assert lab.run(SMALL) is None and "already going" in lab.message
    assert lab.stop()
    entry = lab.wait(timeout=120)
    assert entry.result.stop_reason == "stopped" and 2 <= entry.result.steps < 5000
    assert lab.listener.events[-1] == ("busy", False) and not lab.running
    assert not lab.stop() and "Nothing is running" in lab.message


def test_sweep_plan(lab):
    jobs = lab.plan(
        {"steps": 50},
        [{"style_weight": 0.1}, {"preset": "fast", "steps": 2}],
        {"max_side": 64, "steps": 3},
    )
    assert all(isinstance(job, Job) for job in jobs)
    assert (jobs[0].config.steps, jobs[0].config.max_side, jobs[0].config.optimizer) == (
        3,
        64,
        "adam",
    )
    assert (jobs[1].config.optimizer, jobs[1].config.steps) == ("lbfgs", 2)
    assert jobs[1].note == "sweep 2/2: preset=fast, steps=2"
    for grid, message in (
        ([1], "sweep entry 1 is not a dict"),
        ([], "the sweep grid is empty"),
        ([{}, {"steps": -1}], "sweep entry 2 (steps=-1): steps must be"),
    ):
        with pytest.raises(NSTError, match=re.escape(message)):
            lab.plan({}, grid, {})
    assert lab.sweep({}, "{oops", {}) is None and "not valid JSON" in lab.message


def test_a_sweep_runs_into_the_gallery(lab, capsys):
    entries = lab.sweep({}, '{"style_weight": 0.1}\n{"style_weight": 0.001}', SMALL, block=True)
    assert [e.number for e in entries] == [1, 2] and lab.gallery == entries
    assert entries[0].config.style_weight == 0.1 and "Sweep done: 2 of 2" in lab.message
    # the cell that waits for a blocking sweep shows a bar that counts its runs
    err = capsys.readouterr().err
    assert "sweep: 100%" in err and "2/2" in err


def test_parse_grid():
    assert parse_grid(' {"a": 1}\n\n{"b": 2} ') == [{"a": 1}, {"b": 2}]
    assert parse_grid('[{"a": 1}]') == [{"a": 1}] and parse_grid("  ") == []
    with pytest.raises(NSTError, match="line 2"):
        parse_grid('{"a": 1}\n{"b": }')


def test_images_and_uploads(lab):
    assert lab.use_upload("content", {"cat.png": {"content": _png(80, 60)}})
    assert lab.sources["content"] == "upload:cat.png" and lab.images["content"].shape == (60, 80, 3)
    assert ("image", "content", "upload:cat.png") in lab.listener.events
    assert ("⬆ cat.png", "upload:cat.png") in lab.source_options("content")
    before = len(lab.listener.events)
    assert not lab.use_upload("content", ({"name": "x.txt", "content": memoryview(b"text")},))
    assert "x.txt" in lab.message and lab.sources["content"] == "upload:cat.png"
    assert [e for e in lab.listener.events[before:] if e[0] == "image"] == []
    assert not lab.select("style", "upload:missing.png") and "missing.png" in lab.message
    with pytest.raises(NSTError, match="which must be"):
        lab.set_image("background", "chelsea")


def test_save_and_load_with_any_apply(lab, tmp_path):
    entry = lab.run(SMALL, block=True)
    png, js = lab.save(folder=tmp_path)
    assert (png.name, js.name) == ("nst_001.png", "nst_001.json")
    taken = []
    lab.set_image("content", "coffee")
    assert lab.load(js, apply=lambda **settings: taken.append(settings) or [])
    expected = {k: v for k, v in entry.config.to_dict().items() if k != "backbone"}
    assert json.loads(json.dumps(taken[0])) == json.loads(json.dumps(expected))
    assert lab.sources["content"] == "sample:chelsea" and "Loaded run #1" in lab.message
    assert lab.load(1, apply=lambda **settings: ["kept one content layer"])
    assert lab.messages[-1] == (
        "warning",
        "Loaded run #1 into the controls. kept one content layer",
    )
    assert lab.load({"steps": 5}) and not lab.load({"steps": -5})
    assert "steps must be a whole number" in lab.message
    assert (
        not lab.load(b"[1]", name="mine.json")
        and "mine.json: expected a JSON object" in lab.message
    )
    assert lab.save(7) is None and "there is no run #7" in lab.message


def test_guarded_handlers_end_in_a_message(lab):
    def broken(*args):
        raise ValueError("no luck")

    assert lab.guarded(broken, "Pressing")("click") is None
    assert lab.messages[-1] == ("error", "Pressing failed: ValueError: no luck")
    assert "ValueError" in lab.last_error


def test_attributes_are_first_assigned_in_init():
    """Every ``self.x = …`` of a class in the explorer's package is also made in its __init__."""
    for path in PACKAGE.glob("*.py"):
        for cls in (n for n in ast.parse(path.read_text()).body if isinstance(n, ast.ClassDef)):
            assigned = {}
            for method in (n for n in cls.body if isinstance(n, ast.FunctionDef)):
                for node in ast.walk(method):
                    targets = node.targets if isinstance(node, ast.Assign) else []
                    for target in targets:
                        for t in target.elts if isinstance(target, ast.Tuple) else [target]:
                            if (
                                isinstance(t, ast.Attribute)
                                and getattr(t.value, "id", "") == "self"
                            ):
                                assigned.setdefault(t.attr, set()).add(method.name)
            late = {a: m for a, m in assigned.items() if "__init__" not in m}
            assert not late, f"{path.name}: {cls.name} first assigns {late} outside __init__"


# --------------------------------------------------------------------------------------------------
# The controls, from the settings table (these need ipywidgets)
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def backbone_layers():
    from nst_helpers.backbone import layer_names

    return layer_names()


def _hover(widget):
    return widget.tooltip if widget.has_trait("tooltip") else widget.description_tooltip


def test_every_setting_on_a_tab_has_its_control(backbone_layers):
    from nst_helpers.explorer.controls import CONTROL_OF, LAYER_GRID, Controls

    panel = Controls(backbone_layers)
    rows = [row for row in SETTINGS.values() if row.tab and row.name not in LAYER_GRID]
    assert len(rows) >= 12
    for row in rows:
        widget = panel.widgets[CONTROL_OF.get(row.name, row.name)]
        assert widget.description == row.label and _hover(widget) == row.help, row.name
        if row.choices:
            assert [v for _, v in widget.options] == [
                "off" if c is None else c for c in row.choices
            ]
            assert [label for label, _ in widget.options] == [row.title(c) for c in row.choices]
        elif row.log:
            assert (10**widget.min, 10**widget.max) == pytest.approx(row.span), row.name
    assert set(panel.layer_boxes) == set(backbone_layers)


def test_a_new_row_of_the_table_gets_a_control_at_the_end_of_its_tab(monkeypatch, backbone_layers):
    import ipywidgets

    from nst_helpers.explorer import controls

    row = Setting(
        name="gamma",
        type=float,
        default=0.5,
        help="A new setting, for this test.",
        label="gamma",
        short="γ",
        tab="Optimiser",
        check=POSITIVE,
        span=(0.01, 10.0),
        log=True,
    )
    monkeypatch.setitem(SETTINGS, "gamma", row)
    panel = controls.Controls(backbone_layers)
    assert controls.Controls.order("Optimiser")[-1] == "gamma"
    assert isinstance(panel.widgets["gamma"], ipywidgets.FloatLogSlider)
    assert panel.read()["gamma"] == 0.5
    panel.show({"gamma": 2.0})
    assert panel.read()["gamma"] == pytest.approx(2.0)


def test_show_then_read_gives_the_settings_back(backbone_layers):
    from nst_helpers.explorer.controls import Controls

    panel = Controls(backbone_layers)
    values = preset(
        "gatys",
        tv_weight=20.0,
        preserve_color="histogram",
        beta_1=0.5,
        max_side=96,
        style_layers=("block1_conv1", "block3_conv1"),
        style_layer_weights=(0.25, 0.75),
    ).to_dict()
    values.pop("backbone")
    assert panel.show(values) == []
    read = panel.read()
    for key in (
        "content_layers",
        "style_layers",
        "normalization",
        "optimizer",
        "steps",
        "init",
        "seed",
        "max_side",
        "pooling",
        "precision",
        "preserve_color",
        "beta_1",
    ):
        assert read[key] == values[key], key
    for key in ("tv_weight", "style_weight", "content_weight"):
        assert read[key] == pytest.approx(values[key]), key
    assert read["style_layer_weights"] == pytest.approx((0.25, 0.75))
    assert panel.widgets["learning_rate"].disabled  # L-BFGS needs no learning rate
    panel.show({"tv_weight": 0.0, "optimizer": "adam"})
    assert panel.read()["tv_weight"] == 0.0 and panel.widgets["tv_weight"].disabled
    assert not panel.widgets["learning_rate"].disabled


def test_set_moves_the_controls_once(tmp_path, monkeypatch):
    """set(preset=…) and the preset menu each apply the preset once: no re-entry through the
    menu's observer."""
    from nst_helpers.explorer import Explorer

    ex = Explorer(quick=True, folder=tmp_path)
    calls = []
    values = ex.lab.values
    monkeypatch.setattr(ex.lab, "values", lambda *a, **k: calls.append(a) or values(*a, **k))
    ex.set(preset="gatys", steps=7)
    assert calls == [("gatys",)] and ex.controls["preset"].value == "gatys"
    assert ex.config().normalization == "paper" and ex.config().steps == 7
    ex.controls["preset"].value = "seed"  # as a user choosing it
    assert calls == [("gatys",), ("seed",)] and ex.config().optimizer == "adam"
