"""The feed-forward network of notebook 09: its shapes, its pieces, training, checkpoints, files
and the two commands. Everything at tiny sizes. (Its exercises' checks are tested in
tests/test_checks.py with the others.)"""

import json
import re
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from nst_helpers import feedforward as ff
from nst_helpers.cli import main
from nst_helpers.config import StyleConfig
from nst_helpers.errors import NSTError
from nst_helpers.images import vgg_input
from nst_helpers.loop import StopRun

#: A network and a run small enough for a test: 32 px crops, batch 2.
#: Two shallow VGG layers keep the traced step small.
TINY = dict(
    size=32,
    batch_size=2,
    style_size=64,
    filters=(4, 8, 8),
    residual_blocks=1,
    checkpoint_every=2,
    learning_rate=1e-2,
    precision="float32",
    content_layers=("block2_conv1",),
    style_layers=("block1_conv1", "block2_conv1"),
)
TINY_CLI = [
    "--size",
    "32",
    "--batch-size",
    "2",
    "--style-size",
    "64",
    "--filters",
    "4,8,8",
    "--blocks",
    "1",
    "--precision",
    "float32",
    "--content-layers",
    "block2_conv1",
    "--style-layers",
    "block1_conv1,block2_conv1",
    "-q",
]


@pytest.fixture(scope="module")
def trained():
    """One short training run shared by the tests that only read its network."""
    return ff.train("starry_night", steps=4, progress=False, verbose=False, **TINY)


@pytest.mark.parametrize("h, w", [(33, 47), (37, 64), (32, 32), (50, 35)])
def test_network_keeps_any_size(h, w):
    net = ff.transformation_network(filters=(4, 8, 8), residual_blocks=2)
    y = net(np.random.default_rng(0).uniform(0, 255, (2, h, w, 3)).astype(np.float32)).numpy()
    assert y.shape == (2, h, w, 3)
    assert y.min() >= 0 and y.max() <= 255


def test_the_same_seed_builds_the_same_network():
    x = np.random.default_rng(0).uniform(0, 255, (1, 32, 32, 3)).astype(np.float32)
    # without the skip: with it, every network starts as the photo itself
    a, b, c = (ff.transformation_network((4, 8, 8), 2, skip=False, seed=s) for s in (3, 3, 4))
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())
    assert not np.array_equal(a(x).numpy(), c(x).numpy())
    kernels = {
        w.path: w.numpy()
        for w in a.weights
        if w.path.startswith("residual_") and w.path.endswith("kernel")
    }
    assert len(kernels) == 4  # each layer starts differently
    assert len({k.tobytes() for k in kernels.values()}) == 4


def test_instance_norm_equals_numpy(rng):
    x = rng.normal(size=(3, 5, 7, 4)) * rng.uniform(0.5, 3, (3, 1, 1, 4)) + rng.normal(
        size=(3, 1, 1, 4)
    )
    want = (x - x.mean(axis=(1, 2), keepdims=True)) / np.sqrt(
        x.var(axis=(1, 2), keepdims=True) + 1e-3
    )
    got = ff.instance_norm(tf.constant(x, tf.float32), 1e-3).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    layer = ff.InstanceNormalization(epsilon=1e-3)
    layer.build(x.shape)
    layer.gamma.assign(np.arange(1, 5, dtype=np.float32))
    layer.beta.assign(-np.ones(4, np.float32))
    np.testing.assert_allclose(
        layer(tf.constant(x, tf.float32)).numpy(), want * np.arange(1, 5) - 1, rtol=1e-4, atol=1e-4
    )
    # each image is normalised on its own: another image in the batch changes nothing
    alone = ff.instance_norm(tf.constant(x[:1], tf.float32), 1e-3).numpy()
    np.testing.assert_allclose(alone, got[:1], rtol=1e-5, atol=1e-6)


def test_training_set_is_reproducible_and_leaves_out_the_held_out_photos():
    crops = ff.PhotoCrops(size=32, batch_size=3, seed=1)
    a, b = crops.batch(5), crops.batch(5)
    assert a.shape == (3, 32, 32, 3) and a.dtype == np.float32 and 0 <= a.min() and a.max() <= 255
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, crops.batch(6))
    assert not set(ff.HELD_OUT) & set(crops.names) and "cat" not in crops.names
    with pytest.raises(NSTError, match="no .jpg or .png"):
        ff.PhotoCrops(photos=pytest.importorskip("pathlib").Path(__file__).parent / "browser")


def test_training_lowers_the_loss():
    # Without the skip the network starts far from the photo, so a few steps lower the loss
    # clearly; with it, it starts as the photo and the loss moves slowly.
    cfg = ff.TrainConfig(steps=12, skip=False, **TINY)
    loss = ff.perceptual_loss(ff.painting("starry_night", cfg.style_size), cfg, verbose=False)
    fixed = tf.constant(ff.PhotoCrops(size=32, batch_size=2, seed=99).batch(0))
    targets = loss.content_targets(vgg_input(fixed))
    result = ff.train("starry_night", cfg, progress=False, verbose=False)
    fresh = ff.transformation_network(
        cfg.filters, cfg.residual_blocks, skip=False, seed=cfg.seed
    )  # train's start
    before = float(loss(vgg_input(fresh(fixed)), targets)[0])
    after = float(loss(vgg_input(result.model(fixed)), targets)[0])
    assert after < 0.5 * before
    assert result.step == 12 and len(result.history["total"]) == 12
    assert result.backbone.startswith("vgg19")


def test_checkpoint_and_resume_continue_from_the_saved_step(tmp_path):
    folder = tmp_path / "ckpt"
    first = ff.train(
        "starry_night", steps=4, checkpoint_dir=folder, progress=False, verbose=False, **TINY
    )
    assert first.step == 4 and ff.latest_step(folder) == 4
    with pytest.raises(NSTError, match="already holds checkpoints"):
        ff.train(
            "starry_night", steps=6, checkpoint_dir=folder, progress=False, verbose=False, **TINY
        )
    with pytest.raises(NSTError, match="filters"):
        ff.train(
            "starry_night",
            steps=6,
            checkpoint_dir=folder,
            resume=True,
            progress=False,
            verbose=False,
            **{**TINY, "filters": (4, 8, 16)},
        )
    with pytest.raises(NSTError, match="another painting"):
        ff.train(
            "the_scream",
            steps=6,
            checkpoint_dir=folder,
            resume=True,
            progress=False,
            verbose=False,
            **TINY,
        )
    resumed = ff.train(
        "starry_night",
        steps=6,
        checkpoint_dir=folder,
        resume=True,
        progress=False,
        verbose=False,
        **TINY,
    )
    assert resumed.start_step == 4 and resumed.step == 6 and len(resumed.history["total"]) == 2
    assert ff.latest_step(folder) == 6
    # the same network as six steps without a break: same start, same batches, same optimiser state
    straight = ff.train("starry_night", steps=6, progress=False, verbose=False, **TINY)
    x = ff.PhotoCrops(size=32, batch_size=1, seed=5).batch(0)
    np.testing.assert_allclose(resumed.model(x).numpy(), straight.model(x).numpy(), atol=0.5)


def test_keyboard_interrupt_keeps_the_last_checkpoint(tmp_path):
    folder = tmp_path / "ckpt"

    def interrupt(progress):
        if progress.step == 3:
            raise KeyboardInterrupt

    result = ff.train(
        "starry_night",
        steps=10,
        checkpoint_dir=folder,
        callback=interrupt,
        callback_every=1,
        progress=False,
        verbose=False,
        **TINY,
    )
    assert result.stop_reason == "interrupted" and result.step == 3
    assert ff.latest_step(folder) == 3 and "ckpt-3" in result.message
    again = ff.train(
        "starry_night",
        steps=5,
        checkpoint_dir=folder,
        resume=True,
        progress=False,
        verbose=False,
        **TINY,
    )
    assert again.start_step == 3 and again.step == 5

    def stop(progress):
        raise StopRun

    stopped = ff.train(
        "starry_night",
        steps=8,
        checkpoint_dir=folder,
        resume=True,
        callback=stop,
        callback_every=1,
        progress=False,
        verbose=False,
        **TINY,
    )
    assert stopped.stop_reason == "stopped" and stopped.step == 6 and ff.latest_step(folder) == 6


def test_save_and_load_give_identical_outputs(tmp_path, trained):
    path = ff.save_network(trained.model, tmp_path / "net.keras")
    with pytest.raises(NSTError, match="already exists"):
        ff.save_network(trained.model, path)
    loaded = ff.load_network(path)
    # a normal .keras file: Keras reads it in safe mode without custom_objects
    plain = keras.saving.load_model(path, compile=False, safe_mode=True)
    x = np.random.default_rng(1).uniform(0, 255, (1, 37, 45, 3)).astype(np.float32)
    want = trained.model(x).numpy()
    np.testing.assert_array_equal(loaded(x).numpy(), want)
    np.testing.assert_array_equal(plain(x).numpy(), want)
    info = ff.network_info(loaded)
    assert info["backbone"] == trained.backbone and info["steps"] == 4
    assert "Starry Night" in info["style"] and info["held_out"] == list(ff.HELD_OUT)
    with zipfile.ZipFile(path) as z:
        assert "config.json" in z.namelist() and "Lambda" not in z.read("config.json").decode()
    photo = ff.stylize_fast(loaded, ff.photo("chelsea"), max_side=64)
    assert photo.shape == (43, 64, 3) and photo.dtype == np.uint8
    assert ff.milliseconds_per_image(loaded, photo, 64, repeats=2) > 0
    times = ff.forward_milliseconds(loaded, photo, 64, repeats=3)
    assert len(times) == 3 and min(times) > 0


def test_load_network_refuses_bad_files(tmp_path):
    with pytest.raises(NSTError, match="no such network file"):
        ff.load_network(tmp_path / "missing.keras")
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip")
    with pytest.raises(NSTError, match="not a .keras network file"):
        ff.load_network(bad)
    other = tmp_path / "other.keras"
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).save(other)
    with pytest.raises(NSTError, match="not a style network"):
        ff.load_network(other)


def test_config_rejects_bad_values():
    for bad in (
        dict(steps=-1),
        dict(size=8),
        dict(filters=(4, 8)),
        dict(precision="float16"),
        dict(max_minutes=0),
        dict(learning_rate=0),
        dict(colour=1),
    ):
        with pytest.raises(NSTError):
            ff.TrainConfig().replace(**bad)


def test_training_and_stylize_share_one_loss():
    """The training loss of one photograph through a network that returns it unchanged is
    stylize's loss of that photograph as its own start: one loss, one conversion to VGG space."""
    from nst_helpers.optimize import Problem

    cfg = ff.TrainConfig(**TINY)
    photo = ff.PhotoCrops(size=48, batch_size=1, seed=3).batch(0)
    style = ff.painting("starry_night", cfg.style_size)
    loss = ff.perceptual_loss(style, cfg, verbose=False)
    x = vgg_input(photo)
    trained = [float(v) for v in loss(x, loss.content_targets(x))]
    problem = Problem(
        photo[0].astype(np.uint8),
        style,
        StyleConfig().replace(
            **{
                k: getattr(cfg, k)
                for k in (
                    "content_layers",
                    "style_layers",
                    "content_weight",
                    "style_weight",
                    "tv_weight",
                    "normalization",
                    "backbone",
                )
            },
            precision=loss.precision,
            max_side=None,
        ),
        verbose=False,
    )
    optimised = [float(v) for v in problem.losses(x)]
    np.testing.assert_allclose(trained, optimised, rtol=1e-5, atol=1e-6)
    assert trained[2] > 0 and trained[1] == 0.0  # the photo is its own content target


def test_a_diverging_training_stops_with_stylize_s_message():
    """One divergence rule and one message for both: a learning rate far too large."""
    from nst_helpers.optimize import stylize

    result = ff.train(
        "starry_night", steps=40, **{**TINY, "learning_rate": 1e6}, progress=False, verbose=False
    )
    assert result.stop_reason == "diverged" and result.step < 40
    assert f"at step {result.step}; learning_rate=1e+06 is too large" in result.message
    optimised = stylize(
        ff.photo("chelsea"),
        ff.painting("starry_night", 128),
        "seed",
        steps=60,
        learning_rate=1e6,
        style_weight=1.0,
        callback_every=5,
        max_side=64,
        progress=False,
        verbose=False,
    )
    assert optimised.stop_reason == "diverged"
    pattern = r"^The loss (became NaN|became infinite|grew to 20 times its start) at step \d+; "
    same = re.sub(pattern, "", result.message), re.sub(pattern, "", optimised.message)
    assert same[0] == same[1] == "learning_rate=1e+06 is too large: try 250000.", same


def test_time_limit_stops_training():
    result = ff.train(
        "starry_night", steps=1000, max_minutes=1e-4, progress=False, verbose=False, **TINY
    )
    assert result.stop_reason == "time limit" and result.step == 1


# --- the commands -------------------------------------------------------------------------------


def test_train_style_and_stylize_fast_commands(tmp_path, capsys):
    model, out = tmp_path / "model.keras", tmp_path / "out.png"
    code = main(["train-style", "starry_night", "-o", str(model), "--steps", "3"] + TINY_CLI)
    stdout, err = capsys.readouterr()
    assert code == 0 and model.is_file() and str(model.resolve()) in stdout, err
    assert (tmp_path / "model.checkpoints").is_dir()
    assert main(["train-style", "starry_night", "-o", str(model), "--steps", "3"] + TINY_CLI) == 2
    assert "already exists" in capsys.readouterr().err
    code = main(["stylize-fast", str(model), "chelsea", "-o", str(out), "--size", "64"])
    stdout, err = capsys.readouterr()
    assert code == 0 and out.is_file() and "ms" in stdout, err
    from PIL import Image

    img = Image.open(out)
    assert img.size == (64, 43) and "vgg19" in img.text["backbone"]
    assert json.loads(img.text["network"])["steps"] == 3
    before = out.read_bytes()
    assert main(["stylize-fast", str(model), "chelsea", "-o", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err and out.read_bytes() == before
    assert (
        main(["stylize-fast", str(model), "chelsea", "-o", str(out), "--force", "--size", "48"])
        == 0
    )
    assert Image.open(out).size == (48, 32)
    # more steps from the checkpoint, replacing the network only with --force
    code = main(
        ["train-style", "starry_night", "-o", str(model), "--steps", "5", "--resume", "--force"]
        + TINY_CLI
    )
    assert code == 0 and ff.network_info(ff.load_network(model))["steps"] == 5


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train-style", "picasso", "-o", "M"], "not a sample name"),
        (["train-style", "starry_night", "-o", "model.h5"], ".keras"),
        (["train-style", "starry_night", "-o", "M", "--steps", "0"], "a whole number >= 1"),
        (["train-style", "starry_night", "-o", "M", "--filters", "4,8"], "three"),
        (["train-style", "starry_night", "-o", "M", "--resume"], "no checkpoint to resume"),
        (
            ["train-style", "starry_night", "-o", "M", "--resume", "--force"],
            "no checkpoint to resume",
        ),
        (["stylize-fast", "missing.keras", "chelsea", "-o", "o.png"], "no such network file"),
        (["stylize-fast", "NOTNET", "chelsea", "-o", "o.png"], "not a .keras network file"),
        (["stylize-fast", "NOTNET", "chelsea", "-o", "o.gif"], "must end in .png or .jpg"),
    ],
)
def test_commands_refuse_bad_input_in_one_line(tmp_path, capsys, argv, message):
    (tmp_path / "notnet.keras").write_bytes(b"nothing")
    subst = {
        "M": str(tmp_path / "m.keras"),
        "model.h5": str(tmp_path / "model.h5"),
        "NOTNET": str(tmp_path / "notnet.keras"),
        "o.png": str(tmp_path / "o.png"),
        "o.gif": str(tmp_path / "o.gif"),
        "missing.keras": str(tmp_path / "missing.keras"),
    }
    argv = [subst.get(a, a) for a in argv]
    if argv[0] == "train-style":  # the tiny settings first: the case's own options come after
        argv = argv[:2] + TINY_CLI + argv[2:]
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse refuses a bad option itself
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


def test_train_style_interrupted_keeps_checkpoint_and_network(tmp_path, capsys, monkeypatch):
    model = tmp_path / "model.keras"
    real = ff.PhotoCrops.batch

    def interrupted_at_step_3(self, step):
        if step == 3:
            raise KeyboardInterrupt
        return real(self, step)

    monkeypatch.setattr(ff.PhotoCrops, "batch", interrupted_at_step_3)
    code = main(
        [
            "train-style",
            "starry_night",
            "-o",
            str(model),
            "--steps",
            "9",
            "--checkpoint-every",
            "100",
        ]
        + TINY_CLI
    )
    err = capsys.readouterr().err
    assert code == 130 and "--resume" in err and model.is_file()
    assert ff.latest_step(tmp_path / "model.checkpoints") == 3
    assert ff.network_info(ff.load_network(model))["steps"] == 3


def test_held_out_loss_judges_every_network_on_one_scale(trained):
    """The float32 perceptual loss of a network's pictures of photographs it never saw: one row
    per photograph and their mean; the same network and judge give the same figures; a network
    that returns the photograph unchanged has no content loss, only style."""
    judge = ff.TrainConfig(style_size=64)
    photos = ["chelsea", np.full((40, 48, 3), 120, np.uint8)]
    a = ff.held_out_loss(trained.model, photos=photos, max_side=48, config=judge)
    assert list(a) == ["chelsea", "photo 2", "mean"]
    for row in a.values():
        assert set(row) == {"total", "content", "style", "tv"}
        assert row["total"] == pytest.approx(row["content"] + row["style"] + row["tv"], rel=1e-5)
    assert a["mean"]["total"] == pytest.approx((a["chelsea"]["total"] + a["photo 2"]["total"]) / 2)
    assert ff.held_out_loss(trained.model, photos=photos, max_side=48, config=judge) == a
    # the identity "network": the photograph itself, so no content loss and all of it style
    identity = keras.Sequential([keras.layers.Input((None, None, 3)), keras.layers.Identity()])
    same = ff.held_out_loss(identity, photos=["chelsea"], max_side=48, config=judge)
    assert same["chelsea"]["content"] == pytest.approx(0.0, abs=1e-6)
    assert same["chelsea"]["style"] > 0
    with pytest.raises(NSTError, match="at least one photograph"):
        ff.held_out_loss(identity, photos=[])
