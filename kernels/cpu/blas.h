/* blas.h — the BLAS calls modtrain makes, row-major. */
#ifndef MT_KERNELS_CPU_BLAS_H
#define MT_KERNELS_CPU_BLAS_H

/* C[M,N] = alpha * op(A) * op(B) + beta * C; op(X) = X or X^T (trans != 0).
 * lda/ldb/ldc are row strides of the stored matrices. */
void mtk_sgemm(int transa, int transb, int M, int N, int K, float alpha, const float *A, int lda,
               const float *B, int ldb, float beta, float *C, int ldc);

/* OpenBLAS kernel selection (see src/blas_select.c). */
const char *mtk_blas_corename(void);
/* Switches OpenBLAS's dynamic kernel table to `coretype` (e.g. "SkylakeX").
 * Returns 0 on success, -1 if the BLAS in use cannot switch. */
int mtk_blas_force_core(const char *coretype);
void mtk_blas_set_threads(int n);
int mtk_blas_get_threads(void);

#endif
