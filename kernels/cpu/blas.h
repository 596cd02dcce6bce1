/* blas.h — the BLAS calls modtrain makes, row-major. */
#ifndef MT_KERNELS_CPU_BLAS_H
#define MT_KERNELS_CPU_BLAS_H

/* C[M,N] = alpha * op(A) * op(B) + beta * C; op(X) = X or X^T (trans != 0).
 * lda/ldb/ldc are row strides of the stored matrices. */
void mtk_sgemm(int transa, int transb, int M, int N, int K, float alpha, const float *A, int lda,
               const float *B, int ldb, float beta, float *C, int ldc);

/* The GEMM backend mtk_sgemm uses (kernels/cpu/blas.c): oneDNN when the
 * build has it, unless MODTRAIN_GEMM=openblas; mtk_gemm_select switches
 * (returns -1 for a backend this build lacks). */
enum { MTK_GEMM_OPENBLAS = 0, MTK_GEMM_ONEDNN = 1 };
int mtk_gemm_select(int backend);
int mtk_gemm_backend(void);
const char *mtk_gemm_name(void); /* "oneDNN 2.6.3" or "OpenBLAS" */

/* OpenBLAS kernel selection (see src/blas_select.c). */
const char *mtk_blas_corename(void);
/* Switches OpenBLAS's dynamic kernel table to `coretype` (e.g. "SkylakeX").
 * Returns 0 on success, -1 if the BLAS in use cannot switch. */
int mtk_blas_force_core(const char *coretype);
/* Threads of both backends (OpenBLAS's pool, oneDNN's OpenMP regions). */
void mtk_blas_set_threads(int n);
int mtk_blas_get_threads(void);

#endif
