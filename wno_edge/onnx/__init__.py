"""ONNX export: WNO2d -> FFT-free ONNX with WinogradConv nodes (what `wno-edge export` runs).

graph     the WinogradConv node and its fallback function, a small graph builder
spectral  truncated DFT bases and the complex mode mixing as real matrices
export    the whole model graph, options, and export_onnx (check, verify, write)
verify    ONNX Runtime / onnx.reference runs compared with PyTorch, graph statistics
"""

from .export import (
    CONFIG_PROPERTY,
    TOLERANCE,
    ExportError,
    ExportOptions,
    ExportReport,
    build_model_proto,
    check_model_proto,
    export_onnx,
    resolve_options,
)

__all__ = [
    "CONFIG_PROPERTY",
    "TOLERANCE",
    "ExportError",
    "ExportOptions",
    "ExportReport",
    "build_model_proto",
    "check_model_proto",
    "export_onnx",
    "resolve_options",
]
