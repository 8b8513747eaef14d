# wno-edge for Jetson Orin (sm_87) on JetPack 6 (L4T r36, CUDA 12.6, TensorRT 10.3).
# Build on the Jetson itself (or an arm64 builder with the same L4T): the CUDA kernel and
# plugin must be compiled by JetPack's own nvcc against JetPack's TensorRT, since a .so
# built with CUDA 13 would need a CUDA-13 driver.
ARG BASE_IMAGE=nvcr.io/nvidia/l4t-jetpack:r36.4.0
FROM ${BASE_IMAGE}

ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PATH=/usr/local/cuda/bin:${PATH}
RUN apt-get update && apt-get install -y --no-install-recommends \
        cmake build-essential python3-pip python3-venv python3-libnvinfer python3-libnvinfer-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/wno-edge
COPY . .

# TensorRT headers and libraries live under /usr/include|lib/aarch64-linux-gnu on JetPack.
RUN cmake -S runtime -B build -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=87 \
    && cmake --build build -j"$(nproc)" \
    && test -f build/libwno_trt_plugin.so

# PyPI's aarch64 torch is a CPU build: enough for export and the PyTorch backend; inference
# on the GPU goes through TensorRT. tensorrt itself comes from JetPack (python3-libnvinfer),
# so only cuda-python is installed from the extra's list.
# cuda-python is pinned to JetPack's CUDA major.minor (12.6 on JetPack 6), read from nvcc.
RUN python3 -m pip install --upgrade pip \
    && python3 -m pip install torch \
    && python3 -c "import tensorrt; print('tensorrt', tensorrt.__version__, 'from JetPack')" \
    && CUDA_MM=$(nvcc --version | sed -n 's/.*release \([0-9]*\)\.\([0-9]*\).*/\1 \2/p') \
    && set -- $CUDA_MM && python3 -m pip install -e . "cuda-python>=$1.0,<$1.$(($2 + 1))"
ENV WNO_EDGE_TRT_PLUGIN=/opt/wno-edge/build/libwno_trt_plugin.so
# `make test` here: a venv that sees JetPack's tensorrt and cuda-python (GPU tests run).
RUN python3 -m venv --system-site-packages .venv

CMD ["wno-edge", "--help"]
