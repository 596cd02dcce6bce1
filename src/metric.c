/* metric.c — mx.metric.* with MXNet 1.x semantics: accuracy, top-k accuracy,
 * mse/mae/rmse, cross-entropy, nll-loss, f1 (macro/micro), perplexity and
 * composites (a list), each with local sums (since reset or reset_local) and
 * global sums (since reset).
 *
 * A metric is a flat list of leaves; a single metric is a list of one, so
 * a composite is flattened by construction. Every leaf's state is a few
 * additive doubles (sum_metric/num_inst, or f1 micro's confusion counts),
 * which is what makes the cross-rank reduction a plain elementwise sum
 * (mt_metric_state_get/set). Values are computed in double from float32
 * inputs; MXNet computes some of them in float32 numpy, so results agree to
 * float32 rounding. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attrs.h"
#include "base/error.h"
#include "ndarray.h"

typedef enum { M_ACC, M_TOPK, M_MSE, M_MAE, M_RMSE, M_CE, M_NLL, M_F1, M_PERP } mkind;

/* State slots: sum-based metrics use [sum_metric, num_inst]; f1 micro uses
 * the confusion counts [tp, fp, fn, tn] (its value is not additive). f1 macro
 * is sum-based: one f1 score per update call, averaged. */
#define MT_METRIC_SLOTS 4
enum { S_SUM = 0, S_NUM = 1 };
enum { S_TP = 0, S_FP = 1, S_FN = 2, S_TN = 3 };

typedef struct {
  mkind kind;
  char name[80];
  int axis;       /* acc: class axis of preds (1); perplexity: (-1) */
  int top_k;      /* top_k_accuracy */
  int micro;      /* f1: average=micro */
  int has_ignore; /* perplexity: ignore_label given (not none) */
  double ignore_label;
  double eps; /* ce, nll */
  double loc[MT_METRIC_SLOTS], glob[MT_METRIC_SLOTS];
} leaf;

struct mt_metric {
  int n;
  leaf *leaves;
};

static int width(const leaf *l) { return l->kind == M_F1 && l->micro ? 4 : 2; }

/* ------------------------------------------------------------- parsing */

static int parse_leaf(const char *text, leaf *l) {
  memset(l, 0, sizeof *l);
  while (isspace((unsigned char)*text)) text++;
  const char *end = text;
  while (*end && !isspace((unsigned char)*end)) end++;
  char name[64];
  size_t n = (size_t)(end - text);
  if (n == 0) return MT_ERR(MT_E_INVAL, "metric: empty name in the list");
  if (n >= sizeof name) return MT_ERR(MT_E_INVAL, "unknown metric '%.40s...'", text);
  for (size_t i = 0; i < n; i++) name[i] = (char)tolower((unsigned char)text[i]);
  name[n] = '\0';

  const char *display;
  const char *known[5] = {"name", NULL, NULL, NULL, NULL};
  if (!strcmp(name, "acc") || !strcmp(name, "accuracy")) {
    l->kind = M_ACC, display = "accuracy", known[1] = "axis";
  } else if (!strcmp(name, "top_k_accuracy") || !strcmp(name, "top_k_acc") ||
             !strcmp(name, "topkaccuracy")) {
    l->kind = M_TOPK, display = "top_k_accuracy", known[1] = "top_k";
  } else if (!strcmp(name, "mse")) {
    l->kind = M_MSE, display = "mse";
  } else if (!strcmp(name, "mae")) {
    l->kind = M_MAE, display = "mae";
  } else if (!strcmp(name, "rmse")) {
    l->kind = M_RMSE, display = "rmse";
  } else if (!strcmp(name, "ce") || !strcmp(name, "cross-entropy") ||
             !strcmp(name, "crossentropy")) {
    l->kind = M_CE, display = "cross-entropy", known[1] = "eps";
  } else if (!strcmp(name, "nll_loss") || !strcmp(name, "nll-loss") ||
             !strcmp(name, "negativeloglikelihood")) {
    l->kind = M_NLL, display = "nll-loss", known[1] = "eps";
  } else if (!strcmp(name, "f1")) {
    l->kind = M_F1, display = "f1", known[1] = "average";
  } else if (!strcmp(name, "perplexity")) {
    l->kind = M_PERP, display = "perplexity", known[1] = "ignore_label", known[2] = "axis";
  } else {
    return MT_ERR(MT_E_INVAL,
                  "unknown metric '%s' (known: acc, top_k_acc, mse, mae, rmse, ce, nll_loss, "
                  "f1, perplexity; a list is comma-separated)",
                  name);
  }

  mt_attrs a;
  int rc = mt_attrs_parse(end, &a);
  if (rc < 0) return mt_error_prefix(rc, "metric '%s'", name);
  MT_TRY_GOTO(mt_attr_check_known(&a, "metric", name, known), rc, out);
  const char *dname = mt_attrs_get(&a, "name");
  if (dname && !*dname) {
    rc = MT_ERR(MT_E_INVAL, "metric '%s': name= is empty", name);
    goto out;
  }
  snprintf(l->name, sizeof l->name, "%s", dname ? dname : display);

  int64_t v;
  switch (l->kind) {
  case M_ACC:
    MT_TRY_GOTO(mt_attr_int_range(&a, "metric", name, "axis", 1, -MT_MAX_DIM, MT_MAX_DIM - 1, &v),
                rc, out);
    l->axis = (int)v;
    break;
  case M_TOPK:
    MT_TRY_GOTO(mt_attr_int(&a, "metric", name, "top_k", 1, &v), rc, out);
    if (v <= 1 || v > 1000000) {
      rc = MT_ERR(MT_E_INVAL, "metric '%s': top_k=%lld must be > 1 (use acc for top_k=1)", name,
                  (long long)v);
      goto out;
    }
    l->top_k = (int)v;
    /* TopKAccuracy appends the k to its name: top_k_accuracy_5 */
    size_t len = strlen(l->name);
    snprintf(l->name + len, sizeof l->name - len, "_%d", l->top_k);
    break;
  case M_CE:
  case M_NLL:
    MT_TRY_GOTO(mt_attr_float(&a, "metric", name, "eps", 1e-12, &l->eps), rc, out);
    if (l->eps < 0) {
      rc = MT_ERR(MT_E_INVAL, "metric '%s': eps=%g must not be negative", name, l->eps);
      goto out;
    }
    break;
  case M_F1: {
    static const char *const avg[] = {"macro", "micro", NULL};
    MT_TRY_GOTO(mt_attr_enum(&a, "metric", name, "average", avg, 0, &l->micro), rc, out);
    break;
  }
  case M_PERP: {
    const char *ig = mt_attrs_get(&a, "ignore_label");
    if (ig && strcmp(ig, "none") && strcmp(ig, "None")) {
      MT_TRY_GOTO(mt_attr_int(&a, "metric", name, "ignore_label", 0, &v), rc, out);
      l->has_ignore = 1;
      l->ignore_label = (double)v;
    }
    MT_TRY_GOTO(mt_attr_int_range(&a, "metric", name, "axis", -1, -MT_MAX_DIM, MT_MAX_DIM - 1, &v),
                rc, out);
    l->axis = (int)v;
    break;
  }
  default: break;
  }
out:
  mt_attrs_free(&a);
  return rc;
}

int mt_metric_create(const char *spec, mt_metric **out) {
  *out = NULL;
  if (!spec) return MT_ERR(MT_E_INVAL, "metric: spec is NULL");
  int count = 1;
  for (const char *p = spec; *p; p++) count += *p == ',';
  mt_metric *m = calloc(1, sizeof *m);
  if (!m) return MT_NOMEM();
  m->leaves = calloc((size_t)count, sizeof *m->leaves);
  if (!m->leaves) {
    free(m);
    return MT_NOMEM();
  }
  const char *p = spec;
  for (int i = 0; i < count; i++) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    char *piece = malloc(len + 1);
    if (!piece) {
      mt_metric_free(m);
      return MT_NOMEM();
    }
    memcpy(piece, p, len);
    piece[len] = '\0';
    int rc = parse_leaf(piece, &m->leaves[i]);
    free(piece);
    if (rc < 0) {
      mt_metric_free(m);
      return count > 1 ? mt_error_prefix(rc, "metric list \"%s\", item %d", spec, i + 1) : rc;
    }
    m->n++;
    p = comma ? comma + 1 : p + len;
  }
  *out = m;
  return MT_OK;
}

void mt_metric_free(mt_metric *m) {
  if (!m) return;
  free(m->leaves);
  free(m);
}

/* ------------------------------------------------------------- updates */

/* A host view of one array: the CPU data itself or a copy of a GPU array. */
typedef struct {
  const float *x;
  mt_shape s;
  int64_t size;
} hview;

static const char *shp(const mt_shape *s, char *buf) { return mt_shape_str(s, buf, 96); }

/* float -> integer as numpy's astype('int32') does for sane values
 * (truncation); NaN and huge values map to a sentinel no label equals. */
static int64_t to_index(float v) {
  if (!(fabsf(v) < 2e9f)) return INT64_MIN;
  return (int64_t)v;
}

static int norm_axis(const char *metric, int axis, const mt_shape *s, int *out) {
  int a = axis < 0 ? axis + s->ndim : axis;
  if (a < 0 || a >= s->ndim) {
    char b[96];
    return MT_ERR(MT_E_SHAPE, "%s: axis %d is out of range for predictions of shape %s", metric,
                  axis, shp(s, b));
  }
  *out = a;
  return MT_OK;
}

/* Splits shape s around axis a: outer = prod(dims < a), inner = prod(dims > a). */
static void split_axis(const mt_shape *s, int a, int64_t *outer, int64_t *inner) {
  *outer = 1;
  *inner = 1;
  for (int d = 0; d < a; d++) *outer *= s->dim[d];
  for (int d = a + 1; d < s->ndim; d++) *inner *= s->dim[d];
}

static int upd_acc(const leaf *l, const hview *lab, const hview *pred, double *dl) {
  char b1[96], b2[96];
  if (mt_shape_equal(&lab->s, &pred->s)) { /* predictions are class indices */
    for (int64_t i = 0; i < lab->size; i++) {
      int64_t y = to_index(lab->x[i]);
      dl[S_SUM] += y != INT64_MIN && to_index(pred->x[i]) == y; /* NaN never matches */
    }
    dl[S_NUM] += (double)lab->size;
    return MT_OK;
  }
  int a = 0;
  MT_TRY(norm_axis(l->name, l->axis, &pred->s, &a));
  int64_t outer, inner, c = pred->s.dim[a];
  split_axis(&pred->s, a, &outer, &inner);
  if (outer * inner != lab->size || c == 0)
    return MT_ERR(MT_E_SHAPE,
                  "%s: shape of labels %lld does not match shape of predictions %lld (labels %s, "
                  "predictions %s, argmax over axis %d)",
                  l->name, (long long)lab->size, (long long)(outer * inner), shp(&lab->s, b1),
                  shp(&pred->s, b2), l->axis);
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      const float *p = pred->x + o * c * inner + i;
      int64_t best = 0; /* first maximum, as argmax */
      for (int64_t k = 1; k < c; k++)
        if (p[k * inner] > p[best * inner]) best = k;
      dl[S_SUM] += best == to_index(lab->x[o * inner + i]);
    }
  dl[S_NUM] += (double)lab->size;
  return MT_OK;
}

static int upd_topk(const leaf *l, const hview *lab, const hview *pred, double *dl) {
  char b1[96], b2[96];
  if (pred->s.ndim != 2)
    return MT_ERR(MT_E_SHAPE, "%s: predictions must be 2-d (batch, classes), got %s", l->name,
                  shp(&pred->s, b1));
  int64_t n = pred->s.dim[0], c = pred->s.dim[1];
  if (lab->size != n || (lab->s.ndim > 0 && lab->s.dim[0] != n))
    return MT_ERR(MT_E_SHAPE,
                  "%s: shape of labels %s does not match shape of predictions %s (one label per "
                  "row expected)",
                  l->name, shp(&lab->s, b1), shp(&pred->s, b2));
  int64_t k = l->top_k < c ? l->top_k : c;
  for (int64_t r = 0; r < n; r++) {
    int64_t y = to_index(lab->x[r]);
    if (y < 0 || y >= c) continue; /* no class index equals it */
    const float *p = pred->x + r * c;
    /* Rank of class y in an ascending stable argsort read from the end:
     * classes scoring higher, or equal with a higher index, come first. */
    int64_t rank = 0;
    for (int64_t j = 0; j < c; j++) rank += p[j] > p[y] || (p[j] == p[y] && j > y);
    dl[S_SUM] += rank < k;
  }
  dl[S_NUM] += (double)n;
  return MT_OK;
}

/* mse/mae/rmse: numpy's broadcasting of label - pred after 1-d arrays
 * become (N, 1); the batch contributes its mean (rmse: its root) once. */
static int upd_reg(const leaf *l, const hview *lab, const hview *pred, double *dl) {
  mt_shape ls = lab->s, ps = pred->s;
  if (ls.ndim == 1) ls.ndim = 2, ls.dim[1] = 1;
  if (ps.ndim == 1) ps.ndim = 2, ps.dim[1] = 1;
  int nd = ls.ndim > ps.ndim ? ls.ndim : ps.ndim;
  int64_t od[MT_MAX_DIM], lst[MT_MAX_DIM], pst[MT_MAX_DIM];
  int64_t lstride = 1, pstride = 1, total = 1;
  for (int d = nd - 1; d >= 0; d--) {
    int li = d - (nd - ls.ndim), pi = d - (nd - ps.ndim);
    int64_t dlab = li >= 0 ? ls.dim[li] : 1, dprd = pi >= 0 ? ps.dim[pi] : 1;
    if (dlab != dprd && dlab != 1 && dprd != 1) {
      char b1[96], b2[96];
      return MT_ERR(MT_E_SHAPE,
                    "%s: labels %s and predictions %s cannot be broadcast together (numpy rules, "
                    "1-d arrays taken as (N, 1))",
                    l->name, shp(&lab->s, b1), shp(&pred->s, b2));
    }
    od[d] = dlab > dprd ? dlab : dprd;
    lst[d] = dlab == 1 ? 0 : lstride;
    pst[d] = dprd == 1 ? 0 : pstride;
    lstride *= dlab;
    pstride *= dprd;
    total *= od[d];
  }
  int64_t idx[MT_MAX_DIM] = {0};
  int64_t lo = 0, po = 0;
  double acc = 0;
  for (int64_t e = 0; e < total; e++) {
    double diff = (double)lab->x[lo] - (double)pred->x[po];
    acc += l->kind == M_MAE ? fabs(diff) : diff * diff;
    for (int d = nd - 1; d >= 0; d--) { /* odometer step */
      idx[d]++;
      lo += lst[d];
      po += pst[d];
      if (idx[d] < od[d]) break;
      lo -= lst[d] * od[d];
      po -= pst[d] * od[d];
      idx[d] = 0;
    }
  }
  double mean = total > 0 ? acc / (double)total : NAN;
  dl[S_SUM] += l->kind == M_RMSE ? sqrt(mean) : mean;
  dl[S_NUM] += 1;
  return MT_OK;
}

/* ce/nll: -log(p[i, label_i] + eps) summed over samples. */
static int upd_ce(const leaf *l, const hview *lab, const hview *pred, double *dl) {
  char b1[96], b2[96];
  if (pred->s.ndim != 2 || pred->s.dim[0] != lab->size)
    return MT_ERR(MT_E_SHAPE,
                  "%s: predictions must be (N, classes) with N = number of labels; got labels %s, "
                  "predictions %s",
                  l->name, shp(&lab->s, b1), shp(&pred->s, b2));
  int64_t n = pred->s.dim[0], c = pred->s.dim[1];
  double sum = 0;
  for (int64_t i = 0; i < n; i++) {
    int64_t y = to_index(lab->x[i]);
    if (y < 0 || y >= c)
      return MT_ERR(MT_E_INVAL, "%s: label %g of sample %lld is not a class index in [0, %lld)",
                    l->name, (double)lab->x[i], (long long)i, (long long)c);
    sum -= log((double)pred->x[i * c + y] + l->eps);
  }
  dl[S_SUM] += sum;
  dl[S_NUM] += (double)n;
  return MT_OK;
}

/* Binary confusion counts of one pair: positive = class 1 (argmax of the
 * two-column predictions, label == 1). */
static int upd_f1_counts(const leaf *l, const hview *lab, const hview *pred, double *cnt) {
  char b1[96], b2[96];
  if (pred->s.ndim != 2 || pred->s.dim[0] != lab->size)
    return MT_ERR(MT_E_SHAPE,
                  "%s: shape of labels %s does not match shape of predictions %s (expected N "
                  "labels and (N, 2) scores)",
                  l->name, shp(&lab->s, b1), shp(&pred->s, b2));
  int64_t n = pred->s.dim[0], c = pred->s.dim[1];
  int64_t seen[3] = {0, 0, 0};
  int nseen = 0;
  for (int64_t i = 0; i < n; i++) {
    int64_t y = to_index(lab->x[i]);
    int found = 0;
    for (int k = 0; k < nseen; k++) found |= seen[k] == y;
    if (!found) {
      if (nseen == 2)
        return MT_ERR(MT_E_INVAL,
                      "%s: F1 currently only supports binary classification (labels %lld, %lld "
                      "and %lld seen)",
                      l->name, (long long)seen[0], (long long)seen[1], (long long)y);
      seen[nseen++] = y;
    }
  }
  for (int64_t i = 0; i < n; i++) {
    const float *p = pred->x + i * c;
    int64_t best = 0;
    for (int64_t k = 1; k < c; k++)
      if (p[k] > p[best]) best = k;
    int pt = c > 0 && best == 1, lt = to_index(lab->x[i]) == 1;
    cnt[pt ? (lt ? S_TP : S_FP) : (lt ? S_FN : S_TN)] += 1;
  }
  return MT_OK;
}

static double fscore(const double *c) {
  double p = c[S_TP] + c[S_FP] > 0 ? c[S_TP] / (c[S_TP] + c[S_FP]) : 0;
  double r = c[S_TP] + c[S_FN] > 0 ? c[S_TP] / (c[S_TP] + c[S_FN]) : 0;
  return p + r > 0 ? 2 * p * r / (p + r) : 0;
}

/* perplexity: pick p[label] along axis (label clipped to the class range,
 * as ndarray.pick), ignored labels count as p = 1 and not as instances. */
static int upd_perp(const leaf *l, const hview *lab, const hview *pred, double *dl) {
  int a = 0;
  MT_TRY(norm_axis(l->name, l->axis, &pred->s, &a));
  int64_t outer, inner, c = pred->s.dim[a];
  split_axis(&pred->s, a, &outer, &inner);
  if (c == 0 || outer * inner != lab->size) {
    char b1[96], b2[96];
    return MT_ERR(MT_E_SHAPE,
                  "%s: shape mismatch: labels %s vs. predictions %s (one label per prediction "
                  "along axis %d expected)",
                  l->name, shp(&lab->s, b1), shp(&pred->s, b2), l->axis);
  }
  double loss = 0, num = 0;
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      float y = lab->x[o * inner + i];
      if (l->has_ignore && (double)y == l->ignore_label) continue; /* log(1) = 0 */
      int64_t k = to_index(y);
      k = k < 0 ? 0 : k >= c ? c - 1 : k;
      double p = pred->x[(o * c + k) * inner + i];
      loss -= log(p > 1e-10 ? p : 1e-10);
      num += 1;
    }
  dl[S_SUM] += loss;
  dl[S_NUM] += num;
  return MT_OK;
}

/* Changes of one leaf's state for the whole update call. */
static int update_leaf(const leaf *l, int n, const hview *labs, const hview *preds, double *dl) {
  double cnt[4] = {0};
  for (int j = 0; j < n; j++) {
    switch (l->kind) {
    case M_ACC: MT_TRY(upd_acc(l, &labs[j], &preds[j], dl)); break;
    case M_TOPK: MT_TRY(upd_topk(l, &labs[j], &preds[j], dl)); break;
    case M_MSE:
    case M_MAE:
    case M_RMSE: MT_TRY(upd_reg(l, &labs[j], &preds[j], dl)); break;
    case M_CE:
    case M_NLL: MT_TRY(upd_ce(l, &labs[j], &preds[j], dl)); break;
    case M_F1: MT_TRY(upd_f1_counts(l, &labs[j], &preds[j], l->micro ? dl : cnt)); break;
    case M_PERP: MT_TRY(upd_perp(l, &labs[j], &preds[j], dl)); break;
    }
  }
  if (l->kind == M_F1 && !l->micro) { /* macro: one score per update call */
    dl[S_SUM] += fscore(cnt);
    dl[S_NUM] += 1;
  }
  return MT_OK;
}

int mt_metric_update(mt_metric *m, int n, mt_ndarray *const *labels, mt_ndarray *const *preds) {
  if (!m || n < 0 || (n > 0 && (!labels || !preds)))
    return MT_ERR(MT_E_INVAL, "metric update: bad arguments");
  int rc = MT_OK;
  hview *v = calloc((size_t)(2 * n + 1), sizeof *v);
  float **owned = calloc((size_t)(2 * n + 1), sizeof *owned);
  double *delta = calloc((size_t)m->n * MT_METRIC_SLOTS + 1, sizeof *delta);
  if (!v || !owned || !delta) {
    rc = MT_NOMEM();
    goto done;
  }
  for (int j = 0; j < 2 * n; j++) {
    const mt_ndarray *a = j < n ? labels[j] : preds[j - n];
    if (!a) {
      rc = MT_ERR(MT_E_INVAL, "metric update: %s %d is NULL", j < n ? "label" : "prediction",
                  j < n ? j : j - n);
      goto done;
    }
    v[j].s = a->shape;
    v[j].size = a->size;
    v[j].x = mt_ndarray_data(a);
    if (!v[j].x) { /* GPU array: read a host copy */
      owned[j] = malloc((size_t)(a->size > 0 ? a->size : 1) * sizeof(float));
      if (!owned[j]) {
        rc = MT_NOMEM();
        goto done;
      }
      MT_TRY_GOTO(mt_ndarray_copy_to(a, owned[j], a->size), rc, done);
      v[j].x = owned[j];
    }
  }
  /* All leaves first, then commit: a failed update changes nothing. */
  for (int i = 0; i < m->n; i++)
    MT_TRY_GOTO(update_leaf(&m->leaves[i], n, v, v + n, delta + i * MT_METRIC_SLOTS), rc, done);
  for (int i = 0; i < m->n; i++)
    for (int k = 0; k < MT_METRIC_SLOTS; k++) {
      m->leaves[i].loc[k] += delta[i * MT_METRIC_SLOTS + k];
      m->leaves[i].glob[k] += delta[i * MT_METRIC_SLOTS + k];
    }
done:
  if (owned)
    for (int j = 0; j < 2 * n; j++) free(owned[j]);
  free(owned);
  free(v);
  free(delta);
  return rc;
}

void mt_metric_reset(mt_metric *m) {
  for (int i = 0; m && i < m->n; i++) {
    memset(m->leaves[i].loc, 0, sizeof m->leaves[i].loc);
    memset(m->leaves[i].glob, 0, sizeof m->leaves[i].glob);
  }
}

void mt_metric_reset_local(mt_metric *m) {
  for (int i = 0; m && i < m->n; i++) memset(m->leaves[i].loc, 0, sizeof m->leaves[i].loc);
}

/* --------------------------------------------------------------- values */

int mt_metric_num(const mt_metric *m) { return m ? m->n : 0; }

static double value(const leaf *l, const double *st) {
  if (l->kind == M_F1 && l->micro) {
    double total = st[S_TP] + st[S_FP] + st[S_FN] + st[S_TN];
    return total > 0 ? fscore(st) : NAN;
  }
  if (st[S_NUM] == 0) return NAN;
  double v = st[S_SUM] / st[S_NUM];
  return l->kind == M_PERP ? exp(v) : v;
}

static int get(const mt_metric *m, int i, int global, const char **name, double *val) {
  if (!m || i < 0 || i >= m->n)
    return MT_ERR(MT_E_INVAL, "metric index %d is out of range 0 and %d", i, m ? m->n : 0);
  const leaf *l = &m->leaves[i];
  if (name) *name = l->name;
  if (val) *val = value(l, global ? l->glob : l->loc);
  return MT_OK;
}

int mt_metric_get(const mt_metric *m, int i, const char **name, double *val) {
  return get(m, i, 0, name, val);
}

int mt_metric_get_global(const mt_metric *m, int i, const char **name, double *val) {
  return get(m, i, 1, name, val);
}

/* ----------------------------------------------------- distributed state */

/* Layout: for each leaf in order, its local slots then its global slots. */
int mt_metric_state_size(const mt_metric *m) {
  int n = 0;
  for (int i = 0; m && i < m->n; i++) n += 2 * width(&m->leaves[i]);
  return n;
}

int mt_metric_state_get(const mt_metric *m, double *buf) {
  if (!m || !buf) return MT_ERR(MT_E_INVAL, "metric state_get: NULL argument");
  for (int i = 0; i < m->n; i++) {
    int w = width(&m->leaves[i]);
    memcpy(buf, m->leaves[i].loc, (size_t)w * sizeof *buf);
    memcpy(buf + w, m->leaves[i].glob, (size_t)w * sizeof *buf);
    buf += 2 * w;
  }
  return MT_OK;
}

int mt_metric_state_set(mt_metric *m, const double *buf) {
  if (!m || !buf) return MT_ERR(MT_E_INVAL, "metric state_set: NULL argument");
  for (int i = 0; i < m->n; i++) {
    int w = width(&m->leaves[i]);
    memcpy(m->leaves[i].loc, buf, (size_t)w * sizeof *buf);
    memcpy(m->leaves[i].glob, buf + w, (size_t)w * sizeof *buf);
    buf += 2 * w;
  }
  return MT_OK;
}
