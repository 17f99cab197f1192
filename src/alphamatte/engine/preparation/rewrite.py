"""Deterministic rewrites of the downloaded IS-Net graph into the variant we run.

Four rewrites, each checked against the untouched graph by the test suite:

* **fp32** — the published weights are fp16, so ONNX Runtime's CPU provider wraps most ops in
  Cast nodes. Widening initializers and constants to fp32 and turning the fp16 Casts into
  Identities removes that traffic without changing the maths the CPU does anyway.
* **dynamic H×W** — the export traced every ``_upsample_like(src, target)`` as a constant
  output size (e.g. ``[32, 32]`` at a 1024² input). Each size is rewired to read the spatial
  shape of the tensor it is concatenated or added with, or of the graph input for side outputs,
  so any multiple-of-32 input works and smaller inputs cost proportionally less.
* **dynamic batch** — the export fixed the batch at 1; a GPU session runs several concurrent
  requests' canvases as one batch (:mod:`alphamatte.engine.batching`).
* **one output** — the export also returns the five coarser side outputs (each resized to the
  full canvas and put through a sigmoid) and six decoder feature maps. We read only the first;
  ONNX Runtime computes and keeps every graph output, so the rest are pruned (1.06x faster per
  1024² on a 2-core EPYC, and less memory per run).

A GPU has fp16 units, so for it :func:`prepare` can also keep the published fp16 maths
(``half=True``): the same shape rewrites, no widening.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from alphamatte.files import replacing

if TYPE_CHECKING:  # onnx takes ~0.5 s to import: only rewrites need it, not a prepared start
    import onnx

PREPARED_VERSION = 3  # bump when a rewrite changes; prepared files are keyed by it


def prepared_path(source: Path, *, half: bool = False) -> Path:
    suffix = "-fp16" if half else ""
    return source.with_name(f"{source.stem}.prepared-v{PREPARED_VERSION}{suffix}.onnx")


def quantized_path(prepared: Path) -> Path:
    """Where :func:`alphamatte.engine.quantize.quantize` keeps the int8 variant of ``prepared``."""
    return prepared.with_name(f"{prepared.stem}-int8.onnx")


def prepare(source: Path, *, half: bool = False) -> Path:
    """Write (once) and return the prepared variant next to ``source``: fp32 for CPUs, or the
    published fp16 maths (``half``) for GPUs."""
    target = prepared_path(source, half=half)
    if target.is_file():
        return target
    import onnx

    model = onnx.load(str(source))
    if not half:
        widen_to_fp32(model)
    make_spatial_dims_dynamic(model)
    keep_only_the_first_output(model)
    onnx.checker.check_model(model)
    with replacing(target) as partial:
        onnx.save(model, str(partial))
    _remove_older_versions(source)
    return target


def _remove_older_versions(source: Path) -> None:
    """Prepared files of earlier rewrites are never read again (~176 MB each)."""
    full = prepared_path(source)
    current = {full.name, prepared_path(source, half=True).name, quantized_path(full).name}
    for stale in source.parent.glob(f"{source.stem}.prepared-v*.onnx"):
        if stale.name not in current:
            stale.unlink(missing_ok=True)


def widen_to_fp32(model: onnx.ModelProto) -> None:
    from onnx import TensorProto, numpy_helper

    graph = model.graph
    for index, tensor in enumerate(graph.initializer):
        if tensor.data_type == TensorProto.FLOAT16:
            wide = numpy_helper.to_array(tensor).astype(np.float32)
            graph.initializer[index].CopyFrom(numpy_helper.from_array(wide, tensor.name))
    for node in graph.node:
        if node.op_type == "Constant":
            for attribute in node.attribute:
                if attribute.name == "value" and attribute.t.data_type == TensorProto.FLOAT16:
                    wide = numpy_helper.to_array(attribute.t).astype(np.float32)
                    attribute.t.CopyFrom(numpy_helper.from_array(wide, attribute.t.name))
        elif node.op_type == "Cast":
            to = next(a.i for a in node.attribute if a.name == "to")
            if to in (TensorProto.FLOAT16, TensorProto.FLOAT):
                node.op_type = "Identity"
                del node.attribute[:]
    for info in graph.value_info:
        if info.type.tensor_type.elem_type == TensorProto.FLOAT16:
            info.type.tensor_type.elem_type = TensorProto.FLOAT


def _through_identities(
    name: str, consumers: dict[str, list[onnx.NodeProto]]
) -> list[tuple[onnx.NodeProto, str]]:
    """Consumers of ``name``, looking through Identity and Cast nodes (the fp16 graph keeps its
    Casts): (node, the input it reads)."""
    found: list[tuple[onnx.NodeProto, str]] = []
    for node in consumers.get(name, []):
        if node.op_type in ("Identity", "Cast"):
            found.extend(_through_identities(node.output[0], consumers))
        else:
            found.append((node, name))
    return found


def make_spatial_dims_dynamic(model: onnx.ModelProto) -> None:
    """Any batch and any multiple-of-32 H×W: every resize reads its size from the graph."""
    from onnx import helper, numpy_helper

    graph = model.graph
    producers = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
    for node in graph.node:
        for name in node.input:
            consumers[name].append(node)
    graph_input = graph.input[0].name
    new_nodes: list[onnx.NodeProto] = []
    for node in list(graph.node):
        if node.op_type != "Resize" or len(node.input) < 4:
            continue
        concat = producers.get(node.input[3])
        if concat is None or concat.op_type != "Concat" or len(concat.input) != 2:
            continue
        const = producers.get(concat.input[1])
        if const is None or const.op_type != "Constant":
            continue
        target = graph_input
        for consumer, read in _through_identities(node.output[0], consumers):
            if consumer.op_type in ("Concat", "Add"):
                others = [name for name in consumer.input if name != read]
                if others:
                    target = others[0]
                    break
        prefix = f"{node.name}/dynamic_size"
        shape_name, starts, ends, spatial = (
            f"{prefix}/{s}" for s in ("shape", "starts", "ends", "hw")
        )
        new_nodes += [
            helper.make_node("Shape", [target], [shape_name], name=f"{prefix}/Shape"),
            helper.make_node(
                "Constant",
                [],
                [starts],
                name=f"{prefix}/Starts",
                value=numpy_helper.from_array(np.array([2], dtype=np.int64)),
            ),
            helper.make_node(
                "Constant",
                [],
                [ends],
                name=f"{prefix}/Ends",
                value=numpy_helper.from_array(np.array([4], dtype=np.int64)),
            ),
            helper.make_node(
                "Slice", [shape_name, starts, ends], [spatial], name=f"{prefix}/Slice"
            ),
        ]
        concat.input[1] = spatial
    graph.node.extend(new_nodes)
    _drop_unused_constants(graph)
    _topological_sort(graph)
    for value in list(graph.input) + list(graph.output):
        dims = value.type.tensor_type.shape.dim
        if len(dims) == 4:
            dims[0].dim_param = "batch"
            dims[2].dim_param = "height"
            dims[3].dim_param = "width"
    del graph.value_info[:]  # stale static shapes; ORT re-infers them


def keep_only_the_first_output(model: onnx.ModelProto) -> None:
    """Drop every graph output but the matte, and the nodes and weights only they needed."""
    graph = model.graph
    first = graph.output[0]
    del graph.output[1:]
    producers = {out: node for node in graph.node for out in node.output}
    needed: set[str] = set()
    pending = [first.name]
    while pending:
        node = producers.get(pending.pop())
        if node is None or node.output[0] in needed:
            continue
        needed.add(node.output[0])  # outputs are unique (SSA), names need not be
        pending.extend(name for name in node.input if name)
    kept = [node for node in graph.node if node.output[0] in needed]
    del graph.node[:]
    graph.node.extend(kept)
    read = {name for node in kept for name in node.input}
    weights = [tensor for tensor in graph.initializer if tensor.name in read]
    del graph.initializer[:]
    graph.initializer.extend(weights)


def _drop_unused_constants(graph: onnx.GraphProto) -> None:
    used = {name for node in graph.node for name in node.input}
    used |= {output.name for output in graph.output}
    kept = [n for n in graph.node if n.op_type != "Constant" or n.output[0] in used]
    del graph.node[:]
    graph.node.extend(kept)


def _topological_sort(graph: onnx.GraphProto) -> None:
    available = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending = list(graph.node)
    ordered: list[onnx.NodeProto] = []
    while pending:
        progressed = False
        remaining: list[onnx.NodeProto] = []
        for node in pending:
            if all(name in available for name in node.input):
                ordered.append(node)
                available.update(node.output)
                progressed = True
            else:
                remaining.append(node)
        if not progressed:
            raise ValueError("graph has a cycle or a missing input")
        pending = remaining
    del graph.node[:]
    graph.node.extend(ordered)


GENERIC_VERSION = 1  # bump when prepare_generic changes


def generic_path(source: Path) -> Path:
    return source.with_name(f"{source.stem}.generic-v{GENERIC_VERSION}.onnx")


def prepare_generic(source: Path, output: int = 0) -> Path:
    """The graph of any model, ready for CPUs: only output ``output`` kept (ONNX Runtime
    computes and keeps every graph output) and fp16 weights widened to fp32. A graph that
    needs neither is run as published (``source`` itself), which a small note beside it
    remembers so that later starts need not read the graph again."""
    target = generic_path(source)
    as_published = target.with_suffix(".as-published")
    if target.is_file():
        return target
    if as_published.is_file():
        return source
    import onnx
    from onnx import TensorProto

    model = onnx.load(str(source), load_external_data=False)
    outputs = len(model.graph.output)
    if output >= outputs:
        raise ValueError(f"the graph has {outputs} output(s); the contract reads output {output}")
    half = any(t.data_type == TensorProto.FLOAT16 for t in model.graph.initializer)
    if outputs == 1 and not half:
        # A read-only model directory: the graph is read again next time.
        with contextlib.suppress(OSError):
            as_published.write_text(f"{source.name} runs as published\n")
        return source
    model = onnx.load(str(source))
    if half:
        widen_to_fp32(model)
        for value in list(model.graph.input) + list(model.graph.output):
            if value.type.tensor_type.elem_type == TensorProto.FLOAT16:
                value.type.tensor_type.elem_type = TensorProto.FLOAT
    keep_one_output(model, output)
    _topological_sort(model.graph)  # published graphs need not be sorted; the checker wants it
    onnx.checker.check_model(model)
    with replacing(target) as partial:
        onnx.save(model, str(partial))
    return target


def keep_one_output(model: onnx.ModelProto, index: int) -> None:
    """Keep graph output ``index`` only, with the nodes and weights it needs (a node is kept
    when any of its outputs is needed)."""
    import onnx

    graph = model.graph
    kept_output = onnx.ValueInfoProto()
    kept_output.CopyFrom(graph.output[index])
    del graph.output[:]
    graph.output.append(kept_output)
    nodes = list(graph.node)
    producers = {out: i for i, node in enumerate(nodes) for out in node.output}
    needed: set[int] = set()
    pending = [kept_output.name]
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        position = producers.get(name)
        if position is None:
            continue
        needed.add(position)
        pending.extend(n for n in nodes[position].input if n)
    kept = [node for i, node in enumerate(nodes) if i in needed]
    del graph.node[:]
    graph.node.extend(kept)
    read = {name for node in graph.node for name in node.input}
    weights = [tensor for tensor in graph.initializer if tensor.name in read]
    del graph.initializer[:]
    graph.initializer.extend(weights)
