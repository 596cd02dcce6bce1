/* net_builder.c — `[model] layers` lines into an mt_symbol (each layer fed
 * by the one before, or by inputs=a,b), the label names of a network, and
 * Graphviz DOT of a network for `modtrain viz` (see net_builder.h). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/error.h"
#include "net_builder.h"
#include "op.h"
#include "symbol.h"

/* ------------------------------------------------------------ helpers */

static char *xstrndup(const char *s, size_t n) {
  char *d = malloc(n + 1);
  if (!d) return NULL;
  memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

/* Levenshtein distance on lower-cased characters, for "did you mean". */
static int edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 64 || lb > 64) return 1 << 20;
  int prev[65], cur[65];
  for (size_t j = 0; j <= lb; j++) prev[j] = (int)j;
  for (size_t i = 1; i <= la; i++) {
    cur[0] = (int)i;
    for (size_t j = 1; j <= lb; j++) {
      int sub =
          prev[j - 1] + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
      int del = prev[j] + 1, ins = cur[j - 1] + 1;
      cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
    }
    memcpy(prev, cur, sizeof(int) * (lb + 1));
  }
  return prev[lb];
}

const char *mt_closest_name(const char *word, int n, const char *const *choices) {
  const char *best = NULL;
  int best_d = 1 << 30;
  for (int i = 0; i < n; i++) {
    int d = edit_distance(word, choices[i]);
    if (d < best_d) {
      best_d = d;
      best = choices[i];
    }
  }
  /* A typo is a few edits, relative to the length: "FullyConected" (1),
   * "batchsize" (1), "lerning_rate" (1); "foo" is not "wd". */
  size_t len = strlen(word);
  int limit = len <= 4 ? 1 : len <= 8 ? 2 : 3;
  return best && best_d <= limit ? best : NULL;
}

/* A growing string for the DOT writer. */
typedef struct {
  char *s;
  size_t len, cap;
  int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
  if (b->oom) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    size_t room = b->cap - b->len;
    int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? room : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
      b->oom = 1;
      return;
    }
    if (b->s && (size_t)n < room) {
      b->len += (size_t)n;
      return;
    }
    size_t cap = (b->cap ? b->cap * 2 : 1024) + (size_t)n;
    char *s = realloc(b->s, cap);
    if (!s) {
      b->oom = 1;
      return;
    }
    b->s = s;
    b->cap = cap;
  }
}

/* ------------------------------------------------------- layer parsing */

void mt_layer_spec_free(mt_layer_spec *l) {
  if (!l) return;
  free(l->op);
  free(l->name);
  free(l->attrs);
  for (int i = 0; i < l->ninputs; i++) free(l->inputs[i]);
  free(l->inputs);
  memset(l, 0, sizeof *l);
}

/* Splits inputs=a,b,c into l->inputs. */
static int parse_inputs(const char *v, mt_layer_spec *l) {
  if (!*v) return MT_ERR(MT_E_INVAL, "inputs= names no layer (write inputs=fc1,fc2)");
  int n = 1;
  for (const char *p = v; *p; p++) n += *p == ',';
  l->inputs = calloc((size_t)n, sizeof *l->inputs);
  if (!l->inputs) return MT_NOMEM();
  const char *p = v;
  for (int i = 0; i < n; i++) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len == 0) return MT_ERR(MT_E_INVAL, "inputs=%s has an empty name", v);
    l->inputs[i] = xstrndup(p, len);
    if (!l->inputs[i]) return MT_NOMEM();
    l->ninputs = i + 1;
    p = e ? e + 1 : p + len;
  }
  return MT_OK;
}

int mt_layer_parse(const char *text, mt_layer_spec *out) {
  memset(out, 0, sizeof *out);
  const char *tok[64];
  size_t len[64];
  int ntok = 0;
  for (const char *p = text; *p;) {
    while (*p && isspace((unsigned char)*p)) p++;
    if (!*p) break;
    if (ntok == 64) return MT_ERR(MT_E_INVAL, "layer has more than 64 words");
    tok[ntok] = p;
    while (*p && !isspace((unsigned char)*p)) p++;
    len[ntok] = (size_t)(p - tok[ntok]);
    ntok++;
  }
  if (ntok == 0) return MT_ERR(MT_E_INVAL, "empty layer (write: OP NAME key=value ...)");
  if (memchr(tok[0], '=', len[0]))
    return MT_ERR(MT_E_INVAL,
                  "'%.*s' is not an operator name (a layer is OP NAME key=value ..., "
                  "e.g. FullyConnected fc1 num_hidden=64)",
                  (int)len[0], tok[0]);
  if (ntok < 2 || memchr(tok[1], '=', len[1]))
    return MT_ERR(MT_E_INVAL,
                  "layer '%.*s' has no name (write: %.*s NAME key=value ..., e.g. "
                  "FullyConnected fc1 num_hidden=64)",
                  (int)len[0], tok[0], (int)len[0], tok[0]);
  int rc = MT_OK;
  out->op = xstrndup(tok[0], len[0]);
  out->name = xstrndup(tok[1], len[1]);
  /* the attributes, without inputs=, joined by single spaces */
  size_t total = 1;
  for (int i = 2; i < ntok; i++) total += len[i] + 1;
  out->attrs = calloc(total, 1);
  if (!out->op || !out->name || !out->attrs) {
    rc = MT_NOMEM();
    goto fail;
  }
  for (int i = 2; i < ntok; i++) {
    const char *eq = memchr(tok[i], '=', len[i]);
    if (!eq || eq == tok[i] || eq == tok[i] + len[i] - 1) {
      rc = MT_ERR(MT_E_INVAL, "layer '%s': '%.*s' is not key=value (no spaces around '=')",
                  out->name, (int)len[i], tok[i]);
      goto fail;
    }
    if ((size_t)(eq - tok[i]) == 6 && !strncmp(tok[i], "inputs", 6)) {
      if (out->ninputs) {
        rc = MT_ERR(MT_E_INVAL, "layer '%s': inputs= given twice", out->name);
        goto fail;
      }
      char *v = xstrndup(eq + 1, len[i] - 7);
      if (!v) {
        rc = MT_NOMEM();
        goto fail;
      }
      rc = parse_inputs(v, out);
      free(v);
      if (rc < 0) {
        mt_error_prefix(rc, "layer '%s'", out->name);
        goto fail;
      }
      continue;
    }
    if (out->attrs[0]) strcat(out->attrs, " ");
    strncat(out->attrs, tok[i], len[i]);
  }
  return MT_OK;
fail:
  mt_layer_spec_free(out);
  return rc;
}

/* --------------------------------------------------------------- build */

static int unknown_op(const char *name) {
  int n = mt_op_count();
  const char **names = calloc((size_t)n + 1, sizeof *names);
  if (!names) return MT_NOMEM();
  char list[1024] = "";
  for (int i = 0; i < n; i++) {
    names[i] = mt_op_at(i)->name;
    if (i) strncat(list, ", ", sizeof list - strlen(list) - 1);
    strncat(list, names[i], sizeof list - strlen(list) - 1);
  }
  const char *best = mt_closest_name(name, n, names);
  int rc;
  if (best) rc = MT_ERR(MT_E_INVAL, "unknown op '%s' (did you mean %s?)", name, best);
  else rc = MT_ERR(MT_E_INVAL, "unknown op '%s' (ops: %s)", name, list);
  free(names);
  return rc;
}

/* Layer names -> layer index (open addressing on FNV-1a): the duplicate
 * check and the inputs= lookups in O(1) each, so that a net of N layers
 * builds in O(N). */
typedef struct {
  int *slot; /* layer index + 1; 0 = empty */
  size_t cap;
} name_index;

static size_t name_slot(const name_index *m, const mt_layer_spec *layers, const char *name) {
  size_t i = (size_t)mt_hash64(name) & (m->cap - 1);
  while (m->slot[i] && strcmp(layers[m->slot[i] - 1].name, name)) i = (i + 1) & (m->cap - 1);
  return i;
}

/* Shapes of the whole network from data's, once: on an error *bad is the
 * layer whose node inference stopped at (the first at fault in the order
 * inputs come before the layers that read them). */
static int infer_from_data(mt_symbol *sym, const mt_shape *data_shape, const name_index *ix,
                           const mt_layer_spec *layers, int *bad) {
  mt_graph g;
  MT_TRY(mt_graph_build(sym, &g));
  mt_shape *es = calloc((size_t)g.nentries + 1, sizeof *es);
  const char *dname = "data";
  int node = -1;
  int rc = es ? mt_graph_infer_shape_at(&g, 1, &dname, data_shape, es, &node) : MT_NOMEM();
  *bad = -1;
  if (rc < 0 && node >= 0 && g.nodes[node]->op) {
    size_t i = name_slot(ix, layers, g.nodes[node]->name);
    *bad = ix->slot[i] - 1;
  }
  free(es);
  mt_graph_free(&g);
  return rc;
}

int mt_net_build(int n, const mt_layer_spec *layers, const mt_shape *data_shape, mt_symbol **out,
                 int *bad) {
  *out = NULL;
  *bad = -1;
  if (n < 1) return MT_ERR(MT_E_INVAL, "the network has no layers");
  mt_symbol *data = NULL;
  mt_symbol **syms = calloc((size_t)n, sizeof *syms);
  int *used = calloc((size_t)n, sizeof *used);
  name_index ix = {NULL, 64};
  while (ix.cap < 2 * (size_t)n) ix.cap *= 2;
  ix.slot = calloc(ix.cap, sizeof *ix.slot);
  int rc = MT_OK;
  if (!syms || !used || !ix.slot) {
    rc = MT_NOMEM();
    goto done;
  }
  MT_TRY_GOTO(mt_symbol_variable("data", &data), rc, done);
  for (int i = 0; i < n; i++) {
    const mt_layer_spec *l = &layers[i];
    *bad = i;
    if (!mt_op_find(l->op)) {
      rc = unknown_op(l->op);
      goto done;
    }
    if (!strcmp(l->name, "data")) {
      rc = MT_ERR(MT_E_INVAL, "layer name 'data' is taken by the input variable (choose another)");
      goto done;
    }
    size_t at = name_slot(&ix, layers, l->name);
    if (ix.slot[at]) {
      int j = ix.slot[at] - 1;
      if (layers[j].line > 0)
        rc = MT_ERR(MT_E_INVAL,
                    "layer name '%s' is used twice (first at line %d; names must be "
                    "unique)",
                    l->name, layers[j].line);
      else rc = MT_ERR(MT_E_INVAL, "layer name '%s' is used twice (names must be unique)", l->name);
      goto done;
    }
    mt_symbol *in[16];
    int nin;
    if (l->ninputs == 0) {
      nin = 1;
      in[0] = i == 0 ? data : syms[i - 1];
      if (i > 0) used[i - 1] = 1;
    } else {
      if (l->ninputs > 16) {
        rc = MT_ERR(MT_E_INVAL, "layer '%s': more than 16 inputs", l->name);
        goto done;
      }
      nin = l->ninputs;
      for (int k = 0; k < nin; k++) {
        const char *want = l->inputs[k];
        in[k] = NULL;
        if (!strcmp(want, "data")) in[k] = data;
        else {
          size_t w = name_slot(&ix, layers, want);
          if (ix.slot[w]) {
            int j = ix.slot[w] - 1; /* only earlier layers are in the index */
            in[k] = syms[j];
            used[j] = 1;
          }
        }
        if (!in[k]) {
          rc = MT_ERR(MT_E_INVAL,
                      "layer '%s': input '%s' is not an earlier layer (inputs= names "
                      "layers above this one, or data)",
                      l->name, want);
          goto done;
        }
      }
    }
    MT_TRY_GOTO(mt_symbol_create(l->op, l->name, l->attrs, nin, in, &syms[i]), rc, done);
    ix.slot[at] = i + 1;
  }
  /* A layer nobody reads would be silently dropped from the network. */
  for (int i = 0; i < n - 1; i++)
    if (!used[i]) {
      *bad = i;
      rc = MT_ERR(MT_E_INVAL,
                  "the output of layer '%s' feeds no layer (each layer reads the one "
                  "before it unless inputs= says otherwise)",
                  layers[i].name);
      goto done;
    }
  /* Shapes once, over the whole network (every layer is in it: each feeds a
   * later one); layer by layer would walk the graph N times, O(N^2) and
   * worse. The error still names the layer at fault. */
  *bad = -1;
  if (data_shape) MT_TRY_GOTO(infer_from_data(syms[n - 1], data_shape, &ix, layers, bad), rc, done);
  *bad = -1;
  *out = syms[n - 1];
  syms[n - 1] = NULL;
done:
  if (syms)
    for (int i = 0; i < n; i++) mt_symbol_free(syms[i]);
  free(syms);
  free(used);
  free(ix.slot);
  mt_symbol_free(data);
  return rc;
}

/* ------------------------------------------------------- label names */

void mt_net_names_free(int n, char **names) {
  if (!names) return;
  for (int i = 0; i < n; i++) free(names[i]);
  free(names);
}

int mt_net_label_names(mt_symbol *sym, int *n, char ***names) {
  *n = 0;
  *names = NULL;
  int narg;
  const char *const *args;
  MT_TRY(mt_symbol_list_arguments(sym, &narg, &args));
  char **v = calloc((size_t)narg + 1, sizeof *v);
  if (!v) return MT_NOMEM();
  int k = 0;
  for (int i = 0; i < narg; i++) {
    size_t len = strlen(args[i]);
    if (len > 6 && !strcmp(args[i] + len - 6, "_label")) {
      v[k] = strdup(args[i]);
      if (!v[k]) {
        mt_net_names_free(k, v);
        return MT_NOMEM();
      }
      k++;
    }
  }
  *n = k;
  *names = v;
  return MT_OK;
}

int mt_net_is_loss(mt_symbol *sym) {
  if (!sym || sym->nout < 1) return 0;
  for (int i = 0; i < sym->nout; i++) {
    const mt_node *node = sym->outputs[i].node;
    if (!node->op || !(node->op->flags & MT_OP_LOSS)) return 0;
  }
  return 1;
}

const char *mt_net_head_op(const mt_symbol *sym, int i) {
  if (!sym || i < 0 || i >= sym->nout) return NULL;
  const mt_node *node = sym->outputs[i].node;
  return node->op ? node->op->name : "";
}

/* ----------------------------------------------------------------- DOT */

static int has_suffix(const char *s, const char *suf) {
  size_t a = strlen(s), b = strlen(suf);
  return a >= b && !strcmp(s + a - b, suf);
}

/* plot_network's hide_weights rule. */
static int is_hidden_param(const char *name) {
  static const char *const suf[] = {"_weight",     "_bias",        "_beta",        "_gamma",
                                    "_moving_var", "_moving_mean", "_running_var", "_running_mean"};
  for (size_t i = 0; i < sizeof suf / sizeof suf[0]; i++)
    if (has_suffix(name, suf[i])) return 1;
  return 0;
}

/* plot_network's colours by op family. */
static const char *op_color(const char *op) {
  if (!strcmp(op, "FullyConnected") || !strcmp(op, "Convolution")) return "#fb8072";
  if (!strcmp(op, "Activation") || !strcmp(op, "LeakyReLU")) return "#ffffb3";
  if (!strcmp(op, "BatchNorm")) return "#bebada";
  if (!strcmp(op, "Concat") || !strcmp(op, "Flatten") || !strcmp(op, "Reshape")) return "#fdb462";
  if (has_suffix(op, "Output")) return "#b3de69";
  return "#fccde5";
}

/* Writes s as the inside of a DOT double-quoted string. */
static void sb_quoted(sbuf *b, const char *s) {
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') sb_printf(b, "\\%c", *s);
    else if (*s == '\n') sb_printf(b, "\\n");
    else sb_printf(b, "%c", *s);
  }
}

int mt_net_to_dot(mt_symbol *sym, int nknown, const char *const *names, const mt_shape *shapes,
                  char **dot) {
  *dot = NULL;
  mt_graph g;
  MT_TRY(mt_graph_build(sym, &g));
  int rc = MT_OK;
  mt_shape *es = NULL;
  sbuf b = {0};
  if (nknown > 0) {
    es = calloc((size_t)g.nentries + 1, sizeof *es);
    if (!es) {
      rc = MT_NOMEM();
      goto done;
    }
    /* shapes are a decoration: a net whose shapes cannot be inferred is
     * still drawn, without them */
    if (mt_graph_infer_shape(&g, nknown, names, shapes, es) < 0) {
      free(es);
      es = NULL;
      mt_error_clear();
    }
  }
  sb_printf(&b,
            "digraph plot {\n"
            "  node [fontsize=10 fontname=\"Helvetica\" shape=box style=\"rounded,filled\" "
            "fixedsize=false];\n"
            "  edge [fontsize=9 fontname=\"Helvetica\"];\n");
  for (int i = 0; i < g.nnodes; i++) {
    const mt_node *n = g.nodes[i];
    if (!n->op) {
      if (is_hidden_param(n->name)) continue;
      sb_printf(&b, "  \"");
      sb_quoted(&b, n->name);
      sb_printf(&b, "\" [label=\"");
      sb_quoted(&b, n->name);
      sb_printf(&b, "\" shape=oval fillcolor=\"#8dd3c7\"];\n");
      continue;
    }
    sb_printf(&b, "  \"");
    sb_quoted(&b, n->name);
    sb_printf(&b, "\" [label=\"");
    sb_quoted(&b, n->name);
    sb_printf(&b, "\\n");
    sb_quoted(&b, n->op->name);
    int shown = 0;
    for (int k = 0; k < n->attrs.n; k++) {
      if (!strncmp(n->attrs.keys[k], "__", 2)) continue;
      sb_printf(&b, shown ? ", " : "\\n");
      sb_quoted(&b, n->attrs.keys[k]);
      sb_printf(&b, "=");
      sb_quoted(&b, n->attrs.vals[k]);
      shown++;
    }
    sb_printf(&b, "\" fillcolor=\"%s\"];\n", op_color(n->op->name));
  }
  for (int i = 0; i < g.nnodes; i++) {
    const mt_node *n = g.nodes[i];
    if (!n->op) continue;
    int nargs = mt_node_num_args(n);
    for (int k = 0; k < nargs; k++) {
      const mt_entry *e = &n->inputs[k];
      if (!e->node->op && is_hidden_param(e->node->name)) continue;
      sb_printf(&b, "  \"");
      sb_quoted(&b, e->node->name);
      sb_printf(&b, "\" -> \"");
      sb_quoted(&b, n->name);
      sb_printf(&b, "\"");
      int src = mt_graph_index(&g, e->node);
      const mt_shape *s = es && src >= 0 ? &es[g.entry_ptr[src] + e->index] : NULL;
      if (s && s->ndim > 1) {
        /* without the batch axis: "128", "3x28x28" */
        sb_printf(&b, " [label=\"");
        for (int d = 1; d < s->ndim; d++)
          sb_printf(&b, "%s%lld", d > 1 ? "x" : "", (long long)s->dim[d]);
        sb_printf(&b, "\"]");
      }
      sb_printf(&b, ";\n");
    }
  }
  sb_printf(&b, "}\n");
  if (b.oom) {
    rc = MT_NOMEM();
    goto done;
  }
  *dot = b.s;
  b.s = NULL;
done:
  free(b.s);
  free(es);
  mt_graph_free(&g);
  return rc;
}
