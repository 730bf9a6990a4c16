/* The CUDA engine compiled as plain C++ (serial emulation of every kernel launch); see PQEqCudaCompat.h. */
#ifndef POLARML_CUDA_EMULATION
#define POLARML_CUDA_EMULATION
#endif
#include "../src/PQEqCudaEngine.cu"
