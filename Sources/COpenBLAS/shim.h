// OpenBLAS's CBLAS interface (Debian: libopenblas-dev).
#include <cblas.h>
// Declared by OpenBLAS; lets the engine keep BLAS threads from fighting our own pool.
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
char *openblas_get_corename(void);
// LAPACK inside libopenblas (Fortran ABI, no lapacke.h needed): the sparkify fit's
// symmetric eigendecomposition and SVD, in double precision.
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
             double *work, const int *lwork, int *iwork, const int *liwork, int *info);
void dgesdd_(const char *jobz, const int *m, const int *n, double *a, const int *lda, double *s, double *u,
             const int *ldu, double *vt, const int *ldvt, double *work, const int *lwork, int *iwork, int *info);
// Cholesky solve of a symmetric positive definite system (the dropped map's least squares).
void dposv_(const char *uplo, const int *n, const int *nrhs, double *a, const int *lda, double *b,
            const int *ldb, int *info);
