"""nst_helpers: the small library behind the neural style transfer course.

Modules, lowest layer first (lower layers never import higher ones; README.md has the table that
tests/test_layers.py checks):

- :mod:`nst_helpers.images`    loading, resizing, VGG space, showing and saving images
- :mod:`nst_helpers.weights`   where VGG19's ImageNet weights come from
- :mod:`nst_helpers.samples`   sample photographs and procedural style images, offline
- :mod:`nst_helpers.color`     colour preservation (luminance-only transfer, histogram matching)
- :mod:`nst_helpers.backbone`  the pretrained VGG and feature extractors
- :mod:`nst_helpers.losses`    content, Gram/style and total-variation losses
- :mod:`nst_helpers.config`    the settings table and presets
- :mod:`nst_helpers.optimize`  the optimisation loop (Adam compiled, L-BFGS)
- :mod:`nst_helpers.multiscale` coarse-to-fine: optimise small, upsample, refine
- :mod:`nst_helpers.film`      GIF/MP4 films of the optimisation from kept frames
- :mod:`nst_helpers.sweep`     sweeps of many runs, resumable, on one machine or a cluster
- :mod:`nst_helpers.study`     the seed paper's study, read back from stored results
- :mod:`nst_helpers.feedforward` a network that stylises in one forward pass
- :mod:`nst_helpers.checks`    self-checking exercises for the notebooks
- :mod:`nst_helpers.grading`   grading a class's notebooks
- :mod:`nst_helpers.explorer`  the ipywidgets hyperparameter lab
- :mod:`nst_helpers.cli`       the ``nst`` command

Below them all: :mod:`nst_helpers.errors`, :mod:`nst_helpers.choices` (the words that settings
take) and the quiet TensorFlow import.

Import the modules you need; importing this package alone does not start TensorFlow.
"""

__version__ = "0.1.0"
