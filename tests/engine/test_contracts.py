"""Each contract, value for value: small ONNX graphs whose function is known exactly, imported
with `alphamatte model import --spec` (or `--like`) and run through the real loader and
ONNX Runtime. A wrong scaling, mean, channel order, layout, output or activation changes the
numbers these tests compare."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from alphamatte.cli.main import cli
from alphamatte.engine.catalogue.contract import InputContract, OutputContract, to_alpha, to_input
from alphamatte.engine.catalogue.entries import REGISTRY
from alphamatte.engine.catalogue.installed import spec_from_toml, spec_to_toml
from alphamatte.engine.inference.matting import Matter
from alphamatte.engine.loader import load_matter

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _const(name: str, values: list[int]) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def channel_mean_graph(side: int | None) -> onnx.GraphProto:
    """out = mean over channels of the input, N×1×H×W (fixed side² or any size)."""
    dims: list[int | str] = [1, 3, side, side] if side else ["n", 3, "h", "w"]
    out_dims: list[int | str] = [1, 1, side, side] if side else ["n", 1, "h", "w"]
    node = helper.make_node("ReduceMean", ["x"], ["y"], axes=[1], keepdims=1)
    return helper.make_graph(
        [node],
        "mean",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_dims)],
    )


def channel_graph(
    channel: int, *, nhwc: bool = False, extra_outputs: bool = False
) -> onnx.GraphProto:
    """out = one channel of the input (NCHW: N×1×H×W; NHWC: N×H×W×1); with ``extra_outputs``
    the graph returns (2x+5 of it, its negation, the channel itself): the matte is output 2."""
    axis = 3 if nhwc else 1
    dims: list[int | str] = ["n", "h", "w", 3] if nhwc else ["n", 3, "h", "w"]
    out_dims: list[int | str] = ["n", "h", "w", 1] if nhwc else ["n", 1, "h", "w"]
    nodes = [helper.make_node("Slice", ["x", "starts", "ends", "axes"], ["c"])]
    inits = [_const("starts", [channel]), _const("ends", [channel + 1]), _const("axes", [axis])]
    outputs = ["c"]
    if extra_outputs:
        inits += [
            numpy_helper.from_array(np.array(2.0, np.float32), "two"),
            numpy_helper.from_array(np.array(5.0, np.float32), "five"),
        ]
        nodes += [
            helper.make_node("Mul", ["c", "two"], ["twice"]),
            helper.make_node("Add", ["twice", "five"], ["scaled"]),
            helper.make_node("Neg", ["c"], ["negated"]),
        ]
        outputs = ["scaled", "negated", "c"]
    return helper.make_graph(
        nodes,
        "channel",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, out_dims) for o in outputs],
        initializer=inits,
    )


def _import(tmp_path: Path, home: Path, graph_file: Path, toml: str, name: str) -> Matter:
    spec_file = tmp_path / f"{name}.toml"
    spec_file.write_text(toml)
    result = CliRunner().invoke(
        cli,
        ["model", "import", str(graph_file), "--spec", str(spec_file), "--no-prepare"],
        env={"ALPHAMATTE_HOME": str(home)},
    )
    assert result.exit_code == 0, result.output
    return load_matter(name, directory=home / "models", backend="onnxruntime", fetch=False)


def _import_like_u2netp(tmp_path: Path) -> Path:
    """A 320² test graph imported as ``mine`` under ``u2netp``'s contracts; the home it is in."""
    graph = _save(channel_mean_graph(320), tmp_path / "mine.onnx")
    home = tmp_path / "home"
    result = CliRunner().invoke(
        cli,
        ["model", "import", str(graph), "--name", "mine", "--like", "u2netp", "--no-prepare"],
        env={"ALPHAMATTE_HOME": str(home)},
    )
    assert result.exit_code == 0, result.output
    return home


def _photo(side: int, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)


def test_fixed_1024_imagenet_logits(tmp_path: Path) -> None:
    graph = _save(channel_mean_graph(1024), tmp_path / "mean.onnx")
    toml = 'name = "mean-logits"\nlike = "birefnet"\n'
    matter = _import(tmp_path, tmp_path / "home", graph, toml, "mean-logits")
    photo = _photo(1024)  # exactly the graph's side: no resize, so every pixel is known
    alpha = matter.predict_float(photo)
    normalised = (photo / np.float32(255) - IMAGENET_MEAN) / IMAGENET_STD
    expected = 1 / (1 + np.exp(-normalised.mean(axis=2)))
    np.testing.assert_allclose(alpha, expected, atol=2e-6)


def test_unit_input_with_probabilities(tmp_path: Path) -> None:
    graph = _save(channel_graph(0), tmp_path / "red.onnx")
    toml = 'name = "red"\n[input]\nside = 256\nresize = "stretch"\nmean = [0.0, 0.0, 0.0]\n'
    matter = _import(tmp_path, tmp_path / "home", graph, toml, "red")
    photo = _photo(256)
    np.testing.assert_allclose(matter.predict_float(photo), photo[..., 0] / 255, atol=1e-6)


def test_the_chosen_output_of_several_with_minmax(tmp_path: Path) -> None:
    graph = _save(channel_graph(1, extra_outputs=True), tmp_path / "three.onnx")
    toml = (
        'name = "three"\nlike = "u2net"\n[input]\nside = 128\n[output]\noutput = 2\nminmax = true\n'
    )
    matter = _import(tmp_path, tmp_path / "home", graph, toml, "three")
    photo = _photo(128)
    photo[0, 0, 1], photo[0, 1, 1] = 0, 255  # so that the green plane spans 0..255
    alpha = matter.predict_float(photo)
    # U²-Net's scaling: x / the image's maximum, then ImageNet; min-max undoes both.
    green = photo[..., 1].astype(np.float32)
    np.testing.assert_allclose(alpha, (green - green.min()) / np.ptp(green), atol=1e-5)
    # The pruned graph returns only the matte.
    graph_run = onnx.load(str(next((tmp_path / "home" / "models").glob("three.generic-*.onnx"))))
    assert [o.name for o in graph_run.graph.output] == ["c"]


def test_dynamic_size_in_multiples_of_32_letterboxed(tmp_path: Path) -> None:
    graph = _save(channel_mean_graph(None), tmp_path / "any.onnx")
    toml = (
        'name = "any"\n[input]\nside = 512\ndynamic = true\nmultiple = 32\n'
        'resize = "letterbox"\npad = 0\nmean = [0.0, 0.0, 0.0]\n'
    )
    matter = _import(tmp_path, tmp_path / "home", graph, toml, "any")
    assert matter.session.dynamic_size and matter.canvas_side() == 512
    photo = np.full((200, 300, 3), 90, np.uint8)  # enlarged to 512x341 in the letterbox
    alpha = matter.predict_float(photo)
    np.testing.assert_allclose(alpha, 90 / 255, atol=1e-5)  # the zero padding never shows


def test_nhwc_layout_and_bgr_order(tmp_path: Path) -> None:
    graph = _save(channel_graph(0, nhwc=True), tmp_path / "nhwc.onnx")
    toml = (
        'name = "nhwc"\n[input]\nside = 64\nresize = "stretch"\nlayout = "NHWC"\n'
        'channels = "BGR"\nscaling = "byte"\nstd = [255.0, 255.0, 255.0]\n'
        "mean = [0.0, 0.0, 0.0]\n"
    )
    matter = _import(tmp_path, tmp_path / "home", graph, toml, "nhwc")
    photo = _photo(64)
    # Channel 0 of a BGR tensor is blue; 0..255 over a std of 255 is 0..1 again.
    np.testing.assert_allclose(matter.predict_float(photo), photo[..., 2] / 255, atol=1e-6)


def test_imported_like_a_catalogue_model_takes_its_contract(tmp_path: Path) -> None:
    home = _import_like_u2netp(tmp_path)
    matter = load_matter("mine", directory=home / "models", backend="onnxruntime", fetch=False)
    assert matter.spec.input == REGISTRY["u2netp"].input
    assert matter.spec.output == REGISTRY["u2netp"].output
    assert matter.spec.sha256 is not None  # pinned to the imported file
    listed = CliRunner().invoke(cli, ["model", "list"], env={"ALPHAMATTE_HOME": str(home)})
    assert "mine" in listed.output and "yes" in listed.output.split("mine", 1)[1].split("\n")[0]


def test_a_server_pinned_to_int8_still_runs_a_model_without_int8(tmp_path: Path) -> None:
    """ALPHAMATTE_CPU_PRECISION=int8 is set for the default (IS-Net); another served model has
    no int8 graph and must run in f32, not fail to load."""
    home = _import_like_u2netp(tmp_path)
    matter = load_matter(
        "mine",
        directory=home / "models",
        backend="onnxruntime",
        fetch=False,
        precisions=("int8", "fp16"),
    )
    assert matter.selection is not None and matter.selection.choice == "onnxruntime f32"
    assert matter.predict(_photo(320)).shape == (320, 320)


def test_an_unknown_file_without_a_contract_is_refused(tmp_path: Path) -> None:
    graph = _save(channel_mean_graph(64), tmp_path / "who.onnx")
    result = CliRunner().invoke(
        cli,
        ["model", "import", str(graph), "--no-prepare"],
        env={"ALPHAMATTE_HOME": str(tmp_path / "home")},
    )
    assert result.exit_code != 0
    assert "--like" in result.output and "--spec" in result.output


def test_a_model_above_1024_is_refused_with_the_reason(tmp_path: Path) -> None:
    graph = _save(channel_mean_graph(64), tmp_path / "hr.onnx")
    toml = 'name = "hr"\nlike = "birefnet-hr"\n'
    with pytest.raises(Exception, match="1024"):
        _import(tmp_path, tmp_path / "home", graph, toml, "hr")


def test_a_description_round_trips_through_toml() -> None:
    for spec in REGISTRY.values():
        again = spec_from_toml(spec_to_toml(spec))
        assert (again.input, again.output, again.sha256) == (spec.input, spec.output, spec.sha256)


def test_minmax_looks_only_at_the_photo_in_a_letterbox() -> None:
    output = np.zeros((1, 1, 4, 4), np.float32)
    output[0, 0, :2, :2] = [[0.2, 0.4], [0.6, 0.6]]  # the canvas outside stays 0
    alpha = to_alpha(output, OutputContract(minmax=True), regions=[(2, 2)])
    np.testing.assert_allclose(alpha[0, :2, :2], [[0.0, 0.5], [1.0, 1.0]], atol=1e-6)


def test_image_max_scaling_divides_by_the_brightest_value() -> None:
    images = np.full((1, 2, 2, 3), 100, np.uint8)
    images[0, 0, 0] = 200
    tensor = to_input(images, InputContract(scaling="image_max"))
    assert tensor.shape == (1, 3, 2, 2)
    np.testing.assert_allclose(tensor[0, :, 0, 0], 1.0)
    np.testing.assert_allclose(tensor[0, :, 1, 1], 0.5)


def test_invalid_contracts_are_refused() -> None:
    with pytest.raises(ValueError):
        InputContract(layout="CHWN")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        InputContract(std=(1.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="unknown"):
        spec_from_toml('name = "x"\n[input]\nsize = 3\n')
