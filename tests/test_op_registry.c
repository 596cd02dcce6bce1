/* test_op_registry.c — the operator registry's kernel dispatch (src/op.h):
 *   table     every op registers CPU float32 forward and backward kernels,
 *             and GPU float32 ones exactly in builds with CUDA; no float16
 *             or bfloat16 kernels yet
 *   dispatch  mt_op_forward / mt_op_backward run the kernel registered for
 *             the context's device and dtype (a test op with one per slot)
 *   missing   a kernel that is not registered (bfloat16 on the CPU; the GPU
 *             in a build without CUDA; a forward-only entry's backward) is
 *             MT_E_UNSUPPORTED with one message naming op, pass, device and
 *             dtype, and runs nothing. */
#include <string.h>

#include "testutil.h"

/* The message of the last error contains every one of the words. */
static void expect_message(const char *const *words) {
  const char *msg = mt_last_error();
  for (int i = 0; words[i]; i++)
    if (!strstr(msg, words[i])) fail_msg("error message '%s' lacks '%s'", msg, words[i]);
}

static void test_every_op_registers_its_kernels(void **state) {
  int have_cuda = 0;
#ifdef MT_HAVE_CUDA
  have_cuda = 1;
#endif
  assert_true(mt_op_count() > 0);
  for (int i = 0; i < mt_op_count(); i++) {
    const mt_op *op = mt_op_at(i);
    const mt_op_kernel *cpu = mt_op_kernel_find(op, MT_CPU, MT_FLOAT32);
    if (!cpu || !cpu->forward || !cpu->backward) fail_msg("%s: no CPU float32 kernels", op->name);
    const mt_op_kernel *gpu = mt_op_kernel_find(op, MT_GPU, MT_FLOAT32);
    if (have_cuda && (!gpu || !gpu->forward || !gpu->backward))
      fail_msg("%s: no GPU float32 kernels in a build with CUDA", op->name);
    if (!have_cuda && gpu) fail_msg("%s: a GPU kernel in a build without CUDA", op->name);
    for (int d = MT_CPU; d <= MT_GPU; d++) {
      assert_null(mt_op_kernel_find(op, (mt_devtype)d, MT_FLOAT16));
      assert_null(mt_op_kernel_find(op, (mt_devtype)d, MT_BFLOAT16));
    }
  }
}

/* A test op: each kernel records which one ran. */
static int ran;
static int fwd_cpu32(const void *p, const mt_op_ctx *c, mt_ndarray *const *in,
                     mt_ndarray *const *out, mt_ndarray *const *aux) {
  ran = 1;
  return MT_OK;
}
static int fwd_cpu16(const void *p, const mt_op_ctx *c, mt_ndarray *const *in,
                     mt_ndarray *const *out, mt_ndarray *const *aux) {
  ran = 2;
  return MT_OK;
}
static int fwd_gpu32(const void *p, const mt_op_ctx *c, mt_ndarray *const *in,
                     mt_ndarray *const *out, mt_ndarray *const *aux) {
  ran = 3;
  return MT_OK;
}
static int bwd_cpu32(const void *p, const mt_op_ctx *c, mt_ndarray *const *og,
                     mt_ndarray *const *in, mt_ndarray *const *out, const mt_grad_req *req,
                     mt_ndarray *const *ig, mt_ndarray *const *aux) {
  ran = 11;
  return MT_OK;
}
static int bwd_gpu32(const void *p, const mt_op_ctx *c, mt_ndarray *const *og,
                     mt_ndarray *const *in, mt_ndarray *const *out, const mt_grad_req *req,
                     mt_ndarray *const *ig, mt_ndarray *const *aux) {
  ran = 13;
  return MT_E_INVAL; /* a kernel's status comes back as it is */
}

/* Registered directly (not through MT_GPU_KERNEL), so the GPU entries exist
 * in every build. */
static const mt_op test_op = {
    .name = "TestOp",
    .kernels = {{MT_CPU, MT_FLOAT32, fwd_cpu32, bwd_cpu32},
                {MT_CPU, MT_FLOAT16, fwd_cpu16, NULL},
                {MT_GPU, MT_FLOAT32, fwd_gpu32, bwd_gpu32}},
};

static void test_dispatch_by_device_and_dtype(void **state) {
  mt_op_ctx cpu = {.ctx = mt_cpu(0)}, cpu16 = {.ctx = mt_cpu(0), .dtype = MT_FLOAT16},
            gpu = {.ctx = mt_gpu(1)};
  ran = 0;
  MT_ASSERT_OK(mt_op_forward(&test_op, NULL, &cpu, NULL, NULL, NULL));
  assert_int_equal(ran, 1);
  MT_ASSERT_OK(mt_op_forward(&test_op, NULL, &cpu16, NULL, NULL, NULL));
  assert_int_equal(ran, 2);
  MT_ASSERT_OK(mt_op_forward(&test_op, NULL, &gpu, NULL, NULL, NULL));
  assert_int_equal(ran, 3);
  MT_ASSERT_OK(mt_op_backward(&test_op, NULL, &cpu, NULL, NULL, NULL, NULL, NULL, NULL));
  assert_int_equal(ran, 11);
  assert_int_equal(mt_op_backward(&test_op, NULL, &gpu, NULL, NULL, NULL, NULL, NULL, NULL),
                   MT_E_INVAL);
  assert_int_equal(ran, 13);
}

static void test_missing_kernel_is_one_error(void **state) {
  /* an entry with a forward but no backward */
  mt_op_ctx cpu16 = {.ctx = mt_cpu(0), .dtype = MT_FLOAT16};
  ran = 0;
  assert_int_equal(mt_op_backward(&test_op, NULL, &cpu16, NULL, NULL, NULL, NULL, NULL, NULL),
                   MT_E_UNSUPPORTED);
  expect_message((const char *const[]){
      "operator 'TestOp' has no backward kernel for cpu float16 in this build", NULL});
  /* no entry at all */
  mt_op_ctx gpu16 = {.ctx = mt_gpu(0), .dtype = MT_BFLOAT16};
  assert_int_equal(mt_op_forward(&test_op, NULL, &gpu16, NULL, NULL, NULL), MT_E_UNSUPPORTED);
  expect_message((const char *const[]){
      "operator 'TestOp' has no forward kernel for gpu bfloat16 in this build", NULL});
  assert_int_equal(ran, 0);

  /* a real op asked for bfloat16 on the CPU: nothing runs, the output keeps its values */
  tu_op t;
  mt_shape s = MT_SHAPE(2, 3);
  MT_ASSERT_OK(tu_op_setup(&t, "Activation", "act_type=relu", 1, &s));
  tu_fill_uniform(t.in[0]->data, t.in[0]->size, -1.0f, 1.0f, 5);
  for (int64_t i = 0; i < t.out[0]->size; i++) t.out[0]->data[i] = 7.0f;
  mt_op_ctx bf16 = {.ctx = mt_cpu(0), .dtype = MT_BFLOAT16, .is_train = 1};
  assert_int_equal(mt_op_forward(t.op, t.param, &bf16, t.in, t.out, t.aux), MT_E_UNSUPPORTED);
  expect_message((const char *const[]){"'Activation'", "forward", "cpu", "bfloat16", NULL});
  for (int64_t i = 0; i < t.out[0]->size; i++) assert_true(t.out[0]->data[i] == 7.0f);
  mt_grad_req req = MT_REQ_WRITE;
  mt_ndarray *og[1] = {t.out[0]}, *ig[1] = {t.in[0]};
  assert_int_equal(mt_op_backward(t.op, t.param, &bf16, og, t.in, t.out, &req, ig, t.aux),
                   MT_E_UNSUPPORTED);
  expect_message((const char *const[]){"'Activation'", "backward", "cpu", "bfloat16", NULL});
  tu_op_free(&t);
}

/* In a build without CUDA every op's GPU kernel is missing, with the same
 * error (in a build with CUDA the table test checks they are there). */
static void test_gpu_kernel_without_cuda(void **state) {
#ifdef MT_HAVE_CUDA
  skip();
#else
  const mt_op *op = mt_op_find("SoftmaxOutput");
  assert_non_null(op);
  mt_op_ctx gpu = {.ctx = mt_gpu(0), .is_train = 1};
  assert_int_equal(mt_op_forward(op, NULL, &gpu, NULL, NULL, NULL), MT_E_UNSUPPORTED);
  expect_message((const char *const[]){
      "operator 'SoftmaxOutput' has no forward kernel for gpu float32 in this build", NULL});
  for (int i = 0; i < mt_op_count(); i++) {
    const mt_op *o = mt_op_at(i);
    assert_int_equal(mt_op_backward(o, NULL, &gpu, NULL, NULL, NULL, NULL, NULL, NULL),
                     MT_E_UNSUPPORTED);
    expect_message((const char *const[]){o->name, "backward", "gpu", "float32", NULL});
  }
#endif
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_op_registers_its_kernels),
      cmocka_unit_test(test_dispatch_by_device_and_dtype),
      cmocka_unit_test(test_missing_kernel_is_one_error),
      cmocka_unit_test(test_gpu_kernel_without_cuda),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
