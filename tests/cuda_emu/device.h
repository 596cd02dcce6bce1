// device.h — what CUDA C++ gives device code, for kernels/cuda/*.cu turned
// into host C++ by cu2cpp.py (the first line of every generated file
// includes this). Kernels run on the host thread that synchronizes with
// their stream: mtk_emu_launch runs a grid's threads one after the other;
// mtk_emu_launch_sync (cu2cpp.py picks it for kernels that call
// __syncthreads) runs each block's threads as fibers that meet at every
// __syncthreads. __shared__ arrays become function statics: one block runs
// at a time.
#ifndef MT_CUDA_EMU_DEVICE_H
#define MT_CUDA_EMU_DEVICE_H
#include <math.h>
#include <stdint.h>

#include <cmath>
#include <functional>

#include "cuda_runtime.h"

struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x, y, z;
  dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
extern uint3 threadIdx, blockIdx;
extern dim3 blockDim, gridDim;

#define __global__
#define __device__
#define __host__
#define __shared__ static
#define __forceinline__ inline

// The rounding intrinsics: IEEE single operations on the host too (the
// generated files are compiled with -ffp-contract=off).
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fdiv_rn(float a, float b) { return a / b; }
static inline float __fsqrt_rn(float a) { return sqrtf(a); }
static inline unsigned long long atomicMin(unsigned long long *a, unsigned long long v) {
  unsigned long long old = *a;
  if (v < old) *a = v;
  return old;
}
using std::isfinite;

// Checks a launch's configuration and stream as CUDA does (records
// cudaErrorInvalidConfiguration or cudaErrorInvalidResourceHandle for
// cudaGetLastError); 0: do not run.
int mtk_emu_launch_ok(dim3 grid, dim3 block, cudaStream_t stream);
// Work for a stream: on the legacy stream (0) it runs now, after the
// device's streams have run what they hold (legacy-stream semantics); on a
// stream it waits there until something synchronizes with the stream.
void mtk_emu_submit(cudaStream_t stream, std::function<void()> work);
// Runs one block's threads as fibers through every __syncthreads.
void mtk_emu_run_block(unsigned nthreads, void (*body)(void *), void *arg);
void __syncthreads(void);

template <class F> void mtk_emu_launch(dim3 grid, dim3 block, cudaStream_t stream, F f) {
  if (!mtk_emu_launch_ok(grid, block, stream)) return;
  mtk_emu_submit(stream, [grid, block, f]() {
    gridDim = grid;
    blockDim = block;
    for (unsigned bz = 0; bz < grid.z; bz++)
      for (unsigned by = 0; by < grid.y; by++)
        for (unsigned bx = 0; bx < grid.x; bx++) {
          blockIdx = uint3{bx, by, bz};
          for (unsigned tz = 0; tz < block.z; tz++)
            for (unsigned ty = 0; ty < block.y; ty++)
              for (unsigned tx = 0; tx < block.x; tx++) {
                threadIdx = uint3{tx, ty, tz};
                f();
              }
        }
  });
}

template <class F> void mtk_emu_launch_sync(dim3 grid, dim3 block, cudaStream_t stream, F f) {
  if (!mtk_emu_launch_ok(grid, block, stream)) return;
  mtk_emu_submit(stream, [grid, block, f]() {
    gridDim = grid;
    blockDim = block;
    F body = f;
    for (unsigned bx = 0; bx < grid.x; bx++) { // 1-d: what kernels/cuda uses
      blockIdx = uint3{bx, 0, 0};
      mtk_emu_run_block(
          block.x, [](void *p) { (*static_cast<F *>(p))(); }, &body);
    }
  });
}

#endif
