/* testutil.h — shared test helpers: random fills, comparisons, and the
 * operator gradient check against central finite differences. */
#ifndef MT_TESTUTIL_H
#define MT_TESTUTIL_H
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "modtrain.h"
#include "src/ndarray.h"
#include "src/op.h"

/* Fails the test with mt_last_error() if rc < 0. */
#define MT_ASSERT_OK(expr)                                                                         \
  do {                                                                                             \
    int rc_ = (expr);                                                                              \
    if (rc_ < 0) fail_msg("%s -> %d: %s", #expr, rc_, mt_last_error());                            \
  } while (0)

/* The tutorial MLP as MXNet names it:
 *   data -> FullyConnected fc1 (num_hidden=hidden) -> Activation relu1
 *   (act_type) -> FullyConnected fc2 (num_hidden=classes) -> SoftmaxOutput
 *   softmax.
 * The node is named relu1 whatever act_type is. Fails the test on error;
 * the caller frees the result with mt_symbol_free. */
mt_symbol *tu_mlp(int hidden, const char *act_type, int classes);

/* Deterministic uniform fill in [lo, hi). */
void tu_fill_uniform(float *x, int64_t n, float lo, float hi, uint64_t seed);
/* max |a - b| and max |a - b| / max(|b|, floor) */
double tu_max_abs_diff(const float *a, const float *b, int64_t n);
double tu_max_rel_diff(const float *a, const float *b, int64_t n, double floor);

/* Gradient check of one operator (no symbol, no executor).
 * The objective is L = sum_j w_j * out_j over every visible output, with w
 * drawn once, unless `loss` is given (loss ops: SoftmaxOutput -> cross
 * entropy). Inputs are drawn from U(-1, 1) unless `init` fills them.
 * Analytic gradients come from mt_op_backward; numerical ones from central
 * differences of L evaluated in double, step eps. Inputs listed in
 * `no_grad` (bit i = argument i) are skipped (labels). The check also runs
 * backward with MT_REQ_ADD onto a prefilled gradient and expects
 * prefill + grad. Returns the worst error: |num - ana| / max(1, |num|). */
typedef struct {
  const char *op;
  const char *attrs;
  int nargs;
  mt_shape shapes[8]; /* argument shapes; unknown (ndim 0) ones inferred */
  unsigned no_grad;
  double eps;   /* default 1e-3 */
  int is_train; /* forward mode for the check (default 1 when 0 given? no: as given) */
  void (*init)(int arg, float *x, int64_t n, const mt_shape *s, void *user);
  /* loss given outputs and inputs; NULL = weighted sum */
  double (*loss)(mt_ndarray *const *out, int nout, mt_ndarray *const *in, void *user);
  void *user;
  int max_checks; /* elements checked per input (default all up to 400) */
} tu_gradcheck;

double tu_gradcheck_run(const tu_gradcheck *g);

/* Runs op forward on CPU with given inputs; allocates outputs (and aux,
 * zero-filled unless aux_init). Caller frees with tu_op_free. */
typedef struct {
  const mt_op *op;
  void *param;
  int nargs, nout, naux;
  mt_ndarray *in[8], *out[8], *aux[8];
} tu_op;
int tu_op_setup(tu_op *t, const char *op, const char *attrs, int nargs, const mt_shape *shapes);
int tu_op_forward(tu_op *t, int is_train);
void tu_op_free(tu_op *t);

#endif
