/* kernels.h — the only way into the numeric kernels. They take raw pointers,
 * element counts and shapes (row-major, float32); they never see symbols,
 * executors or modules. CPU kernels (kernels/cpu/) use OpenBLAS and plain C
 * loops; CUDA kernels (kernels/cuda/, built when MT_HAVE_CUDA) mirror them
 * with an mtk_cuda_ prefix. The CUDA kernels are declared in every build
 * (plain C types only), so that the ops' GPU kernels (src/op.h, MT_GPU_FN)
 * compile everywhere; they are defined, and may be called, only with CUDA. Where a kernel writes a
 * gradient, `beta` = 0 overwrites and 1 accumulates (MXNet's kWriteTo / kAddTo). */
#ifndef MT_KERNELS_H
#define MT_KERNELS_H
#include <stddef.h>
#include <stdint.h>

#include "kernels/cpu/blas.h"
#include "kernels/cpu/conv.h"
#include "kernels/cpu/pool.h"
#include "kernels/cpu/elementwise.h"
#include "base/philox.h"
#include "kernels/cpu/nn.h"
#include "kernels/cpu/optimizer.h"
#include "kernels/cpu/tensor_ops.h"
#include "kernels/cpu/embedding.h"
#include "kernels/cuda/cuda_kernels.h"

#endif
