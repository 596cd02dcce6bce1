/* net_builder.h — networks written as config text (`[model] layers`,
 * docs/design.md §7), the label names a network expects, and Graphviz DOT of a
 * network (`modtrain viz`).
 *
 * A layer line is "OP NAME key=value ...", e.g. "FullyConnected fc1
 * num_hidden=64": OP is an operator of the registry (MXNet's name or an
 * alias), NAME the node name (parameters become NAME_weight, NAME_bias, a
 * loss layer's label NAME_label), the rest the op's MXNet attributes. Each
 * layer's data input is the previous layer's output (the first layer reads
 * the variable "data"), as mx.sym code written one layer per line. The one
 * attribute the builder takes for itself is inputs=a,b: the layer reads
 * the named earlier layers (or "data") in that order instead, for ops with
 * several data inputs (elemwise_add, Concat) and for branches.
 */
#ifndef MT_SRC_NET_BUILDER_H
#define MT_SRC_NET_BUILDER_H
#include "modtrain.h"

typedef struct {
  char *op;      /* operator name as written ("FullyConnected") */
  char *name;    /* node name ("fc1") */
  char *attrs;   /* the op's attributes, "key=value ..." ("" when none) */
  int ninputs;   /* 0: the previous layer (or "data" for the first layer) */
  char **inputs; /* from inputs=a,b: names of earlier layers or "data" */
  int line;      /* where it was written, for error messages (0: unknown) */
} mt_layer_spec;

/* Parses one layer line. Syntax only (the op and the attributes are checked
 * by mt_net_build): MT_E_INVAL with a message that says what is wrong and
 * how to write it. *out is owned by the caller (mt_layer_spec_free). */
int mt_layer_parse(const char *text, mt_layer_spec *out);
void mt_layer_spec_free(mt_layer_spec *l);

/* Builds the network of n layers into *out (caller frees). On error *bad is
 * the index of the layer at fault (-1 when none is) and the message names
 * the layer and what is wrong: an unknown op (with the closest op's name), a
 * bad attribute, a layer name used twice, an input that names no earlier
 * layer, a layer whose output feeds nothing, and, when data_shape is given
 * (the whole batch of "data", e.g. (32, 128)), the first layer whose shapes
 * cannot be inferred from it or break base/shape.h's size limit (first in
 * the order where a layer comes after the layers it reads). Time and memory
 * are linear in n: shapes are inferred once, over the whole network. */
int mt_net_build(int n, const mt_layer_spec *layers, const mt_shape *data_shape, mt_symbol **out,
                 int *bad);

/* The label arguments of sym: the arguments whose names end in "_label"
 * (MXNet's convention: SoftmaxOutput "softmax" reads "softmax_label"), in
 * list_arguments order. *names is a malloc'd array of malloc'd strings
 * (free with mt_net_names_free); *n may be 0. */
int mt_net_label_names(mt_symbol *sym, int *n, char ***names);
void mt_net_names_free(int n, char **names);

/* 1 if every output of sym comes from a loss op (SoftmaxOutput,
 * *RegressionOutput): the network can be trained without output gradients. */
int mt_net_is_loss(mt_symbol *sym);
/* The op name of output i's node ("SoftmaxOutput"), "" for a variable,
 * NULL if i is out of range. */
const char *mt_net_head_op(const mt_symbol *sym, int i);

/* Graphviz DOT of sym on the model of mx.viz.plot_network: one box per op
 * (node name, op, attributes), the inputs and labels as ovals, parameters
 * (..._weight, _bias, _gamma, _beta, _moving_mean, _moving_var) hidden. When
 * shapes of some arguments are given (nknown names and shapes, e.g. data
 * (32, 128)), edges carry the shape of the tensor they carry without the
 * batch axis, as plot_network does. *dot is malloc'd (caller frees). */
int mt_net_to_dot(mt_symbol *sym, int nknown, const char *const *names, const mt_shape *shapes,
                  char **dot);

/* The choice closest to `word` by edit distance (case-insensitive), or NULL
 * when none is close enough to be a likely typo: the "did you mean" of
 * error hints (also used by the command's config reader, cmd/config_*.c). */
const char *mt_closest_name(const char *word, int n, const char *const *choices);

#endif
