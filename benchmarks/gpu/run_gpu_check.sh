#!/usr/bin/env bash
# GPU check of the CUDA PQEqForce (docs/cuda.md): builds the plugin libraries with nvcc/g++ directly (no
# cmake, SWIG or pip build needed), runs the CPU emulation check of the kernels, then the Reference vs CUDA
# parity check (single/mixed/double, every method, a short MD run) and a timing table.
#
#   bash benchmarks/gpu/run_gpu_check.sh [--quick]
#
# OpenMM comes from (first found): $OPENMM_DIR (an OpenMM.libs folder), the openmm of $PYTHON, or wheels
# in $WHEELS (default wheels/: openmm-8.5.2-*.whl and openmm_cuda_13-8.5.2-*.whl, unpacked, not installed).
# Results: $OUT/gpu_check.txt when $OUT is set (the device tool), else benchmarks/gpu/results/.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
PY=${PYTHON:-python3}
WHEELS=${WHEELS:-$ROOT/wheels}
BUILD=${BUILD:-$ROOT/build/gpu-check}
RESULTS=${OUT:-$ROOT/benchmarks/gpu/results}
mkdir -p "$BUILD/plugins" "$RESULTS"
LOG="$RESULTS/gpu_check.txt"
exec > >(tee "$LOG") 2>&1

# --- OpenMM headers and libraries ---
if [ -z "${OPENMM_DIR:-}" ]; then
  OPENMM_DIR=$($PY -c "import os, openmm; print(os.path.join(os.path.dirname(os.path.dirname(openmm.__file__)), 'OpenMM.libs'))" 2>/dev/null || true)
fi
if [ -z "${OPENMM_DIR:-}" ] || [ ! -d "$OPENMM_DIR/include" ]; then
  if ls "$WHEELS"/openmm-*.whl >/dev/null 2>&1; then
    rm -rf "$BUILD/openmm" && mkdir -p "$BUILD/openmm"
    for w in "$WHEELS"/openmm-*.whl "$WHEELS"/openmm_cuda*.whl; do
      [ -f "$w" ] && $PY -m zipfile -e "$w" "$BUILD/openmm/"
    done
    OPENMM_DIR="$BUILD/openmm/OpenMM.libs"
  else
    echo "no OpenMM: set OPENMM_DIR, install openmm for $PY, or put the wheels in $WHEELS"; exit 2
  fi
fi
echo "OpenMM: $OPENMM_DIR"
ls "$OPENMM_DIR/lib/plugins" | tr '\n' ' '; echo
# the CUDA platform library: OpenMM's plugin folder, or wherever the openmm-cuda wheel put it
OMM_PLUGINS="$OPENMM_DIR/lib/plugins"
if [ ! -f "$OMM_PLUGINS/libOpenMMCUDA.so" ]; then
  found=$(find "$(dirname "$OPENMM_DIR")" -maxdepth 5 -name "libOpenMMCUDA.so" 2>/dev/null | head -1)
  if [ -n "$found" ]; then OMM_PLUGINS=$(dirname "$found"); else
    echo "warning: no libOpenMMCUDA.so (the openmm-cuda-13 wheel of the same version)"; fi
fi
echo "OpenMM plugins: $OMM_PLUGINS"

# --- CUDA toolchain and runtime libraries (cuFFT/NVRTC for OpenMM's CUDA platform, e.g. from torch's nvidia wheels) ---
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
CUDA_HOME=${CUDA_HOME:-$(dirname "$(dirname "$(readlink -f "$NVCC")")")}
[ -f "$CUDA_HOME/include/cuda.h" ] || CUDA_HOME=/usr/local/cuda
"$NVCC" --version | tail -2
NVLIBS=$($PY - <<'PY' 2>/dev/null
import glob, os, site
dirs = set()
for sp in site.getsitepackages() + [site.getusersitepackages()]:
    dirs.update(d for d in glob.glob(os.path.join(sp, "nvidia", "*", "lib")) + glob.glob(os.path.join(sp, "nvidia", "cu*", "lib")) if os.path.isdir(d))
print(":".join(sorted(dirs)))
PY
)
export LD_LIBRARY_PATH="$OPENMM_DIR/lib:$BUILD:${NVLIBS}:$CUDA_HOME/lib64:${LD_LIBRARY_PATH:-}"
CAP=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d '.')
ARCH=${CUDA_ARCH:-${CAP:-90}}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "nvidia-smi: no GPU visible"
echo "building for sm_$ARCH"

# --- build (the same sources as csrc/CMakeLists.txt + csrc/platforms/cuda/CMakeLists.txt) ---
C="csrc"
INC="-I$C/openmmapi/include -I$C/serialization/include -I$C/platforms/reference/include -I$C/platforms/common/include -I$C/platforms/cuda/include -I$C/platforms/cuda/src -I$OPENMM_DIR/include -I$CUDA_HOME/include"
CXX=${CXX:-g++}
CXXFLAGS="-std=c++17 -O2 -fPIC $INC"
set -e
t0=$(date +%s)
$CXX $CXXFLAGS -shared -o "$BUILD/libPolarMLPQEq.so" $C/openmmapi/src/*.cpp $C/serialization/src/*.cpp \
  -L"$OPENMM_DIR/lib" -lOpenMM -Wl,-rpath,"$OPENMM_DIR/lib"
$CXX $CXXFLAGS -shared -o "$BUILD/plugins/libPolarMLPQEqReference.so" $C/platforms/reference/src/*.cpp \
  -L"$BUILD" -lPolarMLPQEq -L"$OPENMM_DIR/lib" -lOpenMM -Wl,-rpath,"$BUILD:$OPENMM_DIR/lib"
ENGINE_SOURCES="PQEqCudaEngine PQEqCudaSolve"  # the engine's .cu files (PQEQ_CUDA_ENGINE_SOURCES)
ENGINE_OBJECTS=""
mkdir -p "$BUILD/emulation"
for name in $ENGINE_SOURCES; do
  "$NVCC" -std=c++17 -O3 -Xcompiler=-fPIC $INC -gencode arch=compute_$ARCH,code=[sm_$ARCH,compute_$ARCH] \
    -c $C/platforms/cuda/src/$name.cu -o "$BUILD/$name.o"
  ENGINE_OBJECTS="$ENGINE_OBJECTS $BUILD/$name.o"
  # the emulation compiles the same source as C++ through a one-line wrapper (as CMake does)
  echo "#include \"$ROOT/$C/platforms/cuda/src/$name.cu\"" > "$BUILD/emulation/$name.cpp"
done
$CXX $CXXFLAGS -Wno-deprecated-declarations -c $C/platforms/cuda/src/CudaPQEqKernels.cpp -o "$BUILD/CudaPQEqKernels.o"
$CXX $CXXFLAGS -c $C/platforms/cuda/src/CudaPQEqKernelFactory.cpp -o "$BUILD/CudaPQEqKernelFactory.o"
$CXX $CXXFLAGS -c $C/platforms/cuda/src/PQEqCudaModel.cpp -o "$BUILD/PQEqCudaModel.o"
"$NVCC" -shared -cudart static -gencode arch=compute_$ARCH,code=[sm_$ARCH,compute_$ARCH] -o "$BUILD/plugins/libPolarMLPQEqCUDA.so" \
  $ENGINE_OBJECTS "$BUILD/CudaPQEqKernels.o" "$BUILD/CudaPQEqKernelFactory.o" "$BUILD/PQEqCudaModel.o" \
  -L"$BUILD" -lPolarMLPQEq -L"$OPENMM_DIR/lib" -lOpenMM -Xlinker -rpath,"$BUILD:$OPENMM_DIR/lib" -Xlinker --no-undefined
$CXX $CXXFLAGS -o "$BUILD/CudaParityCheck" $C/platforms/cuda/tests/CudaParityCheck.cpp \
  -L"$BUILD" -lPolarMLPQEq -L"$OPENMM_DIR/lib" -lOpenMM -Wl,-rpath,"$BUILD:$OPENMM_DIR/lib"
$CXX $CXXFLAGS -DPOLARML_CUDA_EMULATION -o "$BUILD/EmulationCheck" $C/platforms/cuda/tests/EmulationCheck.cpp \
  "$BUILD"/emulation/*.cpp $C/platforms/cuda/src/PQEqCudaModel.cpp \
  -L"$BUILD/plugins" -lPolarMLPQEqReference -L"$BUILD" -lPolarMLPQEq -L"$OPENMM_DIR/lib" -lOpenMM \
  -Wl,-rpath,"$BUILD/plugins:$BUILD:$OPENMM_DIR/lib"
set +e
echo "build: $(( $(date +%s) - t0 )) s"

echo; echo "== CPU emulation of the CUDA kernels vs Reference =="
"$BUILD/EmulationCheck"; emu=$?
echo; echo "== GPU: Reference vs CUDA =="
"$BUILD/CudaParityCheck" "$OMM_PLUGINS" "$BUILD/plugins" "$@"; gpu=$?
echo; echo "emulation check rc=$emu, GPU check rc=$gpu (77 = skipped: no CUDA platform/device)"
[ $emu -eq 0 ] && { [ $gpu -eq 0 ] || [ $gpu -eq 77 ]; }
