"""The SDK's defaults and input types, importable without NumPy."""

from __future__ import annotations

from os import PathLike
from typing import TYPE_CHECKING, Literal, TypeAlias

from PIL import Image

if TYPE_CHECKING:
    import numpy as np

    ImageInput: TypeAlias = str | PathLike[str] | bytes | Image.Image | np.ndarray

ProxyFormat = Literal["jpeg", "png"]

PROXY_SIDE = 1024
JPEG_QUALITY = 95
