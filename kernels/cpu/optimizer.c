/* optimizer.c — the optimizers' per-element loops (see optimizer.h for the
 * formulas and their MXNet origin). Each branch on a clip bound sits outside
 * its loop so the loops stay branch-free and vectorise at -O3; parenthesis-
 * ation follows MXNet's expressions term by term (float rounding depends on
 * it). The loops calling sqrtf (adam, rmsprop, adagrad) vectorise only when
 * built with -fno-math-errno (GCC ignores it as a per-function attribute or
 * pragma); sqrtps rounds like sqrtss, so the flag would not change results. */
#include <math.h>

#include "kernels/cpu/simd.h"
#include "kernels/kernels.h"

static inline float mtk_clipf(float x, float c) { return x > c ? c : (x < -c ? -c : x); }

MTK_CLONES void mtk_sgd_update(float *w, const float *g, int64_t n, float lr, float wd,
                               float rescale, float clip) {
  const float keep = 1.f - lr * wd;
  if (clip >= 0.f) {
    for (int64_t i = 0; i < n; i++) w[i] = keep * w[i] - lr * mtk_clipf(rescale * g[i], clip);
  } else {
    const float step = lr * rescale;
    for (int64_t i = 0; i < n; i++) w[i] = keep * w[i] - step * g[i];
  }
}

MTK_CLONES void mtk_multi_sgd_update(float *w, const float *g, float *mom, int64_t n, float lr,
                                     float wd, float momentum, float rescale, float clip) {
  const float decay = lr * wd, step = lr * rescale;
  if (mom) {
    if (clip >= 0.f) {
      for (int64_t i = 0; i < n; i++) {
        float d = momentum * mom[i] - decay * w[i] - lr * mtk_clipf(rescale * g[i], clip);
        mom[i] = d;
        w[i] = w[i] + d;
      }
    } else {
      for (int64_t i = 0; i < n; i++) {
        float d = momentum * mom[i] - decay * w[i] - step * g[i];
        mom[i] = d;
        w[i] = w[i] + d;
      }
    }
  } else {
    /* MXNet's kernel runs with momentum 0 and m = 0, so d starts from +0;
     * kept literally (0 - x differs from -x in the sign of a zero). */
    const float m0 = 0.f;
    if (clip >= 0.f) {
      for (int64_t i = 0; i < n; i++)
        w[i] = w[i] + (m0 - decay * w[i] - lr * mtk_clipf(rescale * g[i], clip));
    } else {
      for (int64_t i = 0; i < n; i++) w[i] = w[i] + (m0 - decay * w[i] - step * g[i]);
    }
  }
}

MTK_CLONES void mtk_nag_mom_update(float *w, const float *g, float *mom, int64_t n, float lr,
                                   float wd, float momentum, float rescale, float clip) {
  const float mp1 = momentum + 1;
  if (clip >= 0.f) {
    for (int64_t i = 0; i < n; i++) {
      float m = momentum * mom[i];
      float gi = mtk_clipf(rescale * g[i], clip);
      float nw = w[i] - m + mp1 * (m - (lr * (gi + (wd * w[i]))));
      w[i] = nw;
      mom[i] = m - (lr * (gi + (wd * nw)));
    }
  } else {
    for (int64_t i = 0; i < n; i++) {
      float m = momentum * mom[i];
      float nw = w[i] - m + mp1 * (m - (lr * (rescale * g[i] + wd * w[i])));
      w[i] = nw;
      mom[i] = m - lr * ((rescale * g[i]) + (wd * nw));
    }
  }
}

MTK_CLONES void mtk_adam_update(float *w, const float *g, float *mean, float *var, int64_t n,
                                float lr, float wd, float beta1, float beta2, float epsilon,
                                float rescale, float clip) {
  const float c1 = 1.f - beta1, c2 = 1.f - beta2;
  if (clip >= 0.f) {
    for (int64_t i = 0; i < n; i++) {
      float gr = mtk_clipf(g[i] * rescale + w[i] * wd, clip);
      mean[i] = beta1 * mean[i] + c1 * gr;
      var[i] = beta2 * var[i] + c2 * gr * gr;
      w[i] = w[i] - lr * mean[i] / (sqrtf(var[i]) + epsilon);
    }
  } else {
    for (int64_t i = 0; i < n; i++) {
      float gr = g[i] * rescale + w[i] * wd;
      mean[i] = beta1 * mean[i] + c1 * gr;
      var[i] = beta2 * var[i] + c2 * gr * gr;
      w[i] = w[i] - lr * mean[i] / (sqrtf(var[i]) + epsilon);
    }
  }
}

MTK_CLONES void mtk_rmsprop_update(float *w, const float *g, float *state_n, int64_t n, float lr,
                                   float wd, float gamma1, float epsilon, float rescale, float clip,
                                   float clip_weights) {
  const float c1 = 1.f - gamma1;
  /* No clip is expressed as clipping at +inf, which leaves every value (NaN
   * included) unchanged, so one loop serves all four combinations. */
  const float cg = clip >= 0.f ? clip : INFINITY;
  const float cw = clip_weights >= 0.f ? clip_weights : INFINITY;
  for (int64_t i = 0; i < n; i++) {
    float gr = mtk_clipf(rescale * g[i] + wd * w[i], cg);
    state_n[i] = c1 * (gr * gr) + gamma1 * state_n[i];
    w[i] = mtk_clipf(w[i] - lr * (gr / sqrtf(state_n[i] + epsilon)), cw);
  }
}

MTK_CLONES void mtk_rmspropalex_update(float *w, const float *g, float *state_n, float *state_g,
                                       float *delta, int64_t n, float lr, float wd, float gamma1,
                                       float gamma2, float epsilon, float rescale, float clip,
                                       float clip_weights) {
  const float c1 = 1.f - gamma1;
  const float cg = clip >= 0.f ? clip : INFINITY;
  const float cw = clip_weights >= 0.f ? clip_weights : INFINITY;
  for (int64_t i = 0; i < n; i++) {
    float gr = mtk_clipf(rescale * g[i] + wd * w[i], cg);
    state_n[i] = c1 * gr * gr + gamma1 * state_n[i];
    state_g[i] = c1 * gr + gamma1 * state_g[i];
    delta[i] =
        gamma2 * delta[i] - (lr * (gr) / (sqrtf(state_n[i] - state_g[i] * state_g[i] + epsilon)));
    w[i] = mtk_clipf(w[i] + delta[i], cw);
  }
}

MTK_CLONES void mtk_adagrad_update(float *w, const float *g, float *history, int64_t n, float lr,
                                   float wd, float eps, float rescale, float clip) {
  const float neg_lr = -lr;
  const float cg = clip >= 0.f ? clip : INFINITY;
  for (int64_t i = 0; i < n; i++) {
    float gr = mtk_clipf(g[i] * rescale, cg);
    history[i] = history[i] + gr * gr;
    float div = gr / sqrtf(history[i] + eps);
    w[i] = w[i] + (div + w[i] * wd) * neg_lr;
  }
}
