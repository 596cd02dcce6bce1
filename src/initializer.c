/* initializer.c — mx.init.* with MXNet 1.x semantics: xavier, msra_prelu,
 * uniform, normal, constant, zero, one, and Initializer.__call__'s dispatch
 * by parameter-name suffix.
 *
 * Randomness (docs/design.md §5): parameter `name` draws from the Philox stream
 * key = mtk_philox_key(seed, mt_hash64(name)); element i of the flat array
 * is the i-th uniform/normal of that stream. Each value is a function of
 * (seed, name, i) alone, so parameters do not depend on the process, the
 * number of ranks or contexts, or the order in which they are initialised. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "attrs.h"
#include "base/error.h"
#include "base/philox.h"
#include "ndarray.h"
#include "symbol.h"

typedef enum { INIT_XAVIER, INIT_UNIFORM, INIT_NORMAL, INIT_CONSTANT, INIT_LSTMBIAS } init_kind;
enum { RND_UNIFORM = 0, RND_GAUSSIAN = 1 };
enum { FACTOR_AVG = 0, FACTOR_IN = 1, FACTOR_OUT = 2 };

struct mt_initializer {
  init_kind kind;
  uint64_t seed;
  int rnd_type, factor_type; /* xavier, msra_prelu */
  double magnitude;          /* xavier, msra_prelu (2 / (1 + slope^2)) */
  double scale;              /* uniform bound */
  double sigma;              /* normal standard deviation */
  double value;              /* constant, zero, one; lstmbias: forget_bias */
  char desc[160];            /* the spec with every default, for logs */
};

static const char *const rnd_names[] = {"uniform", "gaussian", NULL};
static const char *const factor_names[] = {"avg", "in", "out", NULL};

/* Reads a non-negative finite number (a negative bound or deviation would
 * silently give NaN or an empty range). */
static int nonneg_float(const mt_attrs *a, const char *name, const char *key, double def,
                        double *out) {
  MT_TRY(mt_attr_float(a, "initializer", name, key, def, out));
  if (*out < 0)
    return MT_ERR(MT_E_INVAL, "initializer '%s': %s='%s' must not be negative", name, key,
                  mt_attrs_get(a, key));
  return MT_OK;
}

static int parse(mt_initializer *in, const char *name, const mt_attrs *a) {
  char lname[64];
  size_t n = strlen(name);
  if (n >= sizeof lname) n = sizeof lname - 1;
  for (size_t i = 0; i < n; i++) lname[i] = (char)tolower((unsigned char)name[i]);
  lname[n] = '\0';

  if (!strcmp(lname, "xavier")) {
    static const char *const known[] = {"rnd_type", "factor_type", "magnitude", NULL};
    MT_TRY(mt_attr_check_known(a, "initializer", lname, known));
    in->kind = INIT_XAVIER;
    MT_TRY(
        mt_attr_enum(a, "initializer", lname, "rnd_type", rnd_names, RND_UNIFORM, &in->rnd_type));
    MT_TRY(mt_attr_enum(a, "initializer", lname, "factor_type", factor_names, FACTOR_AVG,
                        &in->factor_type));
    MT_TRY(nonneg_float(a, lname, "magnitude", 3.0, &in->magnitude));
    snprintf(in->desc, sizeof in->desc, "xavier rnd_type=%s factor_type=%s magnitude=%g",
             rnd_names[in->rnd_type], factor_names[in->factor_type], in->magnitude);
  } else if (!strcmp(lname, "msra_prelu") || !strcmp(lname, "msraprelu")) {
    static const char *const known[] = {"factor_type", "slope", NULL};
    MT_TRY(mt_attr_check_known(a, "initializer", lname, known));
    double slope;
    in->kind = INIT_XAVIER;
    in->rnd_type = RND_GAUSSIAN;
    MT_TRY(mt_attr_enum(a, "initializer", lname, "factor_type", factor_names, FACTOR_AVG,
                        &in->factor_type));
    MT_TRY(mt_attr_float(a, "initializer", lname, "slope", 0.25, &slope));
    in->magnitude = 2.0 / (1.0 + slope * slope);
    snprintf(in->desc, sizeof in->desc, "msra_prelu factor_type=%s slope=%g",
             factor_names[in->factor_type], slope);
  } else if (!strcmp(lname, "uniform")) {
    static const char *const known[] = {"scale", NULL};
    MT_TRY(mt_attr_check_known(a, "initializer", lname, known));
    in->kind = INIT_UNIFORM;
    MT_TRY(nonneg_float(a, lname, "scale", 0.07, &in->scale));
    snprintf(in->desc, sizeof in->desc, "uniform scale=%g", in->scale);
  } else if (!strcmp(lname, "normal")) {
    static const char *const known[] = {"sigma", NULL};
    MT_TRY(mt_attr_check_known(a, "initializer", lname, known));
    in->kind = INIT_NORMAL;
    MT_TRY(nonneg_float(a, lname, "sigma", 0.01, &in->sigma));
    snprintf(in->desc, sizeof in->desc, "normal sigma=%g", in->sigma);
  } else if (!strcmp(lname, "constant")) {
    static const char *const known[] = {"value", NULL};
    MT_TRY(mt_attr_check_known(a, "initializer", lname, known));
    in->kind = INIT_CONSTANT;
    if (!mt_attrs_get(a, "value"))
      return MT_ERR(MT_E_INVAL,
                    "initializer 'constant': required key 'value' is missing "
                    "(e.g. \"constant value=0.5\")");
    MT_TRY(mt_attr_float(a, "initializer", lname, "value", 0.0, &in->value));
    snprintf(in->desc, sizeof in->desc, "constant value=%g", in->value);
  } else if (!strcmp(lname, "zero") || !strcmp(lname, "zeros") || !strcmp(lname, "one") ||
             !strcmp(lname, "ones")) {
    MT_TRY(mt_attr_check_known(a, "initializer", lname, NULL));
    in->kind = INIT_CONSTANT;
    in->value = lname[0] == 'o' ? 1.0 : 0.0;
    snprintf(in->desc, sizeof in->desc, "%s", lname[0] == 'o' ? "one" : "zero");
  } else if (!strcmp(lname, "lstmbias")) {
    /* mx.init.LSTMBias: zeros, the forget gate's quarter (gates i, f, c, o
     * as MXNet's LSTMCell) forget_bias */
    static const char *const known[] = {"forget_bias", NULL};
    MT_TRY(mt_attr_check_known(a, "initializer", lname, known));
    in->kind = INIT_LSTMBIAS;
    MT_TRY(mt_attr_float(a, "initializer", lname, "forget_bias", 1.0, &in->value));
    snprintf(in->desc, sizeof in->desc, "lstmbias forget_bias=%g", in->value);
  } else {
    return MT_ERR(MT_E_INVAL,
                  "unknown initializer '%s' (known: xavier, msra_prelu, uniform, normal, "
                  "constant, zero, one, lstmbias)",
                  name);
  }
  return MT_OK;
}

int mt_initializer_create(const char *spec, uint64_t seed, mt_initializer **out) {
  *out = NULL;
  if (!spec) return MT_ERR(MT_E_INVAL, "initializer: spec is NULL");
  while (isspace((unsigned char)*spec)) spec++;
  const char *end = spec;
  while (*end && !isspace((unsigned char)*end)) end++;
  if (end == spec) return MT_ERR(MT_E_INVAL, "initializer: empty spec (e.g. \"xavier\")");
  char name[64];
  size_t n = (size_t)(end - spec);
  if (n >= sizeof name) return MT_ERR(MT_E_INVAL, "unknown initializer '%.40s...'", spec);
  memcpy(name, spec, n);
  name[n] = '\0';

  mt_attrs a;
  int rc = mt_attrs_parse(end, &a);
  if (rc < 0) return mt_error_prefix(rc, "initializer '%s'", name);
  mt_initializer *in = calloc(1, sizeof *in);
  if (!in) {
    mt_attrs_free(&a);
    return MT_NOMEM();
  }
  in->seed = seed;
  rc = parse(in, name, &a);
  mt_attrs_free(&a);
  if (rc < 0) {
    free(in);
    return rc;
  }
  *out = in;
  return MT_OK;
}

void mt_initializer_free(mt_initializer *init) { free(init); }

const char *mt_initializer_str(const mt_initializer *init) { return init->desc; }

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && !memcmp(s + n - m, suffix, m);
}

/* Draws the weight rule into host memory x (n elements) for array shape s. */
static int draw_weight(const mt_initializer *in, const char *name, const mt_shape *s, float *x,
                       int64_t n) {
  uint64_t key = mtk_philox_key(in->seed, mt_hash64(name));
  double lo = 0, width = 0, sd = 0;
  int gaussian = 0;
  switch (in->kind) {
  case INIT_CONSTANT:
    for (int64_t i = 0; i < n; i++) x[i] = (float)in->value;
    return MT_OK;
  case INIT_LSTMBIAS: { /* arr[:] = 0; arr[H:2H] = forget_bias, H = shape[0] // 4 */
    int64_t rows = s->ndim > 0 ? s->dim[0] : 0, row = rows > 0 ? n / rows : 0, H = rows / 4;
    for (int64_t i = 0; i < n; i++) x[i] = i >= H * row && i < 2 * H * row ? (float)in->value : 0;
    return MT_OK;
  }
  case INIT_UNIFORM:
    lo = -in->scale;
    width = 2 * in->scale;
    break;
  case INIT_NORMAL:
    gaussian = 1;
    sd = in->sigma;
    break;
  case INIT_XAVIER: {
    if (s->ndim < 2) {
      char b[96];
      return MT_ERR(MT_E_SHAPE,
                    "Xavier initializer cannot be applied to vector %s of shape %s: it requires "
                    "at least 2 dims",
                    name, mt_shape_str(s, b, sizeof b));
    }
    double hw = 1;
    for (int d = 2; d < s->ndim; d++) hw *= (double)s->dim[d];
    double fan_in = (double)s->dim[1] * hw, fan_out = (double)s->dim[0] * hw;
    double factor = in->factor_type == FACTOR_AVG  ? (fan_in + fan_out) / 2.0
                    : in->factor_type == FACTOR_IN ? fan_in
                                                   : fan_out;
    double scale = factor > 0 ? sqrt(in->magnitude / factor) : 0;
    if (in->rnd_type == RND_UNIFORM) {
      lo = -scale;
      width = 2 * scale;
    } else {
      gaussian = 1;
      sd = scale;
    }
    break;
  }
  }
  if (gaussian)
    for (int64_t i = 0; i < n; i++)
      x[i] = (float)(sd * (double)mtk_philox_normal(key, 0, (uint64_t)i));
  else
    for (int64_t i = 0; i < n; i++)
      x[i] = (float)(lo + width * (double)mtk_philox_uniform(key, 0, (uint64_t)i));
  return MT_OK;
}

static int apply_rule(const mt_initializer *init, const char *name, mt_ndarray *arr);

int mt_initializer_init(const mt_initializer *init, const char *name, mt_ndarray *arr) {
  if (!init || !name || !arr) return MT_ERR(MT_E_INVAL, "initializer: NULL argument");
  /* Initializer.__call__ and _legacy_init's suffix table; no suffix ends
   * with another, so the order does not matter. */
  static const struct {
    const char *suffix;
    float value;
  } fixed[] = {{"bias", 0},       {"gamma", 1},          {"beta", 0},      {"moving_mean", 0},
               {"moving_var", 1}, {"moving_inv_var", 0}, {"moving_avg", 0}};
  for (size_t k = 0; k < sizeof fixed / sizeof fixed[0]; k++)
    if (ends_with(name, fixed[k].suffix)) return mt_ndarray_fill(arr, fixed[k].value);
  if (!ends_with(name, "weight"))
    return MT_ERR(MT_E_INVAL,
                  "Unknown initialization pattern for %s: default initialization is limited to "
                  "names ending in \"weight\", \"bias\" (0), \"gamma\" (1), \"beta\" (0), "
                  "\"moving_mean\" (0), \"moving_var\" (1), \"moving_inv_var\" (0) and "
                  "\"moving_avg\" (0); rename the variable or set the array yourself",
                  name);

  return apply_rule(init, name, arr);
}

/* The initializer's own rule (MXNet's _init_weight), whatever the name. */
static int apply_rule(const mt_initializer *init, const char *name, mt_ndarray *arr) {
  if (init->kind == INIT_CONSTANT) return mt_ndarray_fill(arr, (float)init->value);
  int64_t n = arr->size;
  float *host = mt_ndarray_data(arr);
  float *tmp = NULL;
  if (!host) { /* GPU: draw on the host, then copy (the same values as on a CPU) */
    tmp = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    if (!tmp) return MT_NOMEM();
    host = tmp;
  }
  int rc = draw_weight(init, name, &arr->shape, host, n);
  if (rc == MT_OK && tmp) rc = mt_ndarray_copy_from(arr, tmp, n);
  free(tmp);
  return rc;
}

/* MXNet's Initializer.__call__ with desc.attrs['__init__']: the JSON that
 * Initializer.dumps() writes, ["lstmbias", {"forget_bias": 1.0}], made into
 * a spec ("lstmbias forget_bias=1") for mt_initializer_create. A plain
 * name ("zero") is a spec already. */
static int init_attr_spec(const char *attr, char *spec, size_t len) {
  const char *p = attr;
  while (isspace((unsigned char)*p)) p++;
  if (*p != '[') {
    snprintf(spec, len, "%s", p);
    return MT_OK;
  }
  json_error_t jerr;
  json_t *j = json_loads(p, 0, &jerr);
  int rc = MT_OK;
  if (!j || !json_is_array(j) || json_array_size(j) < 1 || json_array_size(j) > 2 ||
      !json_is_string(json_array_get(j, 0)) ||
      (json_array_size(j) == 2 && !json_is_object(json_array_get(j, 1)))) {
    rc = MT_ERR(MT_E_FORMAT,
                "__init__ '%s' is not an initializer as MXNet's Initializer.dumps() writes "
                "one ([\"name\", {\"key\": value}])",
                attr);
    goto out;
  }
  size_t used = (size_t)snprintf(spec, len, "%s", json_string_value(json_array_get(j, 0)));
  const char *k;
  json_t *v;
  json_object_foreach(json_array_get(j, 1), k, v) {
    char val[64];
    if (json_is_string(v)) snprintf(val, sizeof val, "%s", json_string_value(v));
    else if (json_is_integer(v))
      snprintf(val, sizeof val, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v)) snprintf(val, sizeof val, "%.17g", json_real_value(v));
    else if (json_is_boolean(v))
      snprintf(val, sizeof val, "%s", json_is_true(v) ? "true" : "false");
    else {
      rc = MT_ERR(MT_E_FORMAT, "__init__ '%s': the value of '%s' is not a number, text or bool",
                  attr, k);
      goto out;
    }
    if (used < len) used += (size_t)snprintf(spec + used, len - used, " %s=%s", k, val);
  }
  if (used >= len) rc = MT_ERR(MT_E_INVAL, "__init__ '%s' is too long", attr);
out:
  json_decref(j);
  return rc;
}

int mt_initializer_init_attr(const mt_initializer *init, const char *name, const char *init_attr,
                             mt_ndarray *arr) {
  if (!init_attr || !*init_attr) return mt_initializer_init(init, name, arr);
  if (!init || !name || !arr) return MT_ERR(MT_E_INVAL, "initializer: NULL argument");
  char spec[512];
  mt_initializer *own = NULL;
  MT_TRY(init_attr_spec(init_attr, spec, sizeof spec));
  int rc = mt_initializer_create(spec, init->seed, &own);
  if (rc < 0) return mt_error_prefix(rc, "parameter '%s': __init__", name);
  rc = apply_rule(own, name, arr);
  mt_initializer_free(own);
  return rc;
}
