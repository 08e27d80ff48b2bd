"""The hyperparameter explorer: an ipywidgets lab for style-transfer settings.

:class:`Explorer` puts every setting of a run on a control: the content and style images (a bundled
sample or an upload), the content, style and total-variation weights on logarithmic sliders, the
optimiser and its learning rate, the number of steps, the image size, the starting image, the style
layers with their weights, the content layer and the random seed. *Run* starts a run in the
background, so the notebook stays responsive and *Stop* ends it early, keeping the best image so far;
the preview image, the loss curve and a progress bar update every few steps. Each finished run joins
a gallery that shows runs side by side with their settings, final losses and time. *Sweep* runs a
small grid of settings (by default the study of the course's original paper: style weight 1e-1,
1e-2 and 1e-3 with learning rate 2 and 4), and any run can be saved as a PNG plus a JSON file of its
settings, then loaded back into the controls.

It uses only widgets that exist in both ipywidgets 7.7 (Google Colab) and 8 (JupyterLab 4), and
draws the loss curve as a small inline SVG in an HTML widget, so it needs no ipympl.

Everything the buttons do is also a method, so scripts and tests can drive it without a browser::

    ex = Explorer(quick=True)             # tiny images and few steps
    ex.controls["style_weight"].value = 1e-3
    entry = ex.run(block=True)            # or ex.run_button.click() and ex.wait()
    ex.gallery[-1].result.image.shape
    ex.save()                             # outputs/explorer/nst_001.png and .json

The package has five parts, each usable alone:

- :mod:`~nst_helpers.explorer.lab`: images, gallery, runs, sweeps and stopping, without widgets
  (:class:`Lab`), built on :mod:`~nst_helpers.explorer.sources` (the content and style images:
  samples, uploads, files) and :mod:`~nst_helpers.explorer.messages` (one-line messages, errors
  kept);
- :mod:`~nst_helpers.explorer.records`: uploads in both ipywidgets shapes, gallery entries, saving
  and loading;
- :mod:`~nst_helpers.explorer.controls`: the controls, made from the settings table of
  :mod:`nst_helpers.config`;
- :mod:`~nst_helpers.explorer.view`: tabs, preview, loss curve and gallery cards
  (with :mod:`~nst_helpers.explorer.drawing` for the pictures);
- :mod:`~nst_helpers.explorer.front`: :class:`Explorer`, the three together.

Importing this package starts neither TensorFlow nor ipywidgets; creating an :class:`Explorer`
does.
"""

from __future__ import annotations

from .drawing import loss_curve_svg, thumbnail_png
from .front import Explorer
from .lab import MAX_KEEP, SEED_STUDY, Job, Lab
from .listener import Listener
from .records import (
    Entry,
    Upload,
    differences,
    next_free_name,
    normalize_upload,
    parse_grid,
    read_record,
    write_entry,
)

__all__ = [
    "Entry",
    "Explorer",
    "Job",
    "Lab",
    "Listener",
    "MAX_KEEP",
    "SEED_STUDY",
    "Upload",
    "differences",
    "loss_curve_svg",
    "next_free_name",
    "normalize_upload",
    "parse_grid",
    "read_record",
    "thumbnail_png",
    "write_entry",
]
