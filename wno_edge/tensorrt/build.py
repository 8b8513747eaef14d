"""`wno-edge build`: an ONNX file from `wno-edge export` -> a TensorRT engine using our plugin.

The parser must prefer the WinogradConv plugin over the node's local-function fallback
on every TensorRT from 10.0 (docs/export.md, "How runtimes pick the plugin"):
  <= 10.6   always inlines a local function -> we drop the function before parsing;
  10.7-10.14 prefers a registered plugin;
  >= 10.15  prefers it when the node has plugin_namespace (our exporter sets it) or
            kENABLE_PLUGIN_OVERRIDE is set -> we set the flag only for nodes without the
            attribute (files from older exporters), where the parser needs it.
A WinogradConv node that still ends up as the Conv fallback is an error (the engine would
silently lose the plugin) unless allow_fallback is given.
TensorRT 11 networks are always strongly typed: fp16 comes from an fp16 ONNX file.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import onnx

from ..contract import OP_DOMAIN
from ..errors import WNOEdgeError
from ..util.io import atomic_path, refuse_overwrite, refuse_same_outputs
from ..util.shapes import parse_dims
from .plugin import PLUGIN_NAME, load_plugin, require_tensorrt, tensorrt_version


@dataclass
class BuildReport:
    engine: Path
    tensorrt_version: str
    plugin_library: Path
    engine_bytes: int
    build_seconds: float
    layers: int
    plugin_layers: list[str] = field(default_factory=list)
    winograd_nodes: int = 0
    profile: dict = field(default_factory=dict)


def parse_shape(text: str | None) -> tuple[int, ...] | None:
    return None if text is None else parse_dims(text)


def prepare_onnx(model: onnx.ModelProto, version: tuple[int, int]) -> onnx.ModelProto:
    """A copy of the model the parser will map to our plugin (see the module docstring)."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    if version < (10, 7):
        keep = [f for f in model.functions if not (f.domain == OP_DOMAIN and f.name == PLUGIN_NAME)]
        del model.functions[:]
        model.functions.extend(keep)
    return model


def needs_plugin_override(model: onnx.ModelProto, version: tuple[int, int]) -> bool:
    """Whether the parser needs kENABLE_PLUGIN_OVERRIDE to map WinogradConv to the plugin:
    only from 10.15 on (before, the function is dropped or a registered plugin wins) and only
    when a WinogradConv node lacks plugin_namespace (which makes 10.15+ prefer the plugin)."""
    if version < (10, 15):
        return False
    return any(
        n.op_type == PLUGIN_NAME
        and n.domain == OP_DOMAIN
        and not any(a.name == "plugin_namespace" for a in n.attribute)
        for n in model.graph.node
    )


def check_plugin_layers(winograd_nodes: int, plugin_layers: list[str], allow_fallback: bool, log=print) -> None:
    """Every WinogradConv node must have become a plugin layer; a fallback to the Conv function
    is an error unless allowed (then a warning)."""
    if not winograd_nodes or len(plugin_layers) == winograd_nodes:
        return
    msg = (
        f"{winograd_nodes} WinogradConv nodes but {len(plugin_layers)} plugin layers: "
        f"{winograd_nodes - len(plugin_layers)} fell back to the standard Conv function"
    )
    if not allow_fallback:
        raise WNOEdgeError(
            msg + " (the plugin was not used; pass --allow-fallback to build anyway, "
            "--verbose to see TensorRT's parser log)"
        )
    log(f"warning: {msg}")


def format_parser_errors(errors: list, verbose: bool) -> str:
    """The parser's errors: all of each in verbose mode, else the first 300 characters."""
    text = "; ".join(str(e) for e in errors)
    return ("\n  " + "\n  ".join(str(e) for e in errors)) if verbose else text[:300]


def profile_shapes(model: onnx.ModelProto, min_shape, opt_shape, max_shape) -> dict:
    """min/opt/max for the single input: dynamic dims must be given, fixed dims must match."""
    (inp,) = [i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    dims = [d.dim_value if d.HasField("dim_value") else None for d in inp.type.tensor_type.shape.dim]
    default = tuple(1 if d is None else d for d in dims)
    opt = opt_shape or min_shape or max_shape or default
    shapes = {"min": min_shape or opt, "opt": opt, "max": max_shape or opt}
    for name, shape in shapes.items():
        if len(shape) != len(dims) or any(d is not None and d != s for d, s in zip(dims, shape, strict=False)):
            raise WNOEdgeError(
                f"--{name} {'x'.join(map(str, shape))} does not fit input {inp.name} "
                f"{'x'.join('?' if d is None else str(d) for d in dims)}"
            )
    if not all(a <= b <= c for a, b, c in zip(shapes["min"], shapes["opt"], shapes["max"], strict=True)):
        raise WNOEdgeError("optimisation profile needs min <= opt <= max in every dimension")
    return {"input": inp.name, **shapes, "fp16_input": inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT16}


def build_engine(
    onnx_path: str | Path,
    engine_path: str | Path,
    *,
    fp16: bool = False,
    workspace_mib: int = 1024,
    min_shape=None,
    opt_shape=None,
    max_shape=None,
    timing_cache: str | Path | None = None,
    plugin: str | Path | None = None,
    allow_fallback: bool = False,
    verbose: bool = False,
    log=print,
) -> BuildReport:
    onnx_path, engine_path = Path(onnx_path), Path(engine_path)
    # Before TensorRT is imported: no output replaces an input (the timing cache is both,
    # updated in place, so only the engine may not be it).
    refuse_overwrite(engine_path, onnx_path, plugin, timing_cache)
    if timing_cache is not None:
        refuse_overwrite(timing_cache, onnx_path, plugin)
    refuse_same_outputs(engine_path, timing_cache)
    if not onnx_path.is_file():
        raise WNOEdgeError(f"{onnx_path}: no such file")
    if not engine_path.resolve().parent.is_dir():
        raise WNOEdgeError(f"cannot write {engine_path}: directory {engine_path.parent} does not exist")
    try:
        model = onnx.load(str(onnx_path))
    except Exception as e:
        raise WNOEdgeError(f"{onnx_path}: not a readable ONNX file ({str(e).splitlines()[0][:120]})") from None
    shapes = profile_shapes(model, min_shape, opt_shape, max_shape)
    winograd_nodes = sum(n.op_type == PLUGIN_NAME and n.domain == OP_DOMAIN for n in model.graph.node)

    trt = require_tensorrt()
    version = tensorrt_version(trt)
    if fp16 and version >= (11, 0) and not shapes["fp16_input"]:
        raise WNOEdgeError(
            "TensorRT 11 builds strongly typed networks: export an fp16 model "
            "(wno-edge export --fp16) instead of passing --fp16 here"
        )
    plugin_path = load_plugin(plugin)
    logger = trt.Logger(trt.Logger.VERBOSE if verbose else trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    override = getattr(getattr(trt, "OnnxParserFlag", None), "ENABLE_PLUGIN_OVERRIDE", None)
    if override is not None and needs_plugin_override(model, version):
        parser.set_flag(override)
    if not parser.parse(prepare_onnx(model, version).SerializeToString(), str(onnx_path)):
        errors = [parser.get_error(i) for i in range(parser.num_errors)]
        raise WNOEdgeError(f"TensorRT's ONNX parser rejected {onnx_path}: {format_parser_errors(errors, verbose)}")

    plugin_type = getattr(trt.LayerType, "PLUGIN_V3", None)
    plugin_layers = [
        network.get_layer(i).name for i in range(network.num_layers) if network.get_layer(i).type == plugin_type
    ]
    check_plugin_layers(winograd_nodes, plugin_layers, allow_fallback, log)

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mib << 20)
    if fp16 and hasattr(trt.BuilderFlag, "FP16"):
        config.set_flag(trt.BuilderFlag.FP16)
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
    profile = builder.create_optimization_profile()
    profile.set_shape(shapes["input"], shapes["min"], shapes["opt"], shapes["max"])
    config.add_optimization_profile(profile)
    cache = None
    if timing_cache is not None:
        timing_cache = Path(timing_cache)
        cache = config.create_timing_cache(timing_cache.read_bytes() if timing_cache.is_file() else b"")
        config.set_timing_cache(cache, ignore_mismatch=False)

    start = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    seconds = time.perf_counter() - start
    if serialized is None:
        raise WNOEdgeError("TensorRT failed to build the engine (its log above says why)")
    with atomic_path(engine_path, inputs=(onnx_path, plugin_path)) as tmp:  # the plugin found by search too
        tmp.write_bytes(bytes(serialized))
    if cache is not None and timing_cache is not None:  # cache exists only with a timing_cache path
        with atomic_path(timing_cache, inputs=(onnx_path, plugin_path)) as tmp:
            tmp.write_bytes(bytes(config.get_timing_cache().serialize()))
    return BuildReport(
        engine_path,
        trt.__version__,
        plugin_path,
        engine_path.stat().st_size,
        seconds,
        network.num_layers,
        plugin_layers,
        winograd_nodes,
        {k: list(v) for k, v in shapes.items() if k in ("min", "opt", "max")},
    )
