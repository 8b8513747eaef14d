"""TensorRT: the WinogradConv plugin library (plugin) and `wno-edge build` (build).

Nothing here imports tensorrt until a function needs it.
"""
