"""The controls of Gatys et al. (2017) and friends: each test measures the effect it promises.

Optimiser, total variation, colour preservation, several styles (blend and masks), coarse-to-fine,
initialisation, pooling, backbone and films, from Python and from the ``nst`` command. Images are
64 px and runs a few steps long, on the offline backbone (see conftest.py).
"""

import json

import numpy as np
import pytest
from PIL import Image

from nst_helpers import color, film, losses
from nst_helpers.cli import main
from nst_helpers.config import preset
from nst_helpers.errors import NSTError
from nst_helpers.images import to_vgg
from nst_helpers.multiscale import parse_sizes, stylize_coarse_to_fine
from nst_helpers.optimize import Problem, stylize
from nst_helpers.samples import load_sample

QUICK = dict(max_side=64, progress=False, verbose=False)


def quick_config(**changes):
    return preset("fast", max_side=64, **changes)


@pytest.fixture(scope="module")
def swirls():
    return load_sample("swirls", size=64)


@pytest.fixture(scope="module")
def stripes():
    return load_sample("stripes", size=64)


@pytest.fixture()
def halves(photo):
    """Masks of the left and right halves of the photograph."""
    h, w = photo.shape[:2]
    left = np.zeros((h, w), np.float32)
    left[:, : w // 2] = 1.0
    return left, 1.0 - left


def high_frequency_energy(image):
    """Mean squared difference of neighbouring pixels: large for noise, small for smooth images."""
    x = np.asarray(image, np.float64)
    return float(np.mean(np.diff(x, axis=0) ** 2) + np.mean(np.diff(x, axis=1) ** 2))


# --- optimiser ------------------------------------------------------------------------------------


def test_adam_and_lbfgs_minimise_the_same_loss(photo, swirls):
    adam = stylize(photo, swirls, "fast", optimizer="adam", learning_rate=4.0, steps=4, **QUICK)
    lbfgs = stylize(photo, swirls, "fast", optimizer="lbfgs", steps=4, **QUICK)
    # Same start, same loss function: the first values agree; then each lowers it its own way.
    assert adam.history["total"][0] == pytest.approx(lbfgs.history["total"][0], rel=1e-5)
    assert lbfgs.best_loss < adam.history["total"][0]
    assert adam.best_loss < adam.history["total"][0]


# --- total variation ------------------------------------------------------------------------------


def test_total_variation_removes_high_frequencies(photo, swirls):
    plain = stylize(photo, swirls, "fast", steps=20, init="noise", **QUICK)
    # On VGG19 a run from noise has a loss of about 1e8 at this size: TV needs a large weight.
    smooth = stylize(photo, swirls, "fast", steps=20, init="noise", tv_weight=1e5, **QUICK)
    assert high_frequency_energy(smooth.image) < 0.5 * high_frequency_energy(plain.image)
    assert min(smooth.history["tv"]) > 0 and max(plain.history["tv"]) == 0


# --- colour preservation --------------------------------------------------------------------------


def test_luminance_transfer_keeps_the_content_colours(photo, swirls):
    plain = stylize(photo, swirls, "fast", steps=10, **QUICK)
    kept = stylize(photo, swirls, "fast", steps=10, preserve_color="luminance", **QUICK)
    assert kept.image.shape == photo.shape
    # I and Q (the colour of YIQ) are the photo's up to rounding; without preservation they move.
    assert color.chroma_difference(kept.image, photo) < 0.005
    assert color.chroma_difference(plain.image, photo) > 5 * color.chroma_difference(
        kept.image, photo
    )
    # ... while the luminance was stylised.
    assert np.abs(color.luminance(kept.image) - color.luminance(photo)).mean() > 0.005


def test_luminance_transfer_runs_on_grey_images(photo, swirls):
    p = Problem(photo, swirls, quick_config(preserve_color="luminance"), verbose=False)
    for img in (p.content, p.styles[0]):
        assert np.array_equal(img[..., 0], img[..., 1]) and np.array_equal(img[..., 1], img[..., 2])
    # The style's luminance is shifted and scaled to the content's (Gatys et al. 2017).
    y_style, y_photo = color.luminance(p.styles[0]), color.luminance(photo)
    assert y_style.mean() == pytest.approx(y_photo.mean(), abs=0.01)
    assert y_style.std() == pytest.approx(y_photo.std(), abs=0.01)
    assert np.array_equal(p.color_content, photo)


def test_histogram_matching_gives_the_style_the_content_colours(photo, swirls):
    matched = color.match_histogram(swirls, photo)
    (m0, s0), (m1, s1), (mc, sc) = (color.color_stats(x) for x in (swirls, matched, photo))
    assert np.abs(m1 - mc).max() < 3 and np.abs(s1 - sc).max() < 3
    assert np.abs(m0 - mc).max() > 30  # the blue swirls were far from the cat's colours
    p = Problem(photo, swirls, quick_config(preserve_color="histogram"), verbose=False)
    assert np.array_equal(p.styles[0], matched)
    assert color.chroma_difference(matched, photo) < 0.3 * color.chroma_difference(swirls, photo)


def test_transfer_luminance_resizes_the_content(photo):
    grey = np.full((20, 30, 3), 128, np.uint8)
    out = color.transfer_luminance(grey, photo)
    assert out.shape == grey.shape and out.dtype == np.uint8


# --- several styles: blend ------------------------------------------------------------------------


def test_blend_one_zero_is_the_first_style_alone(photo, swirls, stripes):
    alone = stylize(photo, swirls, "fast", steps=8, **QUICK)
    blended = stylize(photo, [swirls, stripes], "fast", steps=8, style_blend=(1, 0), **QUICK)
    assert np.abs(alone.image.astype(int) - blended.image).max() <= 1
    np.testing.assert_allclose(blended.history["total"], alone.history["total"], rtol=1e-5)
    other = stylize(photo, [swirls, stripes], "fast", steps=8, style_blend=(0, 1), **QUICK)
    assert np.abs(alone.image.astype(int) - other.image).mean() > 2


def test_blend_weights_are_shares_without_masks():
    assert Problem._blend((3, 1), 2) == [0.75, 0.25]
    assert Problem._blend(None, 4) == [0.25] * 4
    assert Problem._blend(None, 2, masked=True) == [1.0, 1.0]
    assert Problem._blend((2, 1), 2, masked=True) == [2.0, 1.0]


@pytest.mark.parametrize(
    "blend, message",
    [
        ((1, -1), "zero or positive"),
        ((0, 0), "not all zero"),
        ((1, float("nan")), "zero or positive"),
        ((1, 1, 1), "style_blend has 3 weights for 2 style images"),
        ((1,), "style_blend has 1 weight for 2 style images"),
        (("a", 1), "must be numbers"),
    ],
)
def test_bad_blend_weights(photo, swirls, stripes, blend, message):
    with pytest.raises(NSTError, match=message.replace("(", r"\(")):
        stylize(photo, [swirls, stripes], "fast", steps=1, style_blend=blend, **QUICK)


# --- several styles: masks ------------------------------------------------------------------------


def _region_distance(problem, feats, region, style_index, layers):
    """Relative distance between the masked Gram matrices of ``feats`` and a style's targets."""
    import tensorflow as tf

    total = 0.0
    for layer in layers:
        fh, fw = feats[layer].shape[1:3]
        m = tf.image.resize(region[..., None], (fh, fw), method="area")[..., 0]
        gram = losses.gram_matrix(feats[layer], mask=m).numpy()
        target = problem.style_grams[style_index][layer].numpy()
        total += np.mean((gram - target) ** 2) / np.mean(target**2)
    return total


def test_masks_place_each_style_in_its_region(photo, swirls, stripes, halves):
    left, right = halves
    r = stylize(photo, [swirls, stripes], "fast", steps=60, style_masks=[left, right], **QUICK)
    p = Problem(photo, [swirls, stripes], r.config, verbose=False)
    layers = ["block1_conv1", "block2_conv1", "block3_conv1"]
    feats = p.extractor(to_vgg(r.image))
    d = {
        (side, s): _region_distance(p, feats, mask, s, layers)
        for side, mask in (("left", left), ("right", right))
        for s in (0, 1)
    }
    assert d["left", 0] < d["left", 1]  # the left half follows the swirls ...
    assert d["right", 1] < d["right", 0]  # ... and the right half the stripes
    # The photograph itself did not: its halves were much farther from "their" styles (on VGG19
    # 60 steps at 64 px bring the left half's distance down to about 0.55 of the photo's).
    before = p.extractor(to_vgg(photo))
    assert _region_distance(p, before, left, 0, layers) > 1.5 * d["left", 0]


def test_one_mask_keeps_the_rest_a_photograph(photo, swirls, halves):
    left, right = halves
    r = stylize(photo, swirls, "fast", steps=40, style_masks=left, **QUICK)
    w = photo.shape[1]
    change = np.abs(r.image.astype(float) - photo).mean(axis=(0, 2))  # per column
    assert change[: w // 2 - 4].mean() > 2 * change[w // 2 + 4 :].mean()


def test_masks_accept_files_and_other_sizes(tmp_path, photo, swirls, halves):
    left, _ = halves
    big = np.kron(left, np.ones((4, 4), np.float32))  # the same mask at 4x the size
    path = tmp_path / "mask.png"
    Image.fromarray((big * 255).astype(np.uint8)).save(path)
    cfg = quick_config()
    p_file = Problem(photo, swirls, cfg, style_masks=[str(path)], verbose=False)
    p_array = Problem(photo, swirls, cfg, style_masks=left, verbose=False)
    for layer in cfg.style_layers:
        np.testing.assert_allclose(
            p_file.masks[0][layer].numpy(), p_array.masks[0][layer].numpy(), atol=0.02
        )


@pytest.mark.parametrize(
    "masks, message",
    [
        (
            lambda h, w: [np.ones((10, 10)), None],
            "style mask 1 is 10x10 px but the content image is 64x43 px",
        ),
        (lambda h, w: [np.ones((h, w))], "style_masks has 1 mask for 2 style images"),
        (lambda h, w: [np.ones((h, w)), -np.ones((h, w))], "style mask 2 has negative values"),
        (lambda h, w: [np.zeros((h, w)), None], "style mask 1 is empty"),
        (lambda h, w: [np.ones((h, w, 5)), None], "style mask 1 has shape"),
        (lambda h, w: [np.full((h, w), np.nan), None], "NaN"),
        (lambda h, w: ["missing-mask.png", None], "style mask 1 'missing-mask.png': no such file"),
    ],
)
def test_bad_masks(photo, swirls, stripes, masks, message):
    h, w = photo.shape[:2]
    with pytest.raises(NSTError, match=message.replace("(", r"\(")):
        stylize(photo, [swirls, stripes], "fast", steps=1, style_masks=masks(h, w), **QUICK)


# --- coarse-to-fine -------------------------------------------------------------------------------


def test_coarse_to_fine_returns_the_requested_size(photo, swirls, vgg19_name):
    r = stylize_coarse_to_fine(
        photo,
        swirls,
        sizes=(48, 96),
        config="fast",
        steps=(4, 2),
        frames_every=2,
        progress=False,
        verbose=False,
    )
    # The photo is 64x43; the result is the requested 96 px long side, with the photo's shape.
    assert r.image.shape == (64, 96, 3) and r.image.dtype == np.uint8
    assert r.steps == 6 and len(r.history["total"]) == 6 == len(r.history["style"])
    assert r.backbone == vgg19_name and r.config.max_side == 96
    assert [s["size"] for s in r.stages] == [[48, 32], [96, 64]]
    assert [step for step, _ in r.frames] == [2, 4, 6]
    assert r.seconds == pytest.approx(sum(s["seconds"] for s in r.stages))
    # The second stage starts from the first one's result, not from the photograph.
    assert r.history["content"][4] > 0


def test_coarse_to_fine_default_steps_and_one_number(photo, swirls):
    r = stylize_coarse_to_fine(
        photo, swirls, sizes=(48, 64), config="fast", steps=3, progress=False, verbose=False
    )
    assert [s["steps"] for s in r.stages] == [3, 3] and r.image.shape == photo.shape
    from nst_helpers.multiscale import _check_steps

    assert _check_steps(None, 3, 150) == [150, 50, 50]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(sizes=(128, 64)), "sizes must grow"),
        (dict(sizes=(16, 64)), "at least 32"),
        (dict(sizes=()), "sizes is empty"),
        (dict(sizes=(64, "big")), "whole numbers"),
        (dict(sizes=(48, 64), steps=(1, 2, 3)), "steps has 3 values for 2 sizes"),
        (dict(sizes=(48, 64), steps=(1, -2)), "whole numbers >= 0"),
        (dict(sizes=(48, 64), max_side=64), "drop max_side"),
    ],
)
def test_coarse_to_fine_bad_values(photo, swirls, kwargs, message):
    with pytest.raises(NSTError, match=message):
        stylize_coarse_to_fine(photo, swirls, **kwargs)


def test_parse_sizes():
    assert parse_sizes("256,512, 1024") == [256, 512, 1024]
    assert parse_sizes(256) == [256]


# --- initialisation, pooling, backbone ------------------------------------------------------------


def test_init_is_deterministic_per_seed(photo, swirls):
    def start(**changes):
        return (
            Problem(photo, swirls, quick_config(**changes), verbose=False).initial_image().numpy()
        )

    for init in ("noise", "style"):
        a, b, c = start(init=init, seed=1), start(init=init, seed=1), start(init=init, seed=2)
        assert np.array_equal(a, b) and not np.array_equal(a, c)
    np.testing.assert_allclose(start(init="content"), to_vgg(photo).numpy())
    # "style" noise has the style image's colour statistics.
    from nst_helpers.images import from_vgg

    mean_start = color.color_stats(from_vgg(start(init="style")))[0]
    assert np.abs(mean_start - color.color_stats(swirls)[0]).max() < 5
    # "recolored" is the photo in the style's colours: the photo's layout, the style's mean.
    recolored = from_vgg(start(init="recolored"))
    assert np.abs(color.color_stats(recolored)[0] - color.color_stats(swirls)[0]).max() < 8
    assert np.array_equal(recolored, color.match_colors(photo, [swirls]))
    assert start(init="recolored", seed=2).tobytes() == start(init="recolored", seed=1).tobytes()


def test_average_pooling_changes_features_and_result(photo, swirls):
    pm = Problem(photo, swirls, quick_config(pooling="max"), verbose=False)
    pa = Problem(photo, swirls, quick_config(pooling="avg"), verbose=False)
    x = to_vgg(photo)
    fm, fa = pm.extractor(x), pa.extractor(x)
    np.testing.assert_array_equal(
        fm["block1_conv1"].numpy(), fa["block1_conv1"].numpy()
    )  # before any pooling
    assert not np.allclose(fm["block3_conv1"].numpy(), fa["block3_conv1"].numpy())
    rm = stylize(photo, swirls, "fast", steps=5, pooling="max", **QUICK)
    ra = stylize(photo, swirls, "fast", steps=5, pooling="avg", **QUICK)
    assert np.abs(rm.image.astype(int) - ra.image).mean() > 1
    assert ra.config.pooling == "avg"


def test_random_backbone_is_recorded(photo, swirls):
    r = stylize(photo, swirls, "fast", steps=3, backbone="random:7", **QUICK)
    assert r.backbone == "vgg19-random:7" and r.report()["backbone"] == "vgg19-random:7"


# --- films ----------------------------------------------------------------------------------------


def test_film_of_the_optimisation(tmp_path, photo, swirls):
    r = stylize(photo, swirls, "fast", steps=6, frames_every=2, **QUICK)
    assert [step for step, _ in r.frames] == [2, 4, 6]
    path = film.save_film(r, tmp_path / "run.gif", fps=5)
    frames = film.read_film(path)
    assert frames.shape == (3,) + photo.shape and frames.dtype == np.uint8
    with pytest.raises(NSTError, match="already exists"):
        film.save_film(r, path)
    film.save_film(r.frames, path, force=True, max_side=32, label=False)
    assert film.read_film(path).shape == (3, 22, 32, 3)


def test_film_of_frames_of_different_sizes(tmp_path, rng):
    frames = [
        (1, rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)),
        (2, rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)),
    ]
    out = film.read_film(film.save_film(frames, tmp_path / "f.gif"))
    assert out.shape == (2, 40, 60, 3)


def test_film_errors(tmp_path, monkeypatch, rng):
    frames = [rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)] * 2
    with pytest.raises(NSTError, match="no frames to film.*frames_every"):
        film.save_film([], tmp_path / "a.gif")
    with pytest.raises(NSTError, match="unknown film type '.avi'; use .gif"):
        film.save_film(frames, tmp_path / "a.avi")
    with pytest.raises(NSTError, match="fps must be a positive number"):
        film.save_film(frames, tmp_path / "a.gif", fps=0)
    monkeypatch.setattr(film, "ffmpeg_available", lambda: False)
    with pytest.raises(NSTError, match="imageio-ffmpeg.*save a .gif instead"):
        film.save_film(frames, tmp_path / "a.mp4")
    assert not any(tmp_path.iterdir())


# --- the nst command ------------------------------------------------------------------------------


def _run_cli(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse rejects bad options before main's body runs
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture()
def files(tmp_path, photo, swirls, stripes, halves):
    paths = {}
    for name, img in (("content", photo), ("a", swirls), ("b", stripes)):
        paths[name] = tmp_path / f"{name}.png"
        Image.fromarray(img).save(paths[name])
    for name, m in zip(("left", "right"), halves):
        paths[name] = tmp_path / f"{name}.png"
        Image.fromarray((m * 255).astype(np.uint8)).save(paths[name])
    return {k: str(v) for k, v in paths.items()}


def test_cli_two_styles_masks_colour_and_film(tmp_path, files, capsys):
    out, gif, report = tmp_path / "out.png", tmp_path / "run.gif", tmp_path / "r.json"
    code, stdout, err = _run_cli(
        [
            "stylize",
            files["content"],
            files["a"],
            "--style",
            files["b"],
            "--mask",
            files["left"],
            "--mask",
            files["right"],
            "--preserve-color",
            "luminance",
            "--pooling",
            "avg",
            "--init",
            "content",
            "--steps",
            "4",
            "--size",
            "64",
            "--save-every",
            "2",
            "--film",
            str(gif),
            "--report",
            str(report),
            "-o",
            str(out),
            "-q",
        ],
        capsys,
    )
    assert code == 0, err
    assert out.exists() and str(gif.resolve()) in stdout
    assert film.read_film(gif).shape[0] == 2
    rep = json.loads(report.read_text())
    assert rep["config"]["preserve_color"] == "luminance" and rep["config"]["pooling"] == "avg"
    img = np.asarray(Image.open(out).convert("RGB"))
    assert color.chroma_difference(img, np.asarray(Image.open(files["content"]))) < 0.005


def test_cli_blend_and_coarse_to_fine(tmp_path, files, capsys):
    out, report = tmp_path / "big.png", tmp_path / "r.json"
    code, stdout, err = _run_cli(
        [
            "stylize",
            files["content"],
            files["a"],
            "--style",
            files["b"],
            "--blend",
            "3",
            "1",
            "--sizes",
            "48,96",
            "--steps",
            "2",
            "--report",
            str(report),
            "-o",
            str(out),
            "-q",
        ],
        capsys,
    )
    assert code == 0, err
    assert Image.open(out).size == (96, 64) and "96x64" in stdout
    rep = json.loads(report.read_text())
    assert rep["steps"] == 4 and [s["size"] for s in rep["stages"]] == [[48, 32], [96, 64]]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--style", "B", "--blend", "1", "2", "3"], "--blend has 3 weights for 2 style images"),
        (["--blend", "1", "1"], "--blend has 2 weights for 1 style image"),
        (["--blend", "-1"], "must be a finite number >= 0"),
        (["--style", "B", "--blend", "0", "0"], "all zero"),
        (["--style", "B", "--mask", "LEFT"], "--mask was given 1 time for 2 style images"),
        (["--mask", "nowhere.png"], "--mask nowhere.png: no such file"),
        (["--mask", "SQUARE"], "style mask 1 is 40x40 px but the content image is 64x43 px"),
        (["--film", "F.gif"], "--film needs --save-every"),
        (["--film", "F.avi", "--save-every", "2"], "unknown film type"),
        (["--film", "EXISTING", "--save-every", "2"], "already exists"),
        (["--sizes", "96,48"], "sizes must grow"),
        (["--sizes", "48,96", "--size", "64"], "drop --size"),
        (["--preserve-color", "sepia"], "invalid choice"),
        (["--pooling", "min"], "invalid choice"),
    ],
)
def test_cli_bad_values_are_one_line_and_exit_2(tmp_path, files, capsys, args, message):
    square, existing = tmp_path / "square.png", tmp_path / "old.gif"
    Image.fromarray(np.full((40, 40), 255, np.uint8)).save(square)
    existing.write_bytes(b"GIF89a")
    subst = {
        "B": files["b"],
        "LEFT": files["left"],
        "SQUARE": str(square),
        "F.gif": str(tmp_path / "f.gif"),
        "F.avi": str(tmp_path / "f.avi"),
        "EXISTING": str(existing),
    }
    argv = [
        "stylize",
        files["content"],
        files["a"],
        "-o",
        str(tmp_path / "o.png"),
        "--size",
        "64",
        "--steps",
        "1",
        "-q",
    ] + [subst.get(a, a) for a in args]
    code, _, err = _run_cli(argv, capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and message in lines[0], err
    assert not (tmp_path / "o.png").exists() and existing.read_bytes() == b"GIF89a"
