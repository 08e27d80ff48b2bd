"""The procedural styles: paintings drawn with numpy and PIL, identical on every machine.

Four painters, each a function of a size and a seed that returns a ``uint8`` RGB array of shape
``(size, size, 3)``: ``stained_glass``, ``swirls``, ``stripes`` and ``mosaic``. The same seed
always gives the same image. Tests use them as style images; the course shows paintings
(`nst_helpers.samples`, which also loads these by name).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .errors import NSTError

__all__ = ["PAINTERS", "make_mosaic", "make_stained_glass", "make_stripes", "make_swirls"]


def make_stained_glass(size: int = 512, seed: int = 0) -> np.ndarray:
    """Draws a stained-glass window: jewel-coloured cells with dark lead lines.

    Large Voronoi cells, some split into smaller ones, each with its own
    saturated colour, a bright centre and a mottled glass texture.

    Args:
        size: Width and height in pixels.
        seed: Random seed; the same seed always gives the same image.

    Returns:
        A ``uint8`` numpy array of shape ``(size, size, 3)``.
    """
    size = _check_size(size)
    rng = np.random.default_rng([seed, 1])
    palette = np.array(
        [
            (178, 18, 38),  # ruby
            (16, 52, 166),  # sapphire
            (0, 128, 72),  # emerald
            (110, 36, 150),  # amethyst
            (236, 160, 20),  # amber
            (0, 150, 170),  # turquoise
            (250, 210, 60),  # gold
            (220, 80, 20),  # carnelian
            (40, 90, 220),  # cobalt
            (150, 200, 40),  # peridot
        ],
        dtype=np.float32,
    )
    n_big, n_small = 6, 16
    big_id, big_d1, big_d2 = _worley(size, _worley_sites(n_big, 0.9, rng))
    small_id, small_d1, small_d2 = _worley(size, _worley_sites(n_small, 0.8, rng))

    split = rng.random(n_big * n_big) < 0.5
    in_split = split[big_id]
    cell_id = np.where(in_split, n_big * n_big + big_id * n_small**2 + small_id, big_id)
    colours = palette[rng.integers(len(palette), size=n_big * n_big * (1 + n_small**2))]
    colours *= rng.uniform(0.75, 1.1, size=(len(colours), 1)).astype(np.float32)
    image = colours[cell_id]

    # Brighter towards each cell's centre, plus mottled glass at two scales.
    big_cell, small_cell = size / n_big, size / n_small
    radial = np.where(in_split, small_d1 / small_cell, big_d1 / big_cell)
    shade = 1.25 - 0.55 * np.clip(radial, 0, 1.2)
    shade *= 1 + 0.18 * _smooth_noise(size, 10, rng) + 0.08 * _smooth_noise(size, 48, rng)
    glow = _radial(size, 0.45, 0.4)
    image *= (shade * (0.8 + 0.35 * glow))[..., None]

    # Lead: thick between big cells, thinner between the small ones.
    lead_big = _edge_mask((big_d2 - big_d1) / 2, size * 0.007)
    lead_small = np.where(in_split, _edge_mask((small_d2 - small_d1) / 2, size * 0.004), 0)
    lead = np.maximum(lead_big, lead_small)[..., None]
    lead_colour = np.array((28, 24, 30), dtype=np.float32)
    image = image * (1 - lead) + lead_colour * lead
    return _to_uint8(image)


def make_swirls(size: int = 512, seed: int = 0) -> np.ndarray:
    """Draws swirling brush strokes in the manner of Van Gogh.

    Thousands of short strokes, at three brush sizes, follow a smooth flow
    field with several vortices over a blue night sky with yellow stars.

    Args:
        size: Width and height in pixels.
        seed: Random seed; the same seed always gives the same image.

    Returns:
        A ``uint8`` numpy array of shape ``(size, size, 3)``.
    """
    size = _check_size(size)
    rng = np.random.default_rng([seed, 2])
    coords = (np.arange(size, dtype=np.float32) + 0.5) / size
    y, x = coords[:, None], coords[None, :]

    # Flow field: a wavy drift to the right plus a few vortices.
    phase = rng.uniform(0, 2 * np.pi, size=2)
    vx = np.ones((size, size), np.float32) * 0.6
    vy = 0.5 * np.sin(2 * np.pi * (1.3 * x + phase[0])) * np.cos(np.pi * (y + phase[1]))
    vx = vx + 0.3 * _smooth_noise(size, 4, rng)
    vy = vy + 0.3 * _smooth_noise(size, 4, rng)
    n_vortices = 5
    centres = rng.uniform(0.12, 0.88, size=(n_vortices, 2))
    radii = rng.uniform(0.1, 0.2, size=n_vortices)
    spins = rng.choice([-1.0, 1.0], size=n_vortices) * rng.uniform(2.5, 4.0, size=n_vortices)
    n_stars = 3
    stars = rng.uniform(0.1, 0.9, size=(n_stars, 2))
    star_r = rng.uniform(0.04, 0.08, size=n_stars)
    for (cy, cx), r, s in zip(
        np.concatenate([centres, stars]),
        np.concatenate([radii, star_r * 1.8]),
        np.concatenate([spins, np.full(n_stars, 3.0)]),
    ):
        dy, dx = y - cy, x - cx
        fall = s * np.exp(-(dx * dx + dy * dy) / (2 * r * r)) / r
        vx = vx - dy * fall
        vy = vy + dx * fall
    angle = np.arctan2(vy, vx).astype(np.float32)

    # Colour field: deep blues, paler in the vortices, yellow around stars.
    depth = np.clip(0.5 + 0.5 * _smooth_noise(size, 3, rng) + 0.3 * (y - 0.5), 0, 1)
    navy = np.array((14, 30, 92), np.float32)
    cobalt = np.array((40, 90, 190), np.float32)
    colour = cobalt + (navy - cobalt) * depth[..., None]
    for (cy, cx), r in zip(centres, radii):
        w = np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * (0.6 * r) ** 2))[..., None]
        colour += (np.array((150, 190, 230), np.float32) - colour) * 0.6 * w
    for (cy, cx), r in zip(stars, star_r):
        d2 = ((y - cy) ** 2 + (x - cx) ** 2) / (r * r)
        halo = np.exp(-d2 / 2.5)[..., None]
        core = np.exp(-d2 / 0.5)[..., None]
        colour += (np.array((245, 205, 60), np.float32) - colour) * 0.9 * halo
        colour += (np.array((255, 250, 210), np.float32) - colour) * core

    canvas = Image.fromarray(_to_uint8(colour)).filter(ImageFilter.BoxBlur(max(1, size // 64)))
    draw = ImageDraw.Draw(canvas)
    accents = np.array(
        [(225, 235, 240), (60, 160, 170), (240, 200, 80), (120, 170, 230)], np.float32
    )
    # (number of strokes per 512^2, stroke length, brush width) as fractions of size.
    for count, length, width in ((900, 0.09, 0.024), (2200, 0.055, 0.014), (3600, 0.032, 0.008)):
        n = int(count * (size / 512) ** 2)
        steps = 6
        pts = np.empty((n, steps + 1, 2), np.float32)
        pts[:, 0] = rng.uniform(-0.02, 1.02, size=(n, 2)) * size
        step = length * size / steps
        for k in range(steps):
            iy = np.clip(pts[:, k, 1].astype(np.int64), 0, size - 1)
            ix = np.clip(pts[:, k, 0].astype(np.int64), 0, size - 1)
            a = angle[iy, ix]
            pts[:, k + 1, 0] = pts[:, k, 0] + step * np.cos(a)
            pts[:, k + 1, 1] = pts[:, k, 1] + step * np.sin(a)
        iy = np.clip(pts[:, 0, 1].astype(np.int64), 0, size - 1)
        ix = np.clip(pts[:, 0, 0].astype(np.int64), 0, size - 1)
        base = colour[iy, ix]
        tint = base * rng.uniform(0.7, 1.3, size=(n, 1)) + rng.normal(0, 18, size=(n, 3))
        accent = rng.random(n) < 0.07  # a few pale, teal or yellow strokes
        tint[accent] = accents[rng.integers(len(accents), size=accent.sum())]
        tint = np.clip(tint, 0, 255)
        edge = (tint * 0.55).astype(np.uint8).tolist()
        tint = tint.astype(np.uint8).tolist()
        w = max(1, round(width * size))
        for line, c, e in zip(pts.tolist(), tint, edge):
            points = [(p[0], p[1]) for p in line]
            draw.line(points, fill=tuple(e), width=w + 2, joint="curve")
            draw.line(points, fill=tuple(c), width=w, joint="curve")
    return np.asarray(canvas, dtype=np.uint8).copy()


def make_stripes(size: int = 512, seed: int = 0) -> np.ndarray:
    """Draws colourful wavy bands of varying width.

    Diagonal bands follow a warped direction; each has a rounded, ribbon-like
    shading, some carry fine pinstripes, and dark lines separate them.

    Args:
        size: Width and height in pixels.
        seed: Random seed; the same seed always gives the same image.

    Returns:
        A ``uint8`` numpy array of shape ``(size, size, 3)``.
    """
    size = _check_size(size)
    rng = np.random.default_rng([seed, 3])
    palette = np.array(
        [
            (230, 57, 70),  # red
            (244, 162, 97),  # apricot
            (233, 196, 106),  # saffron
            (42, 157, 143),  # teal
            (38, 70, 83),  # deep slate
            (69, 123, 157),  # steel blue
            (131, 56, 236),  # violet
            (255, 0, 110),  # magenta
            (58, 134, 255),  # azure
            (255, 190, 11),  # yellow
            (6, 214, 160),  # mint
        ],
        dtype=np.float32,
    )
    coords = np.arange(size, dtype=np.float32) / size
    y, x = coords[:, None], coords[None, :]
    a = rng.uniform(0.15, 0.35) * np.pi
    u = x * np.cos(a) + y * np.sin(a)
    v = -x * np.sin(a) + y * np.cos(a)
    f = rng.uniform(1.2, 2.2, size=2)
    ph = rng.uniform(0, 2 * np.pi, size=2)
    u = (
        u
        + 0.07 * np.sin(2 * np.pi * f[0] * v + ph[0])
        + 0.025 * np.sin(2 * np.pi * 3.1 * f[1] * v + 2 * np.pi * 1.3 * u + ph[1])
        + 0.03 * _smooth_noise(size, 5, rng)
    )
    # Band edges, in units of u (which spans roughly -0.8 .. 1.6).
    widths = rng.uniform(0.018, 0.075, size=200)
    edges = -0.9 + np.concatenate([[0.0], np.cumsum(widths)])
    idx = np.clip(np.searchsorted(edges, u) - 1, 0, len(widths) - 1)
    lo, w = edges[idx], widths[idx]
    t = (u - lo) / w  # 0..1 across each band

    order = rng.integers(len(palette), size=len(widths))
    order[1:] = np.where(order[1:] == order[:-1], (order[1:] + 3) % len(palette), order[1:])
    image = palette[order][idx]
    image = image * (0.78 + 0.32 * np.sin(np.pi * t))[..., None]

    # Fine pinstripes in some of the bands: lighter thin lines across the band.
    pin = rng.random(len(widths)) < 0.35
    pin_freq = rng.uniform(40, 90, size=len(widths))
    stripe = 0.5 + 0.5 * np.cos(2 * np.pi * pin_freq[idx] * (v + 0.3 * u))
    stripe = np.where(pin[idx], np.clip((stripe - 0.75) * 5, 0, 1), 0)
    image = image + (255 - image) * 0.45 * stripe[..., None]
    # Dots in some others.
    dots = rng.random(len(widths)) < 0.2
    dv = (v * 60) % 1 - 0.5
    dt = t - 0.5
    dot = np.where(dots[idx], dv * dv + (dt * w * 60) ** 2 < 0.09, 0)
    image = image * (1 - 0.55 * dot[..., None])

    # Dark separators between bands, antialiased.
    dist = np.minimum(t, 1 - t) * w * size  # pixels to the nearest band edge
    sep = _edge_mask(dist, size * 0.0035)[..., None]
    image = image * (1 - sep) + np.float32(20) * sep
    image *= (1 + 0.06 * _smooth_noise(size, 40, rng))[..., None]
    return _to_uint8(image)


def make_mosaic(size: int = 512, seed: int = 0) -> np.ndarray:
    """Draws a Roman-style mosaic: small tiles with light grout lines.

    A rosette of coloured rings and petals sits on a terracotta ground inside
    a chequered border; each tile is shaded slightly differently.

    Args:
        size: Width and height in pixels.
        seed: Random seed; the same seed always gives the same image.

    Returns:
        A ``uint8`` numpy array of shape ``(size, size, 3)``.
    """
    size = _check_size(size)
    rng = np.random.default_rng([seed, 4])
    n = 52
    sites = _worley_sites(n, 0.3, rng)
    tile_id, d1, d2 = _worley(size, sites)
    cell = size / n

    palette = np.array(
        [
            (238, 230, 208),  # 0 marble white
            (34, 32, 38),  # 1 basalt
            (190, 84, 40),  # 2 terracotta
            (230, 172, 46),  # 3 ochre
            (28, 70, 160),  # 4 lapis
            (30, 130, 105),  # 5 serpentine green
            (150, 28, 42),  # 6 oxblood
            (100, 170, 215),  # 7 sky glass
        ],
        dtype=np.float32,
    )
    # The design is sampled at the tile centres, so each tile is one colour.
    sy, sx = sites[..., 0].ravel() / n, sites[..., 1].ravel() / n
    cy, cx = 0.5 + rng.uniform(-0.03, 0.03, size=2)
    r = np.hypot(sx - cx, sy - cy)
    theta = np.arctan2(sy - cy, sx - cx) + rng.uniform(0, 2 * np.pi)
    petals = int(rng.integers(6, 11))
    wobble = 0.5 + 0.5 * np.cos(petals * theta)
    rr = r + 0.08 * wobble * np.clip((r - 0.05) * 6, 0, 1)
    ring = np.floor(rr / 0.052).astype(np.int64)
    sector = np.floor((theta % (2 * np.pi)) / (2 * np.pi) * petals * 2).astype(np.int64)

    colours = rng.permutation([0, 3, 4, 5, 6, 7, 0, 4])
    pick = colours[ring % len(colours)]
    # Every other ring alternates its colour with a second one, petal by petal.
    second = colours[(ring + 3) % len(colours)]
    pick = np.where((ring % 2 == 1) & (sector % 2 == 1), second, pick)
    pick = np.where(ring % 3 == 2, 1, pick)  # basalt outlines between rings
    pick = np.where(ring == 0, 3, pick)  # ochre centre
    pick = np.where(rr > 0.43, 2, pick)  # terracotta ground
    # Chequered border around the edge.
    edge = np.maximum(np.abs(sx - 0.5), np.abs(sy - 0.5))
    frame = edge > 0.44
    check = (np.floor(sx * n / 2) + np.floor(sy * n / 2)) % 2 == 0
    pick = np.where(frame, np.where(check, 1, 0), pick)
    pick = np.where((edge > 0.405) & (edge <= 0.44), 3, pick)

    tile_colour = palette[pick] * rng.uniform(0.85, 1.1, size=(len(pick), 1))
    tile_colour += rng.normal(0, 8, size=tile_colour.shape)
    image = tile_colour.astype(np.float32)[tile_id]
    image *= (1.06 - 0.22 * np.clip(d1 / cell, 0, 1) ** 2)[..., None]
    grout = _edge_mask((d2 - d1) / 2, size * 0.0022)[..., None]
    grout_colour = np.float32(175) + 20 * _smooth_noise(size, 30, rng)[..., None]
    image = image * (1 - grout) + grout_colour * grout
    return _to_uint8(image)


#: Style name -> painter, in the order that `nst_helpers.samples.STYLE_SAMPLES` lists them.
PAINTERS: dict[str, Callable[..., np.ndarray]] = {
    "stained_glass": make_stained_glass,
    "swirls": make_swirls,
    "stripes": make_stripes,
    "mosaic": make_mosaic,
}


def _check_size(size: object) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 8:
        raise NSTError(f"size must be an int of at least 8, got {size!r}.")
    return int(size)


# --------------------------------------------------------------------------
# Drawing helpers
# --------------------------------------------------------------------------


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def _smooth_noise(size: int, cells: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth random field in about [-1, 1]: a `cells` x `cells` grid, upsampled."""
    grid = rng.uniform(-1, 1, size=(cells + 3, cells + 3)).astype(np.float32)
    big = Image.fromarray(grid).resize(
        (size, size), Image.Resampling.BICUBIC, box=(1, 1, cells + 2, cells + 2)
    )
    return np.asarray(big, dtype=np.float32)


def _radial(size: int, cy: float, cx: float) -> np.ndarray:
    coords = (np.arange(size, dtype=np.float32) + 0.5) / size
    d = np.hypot(coords[:, None] - cy, coords[None, :] - cx)
    return np.clip(1 - d / 0.75, 0, 1)


def _edge_mask(dist: np.ndarray, half_width: float) -> np.ndarray:
    """1 within `half_width` pixels of an edge, fading to 0 over one pixel."""
    return np.clip(half_width + 0.5 - dist, 0, 1).astype(np.float32)


def _worley_sites(n: int, jitter: float, rng: np.random.Generator) -> np.ndarray:
    """Jittered grid of n x n sites, in cell units, as (row, col) pairs."""
    offsets = 0.5 + jitter * (rng.random((n, n, 2)) - 0.5)
    grid = np.stack(np.meshgrid(np.arange(n), np.arange(n), indexing="ij"), axis=-1)
    return (grid + offsets).astype(np.float32)


def _worley(size: int, sites: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Voronoi cells of an n x n jittered grid of sites (from `_worley_sites`).

    Returns (cell index, distance to nearest site, distance to second nearest
    site), all of shape (size, size), distances in pixels.
    """
    n = sites.shape[0]
    sites = sites * (size / n)
    coords = np.arange(size, dtype=np.float32) + 0.5
    ci = np.minimum((coords * n / size).astype(np.int64), n - 1)
    d1 = np.full((size, size), np.inf, np.float32)
    d2 = np.full((size, size), np.inf, np.float32)
    best = np.zeros((size, size), np.int64)
    for di in (-1, 0, 1):
        ri = ci + di
        row_ok = (ri >= 0) & (ri < n)
        ri = np.clip(ri, 0, n - 1)
        for dj in (-1, 0, 1):
            rj = ci + dj
            col_ok = (rj >= 0) & (rj < n)
            rj = np.clip(rj, 0, n - 1)
            site = sites[ri[:, None], rj[None, :]]
            d = np.hypot(coords[:, None] - site[..., 0], coords[None, :] - site[..., 1])
            d[~(row_ok[:, None] & col_ok[None, :])] = np.inf
            closer = d < d1
            d2 = np.where(closer, d1, np.minimum(d2, d))
            best = np.where(closer, ri[:, None] * n + rj[None, :], best)
            d1 = np.where(closer, d, d1)
    return best, d1, d2
