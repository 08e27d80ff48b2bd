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

#: Two arrays that go together: (y, x) from `_unit_grid`, a flow (vx, vy), (centres, radii), ...
_Pair = tuple[np.ndarray, np.ndarray]


def _palette(*colours: tuple[int, int, int]) -> np.ndarray:
    """RGB colours as a read-only float32 array of shape (n, 3): shared, so never written."""
    palette = np.array(colours, dtype=np.float32)
    palette.flags.writeable = False
    return palette


# --- Colours ---
_GLASS = _palette(
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
)
_LEAD = _palette((28, 24, 30))[0]

_NAVY, _COBALT = _palette((14, 30, 92), (40, 90, 190))  # the night sky, deep to light
_VORTEX_BLUE = _palette((150, 190, 230))[0]
_STAR_HALO, _STAR_CORE = _palette((245, 205, 60), (255, 250, 210))
_SWIRL_ACCENTS = _palette((225, 235, 240), (60, 160, 170), (240, 200, 80), (120, 170, 230))

_STRIPES = _palette(
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
)

_MOSAIC = _palette(
    (238, 230, 208),  # 0 marble white
    (34, 32, 38),  # 1 basalt
    (190, 84, 40),  # 2 terracotta
    (230, 172, 46),  # 3 ochre
    (28, 70, 160),  # 4 lapis
    (30, 130, 105),  # 5 serpentine green
    (150, 28, 42),  # 6 oxblood
    (100, 170, 215),  # 7 sky glass
)
_MARBLE, _BASALT, _TERRACOTTA, _OCHRE = 0, 1, 2, 3  # indices into _MOSAIC


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
    size, rng = _start(size, seed, painter=1)
    n_big, n_small = 6, 16
    big_id, big_d1, big_d2 = _worley(size, _worley_sites(n_big, 0.9, rng))
    small_id, small_d1, small_d2 = _worley(size, _worley_sites(n_small, 0.8, rng))

    split = rng.random(n_big * n_big) < 0.5
    in_split = split[big_id]
    cell_id = np.where(in_split, n_big * n_big + big_id * n_small**2 + small_id, big_id)
    colours = _GLASS[rng.integers(len(_GLASS), size=n_big * n_big * (1 + n_small**2))]
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
    lead_big = _cell_borders(big_d1, big_d2, size * 0.007)
    lead_small = np.where(in_split, _cell_borders(small_d1, small_d2, size * 0.004), 0)
    return _to_uint8(_lay_over(image, _LEAD, np.maximum(lead_big, lead_small)))


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
    size, rng = _start(size, seed, painter=2)
    y, x = _unit_grid(size)

    # Flow field: a wavy drift to the right plus a few vortices; the stars swirl too.
    vx, vy = _wavy_drift(size, y, x, rng)
    n_vortices, n_stars = 5, 3
    centres = rng.uniform(0.12, 0.88, size=(n_vortices, 2))
    radii = rng.uniform(0.1, 0.2, size=n_vortices)
    spins = rng.choice([-1.0, 1.0], size=n_vortices) * rng.uniform(2.5, 4.0, size=n_vortices)
    stars = rng.uniform(0.1, 0.9, size=(n_stars, 2))
    star_radii = rng.uniform(0.04, 0.08, size=n_stars)
    angle = _flow_angle(
        (vx, vy),
        (y, x),
        np.concatenate([centres, stars]),
        np.concatenate([radii, star_radii * 1.8]),
        np.concatenate([spins, np.full(n_stars, 3.0)]),
    )

    # Colour field: deep blues, paler in the vortices, yellow around stars.
    depth = np.clip(0.5 + 0.5 * _smooth_noise(size, 3, rng) + 0.3 * (y - 0.5), 0, 1)
    colour = _COBALT + (_NAVY - _COBALT) * depth[..., None]
    _light_sky(colour, (y, x), (centres, radii), (stars, star_radii))

    # A blurred underpainting, then the brush strokes on top of it.
    canvas = Image.fromarray(_to_uint8(colour)).filter(ImageFilter.BoxBlur(max(1, size // 64)))
    _paint_strokes(canvas, angle, colour, rng)
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
    size, rng = _start(size, seed, painter=3)
    u, v = _warped_axes(size, rng)
    n_bands = 200
    band, across, width = _bands(u, n_bands, rng)

    # Each band one colour (seldom its neighbour's), shaded like a rounded ribbon.
    order = rng.integers(len(_STRIPES), size=n_bands)
    order[1:] = np.where(order[1:] == order[:-1], (order[1:] + 3) % len(_STRIPES), order[1:])
    image = _STRIPES[order][band]
    image = image * (0.78 + 0.32 * np.sin(np.pi * across))[..., None]
    # Fine pinstripes in some of the bands: lighter thin lines across the band.
    pin = rng.random(n_bands) < 0.35
    pin_freq = rng.uniform(40, 90, size=n_bands)
    stripe = 0.5 + 0.5 * np.cos(2 * np.pi * pin_freq[band] * (v + 0.3 * u))
    stripe = np.where(pin[band], np.clip((stripe - 0.75) * 5, 0, 1), 0)
    image = image + (255 - image) * 0.45 * stripe[..., None]
    # Dots in some others.
    dots = rng.random(n_bands) < 0.2
    dv = (v * 60) % 1 - 0.5
    dt = across - 0.5
    dot = np.where(dots[band], dv * dv + (dt * width * 60) ** 2 < 0.09, 0)
    image = image * (1 - 0.55 * dot[..., None])

    # Dark separators between bands, antialiased.
    dist = np.minimum(across, 1 - across) * width * size  # pixels to the nearest band edge
    image = _lay_over(image, np.float32(20), _edge_mask(dist, size * 0.0035))
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
    size, rng = _start(size, seed, painter=4)
    n = 52
    sites = _worley_sites(n, 0.3, rng)
    tile_id, d1, d2 = _worley(size, sites)

    # The design is sampled at the tile centres, so each tile is one colour.
    sy, sx = sites[..., 0].ravel() / n, sites[..., 1].ravel() / n
    pick = _rosette(sx, sy, rng)
    pick = _chequered_border(pick, sx, sy, n)
    tile_colour = _MOSAIC[pick] * rng.uniform(0.85, 1.1, size=(len(pick), 1))
    tile_colour += rng.normal(0, 8, size=tile_colour.shape)
    image = tile_colour.astype(np.float32)[tile_id]

    # Each tile darker towards its edge, then mottled grout between the tiles.
    image *= (1.06 - 0.22 * np.clip(d1 / (size / n), 0, 1) ** 2)[..., None]
    grout = _cell_borders(d1, d2, size * 0.0022)
    grout_colour = np.float32(175) + 20 * _smooth_noise(size, 30, rng)[..., None]
    return _to_uint8(_lay_over(image, grout_colour, grout))


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


def _start(size: object, seed: int, painter: int) -> tuple[int, np.random.Generator]:
    """Checks `size` and seeds the random stream of one painter (numbered 1 to 4)."""
    return _check_size(size), np.random.default_rng([seed, painter])


# --- Swirls: flow field, night sky and brush strokes ---
#: (number of strokes per 512^2, stroke length, brush width) as fractions of size; broad first.
_BRUSHES = ((900, 0.09, 0.024), (2200, 0.055, 0.014), (3600, 0.032, 0.008))


def _wavy_drift(size: int, y: np.ndarray, x: np.ndarray, rng: np.random.Generator) -> _Pair:
    """The flow before its vortices, as (vx, vy): a noisy, wavy drift to the right."""
    phase = rng.uniform(0, 2 * np.pi, size=2)
    vx = np.ones((size, size), np.float32) * 0.6
    vy = 0.5 * np.sin(2 * np.pi * (1.3 * x + phase[0])) * np.cos(np.pi * (y + phase[1]))
    vx = vx + 0.3 * _smooth_noise(size, 4, rng)
    vy = vy + 0.3 * _smooth_noise(size, 4, rng)
    return vx, vy


def _flow_angle(
    flow: _Pair, grid: _Pair, centres: np.ndarray, radii: np.ndarray, spins: np.ndarray
) -> np.ndarray:
    """Direction of the flow at each pixel, once a Gaussian vortex is added at each centre."""
    (vx, vy), (y, x) = flow, grid
    for (cy, cx), r, s in zip(centres, radii, spins):
        dy, dx = y - cy, x - cx
        fall = s * np.exp(-(dx * dx + dy * dy) / (2 * r * r)) / r
        vx = vx - dy * fall
        vy = vy + dx * fall
    return np.arctan2(vy, vx).astype(np.float32)


def _light_sky(colour: np.ndarray, grid: _Pair, vortices: _Pair, stars: _Pair) -> None:
    """Lightens `colour` in place: pale in each vortex, a yellow halo and pale core per star."""
    y, x = grid
    for (cy, cx), r in zip(*vortices):
        w = np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * (0.6 * r) ** 2))[..., None]
        colour += (_VORTEX_BLUE - colour) * 0.6 * w
    for (cy, cx), r in zip(*stars):
        d2 = ((y - cy) ** 2 + (x - cx) ** 2) / (r * r)
        halo = np.exp(-d2 / 2.5)[..., None]
        core = np.exp(-d2 / 0.5)[..., None]
        colour += (_STAR_HALO - colour) * 0.9 * halo
        colour += (_STAR_CORE - colour) * core


def _paint_strokes(
    canvas: Image.Image, angle: np.ndarray, colour: np.ndarray, rng: np.random.Generator
) -> None:
    """Paints brush strokes that follow `angle` onto `canvas` in place, broadest brush first."""
    size = angle.shape[0]
    draw = ImageDraw.Draw(canvas)
    for count, length, width in _BRUSHES:
        paths = _stroke_paths(int(count * (size / 512) ** 2), length * size, angle, rng)
        fill, edge = _stroke_colours(paths[:, 0], colour, rng)
        w = max(1, round(width * size))
        for line, c, e in zip(paths.tolist(), fill, edge):
            points = [(p[0], p[1]) for p in line]
            # Each stroke twice: its darker edge, two pixels wider, then its fill on top.
            draw.line(points, fill=tuple(e), width=w + 2, joint="curve")
            draw.line(points, fill=tuple(c), width=w, joint="curve")


def _stroke_paths(
    n: int, length: float, angle: np.ndarray, rng: np.random.Generator, steps: int = 6
) -> np.ndarray:
    """`n` random strokes of `length` pixels along the flow: (x, y) points, (n, steps + 1, 2)."""
    size = angle.shape[0]
    pts = np.empty((n, steps + 1, 2), np.float32)
    pts[:, 0] = rng.uniform(-0.02, 1.02, size=(n, 2)) * size
    step = length / steps
    for k in range(steps):
        a = angle[_pixel_under(pts[:, k], size)]
        pts[:, k + 1, 0] = pts[:, k, 0] + step * np.cos(a)
        pts[:, k + 1, 1] = pts[:, k, 1] + step * np.sin(a)
    return pts


def _stroke_colours(
    starts: np.ndarray, colour: np.ndarray, rng: np.random.Generator
) -> tuple[list[list[int]], list[list[int]]]:
    """(fill, edge) RGB of each stroke: the sky under its start, varied; a few accent colours."""
    n = len(starts)
    base = colour[_pixel_under(starts, colour.shape[0])]
    tint = base * rng.uniform(0.7, 1.3, size=(n, 1)) + rng.normal(0, 18, size=(n, 3))
    accent = rng.random(n) < 0.07  # a few pale, teal or yellow strokes
    tint[accent] = _SWIRL_ACCENTS[rng.integers(len(_SWIRL_ACCENTS), size=accent.sum())]
    tint = np.clip(tint, 0, 255)
    edge = (tint * 0.55).astype(np.uint8).tolist()
    return tint.astype(np.uint8).tolist(), edge


def _pixel_under(points: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) indices of the pixel under each (x, y) point, clipped to the image."""
    iy = np.clip(points[:, 1].astype(np.int64), 0, size - 1)
    ix = np.clip(points[:, 0].astype(np.int64), 0, size - 1)
    return iy, ix


# --- Stripes: warped bands ---


def _warped_axes(size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(u, v): u runs across the diagonal bands, warped by two waves and noise; v along them."""
    y, x = _unit_grid(size, at_centres=False)
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
    return u, v


def _bands(
    u: np.ndarray, n_bands: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cuts `u` into random widths: per pixel, (band, position across it from 0 to 1, width)."""
    # Band edges, in units of u (which spans roughly -0.8 .. 1.6).
    widths = rng.uniform(0.018, 0.075, size=n_bands)
    edges = -0.9 + np.concatenate([[0.0], np.cumsum(widths)])
    band = np.clip(np.searchsorted(edges, u) - 1, 0, n_bands - 1)
    lo, width = edges[band], widths[band]
    return band, (u - lo) / width, width


# --- Mosaic: the rosette design and its border ---


def _rosette(sx: np.ndarray, sy: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Index into `_MOSAIC` of each tile centre (sx, sy): rings, petals, terracotta ground."""
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
    pick = np.where(ring % 3 == 2, _BASALT, pick)  # outlines between rings
    pick = np.where(ring == 0, _OCHRE, pick)  # the centre
    return np.where(rr > 0.43, _TERRACOTTA, pick)  # the ground


def _chequered_border(pick: np.ndarray, sx: np.ndarray, sy: np.ndarray, n: int) -> np.ndarray:
    """Overrides `pick` near the edge: basalt and marble checks, an ochre line inside them."""
    edge = np.maximum(np.abs(sx - 0.5), np.abs(sy - 0.5))
    frame = edge > 0.44
    check = (np.floor(sx * n / 2) + np.floor(sy * n / 2)) % 2 == 0
    pick = np.where(frame, np.where(check, _BASALT, _MARBLE), pick)
    return np.where((edge > 0.405) & (edge <= 0.44), _OCHRE, pick)


# --- Drawing helpers ---


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def _unit_grid(size: int, at_centres: bool = True) -> _Pair:
    """(y, x) coordinates in [0, 1) of pixel centres (or corners), shapes (size, 1), (1, size)."""
    coords = (np.arange(size, dtype=np.float32) + (0.5 if at_centres else 0.0)) / size
    return coords[:, None], coords[None, :]


def _lay_over(image: np.ndarray, colour: np.ndarray | np.float32, mask: np.ndarray) -> np.ndarray:
    """`image` with `colour` laid over it where the (size, size) `mask` is 1, mixed in between."""
    mask = mask[..., None]
    return image * (1 - mask) + colour * mask


def _smooth_noise(size: int, cells: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth random field in about [-1, 1]: a `cells` x `cells` grid, upsampled."""
    grid = rng.uniform(-1, 1, size=(cells + 3, cells + 3)).astype(np.float32)
    big = Image.fromarray(grid).resize(
        (size, size), Image.Resampling.BICUBIC, box=(1, 1, cells + 2, cells + 2)
    )
    return np.asarray(big, dtype=np.float32)


def _radial(size: int, cy: float, cx: float) -> np.ndarray:
    y, x = _unit_grid(size)
    d = np.hypot(y - cy, x - cx)
    return np.clip(1 - d / 0.75, 0, 1)


def _edge_mask(dist: np.ndarray, half_width: float) -> np.ndarray:
    """1 within `half_width` pixels of an edge, fading to 0 over one pixel."""
    return np.clip(half_width + 0.5 - dist, 0, 1).astype(np.float32)


def _cell_borders(d1: np.ndarray, d2: np.ndarray, half_width: float) -> np.ndarray:
    """Mask of the lines between Voronoi cells, from the distances `_worley` returns."""
    return _edge_mask((d2 - d1) / 2, half_width)


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
