"""The seed's optimisation loop, re-created for comparison.

This reproduces the 2021 course paper's code (section 3, "Разработка ПО") line for line, with its
weaknesses kept ON PURPOSE, because the benchmarks measure what they cost:

- an eager ``tf.GradientTape`` loop: every step runs op by op from Python;
- the deprecated ``tf.compat.v1.train.AdamOptimizer(learning_rate=2, beta1=0.99, epsilon=1e-1)``;
- clipping with a separate assign after each step;
- ``deprocess_img`` (copy, add the means, BGR to RGB, ``uint8``) of the image EVERY step, kept in the
  Python list ``imgs``, so memory grows with every step;
- the best image is converted after the update, so it lags the best loss by one step.

Only two things differ from the paper, so that only the loop differs from the library's run: the
network is a library feature extractor (same backbone, same layers, same weights as the library's
run, with Keras' own convolutions, as in the seed's Keras model), and the images are the ones the
library loaded (same size).

Never use this in the course; :func:`nst_helpers.optimize.stylize` is the fast replacement.
"""

import numpy as np

from nst_helpers._tf import tf as _tf
from nst_helpers.images import to_vgg

tf = _tf()


def deprocess_img(processed_img):
    """The seed's ``deprocess_img``, unchanged (note: ``astype('uint8')`` without rounding)."""
    x = processed_img.copy()
    if len(x.shape) == 4:
        x = np.squeeze(x, 0)
    assert len(x.shape) == 3, (
        "Input to deprocess image must be an image of "
        "dimension [1, height, width, channel] or [height, width, channel]"
    )

    if len(x.shape) != 3:
        raise ValueError("Invalid input to deprocessing image")

    # perform the inverse of the preprocessing step
    x[:, :, 0] += 103.939
    x[:, :, 1] += 116.779
    x[:, :, 2] += 123.68
    x = x[:, :, ::-1]

    x = np.clip(x, 0, 255).astype("uint8")
    return x


def get_content_loss(base_content, target):
    return tf.reduce_mean(tf.square(base_content - target))


def gram_matrix(input_tensor):
    channels = int(input_tensor.shape[-1])
    a = tf.reshape(input_tensor, [-1, channels])
    n = tf.shape(a)[0]
    gram = tf.matmul(a, a, transpose_a=True)
    return gram / tf.cast(n, tf.float32)


def get_style_loss(base_style, gram_target):
    height, width, channels = base_style.get_shape().as_list()
    gram_style = gram_matrix(base_style)
    return tf.reduce_mean(tf.square(gram_style - gram_target))


class SeedLoop:
    """The seed's set-up and loop. :meth:`run` may be called several times to continue.

    ``problem`` is a :class:`nst_helpers.optimize.Problem` with the seed's settings (the
    ``"seed"`` preset); only its extractor, images, layer names and weights are used.
    """

    def __init__(self, problem):
        cfg = problem.config
        self.content_layers = list(cfg.content_layers)
        self.style_layers = list(cfg.style_layers)
        self.num_content_layers = len(self.content_layers)
        self.num_style_layers = len(self.style_layers)
        # The seed's Keras model: plain Keras convolutions, not the library's faster ones.
        extractor = problem.backbone.extractor(
            self.style_layers + self.content_layers, pooling=cfg.pooling, fast_conv=False
        )

        def model(x):  # the seed's Model(vgg.input, style_outputs + content_outputs)
            feats = extractor(x)
            return [feats[name] for name in self.style_layers + self.content_layers]

        self.model = model
        x_img = to_vgg(problem.content).numpy()
        x_style = to_vgg(problem.styles[0]).numpy()

        # get_feature_representations(model)
        style_outputs = model(x_style)
        content_outputs = model(x_img)
        style_features = [style_layer[0] for style_layer in style_outputs[: self.num_style_layers]]
        content_features = [
            content_layer[0] for content_layer in content_outputs[self.num_style_layers :]
        ]
        gram_style_features = [gram_matrix(style_feature) for style_feature in style_features]

        init_image = np.copy(x_img)
        init_image = tf.Variable(init_image, dtype=tf.float32)
        self.opt = tf.compat.v1.train.AdamOptimizer(learning_rate=2, beta1=0.99, epsilon=1e-1)
        self.iter_count = 1
        self.best_loss, self.best_img = float("inf"), None
        loss_weights = (cfg.style_weight, cfg.content_weight)
        self.cfg = {
            "model": model,
            "loss_weights": loss_weights,
            "init_image": init_image,
            "gram_style_features": gram_style_features,
            "content_features": content_features,
        }
        norm_means = np.array([103.939, 116.779, 123.68])
        self.min_vals = -norm_means
        self.max_vals = 255 - norm_means
        self.imgs = []

    def compute_loss(self, model, loss_weights, init_image, gram_style_features, content_features):
        style_weight, content_weight = loss_weights

        model_outputs = model(init_image)

        style_output_features = model_outputs[: self.num_style_layers]
        content_output_features = model_outputs[self.num_style_layers :]

        style_score = 0
        content_score = 0

        weight_per_style_layer = 1.0 / float(self.num_style_layers)
        for target_style, comb_style in zip(gram_style_features, style_output_features):
            style_score += weight_per_style_layer * get_style_loss(comb_style[0], target_style)

        weight_per_content_layer = 1.0 / float(self.num_content_layers)
        for target_content, comb_content in zip(content_features, content_output_features):
            content_score += weight_per_content_layer * get_content_loss(
                comb_content[0], target_content
            )

        style_score *= style_weight
        content_score *= content_weight

        loss = style_score + content_score
        return loss, style_score, content_score

    @property
    def image(self):
        """The current image variable (VGG space)."""
        return self.cfg["init_image"]

    def run(self, num_iterations, on_step=None, progress=False):
        """The seed's loop for ``num_iterations`` steps.

        ``on_step(loss)`` (not in the seed) is called after each step with the step's loss tensor,
        so a benchmark can time steps and record losses; the loop's body is the seed's.
        """
        from tqdm import tqdm

        cfg, opt = self.cfg, self.opt
        init_image, min_vals, max_vals, imgs = (
            cfg["init_image"],
            self.min_vals,
            self.max_vals,
            self.imgs,
        )
        for i in tqdm(range(num_iterations), disable=not progress):
            with tf.GradientTape() as tape:
                all_loss = self.compute_loss(**cfg)
                loss, style_score, content_score = all_loss
                grads = tape.gradient(loss, init_image)

                opt.apply_gradients([(grads, init_image)])
                clipped = tf.clip_by_value(init_image, min_vals, max_vals)
                init_image.assign(clipped)

            if loss < self.best_loss:
                self.best_loss = loss
                self.best_img = deprocess_img(init_image.numpy())

            plot_img = deprocess_img(init_image.numpy())
            imgs.append(plot_img)
            self.iter_count += 1
            if on_step is not None:
                on_step(loss)
        return self.best_img, self.best_loss
