/* attrs.c — string attributes and their typed parsing for operators. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attrs.h"
#include "base/error.h"

int mt_attrs_set(mt_attrs *a, const char *key, const char *val) {
  for (int i = 0; i < a->n; i++)
    if (!strcmp(a->keys[i], key)) {
      char *v = strdup(val);
      if (!v) return MT_NOMEM();
      free(a->vals[i]);
      a->vals[i] = v;
      return MT_OK;
    }
  char **k = realloc(a->keys, sizeof(char *) * (size_t)(a->n + 1));
  if (!k) return MT_NOMEM();
  a->keys = k;
  char **v = realloc(a->vals, sizeof(char *) * (size_t)(a->n + 1));
  if (!v) return MT_NOMEM();
  a->vals = v;
  a->keys[a->n] = strdup(key);
  a->vals[a->n] = strdup(val);
  if (!a->keys[a->n] || !a->vals[a->n]) {
    free(a->keys[a->n]);
    free(a->vals[a->n]);
    return MT_NOMEM();
  }
  a->n++;
  return MT_OK;
}

int mt_attrs_parse(const char *text, mt_attrs *out) {
  memset(out, 0, sizeof *out);
  if (!text) return MT_OK;
  const char *p = text;
  while (*p) {
    while (*p && isspace((unsigned char)*p)) p++;
    if (!*p) break;
    const char *start = p;
    while (*p && !isspace((unsigned char)*p)) p++;
    size_t len = (size_t)(p - start);
    char tok[1024];
    if (len >= sizeof tok) {
      mt_attrs_free(out);
      return MT_ERR(MT_E_INVAL, "attribute too long: '%.40s...'", start);
    }
    memcpy(tok, start, len);
    tok[len] = '\0';
    char *eq = strchr(tok, '=');
    if (!eq || eq == tok) {
      mt_attrs_free(out);
      return MT_ERR(MT_E_INVAL, "attribute '%s' is not of the form key=value", tok);
    }
    *eq = '\0';
    const char *was = mt_attrs_get(out, tok);
    if (was) {
      int rc = MT_ERR(MT_E_INVAL, "attribute '%s' is given twice (%s=%s, then %s=%s; give it once)",
                      tok, tok, was, tok, eq + 1);
      mt_attrs_free(out);
      return rc;
    }
    int rc = mt_attrs_set(out, tok, eq + 1);
    if (rc < 0) {
      mt_attrs_free(out);
      return rc;
    }
  }
  return MT_OK;
}

const char *mt_attrs_get(const mt_attrs *a, const char *key) {
  for (int i = 0; i < a->n; i++)
    if (!strcmp(a->keys[i], key)) return a->vals[i];
  return NULL;
}

int mt_attrs_copy(const mt_attrs *src, mt_attrs *dst) {
  memset(dst, 0, sizeof *dst);
  for (int i = 0; i < src->n; i++) {
    int rc = mt_attrs_set(dst, src->keys[i], src->vals[i]);
    if (rc < 0) {
      mt_attrs_free(dst);
      return rc;
    }
  }
  return MT_OK;
}

void mt_attrs_free(mt_attrs *a) {
  for (int i = 0; i < a->n; i++) {
    free(a->keys[i]);
    free(a->vals[i]);
  }
  free(a->keys);
  free(a->vals);
  memset(a, 0, sizeof *a);
}

void mt_attrs_sort(mt_attrs *a) {
  for (int i = 1; i < a->n; i++)
    for (int j = i; j > 0 && strcmp(a->keys[j - 1], a->keys[j]) > 0; j--) {
      char *k = a->keys[j], *v = a->vals[j];
      a->keys[j] = a->keys[j - 1];
      a->vals[j] = a->vals[j - 1];
      a->keys[j - 1] = k;
      a->vals[j - 1] = v;
    }
}

int mt_attr_int(const mt_attrs *a, const char *op, const char *node, const char *key, int64_t def,
                int64_t *out) {
  const char *v = mt_attrs_get(a, key);
  if (!v) {
    *out = def;
    return MT_OK;
  }
  char *end;
  errno = 0;
  long long x = strtoll(v, &end, 10);
  if (errno || end == v || *end)
    return MT_ERR(MT_E_INVAL, "%s '%s': %s='%s' is not an integer", op, node, key, v);
  *out = x;
  return MT_OK;
}

int mt_attr_int_range(const mt_attrs *a, const char *op, const char *node, const char *key,
                      int64_t def, int64_t lo, int64_t hi, int64_t *out) {
  MT_TRY(mt_attr_int(a, op, node, key, def, out));
  if (mt_attrs_get(a, key) && (*out < lo || *out > hi))
    return MT_ERR(MT_E_INVAL, "%s '%s': %s=%s is out of range [%lld, %lld]", op, node, key,
                  mt_attrs_get(a, key), (long long)lo, (long long)hi);
  return MT_OK;
}

int mt_attr_int_required(const mt_attrs *a, const char *op, const char *node, const char *key,
                         int64_t *out) {
  if (!mt_attrs_get(a, key))
    return MT_ERR(MT_E_INVAL, "%s '%s': required attribute '%s' is missing", op, node, key);
  return mt_attr_int(a, op, node, key, 0, out);
}

int mt_attr_int_tuple(const mt_attrs *a, const char *op, const char *node, const char *key,
                      int64_t lo, int64_t hi, int64_t *vals, int max, int *n) {
  const char *v = mt_attrs_get(a, key);
  *n = 0;
  if (!v || !strcmp(v, "None")) return MT_OK;
  const char *p = v;
  while (isspace((unsigned char)*p)) p++;
  char close = 0;
  if (*p == '(') close = ')';
  if (*p == '[') close = ']';
  if (close) p++;
  int count = 0;
  for (;;) {
    while (isspace((unsigned char)*p)) p++;
    if (close && *p == close) break;
    if (!close && !*p && count > 0) break;
    char *end;
    errno = 0;
    long long x = strtoll(p, &end, 10);
    if (end == p || errno)
      return MT_ERR(MT_E_INVAL, "%s '%s': %s='%s' is not a tuple of integers", op, node, key, v);
    if (x < lo || x > hi)
      return MT_ERR(MT_E_INVAL, "%s '%s': %s='%s': %lld is out of range [%lld, %lld]", op, node,
                    key, v, x, (long long)lo, (long long)hi);
    if (count == max)
      return MT_ERR(MT_E_INVAL, "%s '%s': %s='%s' has more than %d values", op, node, key, v, max);
    vals[count++] = x;
    p = end;
    while (isspace((unsigned char)*p)) p++;
    if (*p == ',') {
      p++;
      continue;
    }
    if (close && *p == close) break;
    if (!close && !*p) break;
    return MT_ERR(MT_E_INVAL, "%s '%s': %s='%s' is not a tuple of integers", op, node, key, v);
  }
  if (close) p++;
  while (isspace((unsigned char)*p)) p++;
  if (*p)
    return MT_ERR(MT_E_INVAL, "%s '%s': %s='%s' is not a tuple of integers", op, node, key, v);
  *n = count;
  return MT_OK;
}

int mt_attr_float(const mt_attrs *a, const char *op, const char *node, const char *key, double def,
                  double *out) {
  const char *v = mt_attrs_get(a, key);
  if (!v) {
    *out = def;
    return MT_OK;
  }
  char *end;
  errno = 0;
  double x = strtod(v, &end);
  if (errno || end == v || *end || !isfinite(x))
    return MT_ERR(MT_E_INVAL, "%s '%s': %s='%s' is not a finite number", op, node, key, v);
  *out = x;
  return MT_OK;
}

int mt_attr_bool(const mt_attrs *a, const char *op, const char *node, const char *key, int def,
                 int *out) {
  const char *v = mt_attrs_get(a, key);
  if (!v) {
    *out = def;
    return MT_OK;
  }
  if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "1")) *out = 1;
  else if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "0")) *out = 0;
  else
    return MT_ERR(MT_E_INVAL, "%s '%s': %s='%s' is not a boolean (true/false)", op, node, key, v);
  return MT_OK;
}

int mt_attr_enum(const mt_attrs *a, const char *op, const char *node, const char *key,
                 const char *const *choices, int def, int *out) {
  const char *v = mt_attrs_get(a, key);
  if (!v) {
    *out = def;
    return MT_OK;
  }
  for (int i = 0; choices[i]; i++)
    if (!strcmp(v, choices[i])) {
      *out = i;
      return MT_OK;
    }
  char list[512] = "";
  for (int i = 0; choices[i]; i++) {
    if (i) strncat(list, ", ", sizeof list - strlen(list) - 1);
    strncat(list, choices[i], sizeof list - strlen(list) - 1);
  }
  return MT_ERR(MT_E_INVAL, "%s '%s': %s='%s' is not one of {%s}", op, node, key, v, list);
}

int mt_attr_check_known(const mt_attrs *a, const char *op, const char *node,
                        const char *const *known) {
  for (int i = 0; i < a->n; i++) {
    if (!strncmp(a->keys[i], "__", 2)) continue;
    int ok = 0;
    for (int j = 0; known && known[j]; j++)
      if (!strcmp(a->keys[i], known[j])) ok = 1;
    if (!ok) return MT_ERR(MT_E_INVAL, "%s '%s': unknown attribute '%s'", op, node, a->keys[i]);
  }
  return MT_OK;
}
