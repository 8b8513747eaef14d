# wno-edge for x86-64 machines with an NVIDIA GPU (Turing .. Hopper).
# Base: NVIDIA's TensorRT container (Ubuntu, CUDA, TensorRT headers, libraries and Python
# bindings, nvcc). Pick the tag whose TensorRT matches where engines will run: an engine
# only loads under the TensorRT version (and GPU) that built it.
ARG BASE_IMAGE=nvcr.io/nvidia/tensorrt:25.10-py3
FROM ${BASE_IMAGE}

ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1
RUN apt-get update && apt-get install -y --no-install-recommends cmake build-essential \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/wno-edge
COPY . .

# Native runtime: CPU kernel, CUDA kernel and the TensorRT plugin (found under /usr).
# CUDA_ARCHS: the GPUs to build for, e.g. "86" for an RTX 30 card only (faster build).
ARG CUDA_ARCHS="75;80;86;89;90"
RUN cmake -S runtime -B build -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHS}" \
    && cmake --build build -j"$(nproc)" \
    && test -f build/libwno_trt_plugin.so

# The package. TensorRT's Python bindings are the image's own (never a wheel from PyPI: a
# newer tensorrt would not load this plugin, linked against the image's libnvinfer), so the
# [tensorrt] extra is not installed; cuda-python is pinned to the image's CUDA major.minor.
RUN python3 -m pip install --upgrade pip \
    && python3 -c "import tensorrt; print('tensorrt', tensorrt.__version__, 'from the image')" \
    && CUDA_MM=$(nvcc --version | sed -n 's/.*release \([0-9]*\)\.\([0-9]*\).*/\1 \2/p') \
    && set -- $CUDA_MM && python3 -m pip install -e . "cuda-python>=$1.0,<$1.$(($2 + 1))"
ENV WNO_EDGE_TRT_PLUGIN=/opt/wno-edge/build/libwno_trt_plugin.so
# `make test` here: a venv that sees the image's tensorrt and cuda-python, so the GPU tests
# run instead of skipping (set TORCH_INDEX to a CUDA wheel index for the torch GPU tests).
RUN python3 -m venv --system-site-packages .venv

CMD ["wno-edge", "--help"]
