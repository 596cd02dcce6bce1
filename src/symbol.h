/* symbol.h — the symbol graph: refcounted nodes (an op with string attrs and
 * input entries, or a variable) and symbols (lists of output entries), as in
 * NNVM. mt_graph is the indexed, topologically ordered form that the
 * executor and the JSON writer use. */
#ifndef MT_SRC_SYMBOL_H
#define MT_SRC_SYMBOL_H
#include "attrs.h"
#include "op.h"

typedef struct mt_node mt_node;

typedef struct {
  mt_node *node;
  int index; /* output index of node */
} mt_entry;

struct mt_node {
  int refcount;
  const mt_op *op; /* NULL for a variable ("null" in JSON) */
  char *name;
  mt_attrs attrs;   /* string attrs as given (JSON "attrs") */
  void *param;      /* op->param_size bytes parsed from attrs; NULL for variables */
  int ninputs;      /* op args + op aux */
  mt_entry *inputs; /* each holds a reference on its node */
};

struct mt_symbol {
  int nout;
  mt_entry *outputs; /* each holds a reference */
  /* name lists built on demand, owned here */
  char **arg_names, **out_names, **aux_names;
  int narg, nout_names, naux;
  /* Graph-level attributes of a loaded MXNet 1.x JSON file, key -> compact
   * JSON text of the value (mxnet_version -> ["int",10500]), in file order;
   * tojson writes them back. Empty: tojson writes this build's version. */
  mt_attrs json_attrs;
};
#define MT_SYMBOL_JSON_ATTRS 1

/* Node lifecycle. mt_node_new takes ownership of nothing: it copies name and
 * attrs; inputs are retained. For ops it parses attrs into param. */
int mt_node_new(const mt_op *op, const char *name, const mt_attrs *attrs, int ninputs,
                const mt_entry *inputs, mt_node **out);
void mt_node_retain(mt_node *n);
void mt_node_release(mt_node *n);
int mt_node_num_outputs(const mt_node *n); /* 1 for variables */
int mt_node_num_args(const mt_node *n);    /* 0 for variables */
int mt_node_num_aux(const mt_node *n);

/* A symbol holding the given entries (retained). */
int mt_symbol_from_entries(int n, const mt_entry *entries, mt_symbol **out);

/* Indexed topological view: nodes in DFS post-order from the heads, inputs
 * visited in order (MXNet's node order in JSON). */
typedef struct mt_node_index mt_node_index;
typedef struct {
  int nnodes;
  mt_node **nodes;
  int *entry_ptr; /* nnodes+1: entry id of (node i, output k) = entry_ptr[i] + k */
  int nentries;
  int nheads;
  int *heads; /* entry ids of the symbol's outputs */
  int *head_node, *head_index;
  int narg; /* variables used as op arguments (or bare heads), in node order */
  int *arg_nodes;
  int naux; /* variables used as aux inputs, in node order */
  int *aux_nodes;
  mt_node_index *index; /* node -> its index, for mt_graph_index */
} mt_graph;

/* Builds the graph (pointers borrow the symbol's nodes) in O(nodes + edges).
 * Node index of a given node: mt_graph_index (a hash lookup; -1 when the
 * node is not in the graph). */
int mt_graph_build(const mt_symbol *sym, mt_graph *g);
void mt_graph_free(mt_graph *g);
int mt_graph_index(const mt_graph *g, const mt_node *n);

/* The attribute `key` of the variable `name` ("__init__" of
 * "lstm_l0_i2h_bias"), or NULL when the symbol has no such variable or the
 * variable no such attribute. Valid as long as the symbol. For
 * mt_initializer_init_attr (MXNet's Initializer.__call__ reads __init__). */
const char *mt_symbol_var_attr(const mt_symbol *sym, const char *name, const char *key);

/* Infers shapes of every entry and aux variable. known: shapes by argument
 * name. entry_shapes has g->nentries slots; shapes of variables are entries
 * too (a variable has one output). Every given and inferred shape must keep
 * base/shape.h's rule (MT_E_SHAPE naming the node and its input or output).
 * The _at form also says at which node inference stopped (*bad_node: its
 * index; -1 on success or when no node is at fault). */
int mt_graph_infer_shape(const mt_graph *g, int nknown, const char *const *names,
                         const mt_shape *shapes, mt_shape *entry_shapes);
int mt_graph_infer_shape_at(const mt_graph *g, int nknown, const char *const *names,
                            const mt_shape *shapes, mt_shape *entry_shapes, int *bad_node);

/* FNV-1a 64-bit hash of a string (node keys for RNG streams, config hashes). */
uint64_t mt_hash64(const char *s);

#endif
