"""The kernels of ``nst lab``: at most ``max_kernels`` alive at once, one per open page.

Voilà starts a kernel for every page load, and the explorer's kernel holds TensorFlow and VGG19
(about 800 MB to 1 GB once it has run). Jupyter server has no limit on their number, so
:class:`BoundedKernelManager` (Voilà's ``VoilaConfiguration.multi_kernel_manager_class``) adds one:
a page load beyond the limit is answered with ``503 Service Unavailable`` and a sentence saying why,
and no kernel is started. The kernels of pages that were closed, or never connected (a crawler, a
script, a tab closed while loading), are shut down by Jupyter server's own culler
(``MappingKernelManager.cull_idle_timeout``, ``cull_connected=False``), which :mod:`nst_helpers.app`
configures; this module kills nothing itself.

Imported only by the Voilà process that ``nst lab`` starts (it needs jupyter_server).
"""

from __future__ import annotations

from typing import Any

from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from tornado import web
from traitlets import Integer

__all__ = ["BoundedKernelManager", "refusal"]


def refusal(limit: int, free_within: int) -> str:
    """What a visitor beyond the limit reads (one line, plain ASCII: it is also the status line's
    reason phrase, which Voilà's error page shows)."""
    return (
        f"The explorer is full: {limit} page{'s are' if limit != 1 else ' is'} open, the most "
        f"this server allows (nst lab --max-kernels {limit}). A page that is closed frees its "
        f"place at once, one that never finished loading within {free_within} seconds: try "
        "again then."
    )


class BoundedKernelManager(AsyncMappingKernelManager):
    """Jupyter server's kernel manager with a limit on the number of kernels alive at once."""

    max_kernels = Integer(
        4,
        config=True,
        help="The most kernels alive at once (one per open "
        "page); a page load beyond them is refused with 503 and a message. "
        "0 means no limit.",
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._starting = 0  # kernels being started: not yet in list_kernel_ids()

    def live_kernels(self) -> int:
        """Kernels alive or being started (one being started may be counted twice, never not
        at all, so the limit holds when many pages load at the same moment)."""
        return len(self.list_kernel_ids()) + self._starting

    # jupyter_client types the synchronous manager's start_kernel as returning a str; the
    # asynchronous one that this class extends returns a coroutine of it.
    async def start_kernel(self, *args: Any, **kwargs: Any) -> str:  # type: ignore[override]
        """Start a kernel, unless ``max_kernels`` are alive or starting already.

        Args:
            *args: as for ``AsyncMappingKernelManager.start_kernel``.
            **kwargs: as for ``AsyncMappingKernelManager.start_kernel``.

        Returns:
            The kernel's id.

        Raises:
            tornado.web.HTTPError: 503, with :func:`refusal`'s sentence, beyond the limit.
        """
        if kwargs.get("kernel_id") is not None and kwargs["kernel_id"] in self:
            return await super().start_kernel(*args, **kwargs)  # an existing kernel: nothing new
        if 0 < self.max_kernels <= self.live_kernels():
            text = refusal(self.max_kernels, self.cull_idle_timeout + self.cull_interval)
            raise web.HTTPError(503, text.replace("%", "%%"), reason=text)
        self._starting += 1  # counted before the first await: checks that follow see it
        try:
            return await super().start_kernel(*args, **kwargs)
        finally:
            self._starting -= 1
