"""The benchmarks' pieces, on tiny images: they must produce numbers and a well-formed report.

Nothing here checks a speed; the benchmarks print their figures and docs/performance.md holds them.
"""

import json
import math
import pathlib
import re
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import common, pieces, report, run_all  # noqa: E402

TINY = run_all.TINY
SIZE = TINY["size"]


def _finite(x):
    return isinstance(x, (int, float)) and math.isfinite(x)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Every benchmark once, at 64 px and a few steps, assembled as run_all assembles them."""
    out_dir = tmp_path_factory.mktemp("bench")
    res = {
        "params": {k: list(v) if isinstance(v, tuple) else v for k, v in TINY.items()},
        "command": "python -m benchmarks.run_all --quick",
        "started": "now",
    }
    res["machine"] = common.machine_info()
    res["seed_run"] = pieces.seed_run(SIZE, steps=TINY["long_steps"], memory_at=TINY["memory_at"])
    res["library_run"] = pieces.library_run(
        SIZE, steps=TINY["long_steps"], memory_at=TINY["memory_at"]
    )
    q = TINY["quality_step"]
    target = res["seed_run"]["loss"][q]
    res["target"] = {"quality_step": q, "loss": target}
    for key in ("seed_run", "library_run"):
        res[key]["time_to_target"] = pieces.time_to_target(res[key], target)
    res["step_time"] = pieces.step_time(
        SIZE,
        chunks=TINY["step_chunks"],
        chunk_steps=TINY["chunk_steps"],
        layer_seconds=TINY["layer_seconds"],
        ablation_rounds=TINY["ablation_rounds"],
    )
    res["lbfgs_run"] = pieces.lbfgs_run(SIZE, steps=TINY["lbfgs_steps"], target=target)
    res["coarse_to_fine_run"] = pieces.coarse_to_fine_run(
        SIZE, steps=TINY["c2f_steps"], target=target
    )
    res["precision"] = pieces.precision(
        SIZE,
        steps=TINY["precision_steps"],
        lbfgs_steps=TINY["precision_lbfgs_steps"],
        image_dir=str(out_dir),
    )
    res["bf16_roofline"] = pieces.bf16_roofline(
        SIZE, chunks=TINY["bf16_chunks"], chunk_steps=2, layer_seconds=TINY["layer_seconds"]
    )
    res["lbfgs_per_evaluation"] = pieces.lbfgs_per_evaluation(
        SIZE, steps=TINY["lbfgs_eval_steps"], adam_steps=3
    )
    res["total_seconds"] = 1.0
    return res, out_dir


def test_seed_loop_is_the_seeds_algorithm(results):
    """Same start and settings: the seed's eager loop and the library give the same losses."""
    res, _ = results
    st = res["step_time"]
    assert st["compared_steps"] >= TINY["step_chunks"] * TINY["chunk_steps"] - 1
    assert st["max_relative_loss_difference"] < 1e-4
    seed, lib = res["seed_run"]["loss"], res["library_run"]["loss"]
    np.testing.assert_allclose(seed, lib, rtol=1e-4)


def test_seed_loop_keeps_a_frame_every_step(results):
    res, _ = results
    seed = res["seed_run"]
    assert len(seed["loss"]) == len(seed["seconds"]) == TINY["long_steps"]
    assert seed["frames_kept"] == TINY["long_steps"]
    assert seed["frame_bytes"] == seed["size"][0] * seed["size"][1] * 3
    assert all(b >= a for a, b in zip(seed["seconds"], seed["seconds"][1:]))


def test_step_time_and_roofline_give_numbers(results):
    st = results[0]["step_time"]
    for key in (
        "seed_ms",
        "library_ms",
        "ratio",
        "gflop_per_step",
        "matmul_gflops_fp32",
        "library_gflops",
        "fraction_of_matmul",
        "seed_gflops",
        "conv_alone_ms",
        "conv_alone_gflops",
        "gram_alone_ms",
        "gram_alone_gflops",
    ):
        assert _finite(st[key]) and st[key] > 0, key
    assert len(st["seed_ms_chunks"]) == TINY["step_chunks"]
    assert st["gflop_per_step"] == pytest.approx(st["gflop_forward"] + st["gflop_backward"])
    # The library's convolutions against Keras' plain ones: same loss and gradient, both timed.
    ab = st["ablation"]
    assert ab["library_fast_conv"] and _finite(ab["speedup"]) and ab["plain_ms"] > 0
    assert ab["loss_relative_difference"] < 1e-5 and ab["gradient_relative_difference"] < 1e-4
    assert len(ab["library_ms_rounds"]) == TINY["ablation_rounds"]
    fast_layers = [l for l in st["layers"] if l["fast_conv"]]
    assert fast_layers and all(l["forward_plain_ms"] > 0 for l in fast_layers)
    # as the library runs them: few input channels stay on Keras' plain kernel
    from nst_helpers.backbone import FAST_CONV_MIN_CHANNELS

    assert [l["fast_conv"] for l in st["layers"]] == [
        l["in"] >= FAST_CONV_MIN_CHANNELS for l in st["layers"]
    ]
    grams = st["grams"]  # one per style layer of the seed's preset
    assert [g["layer"] for g in grams] == list(common.seed_config(SIZE).style_layers)
    assert all(g["forward_ms"] > 0 and g["backward_ms"] > 0 for g in grams)


def test_flop_count_from_layer_shapes():
    problem = common.make_problem(SIZE)
    flops = common.conv_flops(problem)
    h, w = problem.content.shape[:2]
    first = flops["layers"][0]
    assert first["layer"] == "block1_conv1" and first["size"] == [w, h]
    assert first["gflop_forward"] * 1e9 == pytest.approx(2 * h * w * 9 * 3 * 64)
    # cut after the deepest requested layer (block5_conv2): 14 convolutions in VGG19 (2, 2, 4, 4
    # and 2 of block 5), 12 in VGG16 (2, 2, 3, 3, 2)
    assert [l["layer"] for l in flops["layers"]][-1] == "block5_conv2"
    assert len(flops["layers"]) == {"vgg19": 14, "vgg16-hed": 12}[common.BACKBONE]
    convs = sum(l["gflop_forward"] for l in flops["layers"]) * 1e9
    assert flops["forward"] > convs > 0  # the Gram matrices come on top
    # Input gradients cost what the convolutions cost; a Gram gradient is one matmul like its Gram.
    assert flops["backward"] == pytest.approx(flops["forward"])


def test_long_runs_record_memory_and_time(results):
    res, _ = results
    for key in ("seed_run", "library_run"):
        run = res[key]
        for step in TINY["memory_at"]:
            assert run["peak_rss_mb"][str(step)] > 0
        g, mb = report.growth(run, TINY["memory_at"])
        assert _finite(g) and _finite(mb)
    lib = res["library_run"]
    assert lib["marks"][-1][0] == TINY["long_steps"]
    assert _finite(lib["compile_seconds"])


def test_time_to_quality(results):
    res, _ = results
    target = res["target"]["loss"]
    # the seed's loop reaches its own loss after quality_step steps by construction
    assert res["seed_run"]["time_to_target"] > 0
    lbfgs = res["lbfgs_run"]
    assert len(lbfgs["loss"]) <= TINY["lbfgs_steps"]
    if common.first_below(lbfgs["loss"], target) is not None:
        assert lbfgs["time_to_target"] > 0
    c2f = res["coarse_to_fine_run"]
    if c2f.get("available"):
        assert c2f["sizes"][0] < c2f["sizes"][1] == SIZE
        assert len(c2f["loss"]) == c2f["steps"][-1]


def test_helpers():
    marks = [(10, 1.0), (20, 3.0)]
    assert common.time_at_step(marks, 5) == pytest.approx(0.5)
    assert common.time_at_step(marks, 15) == pytest.approx(2.0)
    assert math.isnan(common.time_at_step(marks, 30))
    assert common.first_below([5, 4, 3, 2], 3) == 3
    assert common.first_below([5, 4], 1) is None
    same = np.full((8, 8, 3), 100, np.uint8)
    d = pieces.image_difference(same, same)
    assert d["psnr_db"] == float("inf") and d["ssim"] == pytest.approx(1.0)


def test_precision_gives_numbers(results):
    res, out_dir = results
    prec = res["precision"]
    for r in (prec, prec["lbfgs"]):
        for key in (
            "float32_ms",
            "bfloat16_ms",
            "speedup",
            "psnr_db",
            "ssim",
            "mean_abs_diff",
            "float32_image_loss",
            "bfloat16_image_loss_in_float32",
        ):
            assert key in r and (r[key] == float("inf") or _finite(r[key])), key
        assert "psnr_db" in r["float32_vs_perturbed_float32"]
        assert (out_dir / r["comparison_image"]).exists()


def test_bf16_roofline_gives_the_steps_parts(results):
    bf = results[0]["bf16_roofline"]
    for key in ("step_ms", "step_gflops", "best_matmul_gflops_bf16", "best_conv_gflops_bf16"):
        assert _finite(bf[key]) and bf[key] > 0, key
    # the best kernel is the better of the matmul and the fastest convolution, and the share is
    # the step's rate over it
    assert bf["best_kernel_gflops_bf16"] == max(
        bf["best_matmul_gflops_bf16"], bf["best_conv_gflops_bf16"]
    )
    assert bf["fraction_of_best"] == pytest.approx(
        bf["step_gflops"] / bf["best_kernel_gflops_bf16"]
    )
    # every convolution of VGG19 up to the deepest layer the losses read, in bfloat16 where the
    # hardware computes it
    assert [r["layer"] for r in bf["convs"]][:2] == ["block1_conv1", "block1_conv2"]
    assert all(r["dtype"] == "bfloat16" and r["ms"] > 0 for r in bf["convs"])
    assert len(bf["grams"]) == len(bf["casts"]) == 5  # the seed's five style layers
    assert bf["rest_ms"] == pytest.approx(bf["step_ms"] - bf["conv_ms"] - bf["gram_ms"])


def test_lbfgs_per_evaluation_is_measured_quiet_and_under_load(results):
    le = results[0]["lbfgs_per_evaluation"]
    assert [r["load"] for r in le["rows"]] == [0, 1]
    for r in le["rows"]:
        assert r["ratio"] == pytest.approx(r["lbfgs_ms"] / r["adam_ms"]) and r["ratio"] > 0
        assert _finite(r["best_loss"])


def _tables(md):
    """Every markdown table as a list of rows (lists of cells)."""
    tables, current = [], []
    for line in md.splitlines() + [""]:
        if line.startswith("|"):
            current.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif current:
            tables.append(current)
            current = []
    return tables


def test_report_is_well_formed(results, tmp_path):
    res, out_dir = results
    (tmp_path / "performance.json").write_text(json.dumps(res))
    assert run_all.main(["--report-only", "--out", str(tmp_path)]) == 0
    md = (tmp_path / "performance.md").read_text()
    for heading in (
        "# Performance",
        "## Targets",
        "## Machine",
        "## 1. Step time",
        "## 2. Roofline",
        "## 3. Time to quality",
        "## 4. Memory",
        "## 5. Precision",
        "## 6. The notebooks in CI mode",
    ):
        assert re.search(rf"^{re.escape(heading)}$", md, re.M), heading
    assert "python -m benchmarks.run_all" in md
    assert res["machine"]["cpu"] in md and res["machine"]["tensorflow"] in md
    tables = _tables(md)
    assert tables
    for table in tables:
        assert set("".join(table[1])) <= set("-:"), table[:2]
        assert len({len(row) for row in table}) == 1, table
    targets = tables[0]
    assert targets[0] == ["Target", "Goal", "Measured", "Result"]
    assert len(targets) == 2 + len(report.TARGETS)
    assert all(row[3] in ("pass", "**missed**", "—") for row in targets[2:])
    # every image the report shows exists beside it, and the plot stays small
    plot = tmp_path / report.PLOT
    assert plot.exists() and plot.stat().st_size < 200_000
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for name in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):
        assert (tmp_path / name).exists() or (out_dir / name).exists(), name


def test_evaluate_judges_targets():
    fake = {
        "step_time": {
            "ratio": 2.0,
            "seed_ms": 600,
            "library_ms": 300,
            "fraction_of_matmul": 0.7,
            "library_gflops": 100,
            "matmul_gflops_fp32": 143,
        },
        "params": {"memory_at": [50, 500]},
        "seed_run": {
            "time_to_target": 200.0,
            "loss": [3, 2, 1],
            "peak_rss_mb": {"50": 1000, "500": 1100},
        },
        "lbfgs_run": {"time_to_target": 10.0, "loss": [3, 1]},
        "library_run": {"peak_rss_mb": {"50": 1000, "500": 1010}},
        "precision": {
            "speedup": 3.0,
            "float32_ms": 300,
            "bfloat16_ms": 100,
            "psnr_db": 20.0,
            "ssim": 0.8,
            "float32_image_loss": 100.0,
            "bfloat16_image_loss_in_float32": 104.0,
        },
        "bf16_roofline": {
            "fraction_of_best": 0.6,
            "step_ms": 100,
            "step_gflops": 600,
            "best_kernel_gflops_bf16": 1000,
        },
        "lbfgs_per_evaluation": {
            "rows": [
                {"load": 0, "ratio": 1.01, "lbfgs_ms": 101, "adam_ms": 100},
                {"load": 1, "ratio": 1.2, "lbfgs_ms": 240, "adam_ms": 200},
            ]
        },
    }
    ev = report.evaluate(fake)
    assert ev["step_ratio"]["pass"] and not ev["roofline"]["pass"]
    assert ev["lbfgs_ratio"]["value"] == pytest.approx(20.0) and ev["lbfgs_ratio"]["pass"]
    assert ev["memory_growth"]["value"] == pytest.approx(0.01) and ev["memory_growth"]["pass"]
    # the same picture is judged by its float32 loss (4 % higher: yes), not by its pixels
    assert ev["bf16"]["pass"] and "+4.0 %" in ev["bf16"]["measured"]
    assert not ev["bf16_roofline"]["pass"] and ev["bf16_roofline"]["value"] == 0.6
    # the worse of quiet and loaded counts
    assert ev["lbfgs_eval"]["value"] == 1.2 and not ev["lbfgs_eval"]["pass"]
    fake["lbfgs_per_evaluation"]["rows"][1]["ratio"] = 1.1
    assert report.evaluate(fake)["lbfgs_eval"]["pass"]
    fake["precision"]["bfloat16_image_loss_in_float32"] = 106.0
    assert not report.evaluate(fake)["bf16"]["pass"]
    assert "notebooks" not in ev
    lines = report.summary_lines(fake)
    assert len(lines) == len(report.TARGETS) and lines[1].startswith("MISS")


def _timed_notebook(seconds):
    """A notebook whose code cells carry nbclient's timing marks, ``seconds`` each."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# title")]
    for i, s in enumerate(seconds):
        cell = nbformat.v4.new_code_cell(f"\n# cell {i}\nwork({s})")
        cell.metadata["execution"] = {
            "iopub.execute_input": "2026-12-07T10:00:00.000000Z",
            "shell.execute_reply": f"2026-12-07T10:{int(s) // 60:02d}:{s % 60:09.6f}Z",
        }
        nb.cells.append(cell)
    nb.cells.append(nbformat.v4.new_code_cell("never run"))
    return nb


def test_cell_seconds_reads_nbclients_marks():
    cells = pieces.cell_seconds(_timed_notebook([1.5, 75.25, 3]))
    assert [c["index"] for c in cells] == [1, 2, 3]  # markdown and unexecuted cells left out
    assert [c["seconds"] for c in cells] == pytest.approx([1.5, 75.25, 3])
    assert cells[1]["first_line"] == "# cell 1"


def test_full_mode_notebooks_are_judged_by_their_longest_cell():
    def book(name, longest):
        return {
            "notebook": name,
            "seconds": 100.0,
            "error": None,
            "longest_cell": {"index": 4, "seconds": longest, "first_line": "x = 1"},
            "cells_over_10s": [],
        }

    fake = {"notebooks_full": {"available": True, "seconds": 800.0, "notebooks": []}}
    fake["notebooks_full"]["notebooks"] = [book("01_a.ipynb", 20.0), book("05_b.ipynb", 61.0)]
    ev = report.evaluate(fake)
    assert ev["full_notebooks"]["pass"] and not ev["longest_cell"]["pass"]
    assert ev["longest_cell"]["measured"] == "61 s (05_b.ipynb, cell 4)"
    fake["notebooks_full"]["notebooks"][1]["longest_cell"]["seconds"] = 59.0
    fake["notebooks_full"]["seconds"] = 901.0
    ev = report.evaluate(fake)
    assert ev["longest_cell"]["pass"] and not ev["full_notebooks"]["pass"]
    md = report.markdown(fake)
    assert "## 7. Notebooks 01-08 in full mode" in md and "59 s, cell 4: `x = 1`" in md
    # every cell over 10 s must show progress as it runs
    assert "silent_cells" not in ev  # not recorded: not judged
    slow = {"index": 7, "seconds": 30.0, "first_line": "run()", "progress": True}
    fake["notebooks_full"]["notebooks"][1]["cells_over_10s"] = [slow, dict(slow, index=9)]
    assert report.evaluate(fake)["silent_cells"]["pass"]
    fake["notebooks_full"]["notebooks"][1]["cells_over_10s"][1]["progress"] = False
    ev = report.evaluate(fake)
    assert not ev["silent_cells"]["pass"] and ev["silent_cells"]["measured"] == "1 of 2: 05 cell 9"


def test_a_cell_shows_progress_by_a_bar_or_a_display_it_updates():
    import nbformat

    def cell(source, *outputs):
        c = nbformat.v4.new_code_cell(source)
        c.outputs = [nbformat.from_dict(o) for o in outputs]
        return c

    bar = {"output_type": "stream", "name": "stderr", "text": " 40%|####  | 4/10 [00:02<00:03]"}
    widget = {
        "output_type": "display_data",
        "data": {"application/vnd.jupyter.widget-view+json": {"model_id": "x"}},
        "metadata": {},
    }
    words = {"output_type": "stream", "name": "stdout", "text": "done: 4/10 | ok"}
    assert pieces.shows_progress(cell("stylize(a, b)", bar))
    assert pieces.shows_progress(cell("stylize(a, b)", widget))
    assert pieces.shows_progress(cell("h = display(x, display_id=True)"))
    assert not pieces.shows_progress(cell("time.sleep(20)", words))


DOCS = ROOT / "docs"


def _blocks(md):
    """The page's paragraphs and lists, code blocks left out: ``(text, is_list)`` each."""
    md = re.sub(r"^```.*?^```", "", md, flags=re.M | re.S)
    blocks = [b.strip() for b in re.split(r"\n\s*\n", md) if b.strip()]
    return [(b, b.startswith("- ")) for b in blocks]


def test_stored_report_is_what_the_stored_json_gives(tmp_path):
    """docs/performance.md is generated from docs/performance.json and nothing else: --report-only
    rewrites it byte for byte, without running a benchmark."""
    for name in (
        "performance.json",
        report.PLOT,
        "performance_precision_adam.jpg",
        "performance_precision_lbfgs.jpg",
    ):
        (tmp_path / name).write_bytes((DOCS / name).read_bytes())
    assert run_all.main(["--report-only", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "performance.md").read_text() == (DOCS / "performance.md").read_text(), (
        "regenerate it: python -m benchmarks.run_all --report-only"
    )


def test_report_holds_tables_and_leaves_the_narrative_to_the_history_page():
    md = (DOCS / "performance.md").read_text()
    prose = [b for b, is_list in _blocks(md) if not (b.startswith(("#", "|", "![")) or is_list)]
    assert prose and all(len(b) <= 420 for b in prose), max(prose, key=len)
    assert "## Notes" not in md
    assert f"]({report.HISTORY})" in md and (DOCS / report.HISTORY).is_file()


#: A measured quantity: a number with its unit.
MEASURED = re.compile(r"\b\d[\d.,]*\s?(ms|s|%|GFLOP/s|dB|MB|GB|kB|x|times)\b")
#: How the history page says where a figure was measured.
LABEL = re.compile(r"\((full run|tuning)[^)]*\d{4}-\d\d-\d\d\)|\(same run\)|same run\)")


def test_every_figure_of_the_history_page_says_where_it_was_measured():
    blocks = _blocks((DOCS / report.HISTORY).read_text())
    unlabelled = []
    for i, (text, is_list) in enumerate(blocks):
        if text.startswith("#") or not MEASURED.search(text):
            continue
        # a paragraph carries its own label; a list the label of the paragraph that opens it
        if not LABEL.search(text) and not (is_list and i and LABEL.search(blocks[i - 1][0])):
            unlabelled.append(text[:80])
    assert not unlabelled, unlabelled
