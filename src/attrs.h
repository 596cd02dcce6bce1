/* attrs.h — string attributes of a symbol node (MXNet keeps every operator
 * parameter as a string) and typed parsing of them for operators. */
#ifndef MT_SRC_ATTRS_H
#define MT_SRC_ATTRS_H
#include "modtrain.h"

typedef struct {
  int n;
  char **keys;
  char **vals;
} mt_attrs;

/* Parses "k=v k2=v2" (whitespace separated; values without spaces). A key
 * given twice is MT_E_INVAL naming it and both values (MXNet's Python
 * keyword arguments cannot repeat either). */
int mt_attrs_parse(const char *text, mt_attrs *out);
int mt_attrs_set(mt_attrs *a, const char *key, const char *val);
const char *mt_attrs_get(const mt_attrs *a, const char *key); /* NULL if absent */
int mt_attrs_copy(const mt_attrs *src, mt_attrs *dst);
void mt_attrs_free(mt_attrs *a);
/* Sorts by key (MXNet writes attrs in key order). */
void mt_attrs_sort(mt_attrs *a);

/* Typed getters for operator parsers. `op` and `node` name the error's
 * subject ("FullyConnected 'fc1': num_hidden='x' is not an integer").
 * Absent key: *out = default (for the required variant, an error). */
int mt_attr_int(const mt_attrs *a, const char *op, const char *node, const char *key, int64_t def,
                int64_t *out);
/* mt_attr_int, and a given value outside [lo, hi] is MT_E_INVAL naming the
 * range: for values stored in narrower fields or used as sizes, so that a
 * too-large value is an error, never a wrap. */
int mt_attr_int_range(const mt_attrs *a, const char *op, const char *node, const char *key,
                      int64_t def, int64_t lo, int64_t hi, int64_t *out);
int mt_attr_int_required(const mt_attrs *a, const char *op, const char *node, const char *key,
                         int64_t *out);
int mt_attr_float(const mt_attrs *a, const char *op, const char *node, const char *key, double def,
                  double *out);
/* An integer tuple as MXNet writes one: "(5, 5)", "(5,5)", "[2,2]", "(3,)",
 * "()" or a bare "5". Fills vals[0..*n) (at most `max`, more is
 * MT_E_INVAL); each value must lie in [lo, hi]. Absent key: *n = 0 (the
 * caller applies its default); "None" counts as absent. */
int mt_attr_int_tuple(const mt_attrs *a, const char *op, const char *node, const char *key,
                      int64_t lo, int64_t hi, int64_t *vals, int max, int *n);
/* Accepts true/false, True/False, 1/0. */
int mt_attr_bool(const mt_attrs *a, const char *op, const char *node, const char *key, int def,
                 int *out);
/* One of choices (NULL-terminated); *out = index. */
int mt_attr_enum(const mt_attrs *a, const char *op, const char *node, const char *key,
                 const char *const *choices, int def, int *out);
/* Error if a key is not in `known` (NULL-terminated). Keys starting with
 * "__" (MXNet's __lr_mult__, __init__, ...) are always accepted. */
int mt_attr_check_known(const mt_attrs *a, const char *op, const char *node,
                        const char *const *known);

#endif
