/* symbol_json.c — MXNet's symbol JSON: mt_symbol_tojson / load_json / save / load.
 *
 * Writing reproduces MXNet 1.x's sym.tojson() byte for byte: NNVM's SaveJSON
 * (src/pass/saveload_json.cc) driving dmlc-core's JSONWriter (dmlc/json.h),
 * whose rules are emulated by the small `jw` writer below:
 *  - an object or array is "multi-line" or not; in a multi-line scope every
 *    item starts on a new line indented 2 spaces per open scope, and the
 *    separator before it is ", " — so lines end with a space after the comma;
 *  - the closing bracket of a non-empty multi-line scope goes on its own line
 *    only if the enclosing scope is multi-line too (dmlc checks the parent);
 *  - std::vector is multi-line if it has more than 10 elements or its elements
 *    are not POD (nodes, strings); a map is multi-line if it has more than one
 *    key; an input entry [node, index, version] is never multi-line;
 *  - strings escape only \r \n \t \\ and " (we also escape the other control
 *    characters as \u00XX, which MXNet would write raw, i.e. as invalid JSON).
 * The document is
 *   {"nodes": [{"op", "name", "attrs" (only if non-empty, keys sorted), "inputs"}...],
 *    "arg_nodes": every variable node (aux states included), "node_row_ptr":
 *    prefix sums of each node's output count (hidden outputs included),
 *    "heads": [[node, index, version]...], "attrs": {"mxnet_version": ["int", V]}}
 * with nodes in NNVM's DFS post-order and no trailing newline (sym.save()
 * writes the same text). V is MT_MXNET_VERSION (MXNet 1.9.1) unless the
 * symbol was loaded from a 1.x file, whose graph attrs are then written back
 * (this needs mt_symbol's json_attrs slot, MT_SYMBOL_JSON_ATTRS below).
 *
 * Loading parses with jansson and accepts what MXNet's loader accepts: "attrs"
 * or the older "attr" / "param" on any node (variables keep theirs: __shape__,
 * __init__, __lr_mult__ ... round-trip), input entries of 2 or 3 numbers,
 * missing node_row_ptr / arg_nodes, and MXNet's upgrades of old files:
 * hidden keys written without underscores (lr_mult -> __lr_mult__, and an
 * op's weight_lr_mult moved onto its weight variable), and, before 0.9.0,
 * aux-state inputs left out of the file (created as "<node>_<name>").
 * Version numbers of input entries are accepted and dropped (written as 0).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "symbol.h"

/* MXNET_VERSION of the MXNet release whose output we reproduce: 1.9.1 (the
 * last 1.x), MXNET_MAKE_VERSION(1, 9, 1) = 1 * 10000 + 9 * 100 + 1. */
#define MT_MXNET_VERSION 10901

/* Graph-level attributes kept from a loaded 1.x file (key -> compact JSON text
 * of the value, e.g. mxnet_version -> ["int",10500]), so that load -> tojson
 * gives back the file's own mxnet_version. They need a slot in mt_symbol
 * (symbol.h); until it exists every symbol is written with MT_MXNET_VERSION. */
#ifdef MT_SYMBOL_JSON_ATTRS
static const mt_attrs *graph_attrs_get(const mt_symbol *s) { return &s->json_attrs; }
static void graph_attrs_put(mt_symbol *s, mt_attrs *a) {
  mt_attrs_free(&s->json_attrs);
  s->json_attrs = *a;
  memset(a, 0, sizeof *a);
}
#else
static const mt_attrs *graph_attrs_get(const mt_symbol *s) {
  (void)s;
  return NULL;
}
static void graph_attrs_put(mt_symbol *s, mt_attrs *a) {
  (void)s;
  mt_attrs_free(a);
}
#endif

/* =================================================================== writer */

#define JW_MAXDEPTH 48

/* dmlc::JSONWriter: a growing buffer and a stack of (multi_line, count). */
typedef struct {
  char *buf;
  size_t len, cap;
  int oom;
  int depth;
  unsigned char ml[JW_MAXDEPTH];
  size_t cnt[JW_MAXDEPTH];
} jw;

static void jw_put(jw *w, const char *s, size_t n) {
  if (w->oom) return;
  if (w->len + n + 1 > w->cap) {
    size_t cap = w->cap ? w->cap : 4096;
    while (cap < w->len + n + 1) cap *= 2;
    char *p = realloc(w->buf, cap);
    if (!p) {
      w->oom = 1;
      return;
    }
    w->buf = p;
    w->cap = cap;
  }
  memcpy(w->buf + w->len, s, n);
  w->len += n;
  w->buf[w->len] = '\0';
}

static void jw_puts(jw *w, const char *s) { jw_put(w, s, strlen(s)); }

static void jw_int(jw *w, long long v) {
  char b[32];
  int n = snprintf(b, sizeof b, "%lld", v);
  jw_put(w, b, (size_t)n);
}

/* WriteSeperator: newline + 2 spaces per open scope, if the innermost scope
 * (or the top level) is multi-line. */
static void jw_sep(jw *w) {
  if (w->depth > 0 && !w->ml[w->depth - 1]) return;
  jw_put(w, "\n", 1);
  for (int i = 0; i < w->depth; i++) jw_put(w, "  ", 2);
}

static void jw_begin(jw *w, char open, int multi_line) {
  jw_put(w, &open, 1);
  if (w->depth == JW_MAXDEPTH) { /* load_json bounds nesting; never reached */
    w->oom = 1;
    return;
  }
  w->ml[w->depth] = (unsigned char)multi_line;
  w->cnt[w->depth] = 0;
  w->depth++;
}

/* EndArray / EndObject: the separator is decided after the pop (by the parent). */
static void jw_end(jw *w, char close) {
  if (w->depth == 0) return;
  w->depth--;
  if (w->ml[w->depth] && w->cnt[w->depth]) jw_sep(w);
  jw_put(w, &close, 1);
}

/* WriteArraySeperator: ", " after the first item, then the line break. */
static void jw_item(jw *w) {
  if (w->depth == 0) return;
  if (w->cnt[w->depth - 1]) jw_put(w, ", ", 2);
  w->cnt[w->depth - 1]++;
  jw_sep(w);
}

static void jw_str(jw *w, const char *s, size_t n) {
  jw_put(w, "\"", 1);
  size_t run = 0; /* bytes copied verbatim, flushed before each escape */
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    const char *esc = NULL;
    char u[8];
    switch (c) {
    case '\r': esc = "\\r"; break;
    case '\n': esc = "\\n"; break;
    case '\t': esc = "\\t"; break;
    case '\\': esc = "\\\\"; break;
    case '"': esc = "\\\""; break;
    default:
      if (c < 0x20) {
        snprintf(u, sizeof u, "\\u%04x", c);
        esc = u;
      }
    }
    if (!esc) continue;
    jw_put(w, s + run, i - run);
    jw_puts(w, esc);
    run = i + 1;
  }
  jw_put(w, s + run, n - run);
  jw_put(w, "\"", 1);
}

static void jw_cstr(jw *w, const char *s) { jw_str(w, s, strlen(s)); }

/* WriteObjectKeyValue's key part (dmlc writes keys unescaped; escaping only
 * differs for keys holding quotes or control characters). */
static void jw_key(jw *w, const char *key) {
  if (w->depth == 0) return;
  if (w->cnt[w->depth - 1]) jw_put(w, ", ", 2);
  jw_sep(w);
  jw_cstr(w, key);
  jw_put(w, ": ", 2);
  w->cnt[w->depth - 1]++;
}

/* One [node, index, version] entry: BeginArray(false). */
static void jw_entry(jw *w, int node, int index) {
  jw_item(w);
  jw_begin(w, '[', 0);
  jw_item(w);
  jw_int(w, node);
  jw_item(w);
  jw_int(w, index);
  jw_item(w);
  jw_int(w, 0);
  jw_end(w, ']');
}

/* A JSON value with dmlc's container rules (graph attribute payloads). */
static void jw_value(jw *w, const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_STRING: jw_str(w, json_string_value(v), json_string_length(v)); break;
  case JSON_INTEGER: jw_int(w, (long long)json_integer_value(v)); break;
  case JSON_REAL: {
    char b[40]; /* std::ostream's default: 6 significant digits */
    int n = snprintf(b, sizeof b, "%g", json_real_value(v));
    jw_put(w, b, (size_t)n);
    break;
  }
  case JSON_TRUE: jw_puts(w, "true"); break;
  case JSON_FALSE: jw_puts(w, "false"); break;
  case JSON_NULL: jw_puts(w, "null"); break;
  case JSON_ARRAY: {
    size_t n = json_array_size(v), i;
    int pod = 1; /* vector<int> stays on one line up to 10 items; vector<string> never */
    for (i = 0; i < n; i++)
      if (!json_is_number(json_array_get(v, i))) pod = 0;
    jw_begin(w, '[', n > 10 || !pod);
    for (i = 0; i < n; i++) {
      jw_item(w);
      jw_value(w, json_array_get(v, i));
    }
    jw_end(w, ']');
    break;
  }
  case JSON_OBJECT: {
    const char *k;
    json_t *x;
    jw_begin(w, '{', json_object_size(v) > 1);
    json_object_foreach((json_t *)v, k, x) {
      jw_key(w, k);
      jw_value(w, x);
    }
    jw_end(w, '}');
    break;
  }
  }
}

/* A graph attribute: dmlc::any is written as ["type", payload] on one line. */
static int jw_graph_attr(jw *w, const char *key, const char *text) {
  json_error_t err;
  json_t *v = json_loads(text, JSON_DECODE_ANY, &err);
  if (!v)
    return MT_ERR(MT_E_FORMAT, "tojson: graph attribute '%s' holds invalid JSON '%s': %s", key,
                  text, err.text);
  jw_key(w, key);
  if (json_is_array(v) && json_array_size(v) == 2 && json_is_string(json_array_get(v, 0))) {
    jw_begin(w, '[', 0);
    jw_item(w);
    jw_value(w, json_array_get(v, 0));
    jw_item(w);
    jw_value(w, json_array_get(v, 1));
    jw_end(w, ']');
  } else {
    jw_value(w, v);
  }
  json_decref(v);
  return MT_OK;
}

int mt_symbol_tojson(const mt_symbol *sym, char **json) {
  if (json) *json = NULL;
  if (!sym || !json) return MT_ERR(MT_E_INVAL, "mt_symbol_tojson: NULL symbol or output");
  mt_graph g;
  MT_TRY(mt_graph_build(sym, &g));
  int rc = MT_OK;
  jw w = {0};
  int *order = NULL; /* attrs in key order (the node's own order is left alone) */
  int maxattrs = 1;
  for (int i = 0; i < g.nnodes; i++)
    if (g.nodes[i]->attrs.n > maxattrs) maxattrs = g.nodes[i]->attrs.n;
  order = malloc(sizeof *order * (size_t)maxattrs);
  if (!order) {
    rc = MT_NOMEM();
    goto done;
  }

  jw_begin(&w, '{', 1);
  jw_key(&w, "nodes");
  jw_begin(&w, '[', 1);
  int nvars = 0;
  for (int i = 0; i < g.nnodes; i++) {
    const mt_node *n = g.nodes[i];
    if (!n->op) nvars++;
    jw_item(&w);
    jw_begin(&w, '{', 1);
    jw_key(&w, "op");
    jw_cstr(&w, n->op ? n->op->name : "null");
    jw_key(&w, "name");
    jw_cstr(&w, n->name);
    if (n->attrs.n > 0) {
      for (int k = 0; k < n->attrs.n; k++) order[k] = k;
      for (int k = 1; k < n->attrs.n; k++) /* std::map order: bytewise */
        for (int j = k; j > 0 && strcmp(n->attrs.keys[order[j - 1]], n->attrs.keys[order[j]]) > 0;
             j--) {
          int t = order[j];
          order[j] = order[j - 1];
          order[j - 1] = t;
        }
      jw_key(&w, "attrs");
      jw_begin(&w, '{', n->attrs.n > 1);
      for (int k = 0; k < n->attrs.n; k++) {
        jw_key(&w, n->attrs.keys[order[k]]);
        jw_cstr(&w, n->attrs.vals[order[k]]);
      }
      jw_end(&w, '}');
    }
    jw_key(&w, "inputs");
    jw_begin(&w, '[', n->ninputs > 10);
    for (int k = 0; k < n->ninputs; k++) {
      int src = mt_graph_index(&g, n->inputs[k].node);
      if (src < 0) {
        rc = MT_ERR(MT_E_STATE, "tojson: input %d of node '%s' is not in the graph", k, n->name);
        goto done;
      }
      jw_entry(&w, src, n->inputs[k].index);
    }
    jw_end(&w, ']');
    jw_end(&w, '}');
  }
  jw_end(&w, ']');

  /* every variable, aux states included (NNVM's SaveJSON) */
  jw_key(&w, "arg_nodes");
  jw_begin(&w, '[', nvars > 10);
  for (int i = 0; i < g.nnodes; i++)
    if (!g.nodes[i]->op) {
      jw_item(&w);
      jw_int(&w, i);
    }
  jw_end(&w, ']');

  jw_key(&w, "node_row_ptr");
  jw_begin(&w, '[', g.nnodes + 1 > 10);
  for (int i = 0; i <= g.nnodes; i++) {
    jw_item(&w);
    jw_int(&w, g.entry_ptr[i]);
  }
  jw_end(&w, ']');

  jw_key(&w, "heads");
  jw_begin(&w, '[', g.nheads > 10);
  for (int h = 0; h < g.nheads; h++) jw_entry(&w, g.head_node[h], g.head_index[h]);
  jw_end(&w, ']');

  const mt_attrs *ga = graph_attrs_get(sym);
  jw_key(&w, "attrs");
  if (ga && ga->n > 0) {
    jw_begin(&w, '{', ga->n > 1);
    for (int i = 0; i < ga->n; i++)
      MT_TRY_GOTO(jw_graph_attr(&w, ga->keys[i], ga->vals[i]), rc, done);
    jw_end(&w, '}');
  } else {
    jw_begin(&w, '{', 0);
    jw_key(&w, "mxnet_version");
    jw_puts(&w, "[\"int\", ");
    jw_int(&w, MT_MXNET_VERSION);
    jw_puts(&w, "]");
    jw_end(&w, '}');
  }
  jw_end(&w, '}');
  if (w.oom) {
    rc = MT_NOMEM();
    goto done;
  }
  *json = w.buf;
  w.buf = NULL;
done:
  free(w.buf);
  free(order);
  mt_graph_free(&g);
  return rc;
}

/* =================================================================== reader */

/* MXNet's kHiddenKeys: attributes that old files wrote without underscores. */
static const char *const hidden_keys[] = {
    "ctx_group", "lr_mult", "wd_mult", "force_mirroring", "mirror_stage", "profiler_scope", NULL};

/* Which hidden key `key` spells: 1 = exactly it, 2 = "<arg>_<it>" (arg name in
 * *arglen chars), 0 = neither. Keys already written as __key__ are neither. */
static int hidden_kind(const char *key, const char **hk, size_t *arglen) {
  size_t kl = strlen(key);
  for (int i = 0; hidden_keys[i]; i++) {
    size_t hl = strlen(hidden_keys[i]);
    *hk = hidden_keys[i];
    if (kl == hl && !strcmp(key, hidden_keys[i])) return 1;
    if (kl > hl + 1 && !strcmp(key + kl - hl, hidden_keys[i]) && key[kl - hl - 1] == '_') {
      *arglen = kl - hl - 1;
      return 2;
    }
  }
  return 0;
}

/* Error helpers: every message names what it is about. */
#define JERR(code, ...) MT_ERR((code), "symbol JSON: " __VA_ARGS__)

static int node_label(char *buf, size_t len, int i, const char *name) {
  if (name) return snprintf(buf, len, "node %d ('%s')", i, name);
  return snprintf(buf, len, "node %d", i);
}

/* Reads entry [node, index(, version)] into *node, *index. Returns 0, or -1
 * if it is not 2 or 3 non-negative integers. */
static int read_entry(const json_t *e, long long *node, long long *index) {
  if (!json_is_array(e) || json_array_size(e) < 2 || json_array_size(e) > 3) return -1;
  for (size_t k = 0; k < json_array_size(e); k++) {
    const json_t *x = json_array_get(e, k);
    if (!json_is_integer(x) || json_integer_value(x) < 0) return -1;
  }
  *node = json_integer_value(json_array_get(e, 0));
  *index = json_integer_value(json_array_get(e, 1));
  return 0;
}

/* Copies the string members of object `obj` (a node's attrs / attr / param)
 * into a; overwrite=0 keeps keys already there (NNVM inserts "param" last). */
static int read_attr_object(const json_t *obj, const char *field, const char *label, int overwrite,
                            mt_attrs *a) {
  if (!json_is_object(obj))
    return JERR(MT_E_FORMAT, "%s: \"%s\" is not an object of strings", label, field);
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)obj, k, v) {
    if (!json_is_string(v))
      return JERR(MT_E_FORMAT, "%s: %s value of '%s' is not a string (write \"64\", not 64)", label,
                  field, k);
    if (!overwrite && mt_attrs_get(a, k)) continue;
    MT_TRY(mt_attrs_set(a, k, json_string_value(v)));
  }
  return MT_OK;
}

typedef struct {
  const json_t *root;
  int version;     /* mxnet_version, 800 when absent (MXNet's assumption) */
  int n;           /* nodes in the file */
  mt_node **nodes; /* made so far, one reference each */
} loader;

static const char *input_name(const mt_op *op, const void *param, int k) {
  int nargs = op->num_args(param);
  if (k < nargs) return op->arg_name(param, k);
  return op->aux_name ? op->aux_name(param, k - nargs) : "aux";
}

/* Builds node i of the file into L->nodes[i]. */
static int load_node(loader *L, int i) {
  const json_t *jn = json_array_get(json_object_get(L->root, "nodes"), (size_t)i);
  char label[320];
  node_label(label, sizeof label, i, NULL);
  if (!json_is_object(jn)) return JERR(MT_E_FORMAT, "%s is not an object", label);
  const json_t *jop = json_object_get(jn, "op"), *jname = json_object_get(jn, "name");
  if (!json_is_string(jname)) return JERR(MT_E_FORMAT, "%s has no \"name\" string", label);
  const char *name = json_string_value(jname);
  node_label(label, sizeof label, i, name);
  if (!*name) return JERR(MT_E_FORMAT, "%s has an empty name", label);
  if (!json_is_string(jop)) return JERR(MT_E_FORMAT, "%s has no \"op\" string", label);
  const char *opname = json_string_value(jop);
  const json_t *jin = json_object_get(jn, "inputs");
  if (!json_is_array(jin)) return JERR(MT_E_FORMAT, "%s has no \"inputs\" array", label);
  const json_t *cd = json_object_get(jn, "control_deps");
  if (cd && (!json_is_array(cd) || json_array_size(cd) > 0))
    return JERR(MT_E_UNSUPPORTED, "%s has control_deps, which modtrain does not support", label);
  const json_t *sg = json_object_get(jn, "subgraphs");
  if (sg && (!json_is_array(sg) || json_array_size(sg) > 0))
    return JERR(MT_E_UNSUPPORTED, "%s has subgraphs (control flow), not supported", label);

  const mt_op *op = NULL;
  if (strcmp(opname, "null")) {
    op = mt_op_find(opname);
    if (!op) return JERR(MT_E_NOTFOUND, "%s: unknown operator '%s'", label, opname);
  }

  int rc = MT_OK, ngiven = (int)json_array_size(jin), ninputs = 0;
  mt_attrs attrs = {0}, parse_attrs = {0}, hidden = {0};
  void *param = NULL;
  mt_entry *entries = NULL;
  mt_node **made = NULL; /* variables created by the pre-0.9 upgrade */
  int nmade = 0;

  /* attributes: "attrs" (1.x), "attr" (0.9-0.11), then "param" (0.8) */
  static const char *const fields[] = {"attrs", "attr"};
  for (int f = 0; f < 2; f++) {
    const json_t *o = json_object_get(jn, fields[f]);
    if (o) MT_TRY_GOTO(read_attr_object(o, fields[f], label, 1, &attrs), rc, done);
  }
  const json_t *jparam = json_object_get(jn, "param");
  if (jparam) MT_TRY_GOTO(read_attr_object(jparam, "param", label, 0, &attrs), rc, done);

  /* inputs: earlier nodes only (the file is in topological order) */
  entries = calloc((size_t)ngiven + 8, sizeof *entries);
  if (!entries) {
    rc = MT_NOMEM();
    goto done;
  }
  for (int k = 0; k < ngiven; k++) {
    long long src, idx;
    if (read_entry(json_array_get(jin, (size_t)k), &src, &idx) < 0) {
      rc = JERR(MT_E_FORMAT, "%s: input %d is not [node, index, version]", label, k);
      goto done;
    }
    if (src >= i) {
      rc = JERR(MT_E_FORMAT, "%s: input %d refers to node %lld, not to an earlier node", label, k,
                src);
      goto done;
    }
    int nout = mt_node_num_outputs(L->nodes[src]);
    if (idx >= nout) {
      rc = JERR(MT_E_FORMAT,
                "%s: input %d refers to output %lld of node %lld ('%s') of %d output(s)", label, k,
                idx, src, L->nodes[src]->name, nout);
      goto done;
    }
    entries[k] = (mt_entry){L->nodes[src], (int)idx};
  }
  ninputs = ngiven;

  if (!op) {
    if (ngiven > 0) {
      rc = JERR(MT_E_FORMAT, "%s is a variable (op \"null\") but has %d inputs", label, ngiven);
      goto done;
    }
    mt_attrs fixed = {0}; /* old spelling of hidden keys: lr_mult -> __lr_mult__ */
    for (int k = 0; k < attrs.n && rc == MT_OK; k++) {
      const char *hk;
      size_t al;
      char key[128];
      if (hidden_kind(attrs.keys[k], &hk, &al) == 1) {
        snprintf(key, sizeof key, "__%s__", hk);
        rc = mt_attrs_set(&fixed, key, attrs.vals[k]);
      } else {
        rc = mt_attrs_set(&fixed, attrs.keys[k], attrs.vals[k]);
      }
    }
    mt_attrs_free(&attrs);
    attrs = fixed;
    if (rc < 0) goto done;
    MT_TRY_GOTO(mt_node_new(NULL, name, &attrs, 0, NULL, &L->nodes[i]), rc, done);
    goto done;
  }

  /* MXNet's UpgradeJSON_FixParsing: parse without the old-style hidden keys,
   * then put them back as __key__ (or on the argument variable they name). */
  for (int k = 0; k < attrs.n; k++) {
    const char *hk;
    size_t al;
    mt_attrs *dst = hidden_kind(attrs.keys[k], &hk, &al) ? &hidden : &parse_attrs;
    MT_TRY_GOTO(mt_attrs_set(dst, attrs.keys[k], attrs.vals[k]), rc, done);
  }
  param = calloc(1, op->param_size ? op->param_size : 1);
  if (!param) {
    rc = MT_NOMEM();
    goto done;
  }
  rc = op->parse(&parse_attrs, name, param);
  if (rc < 0) {
    mt_error_prefix(rc, "symbol JSON: %s", label);
    goto done;
  }
  int nargs = op->num_args(param), naux = mt_op_num_aux(op, param), want = nargs + naux;
  for (int k = 0; k < hidden.n; k++) {
    const char *hk;
    size_t al = 0;
    char key[128];
    int kind = hidden_kind(hidden.keys[k], &hk, &al);
    snprintf(key, sizeof key, "__%s__", hk);
    if (kind == 1) {
      MT_TRY_GOTO(mt_attrs_set(&parse_attrs, key, hidden.vals[k]), rc, done);
      continue;
    }
    int moved = 0;
    for (int a = 0; a < ninputs && a < want; a++) {
      const char *an = input_name(op, param, a);
      if (strlen(an) == al && !strncmp(an, hidden.keys[k], al) && !entries[a].node->op) {
        MT_TRY_GOTO(mt_attrs_set(&entries[a].node->attrs, key, hidden.vals[k]), rc, done);
        moved = 1;
        break;
      }
    }
    if (!moved) MT_TRY_GOTO(mt_attrs_set(&parse_attrs, hidden.keys[k], hidden.vals[k]), rc, done);
  }

  if (ngiven != want) {
    /* UpgradeJSON_000800_000900: files before 0.9.0 left out aux states */
    if (L->version < 900 && ngiven < want) {
      made = calloc((size_t)(want - ngiven), sizeof *made);
      mt_entry *grown = realloc(entries, sizeof *entries * (size_t)want);
      if (!made || !grown) {
        if (grown) entries = grown;
        rc = MT_NOMEM();
        goto done;
      }
      entries = grown;
      for (int k = ngiven; k < want; k++) {
        char vname[512];
        snprintf(vname, sizeof vname, "%s_%s", name, input_name(op, param, k));
        MT_TRY_GOTO(mt_node_new(NULL, vname, &parse_attrs, 0, NULL, &made[nmade]), rc, done);
        entries[k] = (mt_entry){made[nmade++], 0};
      }
      ninputs = want;
    } else {
      rc = JERR(MT_E_FORMAT, "%s: %s takes %d inputs (%d arguments + %d aux states), not %d", label,
                op->name, want, nargs, naux, ngiven);
      goto done;
    }
  }
  rc = mt_node_new(op, name, &parse_attrs, ninputs, entries, &L->nodes[i]);
  if (rc < 0) mt_error_prefix(rc, "symbol JSON: %s", label);
done:
  for (int k = 0; k < nmade; k++) mt_node_release(made[k]);
  free(made);
  free(entries);
  free(param);
  mt_attrs_free(&attrs);
  mt_attrs_free(&parse_attrs);
  mt_attrs_free(&hidden);
  return rc;
}

/* Depth of nested arrays/objects in v (graph attrs are bounded for the writer). */
static int json_depth(const json_t *v) {
  int d = 0;
  if (json_is_array(v)) {
    for (size_t i = 0; i < json_array_size(v); i++) {
      int x = json_depth(json_array_get(v, i));
      if (x > d) d = x;
    }
    return d + 1;
  }
  if (json_is_object(v)) {
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)v, k, x) {
      int y = json_depth(x);
      if (y > d) d = y;
    }
    return d + 1;
  }
  return 0;
}

/* Graph attrs: {"mxnet_version": ["int", 10500], ...}; sets L->version and
 * keeps them (for files written by 1.x or later) in *keep. */
static int load_graph_attrs(loader *L, mt_attrs *keep) {
  L->version = 800;
  const json_t *ga = json_object_get(L->root, "attrs");
  if (!ga) return MT_OK;
  if (!json_is_object(ga)) return JERR(MT_E_FORMAT, "top-level \"attrs\" is not an object");
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)ga, k, v) {
    if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_string(json_array_get(v, 0)))
      return JERR(MT_E_FORMAT, "graph attribute '%s' is not [\"type\", value]", k);
    if (json_depth(v) > 16)
      return JERR(MT_E_FORMAT, "graph attribute '%s' is nested too deeply", k);
    if (!strcmp(k, "mxnet_version")) {
      const json_t *x = json_array_get(v, 1);
      if (strcmp(json_string_value(json_array_get(v, 0)), "int") || !json_is_integer(x) ||
          json_integer_value(x) < 0 || json_integer_value(x) > 100000000)
        return JERR(MT_E_FORMAT, "mxnet_version is not [\"int\", N]");
      L->version = (int)json_integer_value(x);
    }
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text) return MT_NOMEM();
    int rc = mt_attrs_set(keep, k, text);
    free(text);
    MT_TRY(rc);
  }
  /* 0.x files are rewritten in 1.x's format, so they get our version */
  if (L->version < 10000) mt_attrs_free(keep);
  return MT_OK;
}

static int load_root(const json_t *root, mt_symbol **out) {
  if (!json_is_object(root))
    return JERR(MT_E_FORMAT, "the top level is not an object ({\"nodes\": [...], ...})");
  const json_t *jnodes = json_object_get(root, "nodes"), *jheads = json_object_get(root, "heads");
  if (!jnodes) return JERR(MT_E_FORMAT, "missing \"nodes\" (not an MXNet symbol file?)");
  if (!json_is_array(jnodes)) return JERR(MT_E_FORMAT, "\"nodes\" is not an array");
  if (json_array_size(jnodes) == 0) return JERR(MT_E_FORMAT, "\"nodes\" is empty");
  if (json_array_size(jnodes) > 10000000) return JERR(MT_E_FORMAT, "too many nodes");
  if (!jheads) return JERR(MT_E_FORMAT, "missing \"heads\" (the symbol's outputs)");
  if (!json_is_array(jheads) || json_array_size(jheads) == 0)
    return JERR(MT_E_FORMAT, "\"heads\" is not a non-empty array of [node, index, version]");

  loader L = {.root = root, .n = (int)json_array_size(jnodes)};
  mt_attrs keep = {0};
  mt_entry *heads = NULL;
  int rc = load_graph_attrs(&L, &keep);
  if (rc < 0) goto done;
  L.nodes = calloc((size_t)L.n, sizeof *L.nodes);
  heads = calloc(json_array_size(jheads), sizeof *heads);
  if (!L.nodes || !heads) {
    rc = MT_NOMEM();
    goto done;
  }
  for (int i = 0; i < L.n; i++) MT_TRY_GOTO(load_node(&L, i), rc, done);

  int nheads = (int)json_array_size(jheads);
  for (int h = 0; h < nheads; h++) {
    long long src, idx;
    if (read_entry(json_array_get(jheads, (size_t)h), &src, &idx) < 0) {
      rc = JERR(MT_E_FORMAT, "heads[%d] is not [node, index, version]", h);
      goto done;
    }
    if (src >= L.n) {
      rc = JERR(MT_E_FORMAT, "heads[%d] refers to node %lld, but there are %d nodes", h, src, L.n);
      goto done;
    }
    int nout = mt_node_num_outputs(L.nodes[src]);
    if (idx >= nout) {
      rc = JERR(MT_E_FORMAT, "heads[%d] refers to output %lld of node %lld ('%s') of %d output(s)",
                h, idx, src, L.nodes[src]->name, nout);
      goto done;
    }
    heads[h] = (mt_entry){L.nodes[src], (int)idx};
  }

  /* arg_nodes is redundant, but MXNet checks it names variables */
  const json_t *jargs = json_object_get(root, "arg_nodes");
  if (jargs) {
    if (!json_is_array(jargs)) {
      rc = JERR(MT_E_FORMAT, "\"arg_nodes\" is not an array");
      goto done;
    }
    for (size_t k = 0; k < json_array_size(jargs); k++) {
      const json_t *x = json_array_get(jargs, k);
      if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) >= L.n ||
          L.nodes[json_integer_value(x)]->op) {
        rc = JERR(MT_E_FORMAT, "arg_nodes[%zu] is not the index of a variable node", k);
        goto done;
      }
    }
  }

  MT_TRY_GOTO(mt_symbol_from_entries(nheads, heads, out), rc, done);
  graph_attrs_put(*out, &keep);
done:
  if (L.nodes)
    for (int i = 0; i < L.n; i++) mt_node_release(L.nodes[i]);
  free(L.nodes);
  free(heads);
  mt_attrs_free(&keep);
  return rc;
}

static int load_text(const char *text, size_t len, mt_symbol **out) {
  json_error_t err;
  json_t *root = json_loadb(text, len, 0, &err);
  if (!root) return JERR(MT_E_FORMAT, "line %d, column %d: %s", err.line, err.column, err.text);
  int rc = load_root(root, out);
  json_decref(root);
  if (rc == MT_OK) {
    /* the graph is checked now, not at its first use (a variable read both
     * as an argument and as an aux state would load, then fail everything) */
    int n;
    const char *const *names;
    rc = mt_symbol_list_arguments(*out, &n, &names);
    if (rc < 0) {
      mt_error_prefix(rc, "symbol JSON");
      mt_symbol_free(*out);
      *out = NULL;
    }
  }
  return rc;
}

int mt_symbol_load_json(const char *json, mt_symbol **out) {
  if (out) *out = NULL;
  if (!json || !out) return MT_ERR(MT_E_INVAL, "mt_symbol_load_json: NULL text or output");
  return load_text(json, strlen(json), out);
}

/* ==================================================================== files */

int mt_symbol_load(const char *path, mt_symbol **out) {
  if (out) *out = NULL;
  if (!path || !out) return MT_ERR(MT_E_INVAL, "mt_symbol_load: NULL path or output");
  /* a FIFO or device would block fopen or never end: refused before opening */
  struct stat st;
  if (stat(path, &st) < 0)
    return MT_ERR(MT_E_IO, "cannot open symbol file '%s': %s", path, strerror(errno));
  if (!S_ISREG(st.st_mode))
    return MT_ERR(MT_E_IO, "cannot open symbol file '%s': not a regular file", path);
  FILE *f = fopen(path, "rb");
  if (!f) return MT_ERR(MT_E_IO, "cannot open symbol file '%s': %s", path, strerror(errno));
  char *buf = NULL;
  size_t len = 0, cap = 0;
  int rc = MT_OK;
  for (;;) {
    if (len == cap) {
      cap = cap ? cap * 2 : 65536;
      char *p = realloc(buf, cap);
      if (!p) {
        rc = MT_NOMEM();
        goto done;
      }
      buf = p;
    }
    size_t got = fread(buf + len, 1, cap - len, f);
    len += got;
    if (got == 0) break;
  }
  if (ferror(f)) {
    rc = MT_ERR(MT_E_IO, "cannot read symbol file '%s': %s", path, strerror(errno));
    goto done;
  }
  rc = load_text(buf, len, out);
  if (rc < 0) mt_error_prefix(rc, "%s", path);
done:
  free(buf);
  fclose(f);
  return rc;
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Written to "<path>.tmp.<pid>.<n>" in the same directory, fsynced, renamed
 * over path, then the directory is fsynced: a crash leaves the old file or
 * the new one, never half of one. */
int mt_symbol_save(const mt_symbol *sym, const char *path) {
  static atomic_uint counter;
  if (!sym || !path || !*path) return MT_ERR(MT_E_INVAL, "mt_symbol_save: NULL symbol or path");
  char *json = NULL;
  MT_TRY(mt_symbol_tojson(sym, &json));
  size_t plen = strlen(path);
  char *tmp = malloc(plen + 64);
  if (!tmp) {
    free(json);
    return MT_NOMEM();
  }
  int fd = -1, rc = MT_OK;
  for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
    snprintf(tmp, plen + 64, "%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&counter, 1u));
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) {
    rc = MT_ERR(MT_E_IO, "cannot save symbol to '%s': cannot create '%s': %s", path, tmp,
                strerror(errno));
    goto done;
  }
  if (write_all(fd, json, strlen(json)) < 0 || fsync(fd) < 0) {
    rc =
        MT_ERR(MT_E_IO, "cannot save symbol to '%s': writing '%s': %s", path, tmp, strerror(errno));
    close(fd);
    unlink(tmp);
    goto done;
  }
  if (close(fd) < 0) {
    rc =
        MT_ERR(MT_E_IO, "cannot save symbol to '%s': closing '%s': %s", path, tmp, strerror(errno));
    unlink(tmp);
    goto done;
  }
  if (rename(tmp, path) < 0) {
    rc = MT_ERR(MT_E_IO, "cannot save symbol to '%s': rename from '%s': %s", path, tmp,
                strerror(errno));
    unlink(tmp);
    goto done;
  }
  /* Make the rename durable. Best effort: the new file is already in place,
   * and some file systems refuse fsync on directories. */
  strcpy(tmp, path);
  char *slash = strrchr(tmp, '/');
  if (slash == tmp) slash[1] = '\0';
  else if (slash) *slash = '\0';
  else strcpy(tmp, ".");
  int dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)fsync(dfd);
    close(dfd);
  }
done:
  free(tmp);
  free(json);
  return rc;
}
