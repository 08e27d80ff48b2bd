"""The stored seed study: complete where it says so, and drawn from what is stored."""

import numpy as np
import pytest

from nst_helpers import study
from nst_helpers.errors import NSTError


def test_stored_study_is_consistent():
    s = study.load_seed_study()
    assert s["steps"] == 7500 and s["size"] == 256 and len(s["runs"]) == 4
    done = [i for i, r in enumerate(s["runs"]) if r.get("done")]
    assert done, "no run of the study is stored"
    for i in done:
        run, hist = s["runs"][i], s["histories"][f"run{i}"]
        assert len(hist) == 7500 and np.isfinite(hist).all()
        assert run["backbone"].startswith("vgg19") and run["config"]["optimizer"] == "adam"
        assert run["config"]["steps"] == 7500 and run["config"]["content_weight"] == 1e3
        # What the notebook and the figure say: the 1000-step image is still far from done.
        assert hist[999] > hist[-1] and run["best_loss"] == pytest.approx(hist.min(), rel=1e-6)
        for step in (1000, 7500):
            assert study.study_image(i, step).shape == (170, 256, 3)
    # trainable changes no number of the image's gradient.
    assert s["trainable_check"]["gradient_max_abs_difference"] == 0.0
    assert [r["steps"] for r in study.seven_table()] == [
        item["step"] for item in s["seven"] if s["runs"][item["run"]].get("done")
    ]
    with pytest.raises(NSTError, match="steps: 1000, 7500"):
        study.study_image(0, 500)


def test_figure_draws_every_configuration():
    fig = study.seed_study_figure()
    titles = [ax.get_title() for ax in fig.axes]
    assert sum("steps, lr" in t for t in titles) == 7
    assert "vgg19" in fig._suptitle.get_text()


def test_panels_show_each_run_at_1000_and_7500_steps():
    import matplotlib.pyplot as plt

    s = study.load_seed_study()
    done = sum(bool(r.get("done")) for r in s["runs"])
    fig = study.seed_study_panels()
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:2] == ["the photograph", "the painting"]
    assert (
        sum(": 1000 steps" in t for t in titles) == sum(": 7500 steps" in t for t in titles) == done
    )
    # each title's loss is the lowest of that run's history up to that step
    run0 = s["histories"]["run0"]
    assert f"weighted loss {run0[:1000].min():.3g}" in titles[2]
    top = fig.axes[0].get_position().y1
    assert fig._suptitle.get_position()[1] > top  # the title sits above the first row
    plt.close(fig)


def test_unweighted_terms_add_up_to_the_stored_totals():
    """Each run's content and style histories, weights divided out, make its stored total again."""
    s = study.load_seed_study()
    for i, run in enumerate(s["runs"]):
        if not run.get("terms"):
            with pytest.raises(NSTError, match="--again"):
                study.term_histories(i)
            continue
        terms, cfg = study.term_histories(i), run["config"]
        total = cfg["content_weight"] * terms["content"] + cfg["style_weight"] * terms["style"]
        np.testing.assert_allclose(total[1:], s["histories"][f"run{i}"][1:], rtol=1e-3)
        # the run starts from the photograph: no content loss but bfloat16's rounding
        assert terms["content"][0] < 1e-3 * terms["content"].max()
    # notebook 06 shows every run's terms: all four runs carry them
    assert all(r.get("terms") for r in s["runs"]), "run: python tools/seed_study.py --again"
    rows = study.term_table()
    assert len(rows) == 2 * len(s["runs"])
    assert all(r["content"] > 0 and r["style"] > 0 for r in rows)
    # what notebook 06 says of them: more style weight, more content loss and less style loss
    best = {r["style_weight"]: r for r in rows if r["step"] == 7500 and r["learning_rate"] == 2}
    assert best[1e-3]["content"] < best[1e-2]["content"] < best[1e-1]["content"]
    assert best[1e-3]["style"] > best[1e-2]["style"] > best[1e-1]["style"]
    import matplotlib.pyplot as plt

    plt.close(study.term_curves_figure())
