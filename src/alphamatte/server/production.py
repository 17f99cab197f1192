"""One procedure for every image request, whichever dialect asked:

the request's model chosen (its own, its key's default, the server's; 400/403) → the photo's
header opened and checked (pixel limit, format) → the route's own checks on it, which may add
to its memory cost → the model loaded if it is not (within the memory budget,
server/models.py; never for a key that cannot pay) → memory admission, within one memory wait
counted from the start → on one worker thread: decode → reserve the price → make the product
→ charge (refund on any failure).

A refusal for memory or by a check comes before the credit reservation, so it is never
charged. Everything after admission runs as one job on one worker thread: each hop between the
event loop and a thread cost ~0.27 ms of CPU here, and a request used to make five.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Literal, TypeVar

from fastapi import Request
from PIL import Image

from alphamatte.engine.inference.matting import Matter
from alphamatte.imaging.decode import DecodedImage, decode_opened, open_checked
from alphamatte.imaging.deep import DEEP_BYTES_PER_PIXEL, is_deep_png
from alphamatte.server.accounting.keys import ApiKey
from alphamatte.server.billing import Paid
from alphamatte.server.deps import INLINE_BYTES
from alphamatte.server.errors import INSUFFICIENT_CREDIT, ApiError
from alphamatte.server.state import ServerState

T = TypeVar("T")
Cost = Literal["alpha", "cutout"]  # the memory cost per pixel the photo is admitted at
# The route's checks on the opened header, before admission: they may refuse (raise), open
# more (closed with the stack) and return the bytes of memory they add to the photo's cost.
Checks = Callable[[Image.Image, AsyncExitStack], Awaitable[int]]
Make = Callable[[Matter, DecodedImage], T]


def choose_model(
    request: Request, state: ServerState, key: ApiKey, asked: str | None = None
) -> str:
    """The model this request runs (``asked``, else the ``model`` query parameter, else the
    key's default, else the server's), named in the ``X-Model`` response header."""
    models = state.models
    if models is None:
        raise ApiError(503, "The model is still loading; retry shortly.", {"Retry-After": "5"})
    name = models.choose(asked or request.query_params.get("model"), key)
    request.state.extra_headers = {**getattr(request.state, "extra_headers", {}), "X-Model": name}
    return name


async def produce(
    request: Request,
    state: ServerState,
    paid: Paid[T],
    photo: bytes,
    *,
    max_bytes: int,
    cost: Cost,
    make: Make[T],
    model: str,
    checks: Checks | None = None,
) -> T:
    """``make(matter, decoded photo)`` with ``model``, paid for, after every check and within
    memory."""
    settings = state.settings
    models = state.models
    if models is None:
        raise ApiError(503, "The model is still loading; retry shortly.", {"Retry-After": "5"})
    # One wait for the whole request: for the model's load, then for the photo's memory.
    deadline = time.monotonic() + state.memory.wait_s
    async with AsyncExitStack() as admitted:

        def open_header() -> Image.Image:
            return open_checked(photo, max_bytes=max_bytes, max_pixels=settings.max_pixels)

        # A small upload's header parses in microseconds, less than a hop to a thread.
        small = len(photo) <= INLINE_BYTES
        opened = open_header() if small else await state.executor.run(open_header)
        admitted.callback(opened.close)  # also when a check or admission refuses
        needed = state.memory.cost(*opened.size, cost) + 2 * len(photo)
        if is_deep_png(photo):  # its 16-bit colours are read, and its cutout written, too
            needed += opened.size[0] * opened.size[1] * DEEP_BYTES_PER_PIXEL
        if checks is not None:
            needed += await checks(opened, admitted)
        # Only a request that passed every check on its header, and whose key can pay (as far
        # as it was when it authenticated; the reservation is the exact check), makes a load.
        key: ApiKey | None = getattr(request.state, "api_key", None)
        if key is not None and models.peek(model) is None and key.milli < paid.milli:
            raise ApiError(402, INSUFFICIENT_CREDIT)
        matter = await admitted.enter_async_context(models.use(model, deadline=deadline))
        remaining = deadline - time.monotonic()
        await admitted.enter_async_context(state.memory.admit(needed, wait_s=remaining))

        def work() -> tuple[T, bool]:
            image = decode_opened(opened, max_pixels=settings.max_pixels, data=photo)
            return paid.run(lambda: make(matter, image))

        return await paid.settle(request, state.executor.run(work))
