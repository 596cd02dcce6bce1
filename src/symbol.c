/* symbol.c — symbol construction (variables, operators with MXNet's
 * auto-naming of arguments), the topological graph view, name lists and
 * shape inference. JSON lives in symbol_json.c. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/shape.h"
#include "symbol.h"

uint64_t mt_hash64(const char *s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (; s && *s; s++) {
    h ^= (unsigned char)*s;
    h *= 0x100000001b3ull;
  }
  return h;
}

/* ------------------------------------------------------------------- nodes */

int mt_node_num_args(const mt_node *n) { return n->op ? n->op->num_args(n->param) : 0; }
int mt_node_num_aux(const mt_node *n) { return n->op ? mt_op_num_aux(n->op, n->param) : 0; }
int mt_node_num_outputs(const mt_node *n) { return n->op ? mt_op_num_outputs(n->op, n->param) : 1; }

void mt_node_retain(mt_node *n) {
  if (n) n->refcount++;
}

void mt_node_release(mt_node *n) {
  if (!n || --n->refcount > 0) return;
  for (int i = 0; i < n->ninputs; i++) mt_node_release(n->inputs[i].node);
  free(n->inputs);
  mt_attrs_free(&n->attrs);
  free(n->param);
  free(n->name);
  free(n);
}

/* Parses attrs into a fresh param block for op; name is the node's. */
static int parse_param(const mt_op *op, const char *name, const mt_attrs *attrs, void **param) {
  *param = calloc(1, op->param_size ? op->param_size : 1);
  if (!*param) return MT_NOMEM();
  int rc = op->parse(attrs, name, *param);
  if (rc < 0) {
    free(*param);
    *param = NULL;
  }
  return rc;
}

int mt_node_new(const mt_op *op, const char *name, const mt_attrs *attrs, int ninputs,
                const mt_entry *inputs, mt_node **out) {
  *out = NULL;
  if (!name || !*name) return MT_ERR(MT_E_INVAL, "node without a name");
  mt_node *n = calloc(1, sizeof *n);
  if (!n) return MT_NOMEM();
  n->refcount = 1;
  n->op = op;
  int rc = MT_OK;
  n->name = strdup(name);
  if (!n->name) {
    rc = MT_NOMEM();
    goto fail;
  }
  if (attrs) MT_TRY_GOTO(mt_attrs_copy(attrs, &n->attrs), rc, fail);
  if (op) {
    MT_TRY_GOTO(parse_param(op, name, &n->attrs, &n->param), rc, fail);
    int want = mt_node_num_args(n) + mt_node_num_aux(n);
    if (ninputs != want) {
      rc = MT_ERR(MT_E_INVAL, "%s '%s': expects %d inputs (arguments and aux states), got %d",
                  op->name, name, want, ninputs);
      goto fail;
    }
  } else if (ninputs) {
    rc = MT_ERR(MT_E_INVAL, "variable '%s' cannot have inputs", name);
    goto fail;
  }
  if (ninputs) {
    n->inputs = calloc((size_t)ninputs, sizeof *n->inputs);
    if (!n->inputs) {
      rc = MT_NOMEM();
      goto fail;
    }
    for (int i = 0; i < ninputs; i++) {
      if (!inputs[i].node || inputs[i].index < 0 ||
          inputs[i].index >= mt_node_num_outputs(inputs[i].node)) {
        rc = MT_ERR(MT_E_INVAL, "%s '%s': input %d is not a valid output", op->name, name, i);
        goto fail;
      }
      n->inputs[i] = inputs[i];
      mt_node_retain(inputs[i].node);
      n->ninputs = i + 1;
    }
  }
  *out = n;
  return MT_OK;
fail:
  mt_node_release(n);
  return rc;
}

/* ----------------------------------------------------------------- symbols */

static void symbol_clear_lists(mt_symbol *s) {
  char **lists[3] = {s->arg_names, s->out_names, s->aux_names};
  int counts[3] = {s->narg, s->nout_names, s->naux};
  for (int l = 0; l < 3; l++) {
    if (!lists[l]) continue;
    for (int i = 0; i < counts[l]; i++) free(lists[l][i]);
    free(lists[l]);
  }
  s->arg_names = s->out_names = s->aux_names = NULL;
  s->narg = s->nout_names = s->naux = 0;
}

int mt_symbol_from_entries(int n, const mt_entry *entries, mt_symbol **out) {
  *out = NULL;
  mt_symbol *s = calloc(1, sizeof *s);
  if (!s) return MT_NOMEM();
  s->outputs = calloc((size_t)(n > 0 ? n : 1), sizeof *s->outputs);
  if (!s->outputs) {
    free(s);
    return MT_NOMEM();
  }
  for (int i = 0; i < n; i++) {
    s->outputs[i] = entries[i];
    mt_node_retain(entries[i].node);
  }
  s->nout = n;
  *out = s;
  return MT_OK;
}

void mt_symbol_free(mt_symbol *s) {
  if (!s) return;
  for (int i = 0; i < s->nout; i++) mt_node_release(s->outputs[i].node);
  free(s->outputs);
  symbol_clear_lists(s);
  mt_attrs_free(&s->json_attrs);
  free(s);
}

int mt_symbol_copy(const mt_symbol *sym, mt_symbol **out) {
  MT_TRY(mt_symbol_from_entries(sym->nout, sym->outputs, out));
  int rc = mt_attrs_copy(&sym->json_attrs, &(*out)->json_attrs);
  if (rc < 0) {
    mt_symbol_free(*out);
    *out = NULL;
  }
  return rc;
}

int mt_symbol_variable(const char *name, mt_symbol **out) {
  *out = NULL;
  mt_node *n;
  MT_TRY(mt_node_new(NULL, name, NULL, 0, NULL, &n));
  mt_entry e = {n, 0};
  int rc = mt_symbol_from_entries(1, &e, out);
  mt_node_release(n);
  return rc;
}

/* MXNet's NameManager: "<op name lowercased><counter>" per op type. */
static void auto_name(const char *op, char *buf, size_t len) {
  static _Thread_local struct {
    char op[64];
    int count;
  } counters[64];
  static _Thread_local int ncounters;
  int c = -1;
  for (int i = 0; i < ncounters; i++)
    if (!strcmp(counters[i].op, op)) c = i;
  if (c < 0 && ncounters < 64) {
    c = ncounters++;
    snprintf(counters[c].op, sizeof counters[c].op, "%s", op);
    counters[c].count = 0;
  }
  char lower[64];
  size_t i = 0;
  for (; op[i] && i < sizeof lower - 1; i++) lower[i] = (char)tolower((unsigned char)op[i]);
  lower[i] = '\0';
  snprintf(buf, len, "%s%d", lower, c >= 0 ? counters[c].count++ : 0);
}

int mt_symbol_create(const char *opname, const char *name, const char *attrs_text, int ninputs,
                     mt_symbol *const *inputs, mt_symbol **out) {
  *out = NULL;
  const mt_op *op = mt_op_find(opname);
  if (!op) return MT_ERR(MT_E_NOTFOUND, "unknown operator '%s'", opname ? opname : "(null)");
  char namebuf[256];
  if (!name || !*name) {
    auto_name(op->name, namebuf, sizeof namebuf);
    name = namebuf;
  }
  mt_attrs attrs;
  int rc = mt_attrs_parse(attrs_text, &attrs);
  if (rc < 0) return mt_error_prefix(rc, "%s '%s'", op->name, name);
  void *param = NULL;
  mt_entry *entries = NULL;
  mt_node **made = NULL;
  int nmade = 0, total = 0;
  if ((op->flags & MT_OP_VARIADIC) && !mt_attrs_get(&attrs, "num_args")) {
    char nb[16];
    snprintf(nb, sizeof nb, "%d", ninputs);
    MT_TRY_GOTO(mt_attrs_set(&attrs, "num_args", nb), rc, done);
  }
  MT_TRY_GOTO(parse_param(op, name, &attrs, &param), rc, done);
  int nargs = op->num_args(param), naux = mt_op_num_aux(op, param);
  total = nargs + naux;
  if (ninputs > total) {
    rc = MT_ERR(MT_E_INVAL, "%s '%s': %d inputs given, the op takes %d", op->name, name, ninputs,
                total);
    goto done;
  }
  entries = calloc((size_t)total + 1, sizeof *entries);
  made = calloc((size_t)total + 1, sizeof *made);
  if (!entries || !made) {
    rc = MT_NOMEM();
    goto done;
  }
  for (int i = 0; i < total; i++) {
    if (i < ninputs && inputs && inputs[i]) {
      if (inputs[i]->nout != 1) {
        rc = MT_ERR(MT_E_INVAL, "%s '%s': input %d is a group of %d outputs; expected one",
                    op->name, name, i, inputs[i]->nout);
        goto done;
      }
      entries[i] = inputs[i]->outputs[0];
    } else {
      char vname[512];
      const char *suffix = i < nargs ? op->arg_name(param, i) : op->aux_name(param, i - nargs);
      snprintf(vname, sizeof vname, "%s_%s", name, suffix);
      /* NNVM's Compose copies the op's attribute dict onto the variables it makes */
      MT_TRY_GOTO(mt_node_new(NULL, vname, &attrs, 0, NULL, &made[nmade]), rc, done);
      entries[i] = (mt_entry){made[nmade++], 0};
    }
  }
  /* BatchNorm's FSetInputVarAttrOnCompose: moving stats start at 0 and 1 */
  if (!strcmp(op->name, "BatchNorm"))
    for (int i = 3; i < total && i < 5; i++)
      if (!entries[i].node->op && !mt_attrs_get(&entries[i].node->attrs, "__init__"))
        MT_TRY_GOTO(mt_attrs_set(&entries[i].node->attrs, "__init__",
                                 i == 3 ? "[\"zero\", {}]" : "[\"one\", {}]"),
                    rc, done);
  mt_node *n;
  MT_TRY_GOTO(mt_node_new(op, name, &attrs, total, entries, &n), rc, done);
  int nvis = mt_op_num_visible_outputs(op, n->param);
  mt_entry *outs = calloc((size_t)nvis + 1, sizeof *outs); /* SliceChannel: up to 64 */
  if (!outs) rc = MT_NOMEM();
  for (int i = 0; outs && i < nvis; i++) outs[i] = (mt_entry){n, i};
  if (outs) rc = mt_symbol_from_entries(nvis, outs, out);
  free(outs);
  mt_node_release(n);
done:
  for (int i = 0; i < nmade; i++) mt_node_release(made[i]);
  free(made);
  free(entries);
  free(param);
  mt_attrs_free(&attrs);
  return rc;
}

int mt_symbol_group(int n, mt_symbol *const *syms, mt_symbol **out) {
  *out = NULL;
  int total = 0;
  for (int i = 0; i < n; i++) total += syms[i]->nout;
  mt_entry *e = calloc((size_t)total + 1, sizeof *e);
  if (!e) return MT_NOMEM();
  int k = 0;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < syms[i]->nout; j++) e[k++] = syms[i]->outputs[j];
  int rc = mt_symbol_from_entries(total, e, out);
  free(e);
  return rc;
}

/* ------------------------------------------------------------------- graph */

/* A node -> int map (open addressing, linear probing): the topological
 * sort's visited marks, then the graph's node -> index lookup, each O(1)
 * so that building and walking a graph of N nodes is O(N), not O(N^2). */
struct mt_node_index {
  const mt_node **keys; /* NULL: empty slot */
  int *vals;
  size_t cap, n; /* cap a power of 2, n <= cap / 2 */
};

static size_t node_slot(const mt_node_index *m, const mt_node *n) {
  uint64_t h = (uint64_t)(uintptr_t)n * 0x9E3779B97F4A7C15ull;
  size_t i = (size_t)(h >> 17) & (m->cap - 1);
  while (m->keys[i] && m->keys[i] != n) i = (i + 1) & (m->cap - 1);
  return i;
}

/* The value of n, or -1 when absent. */
static int node_get(const mt_node_index *m, const mt_node *n) {
  if (!m || !m->cap) return -1;
  size_t i = node_slot(m, n);
  return m->keys[i] ? m->vals[i] : -1;
}

static int node_put(mt_node_index *m, const mt_node *n, int v) {
  if (2 * (m->n + 1) > m->cap) {
    mt_node_index bigger = {NULL, NULL, m->cap ? 2 * m->cap : 64, 0};
    bigger.keys = calloc(bigger.cap, sizeof *bigger.keys);
    bigger.vals = calloc(bigger.cap, sizeof *bigger.vals);
    if (!bigger.keys || !bigger.vals) {
      free(bigger.keys);
      free(bigger.vals);
      return MT_NOMEM();
    }
    for (size_t i = 0; i < m->cap; i++)
      if (m->keys[i]) {
        size_t j = node_slot(&bigger, m->keys[i]);
        bigger.keys[j] = m->keys[i];
        bigger.vals[j] = m->vals[i];
        bigger.n++;
      }
    free(m->keys);
    free(m->vals);
    *m = bigger;
  }
  size_t i = node_slot(m, n);
  if (!m->keys[i]) {
    m->keys[i] = n;
    m->n++;
  }
  m->vals[i] = v;
  return MT_OK;
}

static void node_index_free(mt_node_index *m) {
  if (!m) return;
  free(m->keys);
  free(m->vals);
  free(m);
}

typedef struct {
  mt_node **nodes;
  int n, cap;
} node_list;

static int list_push(node_list *l, mt_node *n) {
  if (l->n == l->cap) {
    int cap = l->cap ? l->cap * 2 : 32;
    mt_node **p = realloc(l->nodes, sizeof *p * (size_t)cap);
    if (!p) return MT_NOMEM();
    l->nodes = p;
    l->cap = cap;
  }
  l->nodes[l->n++] = n;
  return MT_OK;
}

/* Post-order DFS, inputs in order (NNVM's DFSVisit). Iterative: deep nets
 * must not exhaust the stack. `seen` marks each node met: -2 while it is on
 * the stack, then its position in `order` (the graph's index). */
static int topo_sort(const mt_symbol *sym, node_list *order, mt_node_index *seen) {
  node_list stack = {0};
  int *next = NULL, cap = 0, rc = MT_OK;
  for (int h = 0; h < sym->nout && rc == MT_OK; h++) {
    mt_node *root = sym->outputs[h].node;
    if (node_get(seen, root) != -1) continue;
    stack.n = 0;
    MT_TRY_GOTO(list_push(&stack, root), rc, done);
    MT_TRY_GOTO(node_put(seen, root, -2), rc, done);
    if (cap < 1) {
      cap = 64;
      next = realloc(next, sizeof *next * (size_t)cap);
      if (!next) {
        rc = MT_NOMEM();
        goto done;
      }
    }
    next[0] = 0;
    while (stack.n) {
      mt_node *top = stack.nodes[stack.n - 1];
      int *ni = &next[stack.n - 1];
      if (*ni < top->ninputs) {
        mt_node *child = top->inputs[(*ni)++].node;
        if (node_get(seen, child) != -1) continue;
        MT_TRY_GOTO(list_push(&stack, child), rc, done);
        MT_TRY_GOTO(node_put(seen, child, -2), rc, done);
        if (stack.n > cap) {
          cap *= 2;
          int *p = realloc(next, sizeof *next * (size_t)cap);
          if (!p) {
            rc = MT_NOMEM();
            goto done;
          }
          next = p;
        }
        next[stack.n - 1] = 0;
      } else {
        MT_TRY_GOTO(node_put(seen, top, order->n), rc, done);
        MT_TRY_GOTO(list_push(order, top), rc, done);
        stack.n--;
      }
    }
  }
done:
  free(stack.nodes);
  free(next);
  return rc;
}

int mt_graph_index(const mt_graph *g, const mt_node *n) {
  int i = node_get(g->index, n);
  return i >= 0 && i < g->nnodes && g->nodes[i] == n ? i : -1;
}

void mt_graph_free(mt_graph *g) {
  node_index_free(g->index);
  free(g->nodes);
  free(g->entry_ptr);
  free(g->heads);
  free(g->head_node);
  free(g->head_index);
  free(g->arg_nodes);
  free(g->aux_nodes);
  memset(g, 0, sizeof *g);
}

int mt_graph_build(const mt_symbol *sym, mt_graph *g) {
  memset(g, 0, sizeof *g);
  node_list order = {0};
  mt_node_index *seen = calloc(1, sizeof *seen);
  int rc = seen ? topo_sort(sym, &order, seen) : MT_NOMEM();
  if (rc < 0) {
    free(order.nodes);
    node_index_free(seen);
    return rc;
  }
  g->nnodes = order.n;
  g->nodes = order.nodes;
  g->index = seen;
  g->entry_ptr = calloc((size_t)g->nnodes + 1, sizeof *g->entry_ptr);
  g->heads = calloc((size_t)sym->nout + 1, sizeof *g->heads);
  g->head_node = calloc((size_t)sym->nout + 1, sizeof *g->head_node);
  g->head_index = calloc((size_t)sym->nout + 1, sizeof *g->head_index);
  g->arg_nodes = calloc((size_t)g->nnodes + 1, sizeof *g->arg_nodes);
  g->aux_nodes = calloc((size_t)g->nnodes + 1, sizeof *g->aux_nodes);
  unsigned char *role = calloc((size_t)g->nnodes + 1, 1); /* 1 arg, 2 aux */
  if (!g->entry_ptr || !g->heads || !g->head_node || !g->head_index || !g->arg_nodes ||
      !g->aux_nodes || !role) {
    free(role);
    mt_graph_free(g);
    return MT_NOMEM();
  }
  for (int i = 0; i < g->nnodes; i++)
    g->entry_ptr[i + 1] = g->entry_ptr[i] + mt_node_num_outputs(g->nodes[i]);
  g->nentries = g->entry_ptr[g->nnodes];
  for (int i = 0; i < g->nnodes; i++) {
    mt_node *n = g->nodes[i];
    int nargs = mt_node_num_args(n);
    for (int k = 0; k < n->ninputs; k++) {
      mt_node *in = n->inputs[k].node;
      if (in->op) continue;
      int idx = mt_graph_index(g, in);
      role[idx] |= k < nargs ? 1 : 2;
    }
  }
  g->nheads = sym->nout;
  for (int h = 0; h < sym->nout; h++) {
    int idx = mt_graph_index(g, sym->outputs[h].node);
    g->head_node[h] = idx;
    g->head_index[h] = sym->outputs[h].index;
    g->heads[h] = g->entry_ptr[idx] + sym->outputs[h].index;
    if (!g->nodes[idx]->op && !role[idx]) role[idx] = 1;
  }
  for (int i = 0; i < g->nnodes; i++) {
    if (g->nodes[i]->op) continue;
    if (role[i] == 3) {
      rc = MT_ERR(MT_E_INVAL, "variable '%s' is used both as an argument and as an aux state",
                  g->nodes[i]->name);
      free(role);
      mt_graph_free(g);
      return rc;
    }
    if (role[i] & 2) g->aux_nodes[g->naux++] = i;
    else g->arg_nodes[g->narg++] = i;
  }
  free(role);
  return MT_OK;
}

/* --------------------------------------------------------------- name lists */

static int build_lists(mt_symbol *s) {
  if (s->arg_names) return MT_OK;
  mt_graph g;
  MT_TRY(mt_graph_build(s, &g));
  int rc = MT_OK;
  s->arg_names = calloc((size_t)g.narg + 1, sizeof(char *));
  s->aux_names = calloc((size_t)g.naux + 1, sizeof(char *));
  s->out_names = calloc((size_t)s->nout + 1, sizeof(char *));
  if (!s->arg_names || !s->aux_names || !s->out_names) {
    rc = MT_NOMEM();
    goto done;
  }
  for (int i = 0; i < g.narg; i++) {
    s->arg_names[i] = strdup(g.nodes[g.arg_nodes[i]]->name);
    s->narg = i + 1;
  }
  for (int i = 0; i < g.naux; i++) {
    s->aux_names[i] = strdup(g.nodes[g.aux_nodes[i]]->name);
    s->naux = i + 1;
  }
  for (int h = 0; h < s->nout; h++) {
    mt_node *n = s->outputs[h].node;
    char buf[512];
    if (!n->op) snprintf(buf, sizeof buf, "%s", n->name);
    else
      snprintf(buf, sizeof buf, "%s_%s", n->name,
               mt_op_output_name(n->op, n->param, s->outputs[h].index));
    s->out_names[h] = strdup(buf);
    s->nout_names = h + 1;
  }
done:
  mt_graph_free(&g);
  if (rc < 0) symbol_clear_lists(s);
  return rc;
}

int mt_symbol_list_arguments(mt_symbol *sym, int *n, const char *const **names) {
  MT_TRY(build_lists(sym));
  *n = sym->narg;
  *names = (const char *const *)sym->arg_names;
  return MT_OK;
}

int mt_symbol_list_outputs(mt_symbol *sym, int *n, const char *const **names) {
  MT_TRY(build_lists(sym));
  *n = sym->nout_names;
  *names = (const char *const *)sym->out_names;
  return MT_OK;
}

int mt_symbol_list_auxiliary_states(mt_symbol *sym, int *n, const char *const **names) {
  MT_TRY(build_lists(sym));
  *n = sym->naux;
  *names = (const char *const *)sym->aux_names;
  return MT_OK;
}

/* --------------------------------------------------------- shape inference */

/* What input k of node n is, for messages: "weight 'fc1_weight'",
 * "aux state 'bn_moving_mean'", "data 'relu1'". */
static const char *input_role(const mt_node *n, int k, int nargs) {
  return k < nargs ? n->op->arg_name(n->param, k) : "aux state";
}

/* One forward pass of inference. `fill` > 0 replaces the 0 dims of the
 * outputs of MT_OP_INFER_ZERO_DIMS ops (_zeros); fill 0 leaves them 0. */
static int infer_pass(const mt_graph *g, int nknown, const char *const *names,
                      const mt_shape *shapes, mt_shape *es, int *bad_node, int64_t fill) {
  if (bad_node) *bad_node = -1;
  memset(es, 0, sizeof *es * (size_t)g->nentries);
  /* the variables by name (open addressing on FNV-1a; a name may belong to
   * several nodes, each in its own slot), so that an executor's bind, which
   * gives every argument's shape, costs O(nodes), not O(nodes x arguments) */
  size_t cap = 16;
  while (cap < 2 * (size_t)g->nnodes) cap *= 2;
  int *slot = calloc(cap, sizeof *slot); /* node index + 1; 0 = empty */
  if (!slot) return MT_NOMEM();
  for (int i = 0; i < g->nnodes; i++) {
    if (g->nodes[i]->op) continue;
    size_t h = (size_t)mt_hash64(g->nodes[i]->name) & (cap - 1);
    while (slot[h]) h = (h + 1) & (cap - 1);
    slot[h] = i + 1;
  }
  for (int k = 0; k < nknown; k++) {
    int found = 0, rc = mt_shape_check(&shapes[k], "infer_shape: '%s'", names[k]);
    if (rc < 0) {
      free(slot);
      return rc;
    }
    for (size_t h = (size_t)mt_hash64(names[k]) & (cap - 1); slot[h]; h = (h + 1) & (cap - 1)) {
      int i = slot[h] - 1;
      if (strcmp(g->nodes[i]->name, names[k])) continue;
      es[g->entry_ptr[i]] = shapes[k];
      found = 1;
    }
    if (!found) {
      free(slot);
      const char *kind = "argument";
      return MT_ERR(MT_E_NOTFOUND, "infer_shape: '%s' is not an %s of the symbol", names[k], kind);
    }
  }
  free(slot);
  for (int i = 0; i < g->nnodes; i++) {
    mt_node *n = g->nodes[i];
    if (!n->op) continue;
    if (bad_node) *bad_node = i;
    int nargs = mt_node_num_args(n), naux = mt_node_num_aux(n), nout = mt_node_num_outputs(n);
    /* 64: SliceChannel's and Concat's most (an unrolled sequence of 64 steps) */
    mt_shape in[64], out[64], aux[64];
    if (nargs > 64 || naux > 64 || nout > 64)
      return MT_ERR(MT_E_INVAL, "%s '%s': too many inputs", n->op->name, n->name);
    memset(out, 0, sizeof out);
    int in_e[128];
    for (int k = 0; k < n->ninputs; k++) {
      int idx = mt_graph_index(g, n->inputs[k].node);
      in_e[k] = g->entry_ptr[idx] + n->inputs[k].index;
      if (k < nargs) in[k] = es[in_e[k]];
      else aux[k - nargs] = es[in_e[k]];
    }
    MT_TRY(n->op->infer_shape(n->param, n->name, in, out, aux));
    if (fill > 0 && (n->op->flags & MT_OP_INFER_ZERO_DIMS))
      for (int o = 0; o < nout; o++)
        for (int d = 0; d < out[o].ndim; d++)
          if (out[o].dim[d] == 0) out[o].dim[d] = fill;
    for (int k = 0; k < n->ninputs; k++) {
      mt_shape *got = k < nargs ? &in[k] : &aux[k - nargs];
      mt_node *src = n->inputs[k].node;
      if (got->ndim == 0)
        return MT_ERR(MT_E_SHAPE,
                      "%s '%s': cannot infer the shape of input '%s'; give it with the data shapes",
                      n->op->name, n->name, src->name);
      /* the one size rule (base/shape.h): a parameter the op made from its
       * attributes (num_hidden=2^62) stops here, naming the node */
      MT_TRY(mt_shape_check(got, "%s '%s': %s '%s'", n->op->name, n->name, input_role(n, k, nargs),
                            src->name));
      if (es[in_e[k]].ndim == 0) es[in_e[k]] = *got;
      else if (!mt_shape_equal(&es[in_e[k]], got)) {
        const char *what = k < nargs ? n->op->arg_name(n->param, k) : "aux state";
        return mt_shape_mismatch(n->op->name, n->name, what, got, &es[in_e[k]]);
      }
    }
    for (int o = 0; o < nout; o++) {
      MT_TRY(mt_shape_check(&out[o], "%s '%s': output '%s_%s'", n->op->name, n->name, n->name,
                            mt_op_output_name(n->op, n->param, o)));
      es[g->entry_ptr[i] + o] = out[o];
    }
  }
  if (bad_node) *bad_node = -1;
  return MT_OK;
}

/* A graph with _zeros of unknown (0) dims (RNN begin states) is inferred
 * once per candidate value of those dims: the distinct nonzero dims of the
 * given shapes, in order (the batch comes first: data's dim 0). All 0 dims
 * are one unknown, the batch, as in every RNN cell's begin_state. Exactly
 * one candidate must infer the whole graph; none is the first candidate's
 * error, two are MT_E_SHAPE (MXNet cannot infer such a graph either). */
int mt_graph_infer_shape_at(const mt_graph *g, int nknown, const char *const *names,
                            const mt_shape *shapes, mt_shape *es, int *bad_node) {
  const mt_node *z = NULL;
  for (int i = 0; i < g->nnodes && !z; i++) {
    const mt_node *n = g->nodes[i];
    if (!n->op || !(n->op->flags & MT_OP_INFER_ZERO_DIMS)) continue;
    mt_shape in[1] = {{0}}, out[8] = {{0}}, aux[1] = {{0}};
    if (mt_node_num_args(n) != 0 || mt_node_num_outputs(n) > 8 ||
        n->op->infer_shape(n->param, n->name, in, out, aux) < 0)
      continue; /* the pass reports it */
    for (int o = 0; o < mt_node_num_outputs(n); o++)
      for (int d = 0; d < out[o].ndim; d++)
        if (out[o].dim[d] == 0) z = n;
  }
  if (!z) return infer_pass(g, nknown, names, shapes, es, bad_node, 0);
  int64_t cand[64], found = 0;
  int ncand = 0;
  for (int k = 0; k < nknown && ncand < 64; k++)
    for (int d = 0; d < shapes[k].ndim && ncand < 64; d++) {
      int64_t v = shapes[k].dim[d], seen = 0;
      for (int c = 0; c < ncand; c++) seen |= cand[c] == v;
      if (v > 0 && !seen) cand[ncand++] = v;
    }
  if (ncand == 0)
    return MT_ERR(MT_E_SHAPE,
                  "%s '%s': cannot infer the 0 dims of its shape without the data's shapes",
                  z->op->name, z->name);
  for (int c = 0; c < ncand; c++) {
    if (infer_pass(g, nknown, names, shapes, es, bad_node, cand[c]) < 0) continue;
    if (found)
      return MT_ERR(MT_E_SHAPE,
                    "%s '%s': cannot infer the 0 dims of its shape: both %lld and %lld fit the "
                    "graph; give the shape without 0s",
                    z->op->name, z->name, (long long)found, (long long)cand[c]);
    found = cand[c];
  }
  if (!found) {
    int rc = infer_pass(g, nknown, names, shapes, es, bad_node, cand[0]);
    return mt_error_prefix(rc, "with the 0 dims of %s '%s' taken as %lld", z->op->name, z->name,
                           (long long)cand[0]);
  }
  return infer_pass(g, nknown, names, shapes, es, bad_node, found);
}

int mt_graph_infer_shape(const mt_graph *g, int nknown, const char *const *names,
                         const mt_shape *shapes, mt_shape *es) {
  return mt_graph_infer_shape_at(g, nknown, names, shapes, es, NULL);
}

int mt_symbol_infer_shape(mt_symbol *sym, int nknown, const char *const *names,
                          const mt_shape *shapes, mt_shape *arg_shapes, mt_shape *out_shapes,
                          mt_shape *aux_shapes) {
  MT_TRY(build_lists(sym));
  mt_graph g;
  MT_TRY(mt_graph_build(sym, &g));
  mt_shape *es = calloc((size_t)g.nentries + 1, sizeof *es);
  int rc = es ? mt_graph_infer_shape(&g, nknown, names, shapes, es) : MT_NOMEM();
  if (rc == MT_OK) {
    for (int i = 0; i < g.narg; i++)
      if (arg_shapes) arg_shapes[i] = es[g.entry_ptr[g.arg_nodes[i]]];
    for (int i = 0; i < g.naux; i++)
      if (aux_shapes) aux_shapes[i] = es[g.entry_ptr[g.aux_nodes[i]]];
    for (int h = 0; h < g.nheads; h++)
      if (out_shapes) out_shapes[h] = es[g.heads[h]];
  }
  free(es);
  mt_graph_free(&g);
  return rc;
}

const char *mt_symbol_var_attr(const mt_symbol *sym, const char *name, const char *key) {
  mt_graph g;
  if (!sym || !name || !key || mt_graph_build(sym, &g) < 0) return NULL;
  const char *v = NULL;
  for (int i = 0; i < g.nnodes && !v; i++)
    if (!g.nodes[i]->op && !strcmp(g.nodes[i]->name, name))
      v = mt_attrs_get(&g.nodes[i]->attrs, key);
  mt_graph_free(&g);
  return v;
}
