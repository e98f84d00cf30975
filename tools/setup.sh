#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine for svg-ts: system packages, npm dependencies, and a build of every package.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
# build-essential, python3, libopenblas-dev: the @svg/blas addon (fast CPU kernels); openmpi-bin, libopenmpi-dev: the
# @svg/distributed addon and `mpirun` (data-parallel training); chromium: SwiftShader Vulkan
# driver for WebGPU in Node and the headless browser tests; libvulkan1: Dawn's Vulkan loader;
# python3-skimage, dataset-fashion-mnist: real photographs and Fashion-MNIST for the data and training tests.
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  build-essential python3 libopenblas-dev openmpi-bin libopenmpi-dev chromium libvulkan1 python3-skimage dataset-fashion-mnist >/dev/null

# node-gyp (the @svg/blas addon) takes Node's headers from Debian's nodejs package instead of downloading them.
if [ -f /usr/include/node/node_api.h ]; then export npm_config_nodedir=/usr; fi
npm ci --no-audit --no-fund
npx nx run-many -t build --outputStyle=static
