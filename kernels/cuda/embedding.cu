// embedding.cu — Embedding's CUDA kernels (kernels/cpu/embedding.h).
// Forward gathers rows. Backward is deterministic without sorting and
// without float atomics: one block per weight row (grid-stride over rows),
// its threads over the columns; each block walks the n indices in order and
// adds the rows of dy that read its row, starting from beta * dweight. The
// sums therefore have the CPU's order and rounding (__fadd_rn), so CPU and
// GPU give the same bits. Cost: (rows) x n index reads, broadcast within a
// block; fine for a language model's batch (n = batch x sequence length).
#include "kernels/cpu/embedding.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/launch.cuh"

__global__ void mtk_embedding_forward_kernel(float *out, const float *idx, const float *weight,
                                             int64_t n, int64_t V, int64_t D) {
  MTK_FOR(e, n * D) {
    int64_t i = e / D, d = e - i * D;
    out[e] = weight[mtk_embedding_row(idx[i], V) * D + d];
  }
}

extern "C" int mtk_cuda_embedding_forward(int dev, float *out, const float *idx,
                                          const float *weight, int64_t n, int64_t V, int64_t D) {
  MT_TRY(mtk_set_device(dev));
  if (n * D <= 0) return 0;
  mtk_embedding_forward_kernel<<<mtk_blocks(n * D), MTK_THREADS, 0, mtk_stream(dev)>>>(
      out, idx, weight, n, V, D);
  MT_CHECK_LAUNCH();
  return 0;
}

__global__ void mtk_embedding_backward_kernel(float *dweight, const float *dy, const float *idx,
                                              int64_t n, int64_t V, int64_t D, float beta) {
  for (int64_t r = blockIdx.x; r < V; r += gridDim.x) {
    for (int64_t d = threadIdx.x; d < D; d += blockDim.x) {
      float acc = beta == 0.0f
                      ? 0.0f
                      : (beta == 1.0f ? dweight[r * D + d] : __fmul_rn(beta, dweight[r * D + d]));
      for (int64_t i = 0; i < n; i++)
        if (mtk_embedding_row(idx[i], V) == r) acc = __fadd_rn(acc, dy[i * D + d]);
      dweight[r * D + d] = acc;
    }
  }
}

extern "C" int mtk_cuda_embedding_backward(int dev, float *dweight, const float *dy,
                                           const float *idx, int64_t n, int64_t V, int64_t D,
                                           float beta) {
  MT_TRY(mtk_set_device(dev));
  if (V * D <= 0) return 0;
  int blocks = V > 4096 ? 4096 : (int)V;
  int threads = mtk_reduce_threads(D);
  mtk_embedding_backward_kernel<<<blocks, threads, 0, mtk_stream(dev)>>>(dweight, dy, idx, n, V, D,
                                                                         beta);
  MT_CHECK_LAUNCH();
  return 0;
}
