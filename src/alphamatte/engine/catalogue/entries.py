"""The catalogue, as data: every model we know by name, where its weights come from (pinned by
size and sha256 where the publisher or its packager says), its licence, and its contracts."""

from __future__ import annotations

from dataclasses import replace

from alphamatte.engine.catalogue.contract import OutputContract
from alphamatte.engine.catalogue.families import (
    BIREFNET_IN,
    BIREFNET_OUT,
    FAMILIES,
    IMAGENET_MEAN,
    ISNET,
    REMBG_RELEASE,
    U2NETP,
    rembg_entry,
)
from alphamatte.engine.catalogue.spec import ModelSpec, UrlSource

BIREFNET_LICENCE = "MIT (ZhengPeng7/BiRefNet)"
BIREFNET_NOTE = "rembg also min-max normalises; BiRefNet's own code only applies the sigmoid."

CATALOGUE: tuple[ModelSpec, ...] = (
    ISNET,
    U2NETP,
    rembg_entry(
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
    rembg_entry(
        "u2net",
        "u2net",
        "u2net.onnx",
        "8d10d2f3bb75ae3b6d527c77944fc5e7dcd94b29809d47a739a7a728a912b491",
        "U²-Net, 176 MB: general salient objects",
        "Apache-2.0 (xuebinqin/U-2-Net)",
        strength=15,
    ),
    rembg_entry(
        "u2net_human_seg",
        "u2net",
        "u2net_human_seg.onnx",
        "01eb6a29a5c4d8edb30b56adad9bb3a2a0535338e480724a213e0acfd2d1c73c",
        "U²-Net trained for people",
        "Apache-2.0 (xuebinqin/U-2-Net)",
    ),
    rembg_entry(
        "silueta",
        "u2net",
        "silueta.onnx",
        "75da6c8d2f8096ec743d071951be73b4a8bc7b3e51d9a6625d63644f90ffeedb",
        "U²-Net pruned to 43 MB",
        "Apache-2.0 (xuebinqin/U-2-Net, U-2-Net issue 295)",
        strength=12,
    ),
    rembg_entry(
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
    rembg_entry(
        "birefnet-general-lite",
        "birefnet",
        "BiRefNet-general-bb_swin_v1_tiny-epoch_232.onnx",
        "5600024376f572a557870a5eb0afb1e5961636bef4e1e22132025467d0f03333",
        "BiRefNet lite (Swin-T), general use",
        BIREFNET_LICENCE,
        strength=40,
        notes=BIREFNET_NOTE,
    ),
    rembg_entry(
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
    rembg_entry(
        "birefnet-dis",
        "birefnet",
        "BiRefNet-DIS-epoch_590.onnx",
        "6470117bac6f8d82a3f62921056f52d0f5c4d36d1d832096331d5ea38a03acb5",
        "BiRefNet trained on DIS5K (dichotomous segmentation)",
        BIREFNET_LICENCE,
        price=2,
        notes=BIREFNET_NOTE,
    ),
    rembg_entry(
        "birefnet-hrsod",
        "birefnet",
        "BiRefNet-HRSOD_DHU-epoch_115.onnx",
        "4f5837663194fb88f603b76782eae05a3c29f5749872ca1bfb636bd26e7f6bfc",
        "BiRefNet for high-resolution salient objects (trained at 1024²)",
        BIREFNET_LICENCE,
        price=2,
        notes=BIREFNET_NOTE,
    ),
    rembg_entry(
        "birefnet-cod",
        "birefnet",
        "BiRefNet-COD-epoch_125.onnx",
        "91ec48f566db475cf6e4caa7e9cd997f352edfcc372372f437e2fbefc1557b13",
        "BiRefNet for concealed (camouflaged) objects",
        BIREFNET_LICENCE,
        price=2,
        notes=BIREFNET_NOTE,
    ),
    rembg_entry(
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


def by_digest(sha256: str) -> ModelSpec | None:
    """The catalogue entry a file with this sha256 is (any of its pinned exports)."""
    for spec in CATALOGUE:
        if any(digest == sha256 for _, digest in spec.pins()):
            return spec
    return None
