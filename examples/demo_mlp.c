/* demo_mlp.c — the tutorial MLP (128-64-10) trained through the executor on
 * the tutorial's synthetic data (class means mu ~ U(0,1) per class and
 * feature, samples ~ N(mu[label], 0.1)), with plain SGD written out here.
 * Prints the cross-entropy and accuracy per epoch: the loss must fall.
 * Uses only the public header. Exit status 1 if training did not learn. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "modtrain.h"
#include "tools/check.h"

enum { N = 320 * 4, D = 128, C = 10, H = 64, B = 32, EPOCHS = 5 };

static uint64_t rng = 42;
static double uniform(void) { /* xorshift64*, (0, 1) */
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return ((rng * 2685821657736338717ull) >> 11) * (1.0 / 9007199254740992.0) + 1e-12;
}
static double gauss(void) { return sqrt(-2 * log(uniform())) * cos(6.283185307179586 * uniform()); }

int main(void) {
  printf("modtrain %s demo: MLP %d-%d-%d, batch %d, BLAS kernel %s\n", mt_version(), D, H, C, B,
         mt_blas_init());
  static float mu[C][D], x[N][D], y[N];
  for (int c = 0; c < C; c++)
    for (int d = 0; d < D; d++) mu[c][d] = (float)uniform();
  for (int i = 0; i < N; i++) {
    y[i] = (float)(i % C);
    for (int d = 0; d < D; d++) x[i][d] = mu[i % C][d] + 0.1f * (float)gauss();
  }
  mt_symbol *data, *fc1, *act, *fc2, *net;
  CHECK(mt_symbol_variable("data", &data));
  CHECK(mt_symbol_create("FullyConnected", "fc1", "num_hidden=64", 1, &data, &fc1));
  CHECK(mt_symbol_create("Activation", "relu1", "act_type=relu", 1, &fc1, &act));
  CHECK(mt_symbol_create("FullyConnected", "fc2", "num_hidden=10", 1, &act, &fc2));
  CHECK(mt_symbol_create("SoftmaxOutput", "softmax", NULL, 1, &fc2, &net));
  const char *inputs[] = {"data", "softmax_label"};
  mt_shape shapes[] = {MT_SHAPE(B, D), MT_SHAPE(B)};
  mt_executor *ex;
  CHECK(mt_executor_simple_bind(net, mt_cpu(0), MT_REQ_WRITE, 2, inputs, shapes, 0, &ex));
  const char *params[] = {"fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias"};
  for (int p = 0; p < 4; p++) { /* Xavier(magnitude=2), uniform; biases zero */
    mt_ndarray *a = mt_executor_arg(ex, params[p]);
    mt_shape s = mt_ndarray_shape(a);
    if (s.ndim != 2) continue;
    double scale = sqrt(2.0 / ((s.dim[0] + s.dim[1]) / 2.0));
    float *w = mt_ndarray_data(a);
    for (int64_t i = 0; i < mt_ndarray_size(a); i++) w[i] = (float)((2 * uniform() - 1) * scale);
  }
  float *xd = mt_ndarray_data(mt_executor_arg(ex, "data"));
  float *yd = mt_ndarray_data(mt_executor_arg(ex, "softmax_label"));
  const float *prob = mt_ndarray_data(mt_executor_output(ex, 0));
  double first = 0, last = 0;
  for (int epoch = 0; epoch < EPOCHS; epoch++) {
    double loss = 0;
    int correct = 0;
    for (int b0 = 0; b0 < N; b0 += B) {
      for (int i = 0; i < B; i++) {
        yd[i] = y[b0 + i];
        for (int d = 0; d < D; d++) xd[i * D + d] = x[b0 + i][d];
      }
      CHECK(mt_executor_forward(ex, 1));
      CHECK(mt_executor_backward(ex, 0, NULL));
      for (int i = 0; i < B; i++) {
        int best = 0;
        for (int c = 1; c < C; c++)
          if (prob[i * C + c] > prob[i * C + best]) best = c;
        correct += best == (int)yd[i];
        loss -= log(fmax(prob[i * C + (int)yd[i]], 1e-12));
      }
      for (int p = 0; p < 4; p++) { /* SGD, lr 0.1, gradient of the batch mean */
        float *w = mt_ndarray_data(mt_executor_arg(ex, params[p]));
        const float *g = mt_ndarray_data(mt_executor_grad(ex, params[p]));
        for (int64_t i = 0; i < mt_ndarray_size(mt_executor_arg(ex, params[p])); i++)
          w[i] -= 0.1f * g[i] / B;
      }
    }
    loss /= N;
    if (epoch == 0) first = loss;
    last = loss;
    printf("Epoch[%d] Train-cross-entropy=%.6f Train-accuracy=%.6f\n", epoch, loss,
           (double)correct / N);
  }
  mt_executor_free(ex);
  mt_symbol_free(data);
  mt_symbol_free(fc1);
  mt_symbol_free(act);
  mt_symbol_free(fc2);
  mt_symbol_free(net);
  if (!(last < first * 0.5)) {
    fprintf(stderr, "demo_mlp: loss did not fall enough (%.4f -> %.4f)\n", first, last);
    return 1;
  }
  printf("loss fell from %.4f to %.4f\n", first, last);
  return 0;
}
