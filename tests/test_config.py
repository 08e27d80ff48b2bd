"""The settings table of nst_helpers.config: its rows, the checks built from it, its vocabularies."""

import dataclasses
import math
import subprocess
import sys
import typing

import pytest

from nst_helpers import choices, config
from nst_helpers.config import SETTINGS, StyleConfig, preset, setting
from nst_helpers.errors import NSTError


def test_every_field_is_a_row_with_help_and_a_label():
    names = [f.name for f in dataclasses.fields(StyleConfig)]
    assert list(SETTINGS) == names
    for row in SETTINGS.values():
        assert row.help.endswith(".") and len(row.help) > 20, row.name
        assert row.label and 0 < len(row.short) <= len(row.name)
        assert row.default == getattr(StyleConfig(), row.name)
        assert row.choices is None or row.check is None, f"{row.name}: choices or a check, not both"


def test_rows_with_choices_have_a_literal_type_of_the_same_words():
    with_choices = {row.name: row for row in SETTINGS.values() if row.choices}
    assert set(with_choices) == {
        "normalization",
        "optimizer",
        "init",
        "pooling",
        "preserve_color",
        "precision",
    }
    for row in with_choices.values():
        tp = row.type
        if typing.get_origin(tp) is typing.Union:  # Optional[Literal[...]]
            (tp,) = [a for a in typing.get_args(tp) if a is not type(None)]
            words = (None, *typing.get_args(tp))
        else:
            words = typing.get_args(tp)
        assert typing.get_origin(tp) is typing.Literal and words == row.choices, row.name


def test_lower_modules_export_the_same_vocabularies():
    from nst_helpers import backbone, color, losses

    assert losses.NORMALIZATIONS is choices.NORMALIZATIONS is setting("normalization").choices
    assert backbone.POOLINGS is choices.POOLINGS is setting("pooling").choices
    assert backbone.PRECISIONS is choices.PRECISIONS is setting("precision").choices
    assert color.PRESERVE_COLORS == setting("preserve_color").choices[1:]
    assert setting("optimizer").choices is choices.OPTIMIZERS
    assert setting("init").choices is choices.INITS
    with pytest.raises(NSTError, match="pooling must be 'max' or 'avg', not 'min'"):
        backbone.build_vgg(pooling="min")


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("content_weight", -1, "content_weight must be zero or positive, not -1.0."),
        ("tv_weight", math.nan, "tv_weight must be zero or positive, not nan."),
        ("learning_rate", 0, "learning_rate must be positive, not 0.0."),
        ("beta_1", 1, "beta_1 must be in [0, 1), not 1.0."),
        ("epsilon", 0, "epsilon must be positive, not 0.0."),
        ("steps", 2.5, "steps must be a whole number >= 0, not 2.5."),
        ("seed", True, "seed must be a whole number >= 0, not True."),
        ("max_side", 8, "max_side must be 'auto', None or a whole number >= 32, not 8."),
        ("max_side", 64.0, "max_side must be 'auto', None or a whole number >= 32, not 64.0."),
        ("optimizer", "sgd", "optimizer must be one of adam, lbfgs, not 'sgd'."),
        (
            "preserve_color",
            "all",
            "preserve_color must be one of None, luminance, histogram, not 'all'.",
        ),
        ("precision", "fp16", "precision must be one of float32, bfloat16, auto, not 'fp16'."),
        ("style_weight", "lots", "style_weight must be a number, not 'lots'."),
    ],
)
def test_each_check_of_the_table_says_what_is_wrong(name, value, message):
    with pytest.raises(NSTError) as err:
        StyleConfig().replace(**{name: value})
    assert str(err.value) == message


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(style_layers=(), content_layers=()), "give at least one content or style layer."),
        (dict(style_layer_weights=(1, 2)), "one weight per layer"),
        (dict(style_layer_weights=(1, 1, 1, 1, -1)), "style_layer_weights must not be negative."),
        (dict(colour=1), "unknown setting colour; valid: backbone, beta_1"),
        (dict(colour=1, size=2), "unknown settings colour, size; valid:"),
    ],
)
def test_rules_across_settings_and_unknown_names(changes, message):
    with pytest.raises(NSTError, match=message.replace("(", r"\(")):
        StyleConfig().replace(**changes)


def test_a_value_that_cannot_be_compared_is_refused_not_raised_as_type_error():
    with pytest.raises(NSTError, match="content_weight must be zero or positive, not 'x'"):
        StyleConfig(content_weight="x").validate()


def test_replace_converts_to_each_settings_type():
    cfg = StyleConfig().replace(
        steps=5.0,
        seed=3.0,
        learning_rate="4",
        style_layers="block1_conv1",
        content_layers=["block4_conv2"],
        style_layer_weights=[1],
    )
    assert cfg.steps == 5 and type(cfg.steps) is int and type(cfg.seed) is int
    assert cfg.learning_rate == 4.0 and type(cfg.learning_rate) is float
    assert cfg.style_layers == ("block1_conv1",) and cfg.content_layers == ("block4_conv2",)
    assert cfg.style_layer_weights == (1,)
    assert StyleConfig().replace(max_side=None).max_side is None


def test_presets_are_unchanged():
    assert preset("seed") == StyleConfig()
    fast = preset("fast")
    assert (fast.optimizer, fast.steps, fast.max_side, fast.style_weight) == (
        "lbfgs",
        150,
        256,
        0.01,
    )
    gatys = preset("gatys")
    assert (
        gatys.content_layers,
        gatys.normalization,
        gatys.content_weight,
        gatys.style_weight,
        gatys.steps,
    ) == (("block4_conv2",), "paper", 1.0, 1000.0, 300)
    with pytest.raises(NSTError, match="unknown preset 'picasso'; choose one of seed, gatys, fast"):
        preset("picasso")


def test_setting_and_tabs():
    row = setting("optimizer")
    assert row.tab == "Optimiser" and row.title("lbfgs") == "L-BFGS" and row.title("adam") == "Adam"
    assert setting("preserve_color").title(None) == "off"
    assert setting("learning_rate").option == "--lr" and setting("max_side").option == "--size"
    assert setting("content_weight").log and setting("content_weight").span == (1e-3, 1e6)
    assert [s.name for s in config.tab_settings("Weights")] == [
        "content_weight",
        "style_weight",
        "tv_weight",
        "preserve_color",
    ]
    assert {s.tab for s in SETTINGS.values()} == {None, "Weights", "Optimiser", "Layers"}
    with pytest.raises(NSTError, match="unknown setting colour"):
        setting("colour")


def test_importing_config_does_not_start_tensorflow():
    code = "import sys, nst_helpers.config; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_every_preset_has_its_words_and_only_those():
    from nst_helpers.config import PRESET_WORDS, PRESETS

    assert set(PRESET_WORDS) == set(PRESETS)
    assert all(words and not words.endswith(".") for words in PRESET_WORDS.values())
