"""Where the pixels come from: the local engine or a server through the SDK."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, TypeVar

import click
import numpy as np

from alphamatte.cli.options import load_matter_or_exit
from alphamatte.imaging.product_shot import ProductOptions

Kind = Literal["matte", "cutout"]
# A renderer does the model's part of one photo and returns the rest (post-processing that
# needs no model, and the encode) as a function, so that the CLI can run it beside the next
# photo's inference. The function returns the bytes to write.
Finish = Callable[[], bytes]
Render = Callable[[bytes], Finish]
F = TypeVar("F", bound=Callable[..., Any])


def api_options(func: F) -> F:
    """--api and --api-key; with a URL the work goes to that server instead of this CPU."""
    func = click.option(
        "--api-key",
        envvar="ALPHAMATTE_API_KEY",
        default=None,
        help="API key for --api [env ALPHAMATTE_API_KEY].",
    )(func)
    func = click.option(
        "--api",
        "api_url",
        envvar="ALPHAMATTE_API_URL",
        default=None,
        metavar="URL",
        help="Use this alphamatte/withoutbg-compatible server [env ALPHAMATTE_API_URL].",
    )(func)
    return func


def local_renderer(kind: Kind, product: ProductOptions | None = None, **engine: object) -> Render:
    """This CPU's engine. A laid-out ``product`` is made by the one procedure the remove.bg
    endpoint uses (engine/product.py), so the same options give the same bytes."""
    from alphamatte.imaging.colour import to_srgb
    from alphamatte.imaging.decode import LOCAL_MAX_PIXELS, decode_local
    from alphamatte.product.make import ProductSpec, make_product
    from alphamatte.product.matte import finished_product

    # The model loads (and its runtime compiles the canvas) on another thread while the first
    # photo is read and decoded: a one-photo run waits for the longer of the two, not both.
    loader = ThreadPoolExecutor(1, thread_name_prefix="alphamatte-load")
    loading = loader.submit(_loaded_and_warm, engine)
    loader.shutdown(wait=False)

    def render(data: bytes) -> Finish:
        image = decode_local(data)
        if product is not None:
            spec = ProductSpec(LOCAL_MAX_PIXELS, product.format, product)
            made = make_product(loading.result(), image, spec).data
            return lambda: made
        upright = image.upright()
        seen = to_srgb(upright, image.icc_profile)  # what the model reads; also the guide
        coarse = loading.result().coarse(seen)
        icc, opacity, deep = image.icc_profile, image.upright_opacity(), image.upright_deep()
        return lambda: finished_product(
            kind, upright, image.orientation, coarse, icc, opacity, deep, seen
        )

    return render


def _loaded_and_warm(engine: dict[str, object]) -> Any:
    matter = load_matter_or_exit(**engine)
    matter.warm()
    return matter


def api_renderer(kind: Kind, client: Any, product: ProductOptions | None = None) -> Render:
    """Through :class:`alphamatte.client.Client`: proxy up, matte down, refined locally."""
    from alphamatte.imaging.encode import encode_png

    def render(data: bytes) -> Finish:
        matted = client.matte(data)
        if kind == "matte":
            return lambda: encode_png(np.asarray(matted.matte_image()))
        if product is not None:
            return lambda: matted.product_bytes(product)
        return lambda: encode_png(matted.cutout_rgba(), icc_profile=matted.icc_profile)

    return render


def make_client(api_url: str, api_key: str | None, **extra: Any) -> Any:
    from alphamatte.client import Client

    if not api_key:
        raise click.UsageError("--api needs an API key: --api-key or ALPHAMATTE_API_KEY.")
    return Client(api_key=api_key, base_url=api_url, **extra)
