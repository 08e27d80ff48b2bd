"""nst_helpers: the small library behind the neural style transfer course.

Modules, in the order the course teaches them (lower layers never import higher ones):

- :mod:`nst_helpers.images`    loading, resizing, VGG space, showing and saving images
- :mod:`nst_helpers.samples`   sample photographs and procedural style images, offline
- :mod:`nst_helpers.backbone`  the pretrained VGG and feature extractors
- :mod:`nst_helpers.losses`    content, Gram/style and total-variation losses
- :mod:`nst_helpers.config`    hyperparameters and presets
- :mod:`nst_helpers.optimize`  the optimisation loop (Adam compiled, L-BFGS)
- :mod:`nst_helpers.color`     colour preservation (luminance-only transfer, histogram matching)
- :mod:`nst_helpers.multiscale` coarse-to-fine: optimise small, upsample, refine
- :mod:`nst_helpers.film`      GIF/MP4 films of the optimisation from kept frames
- :mod:`nst_helpers.checks`    self-checking exercises for the notebooks
- :mod:`nst_helpers.explorer`  the ipywidgets hyperparameter lab
- :mod:`nst_helpers.cli`       the ``nst`` command

Import the modules you need; importing this package alone does not start TensorFlow.
"""

__version__ = "0.1.0"
