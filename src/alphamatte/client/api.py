"""`Client` and `AsyncClient`: the recommended workflow behind one call.

Keep the original; upload a small proxy; bring the returned matte back to the original's size
with the full-resolution photo as a guide; apply straight alpha to the untouched original.

NumPy and the imaging code load with the first image, not with ``import alphamatte.client``:
an app that imports the SDK at start-up pays ~0.15 s less there.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import httpx
from PIL import Image

from alphamatte.client import wire
from alphamatte.client.cache import MatteCache
from alphamatte.client.defaults import JPEG_QUALITY, PROXY_SIDE, ProxyFormat
from alphamatte.client.errors import InvalidImageError
from alphamatte.client.retry import AsyncRetryTransport, RetryPolicy, RetryTransport

if TYPE_CHECKING:
    import numpy as np

    from alphamatte.client.defaults import ImageInput
    from alphamatte.client.source import Proxy, Source
    from alphamatte.imaging.product_shot import ProductOptions


@dataclass(frozen=True)
class Matted:
    """One matte and the photo it belongs to, both upright at full size: many outputs, one call."""

    rgb: np.ndarray  # H x W x 3 uint8, upright, in icc_profile's colour space
    alpha: np.ndarray  # H x W float32 0..1, upright
    orientation: int  # EXIF orientation of what was passed
    icc_profile: bytes | None = None  # the photo's colour profile; None: sRGB

    def matte_image(self) -> Image.Image:
        """Mode L at the input's size, in the same pixel grid as the input."""
        from alphamatte.imaging.decode import to_stored
        from alphamatte.imaging.resize import to_uint8

        return Image.fromarray(to_stored(to_uint8(self.alpha), self.orientation), mode="L")

    def cutout_rgba(self) -> np.ndarray:
        """H x W x 4 uint8, upright, straight alpha over the original colours."""
        from alphamatte.imaging.compose import cutout

        return cutout(self.rgb, self.alpha)

    def cutout_image(self) -> Image.Image:
        """Mode RGBA, upright, straight alpha over the original colours; the photo's colour
        profile rides in ``info["icc_profile"]``, which Pillow embeds when it saves."""
        image = Image.fromarray(self.cutout_rgba(), mode="RGBA")
        if self.icc_profile:
            image.info["icc_profile"] = self.icc_profile
        return image

    def product_shot(
        self,
        *,
        crop: bool = False,
        crop_margin: str | None = None,
        scale: str | None = None,
        position: str | None = None,
        bg_color: str | None = None,
        format: str = "png",
        roi: str | None = None,
        shadow: bool = False,
        color_profile: str = "keep",
    ) -> bytes:
        """The cutout laid out and encoded: cropped to the subject (with ``crop_margin``: "10%",
        "20px", 2 or 4 values), fitted into ``scale`` of the canvas ("10%"-"100%") at
        ``position`` ("center", "50%", "20% 80%"), on ``bg_color``, as ``format`` (png, jpg,
        webp, or zip = color.jpg + alpha.png), with nothing outside ``roi`` ("x1 y1 x2 y2" in px
        or %) and a drop ``shadow``; ``color_profile`` "keep" (the photo's colours and ICC
        profile) or "srgb". The same layout as ``alphamatte cutout`` and the server's remove.bg
        endpoint; a bad value is a ValueError naming it."""
        from alphamatte.imaging.product_shot import ProductOptions

        options = ProductOptions(
            crop,
            crop_margin,
            scale,
            position,
            bg_color,
            "rgba",
            format,
            shadow="drop" if shadow else None,
            roi=roi,
            color_profile=color_profile,
        )
        return self.product_bytes(options)

    def product_bytes(self, options: ProductOptions) -> bytes:
        """:meth:`product_shot` from ready :class:`ProductOptions`."""
        from alphamatte.imaging.product_shot import encode_product

        return encode_product(self.cutout_rgba(), options, icc_profile=self.icc_profile)


@dataclass(frozen=True)
class _Options:
    proxy_side: int
    proxy_format: ProxyFormat
    jpeg_quality: int


def _retry_policy(retries: RetryPolicy | int | None) -> RetryPolicy:
    if retries is None:
        return RetryPolicy()
    if isinstance(retries, int):
        return RetryPolicy(attempts=max(1, retries + 1))
    return retries


def _prepare(image: ImageInput, options: _Options) -> tuple[Source, Proxy]:
    from alphamatte.client.source import load_source, make_proxy
    from alphamatte.imaging.errors import ImageError

    try:
        source = load_source(image)
    except ImageError as exc:  # caught here, before anything is uploaded or charged
        raise InvalidImageError(str(exc)) from exc
    from alphamatte.imaging.colour import to_srgb

    proxy = make_proxy(
        to_srgb(source.upright(), source.icc_profile),
        max_side=options.proxy_side,
        fmt=options.proxy_format,
        jpeg_quality=options.jpeg_quality,
    )
    return source, proxy


def _finish(source: Source, proxy: Proxy, png: bytes) -> Matted:
    from alphamatte.imaging.colour import to_srgb
    from alphamatte.imaging.compose import within_opacity
    from alphamatte.imaging.refine import upscale_matte

    small = wire.decode_matte(png, proxy.width, proxy.height)
    upright, icc = source.upright(), source.icc_profile
    # The guide is the photo as the model saw it (sRGB), like the proxy it is matched with.
    alpha = upscale_matte(small, to_srgb(upright, icc), small_rgb=proxy.pixels)
    alpha = within_opacity(alpha, source.upright_opacity())
    return Matted(upright, alpha, source.orientation, icc)


class _Base:
    def __init__(
        self,
        api_key: str | None,
        base_url: str | None,
        proxy_side: int,
        proxy_format: ProxyFormat,
        jpeg_quality: int,
        cache: MatteCache | bool | None,
        model: str | None = None,
    ) -> None:
        if not 32 <= proxy_side <= 4096:
            raise ValueError("proxy_side must be between 32 and 4096")
        if not 1 <= jpeg_quality <= 100:
            raise ValueError("jpeg_quality must be between 1 and 100")
        self.api_key, self.base_url = wire.resolve(api_key, base_url)
        self._options = _Options(proxy_side, proxy_format, jpeg_quality)
        if cache is True:
            cache = MatteCache()
        self.cache = cache if isinstance(cache, MatteCache) else None
        self.model = model  # the server's model to ask for (our extension); None: its default

    def _options_for(self, proxy_format: ProxyFormat | None) -> _Options:
        if proxy_format is None:
            return self._options
        return _Options(self._options.proxy_side, proxy_format, self._options.jpeg_quality)

    def _cache_key(self, proxy: Proxy, model: str | None) -> str:
        digest = hashlib.sha256(self.base_url.encode())
        digest.update(b"\0" + (model or "").encode() + b"\0")
        digest.update(proxy.data)
        return digest.hexdigest()

    def _cached(self, proxy: Proxy, model: str | None) -> bytes | None:
        return None if self.cache is None else self.cache.get(self._cache_key(proxy, model))

    def _remember(self, proxy: Proxy, model: str | None, png: bytes) -> None:
        if self.cache is not None:
            self.cache.put(self._cache_key(proxy, model), png)


class Client(_Base):
    """Synchronous client. Key and URL default to ALPHAMATTE_API_KEY / ALPHAMATTE_API_URL.

    ``retries`` is a :class:`RetryPolicy` or a number of retries after the first attempt.
    ``cache=True`` keeps mattes in a bounded disk cache keyed by the uploaded content.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float | httpx.Timeout = wire.DEFAULT_TIMEOUT,
        retries: RetryPolicy | int | None = None,
        proxy_side: int = PROXY_SIDE,
        proxy_format: ProxyFormat = "jpeg",
        jpeg_quality: int = JPEG_QUALITY,
        cache: MatteCache | bool | None = None,
        transport: httpx.BaseTransport | None = None,
        model: str | None = None,
    ) -> None:
        super().__init__(api_key, base_url, proxy_side, proxy_format, jpeg_quality, cache, model)
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=wire.make_timeout(timeout),
            headers=wire.headers(self.api_key),
            transport=RetryTransport(transport, _retry_policy(retries)),
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise wire.transport_error(exc) from exc

    def matte(
        self,
        image: ImageInput,
        *,
        proxy_format: ProxyFormat | None = None,
        model: str | None = None,
    ) -> Matted:
        """The full-resolution matte and the photo, for several outputs from one API call.
        ``model``: the server's model for this call (else the client's, else the server's)."""
        source, proxy = _prepare(image, self._options_for(proxy_format))
        model = model or self.model
        png = self._cached(proxy, model)
        if png is None:
            kwargs = wire.matte_request_kwargs(proxy.data, model)
            png = wire.matte_png(self._send("POST", wire.MATTE_PATH, **kwargs))
            self._remember(proxy, model, png)
        return _finish(source, proxy, png)

    def alpha_matte(
        self, image: ImageInput, *, proxy_format: ProxyFormat | None = None
    ) -> Image.Image:
        """Grayscale matte (mode L) at the input's size and in its pixel grid."""
        return self.matte(image, proxy_format=proxy_format).matte_image()

    def cutout(self, image: ImageInput, *, proxy_format: ProxyFormat | None = None) -> Image.Image:
        """RGBA cutout at the input's size, upright, straight alpha.

        Opaque pixels keep the original's exact colours. With the ``edges`` extra installed
        (``pip install 'alphamatte[edges]'``, part of ``local``), semi-transparent edge pixels
        also get their foreground colour estimated, so no fringe of the old background shows
        on a new one; without it they keep the photo's colours.
        """
        return self.matte(image, proxy_format=proxy_format).cutout_image()

    def product_shot(
        self, image: ImageInput, *, proxy_format: ProxyFormat | None = None, **layout: Any
    ) -> bytes:
        """One API call, then :meth:`Matted.product_shot` (crop, crop_margin, scale, position,
        bg_color, format): e.g. ``client.product_shot("shoe.jpg", crop=True,
        crop_margin="10%", bg_color="fff", format="jpg")`` gives JPEG bytes."""
        return self.matte(image, proxy_format=proxy_format).product_shot(**layout)

    def available_credit(self) -> wire.Credit:
        return wire.credit(self._send("GET", wire.CREDIT_PATH))


class AsyncClient(_Base):
    """The asynchronous twin of :class:`Client`; image work runs in worker threads."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float | httpx.Timeout = wire.DEFAULT_TIMEOUT,
        retries: RetryPolicy | int | None = None,
        proxy_side: int = PROXY_SIDE,
        proxy_format: ProxyFormat = "jpeg",
        jpeg_quality: int = JPEG_QUALITY,
        cache: MatteCache | bool | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        model: str | None = None,
    ) -> None:
        super().__init__(api_key, base_url, proxy_side, proxy_format, jpeg_quality, cache, model)
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=wire.make_timeout(timeout),
            headers=wire.headers(self.api_key),
            transport=AsyncRetryTransport(transport, _retry_policy(retries)),
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise wire.transport_error(exc) from exc

    async def matte(
        self,
        image: ImageInput,
        *,
        proxy_format: ProxyFormat | None = None,
        model: str | None = None,
    ) -> Matted:
        options = self._options_for(proxy_format)
        source, proxy = await anyio.to_thread.run_sync(_prepare, image, options)
        model = model or self.model
        png = self._cached(proxy, model)
        if png is None:
            kwargs = wire.matte_request_kwargs(proxy.data, model)
            png = wire.matte_png(await self._send("POST", wire.MATTE_PATH, **kwargs))
            self._remember(proxy, model, png)
        return await anyio.to_thread.run_sync(_finish, source, proxy, png)

    async def alpha_matte(
        self, image: ImageInput, *, proxy_format: ProxyFormat | None = None
    ) -> Image.Image:
        matted = await self.matte(image, proxy_format=proxy_format)
        return matted.matte_image()

    async def cutout(
        self, image: ImageInput, *, proxy_format: ProxyFormat | None = None
    ) -> Image.Image:
        matted = await self.matte(image, proxy_format=proxy_format)
        return await anyio.to_thread.run_sync(matted.cutout_image)

    async def product_shot(
        self, image: ImageInput, *, proxy_format: ProxyFormat | None = None, **layout: Any
    ) -> bytes:
        matted = await self.matte(image, proxy_format=proxy_format)
        return await anyio.to_thread.run_sync(lambda: matted.product_shot(**layout))

    async def available_credit(self) -> wire.Credit:
        return wire.credit(await self._send("GET", wire.CREDIT_PATH))
