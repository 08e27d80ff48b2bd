import numpy as np
import pytest

from nst_helpers.config import StyleConfig, preset
from nst_helpers.errors import NSTError
from nst_helpers.images import to_vgg
from nst_helpers.optimize import Problem, StopRun, stylize

QUICK = dict(max_side=64, progress=False, verbose=False)


@pytest.mark.parametrize("backbone", ["vgg16-hed", "random"])
@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_short_run_lowers_the_loss(photo, texture, backbone, optimizer):
    r = stylize(photo, texture, "seed", steps=12, backbone=backbone, optimizer=optimizer, **QUICK)
    total = r.history["total"]
    assert r.steps == 12 and len(total) == 12
    # Adam with the seed's lr 2 and beta_1 0.99 starts slowly; L-BFGS drops fast.
    assert total[-1] < (0.97 if optimizer == "adam" else 0.9) * total[0]
    assert all(b <= a for a, b in zip(total[:6], total[1:6])) or optimizer == "lbfgs"
    assert r.best_loss == pytest.approx(min(total))
    assert r.backbone == ("vgg16-hed" if backbone == "vgg16-hed" else "vgg19-random:0")
    assert r.image.dtype == np.uint8 and r.image.shape == photo.shape
    assert r.stop_reason == "finished"


def test_best_image_is_the_one_with_the_best_loss(photo, texture):
    r = stylize(photo, texture, "seed", steps=15, learning_rate=8.0, **QUICK)
    problem = Problem(photo, texture, r.config, verbose=False)
    recomputed = float(problem.losses(to_vgg(r.image))[0])
    assert recomputed == pytest.approx(r.best_loss, rel=0.02)  # uint8 rounding only
    assert r.history["total"][r.best_step] == pytest.approx(r.best_loss)


def test_history_parts_add_up(photo, texture):
    r = stylize(photo, texture, "seed", steps=4, tv_weight=1e-3, **QUICK)
    h = {k: np.array(v) for k, v in r.history.items()}
    np.testing.assert_allclose(h["content"] + h["style"] + h["tv"], h["total"], rtol=1e-4)
    assert h["tv"].min() > 0 and h["content"][0] == 0  # starts from the content image


def test_ctrl_c_keeps_the_best_image(photo, texture):
    def interrupt(progress):
        if progress.step == 6:
            raise KeyboardInterrupt

    r = stylize(photo, texture, "seed", steps=50, callback=interrupt, callback_every=3, **QUICK)
    assert r.stop_reason == "interrupted" and r.interrupted and r.steps == 6
    assert r.best_loss == pytest.approx(min(r.history["total"]))
    assert r.image.shape == photo.shape and "Interrupted" in r.message


def test_ctrl_c_with_lbfgs(photo, texture):
    def interrupt(progress):
        if progress.step >= 4:
            raise KeyboardInterrupt

    r = stylize(
        photo,
        texture,
        "seed",
        optimizer="lbfgs",
        steps=40,
        callback=interrupt,
        callback_every=2,
        **QUICK,
    )
    assert r.stop_reason == "interrupted" and r.steps == 4
    assert r.best_loss == pytest.approx(min(r.history["total"]))


def test_stop_requests(photo, texture):
    r = stylize(
        photo,
        texture,
        "seed",
        steps=30,
        callback_every=5,
        callback=lambda p: (_ for _ in ()).throw(StopRun) if p.step == 10 else None,
        **QUICK,
    )
    assert r.stop_reason == "stopped" and r.steps == 10
    calls = []
    r = stylize(
        photo,
        texture,
        "seed",
        steps=30,
        callback_every=4,
        should_stop=lambda: calls.append(1) or len(calls) == 2,
        **QUICK,
    )
    assert r.stop_reason == "stopped" and r.steps == 8


def test_seeded_runs_are_repeatable(photo, texture):
    a = stylize(photo, texture, "seed", steps=5, init="noise", seed=3, **QUICK)
    b = stylize(photo, texture, "seed", steps=5, init="noise", seed=3, **QUICK)
    c = stylize(photo, texture, "seed", steps=5, init="noise", seed=4, **QUICK)
    np.testing.assert_array_equal(a.image, b.image)
    assert a.history["total"] == b.history["total"]
    assert not np.array_equal(a.image, c.image)


def test_trainable_cannot_matter(photo, texture):
    a = stylize(photo, texture, "seed", steps=4, trainable=False, **QUICK)
    b = stylize(photo, texture, "seed", steps=4, trainable=True, **QUICK)
    np.testing.assert_array_equal(a.image, b.image)


def test_exploding_loss_stops_with_advice(photo, texture):
    r = stylize(
        photo,
        texture,
        "seed",
        steps=60,
        learning_rate=1e9,
        style_weight=1.0,
        callback_every=5,
        **QUICK,
    )
    assert r.stop_reason == "diverged" and r.steps < 60
    assert "learning_rate" in r.message and "too large" in r.message
    assert r.best_loss == pytest.approx(min(x for x in r.history["total"] if np.isfinite(x)))


def test_frames_every_k_steps_only(photo, texture, tmp_path):
    seen = []
    r = stylize(
        photo,
        texture,
        "seed",
        steps=20,
        frames_every=5,
        frames_dir=tmp_path / "f",
        callback=lambda p: seen.append((p.step, p.image().shape)),
        callback_every=10,
        **QUICK,
    )
    assert [s for s, _ in r.frames] == [5, 10, 15, 20]
    assert sorted(p.name for p in (tmp_path / "f").iterdir()) == [
        "frame_00005.png",
        "frame_00010.png",
        "frame_00015.png",
        "frame_00020.png",
    ]
    assert seen == [(10, photo.shape), (20, photo.shape)]


def test_report_has_the_promised_fields(photo, texture, vgg19_name):
    r = stylize(photo, texture, "fast", steps=3, **QUICK)
    rep = r.report()
    for key in ("backbone", "size", "steps", "seconds", "loss_history", "best_loss"):
        assert key in rep
    assert (
        rep["backbone"] == vgg19_name and rep["size"] == [64, 43] and len(rep["loss_history"]) == 3
    )


def test_config_presets_and_validation():
    seed = preset("seed")
    assert seed == StyleConfig()
    assert (seed.learning_rate, seed.beta_1, seed.epsilon, seed.steps) == (2.0, 0.99, 0.1, 7500)
    assert (seed.content_weight, seed.style_weight) == (1e3, 1e-2)
    assert seed.content_layers == ("block5_conv2",) and len(seed.style_layers) == 5
    assert seed.layer_weights()["block3_conv1"] == pytest.approx(0.2)
    gatys = preset("gatys")
    assert gatys.content_layers == ("block4_conv2",) and gatys.optimizer == "lbfgs"
    assert gatys.normalization == "paper"
    for bad, match in [
        (dict(learning_rate=-1), "learning_rate"),
        (dict(optimizer="sgd"), "optimizer"),
        (dict(steps=2.5), "steps"),
        (dict(style_weigth=1), "unknown setting"),
        (dict(style_layer_weights=(1, 2)), "one weight per layer"),
        (dict(max_side=8), "max_side"),
        (dict(precision="fp16"), "precision"),
    ]:
        with pytest.raises(NSTError, match=match):
            seed.replace(**bad)
    with pytest.raises(NSTError, match="unknown preset"):
        preset("picasso")


def test_bad_layer_in_config_is_reported(photo, texture):
    with pytest.raises(NSTError, match="valid names"):
        stylize(photo, texture, "seed", steps=1, content_layers=("block6_conv1",), **QUICK)


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_bfloat16_runs_close_to_float32(photo, texture, optimizer):
    runs = {
        p: stylize(photo, texture, "seed", steps=8, optimizer=optimizer, precision=p, **QUICK)
        for p in ("float32", "bfloat16")
    }
    lo, hi = runs["bfloat16"], runs["float32"]
    assert lo.config.precision == "bfloat16" and lo.report()["config"]["precision"] == "bfloat16"
    assert lo.history["total"][-1] < lo.history["total"][0]
    # The same start: the first loss differs only by bfloat16's rounding of the network.
    assert lo.history["total"][0] == pytest.approx(hi.history["total"][0], rel=0.05)
    assert lo.history["total"][0] != hi.history["total"][0]  # it did compute in bfloat16
    assert lo.image.dtype == np.uint8 and lo.image.shape == hi.image.shape


def test_bfloat16_without_hardware_says_it_will_be_slower(photo, texture, monkeypatch, capsys):
    from nst_helpers import problem

    monkeypatch.setattr(problem, "bfloat16_hardware", lambda: False)
    Problem(photo, texture, preset("seed", max_side=64, backbone="vgg16-hed", precision="bfloat16"))
    out = capsys.readouterr().out
    assert "no bfloat16 instructions" in out and "slower" in out
    Problem(photo, texture, preset("seed", max_side=64, backbone="vgg16-hed"))
    assert "bfloat16" not in capsys.readouterr().out


def test_frames_dir_never_replaces_earlier_frames(photo, texture, tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "frame_00004.png").write_bytes(b"an earlier run's frame")
    (folder / "frame_00003.png").write_bytes(b"not one this run writes")
    with pytest.raises(
        NSTError,
        match=r"already holds frame_00004.png, which this run would "
        r"write; .* force=True",
    ):
        stylize(photo, texture, "seed", steps=4, frames_every=2, frames_dir=folder, **QUICK)
    assert (folder / "frame_00004.png").read_bytes() == b"an earlier run's frame"
    r = stylize(
        photo, texture, "seed", steps=4, frames_every=2, frames_dir=folder, force=True, **QUICK
    )
    assert len(r.frames) == 2 and (folder / "frame_00004.png").read_bytes()[:4] == b"\x89PNG"
    assert (folder / "frame_00003.png").read_bytes() == b"not one this run writes"
    (tmp_path / "file").write_text("x")
    with pytest.raises(NSTError, match="is a file, not a folder for the frames"):
        stylize(
            photo, texture, "seed", steps=2, frames_every=1, frames_dir=tmp_path / "file", **QUICK
        )


def test_an_infinite_loss_before_the_first_step_names_the_weight(photo, texture):
    """The learning rate cannot be the cause before the first step: the numbers say which weight."""
    import json

    r = stylize(photo, texture, "seed", steps=20, style_weight=1e36, **QUICK)
    assert r.stop_reason == "diverged" and not np.isfinite(r.history["style"][0])
    assert "infinite before the first step" in r.message and "style_weight=1e+36" in r.message
    assert "too large" in r.message and "learning_rate" not in r.message
    text = json.dumps(r.report(), allow_nan=False)  # standard JSON: null, with the reason
    rep = json.loads(text)
    assert rep["best_loss"] is None and rep["not_finite"]["best_loss"] == "infinite"
    assert "values NaN or infinite" in rep["not_finite"]["loss_history"]
    assert r.image.shape == photo.shape  # the start, kept

    lb = stylize(photo, texture, "seed", optimizer="lbfgs", steps=20, style_weight=1e36, **QUICK)
    assert lb.stop_reason == "diverged" and "infinite" in lb.message and "NaN" not in lb.message
    assert "style_weight=1e+36" in lb.message


def test_divergence_messages_follow_the_numbers():
    from nst_helpers.loop import divergence_message as _divergence_message

    cfg = preset("seed")
    nan_input = {"total": [float("nan")], "content": [float("nan")], "style": [1.0], "tv": [0.0]}
    assert "an input gives NaN; check the images and masks" in _divergence_message(
        10, cfg, nan_input
    )
    rising = {
        "total": [1.0, 5.0, float("nan")],
        "content": [0.5] * 3,
        "style": [0.5] * 3,
        "tv": [0.0] * 3,
    }
    message = _divergence_message(3, cfg, rising)
    assert message.startswith("The loss became NaN at step 3") and "try 0.5" in message
    grown = {k: [1.0, 30.0] for k in ("total", "content", "style", "tv")}
    assert "grew to 20 times its start" in _divergence_message(2, cfg, grown)


def test_seed_is_validated_and_only_drawn_from_when_needed(photo, texture, monkeypatch):
    for bad in (-1, "abc", 2.5, None):
        with pytest.raises(NSTError, match=f"seed must be a whole number >= 0, not {bad!r}"):
            preset("seed", seed=bad)

    def no_generator(*args):
        raise AssertionError("a random generator was built for init='content'")

    problem = Problem(photo, texture, preset("seed", max_side=64), verbose=False)
    monkeypatch.setattr(np.random, "default_rng", no_generator)
    problem.initial_image()


def test_earlier_runs_leave_no_networks_behind(photo, texture):
    """Each run's Keras model sits in reference cycles; stylize collects them before the next
    run, so a kernel driving many runs (the explorer, a sweep) holds one network, not one per run."""
    import gc

    import keras

    def models():
        return sum(isinstance(o, keras.Model) for o in gc.get_objects())

    gc.collect()
    before = models()  # what other tests in this process keep alive (fixtures, feed-forward nets)
    live = []
    for _ in range(5):
        stylize(photo, texture, "fast", steps=2, **QUICK)
        live.append(models() - before)
    assert max(live[1:]) <= 2, live


def test_callback_every_none_calls_back_at_the_end_only(photo, texture):
    seen = []
    r = stylize(
        photo,
        texture,
        "seed",
        steps=7,
        callback=lambda p: seen.append(p.step),
        callback_every=None,
        **QUICK,
    )
    assert seen == [7] and r.steps == 7


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_luminance_frames_are_written_once_in_colour(
    photo, texture, tmp_path, monkeypatch, optimizer
):
    from nst_helpers import loop

    written = []
    real = loop.save_image
    monkeypatch.setattr(
        loop,
        "save_image",
        lambda img, path, **kw: written.append(path.name) or real(img, path, **kw),
    )
    r = stylize(
        photo,
        texture,
        "seed",
        optimizer=optimizer,
        steps=6,
        frames_every=3,
        frames_dir=tmp_path,
        preserve_color="luminance",
        **QUICK,
    )
    assert written == ["frame_00003.png", "frame_00006.png"]
    for _, frame in r.frames:  # recoloured: not grey
        assert np.abs(frame[..., 0].astype(int) - frame[..., 2].astype(int)).max() > 10


def test_one_divergence_rule_for_both_optimisers():
    from nst_helpers.loop import EXPLODE, diverged as _diverged

    high = EXPLODE * 1.5
    assert _diverged([1.0, high, 0.9, high]) and not _diverged([1.0, high, 0.9])
    assert not _diverged([1.0, high, 0.5, 0.4, 0.3, 0.2, high])  # probes 5 apart: no divergence
    assert _diverged([1.0, 0.5, float("nan")]) and _diverged([float("inf")])


def test_style_layer_losses_add_up_to_the_style_term(photo, texture):
    from nst_helpers.images import to_vgg
    from nst_helpers.optimize import Problem

    problem = Problem(photo, texture, preset("seed", max_side=64), verbose=False)
    per_layer = problem.style_layer_losses(photo)
    assert list(per_layer) == list(problem.config.style_layers)
    assert all(v > 0 for v in per_layer.values())
    style = float(problem.losses(to_vgg(photo))[2])
    assert sum(per_layer.values()) == pytest.approx(style, rel=1e-5)


def test_auto_precision_is_resolved_and_said(photo, texture, monkeypatch):
    from nst_helpers import backbone

    assert preset("fast").precision == "auto" and preset("seed").precision == "float32"
    for hardware, expected in ((True, "bfloat16"), (False, "float32")):
        monkeypatch.setattr(backbone, "bfloat16_hardware", lambda: hardware)
        r = stylize(photo, texture, "fast", steps=2, **QUICK)
        assert r.config.precision == expected and expected in repr(r)
        assert r.report()["config"]["precision"] == expected
