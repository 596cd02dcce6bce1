/* rnn_lm.c — MXNet's example/rnn/bucketing/lstm_bucketing.py network for
 * one bucket (its sym_gen(seq_len)), built node by node as MXNet 1.9's
 * mx.rnn.SequentialRNNCell of LSTMCell(prefix "lstm_l%d_") unrolls it with
 * merge_outputs=True: the same operators, attributes, parameter names,
 * variable attributes (i2h_bias's __init__ lstmbias, the attributes NNVM
 * copies onto the variables an op makes) and the names MXNet's NameManager
 * gives the unnamed nodes in a fresh name scope (_plus0, _mul0,
 * activation0, split0, expand_dims0, concat0, reshape0): its JSON equals
 * the file MXNet writes, node by node (tests/test_rnn_lm.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "symbol.h"
#include "base/error.h"

/* The nodes made so far (each holds one reference, dropped at the end). */
typedef struct {
  mt_node **nodes;
  int n, cap;
} builder;

static int keep(builder *b, mt_node *n) {
  if (b->n == b->cap) {
    int cap = b->cap ? 2 * b->cap : 256;
    mt_node **p = realloc(b->nodes, (size_t)cap * sizeof *p);
    if (!p) {
      mt_node_release(n);
      return MT_NOMEM();
    }
    b->nodes = p;
    b->cap = cap;
  }
  b->nodes[b->n++] = n;
  return MT_OK;
}

/* A node with attributes kv[0]=kv[1], kv[2]=kv[3], ... (nkv pairs); op NULL
 * makes a variable. */
static int node(builder *b, const char *opname, const char *name, int nkv, const char *const *kv,
                int nin, const mt_entry *in, mt_entry *out) {
  const mt_op *op = NULL;
  if (opname && !(op = mt_op_find(opname)))
    return MT_ERR(MT_E_NOTFOUND, "lstm_lm: operator '%s' is not registered", opname);
  mt_attrs a = {0};
  int rc = MT_OK;
  for (int i = 0; i < nkv && rc >= 0; i++) rc = mt_attrs_set(&a, kv[2 * i], kv[2 * i + 1]);
  mt_node *n = NULL;
  if (rc >= 0) rc = mt_node_new(op, name, &a, nin, in, &n);
  mt_attrs_free(&a);
  if (rc < 0) return rc;
  MT_TRY(keep(b, n));
  *out = (mt_entry){n, 0};
  return MT_OK;
}

static int var(builder *b, const char *name, int nkv, const char *const *kv, mt_entry *out) {
  return node(b, NULL, name, nkv, kv, 0, NULL, out);
}

/* One layer's parameters (LSTMCell's i2h/h2h weight and bias) and the
 * state it carries from step to step. */
typedef struct {
  mt_entry iw, ib, hw, hb;
  mt_entry h, c;
} lstm_layer;

/* LSTMCell.__call__ of layer l at step t: next_h and next_c into L->h, L->c. */
static int lstm_step(builder *b, int l, int t, int T, int H, lstm_layer *L, mt_entry x) {
  char pre[64], name[96], nh4[24], cnt[32];
  snprintf(pre, sizeof pre, "lstm_l%d_t%d_", l, t);
  snprintf(nh4, sizeof nh4, "%d", 4 * H);
  const char *fc[] = {"num_hidden", nh4};
  mt_entry i2h, h2h, gates, sl, gi, gf, gc, go, fc_, ic, state, act, out;
  mt_entry in[3] = {x, L->iw, L->ib};
  snprintf(name, sizeof name, "%si2h", pre);
  MT_TRY(node(b, "FullyConnected", name, 1, fc, 3, in, &i2h));
  mt_entry hin[3] = {L->h, L->hw, L->hb};
  snprintf(name, sizeof name, "%sh2h", pre);
  MT_TRY(node(b, "FullyConnected", name, 1, fc, 3, hin, &h2h));
  int k = l * T + t; /* NameManager's counters: one _plus, two _mul, one activation per step */
  snprintf(cnt, sizeof cnt, "_plus%d", k);
  mt_entry sum[2] = {i2h, h2h};
  MT_TRY(node(b, "elemwise_add", cnt, 0, NULL, 2, sum, &gates));
  const char *four[] = {"num_outputs", "4"};
  snprintf(name, sizeof name, "%sslice", pre);
  MT_TRY(node(b, "SliceChannel", name, 1, four, 1, &gates, &sl));
  const char *sig[] = {"act_type", "sigmoid"}, *tanh_[] = {"act_type", "tanh"};
  mt_entry s0 = {sl.node, 0}, s1 = {sl.node, 1}, s2 = {sl.node, 2}, s3 = {sl.node, 3};
  snprintf(name, sizeof name, "%si", pre);
  MT_TRY(node(b, "Activation", name, 1, sig, 1, &s0, &gi));
  snprintf(name, sizeof name, "%sf", pre);
  MT_TRY(node(b, "Activation", name, 1, sig, 1, &s1, &gf));
  snprintf(name, sizeof name, "%sc", pre);
  MT_TRY(node(b, "Activation", name, 1, tanh_, 1, &s2, &gc));
  snprintf(name, sizeof name, "%so", pre);
  MT_TRY(node(b, "Activation", name, 1, sig, 1, &s3, &go));
  snprintf(cnt, sizeof cnt, "_mul%d", 2 * k);
  mt_entry m0[2] = {gf, L->c};
  MT_TRY(node(b, "elemwise_mul", cnt, 0, NULL, 2, m0, &fc_));
  snprintf(cnt, sizeof cnt, "_mul%d", 2 * k + 1);
  mt_entry m1[2] = {gi, gc};
  MT_TRY(node(b, "elemwise_mul", cnt, 0, NULL, 2, m1, &ic));
  snprintf(name, sizeof name, "%sstate", pre);
  mt_entry st[2] = {fc_, ic};
  MT_TRY(node(b, "elemwise_add", name, 0, NULL, 2, st, &state));
  snprintf(cnt, sizeof cnt, "activation%d", k);
  MT_TRY(node(b, "Activation", cnt, 1, tanh_, 1, &state, &act));
  snprintf(name, sizeof name, "%sout", pre);
  mt_entry ho[2] = {go, act};
  MT_TRY(node(b, "elemwise_mul", name, 0, NULL, 2, ho, &out));
  L->h = out;
  L->c = state;
  return MT_OK;
}

static int build(builder *b, int T, int nl, int vocab, int E, int H, mt_symbol **out) {
  char sv[24], se[24], sh[24], st[24], shape[48], name[96];
  snprintf(sv, sizeof sv, "%d", vocab);
  snprintf(se, sizeof se, "%d", E);
  snprintf(sh, sizeof sh, "%d", H);
  snprintf(st, sizeof st, "%d", T);
  mt_entry data, label, ew, embed, split;
  MT_TRY(var(b, "data", 0, NULL, &data));
  const char *emb[] = {"input_dim", sv, "output_dim", se};
  MT_TRY(var(b, "embed_weight", 2, emb, &ew));
  mt_entry ein[2] = {data, ew};
  MT_TRY(node(b, "Embedding", "embed", 2, emb, 2, ein, &embed));
  /* _normalize_sequence(merge=False): split along time, squeezed */
  const char *sp[] = {"axis", "1", "num_outputs", st, "squeeze_axis", "1"};
  MT_TRY(node(b, "SliceChannel", "split0", 3, sp, 1, &embed, &split));

  /* SequentialRNNCell.begin_state(): LSTMCell's zeros (0, H), layout NC */
  snprintf(shape, sizeof shape, "(0, %d)", H);
  const char *zs[] = {"__layout__", "NC", "dtype", "float32", "shape", shape};
  const char *lb[] = {"__init__", "[\"lstmbias\", {\"forget_bias\": 1.0}]"};
  lstm_layer *layers = calloc((size_t)nl, sizeof *layers);
  mt_entry *xs = calloc((size_t)T, sizeof *xs);
  int rc = MT_OK;
  if (!layers || !xs) {
    rc = MT_NOMEM();
    goto done;
  }
  for (int l = 0; l < nl; l++) {
    lstm_layer *L = &layers[l];
    snprintf(name, sizeof name, "lstm_l%d_i2h_weight", l);
    MT_TRY_GOTO(var(b, name, 0, NULL, &L->iw), rc, done);
    snprintf(name, sizeof name, "lstm_l%d_i2h_bias", l);
    MT_TRY_GOTO(var(b, name, 1, lb, &L->ib), rc, done);
    snprintf(name, sizeof name, "lstm_l%d_h2h_weight", l);
    MT_TRY_GOTO(var(b, name, 0, NULL, &L->hw), rc, done);
    snprintf(name, sizeof name, "lstm_l%d_h2h_bias", l);
    MT_TRY_GOTO(var(b, name, 0, NULL, &L->hb), rc, done);
    snprintf(name, sizeof name, "lstm_l%d_begin_state_0", l);
    MT_TRY_GOTO(node(b, "_zeros", name, 3, zs, 0, NULL, &L->h), rc, done);
    snprintf(name, sizeof name, "lstm_l%d_begin_state_1", l);
    MT_TRY_GOTO(node(b, "_zeros", name, 3, zs, 0, NULL, &L->c), rc, done);
  }
  /* each layer unrolled over every step before the next layer */
  for (int t = 0; t < T; t++) xs[t] = (mt_entry){split.node, t};
  for (int l = 0; l < nl; l++)
    for (int t = 0; t < T; t++) {
      MT_TRY_GOTO(lstm_step(b, l, t, T, H, &layers[l], xs[t]), rc, done);
      xs[t] = layers[l].h;
    }
  /* the last layer's outputs merged: expand_dims on axis 1, Concat dim 1 */
  const char *ax[] = {"axis", "1"};
  for (int t = 0; t < T; t++) {
    snprintf(name, sizeof name, "expand_dims%d", t);
    MT_TRY_GOTO(node(b, "expand_dims", name, 1, ax, 1, &xs[t], &xs[t]), rc, done);
  }
  mt_entry cat, pred2d, pw, pb, pred, lab1, sm;
  const char *cc[] = {"dim", "1", "num_args", st};
  MT_TRY_GOTO(node(b, "Concat", "concat0", 2, cc, T, xs, &cat), rc, done);
  snprintf(shape, sizeof shape, "(-1, %d)", H);
  const char *rs[] = {"shape", shape};
  MT_TRY_GOTO(node(b, "Reshape", "reshape0", 1, rs, 1, &cat, &pred2d), rc, done);
  const char *fp[] = {"num_hidden", sv};
  MT_TRY_GOTO(var(b, "pred_weight", 1, fp, &pw), rc, done);
  MT_TRY_GOTO(var(b, "pred_bias", 1, fp, &pb), rc, done);
  mt_entry pin[3] = {pred2d, pw, pb};
  MT_TRY_GOTO(node(b, "FullyConnected", "pred", 1, fp, 3, pin, &pred), rc, done);
  MT_TRY_GOTO(var(b, "softmax_label", 0, NULL, &label), rc, done);
  const char *r1[] = {"shape", "(-1,)"};
  MT_TRY_GOTO(node(b, "Reshape", "reshape1", 1, r1, 1, &label, &lab1), rc, done);
  mt_entry sin[2] = {pred, lab1};
  MT_TRY_GOTO(node(b, "SoftmaxOutput", "softmax", 0, NULL, 2, sin, &sm), rc, done);
  rc = mt_symbol_from_entries(1, &sm, out);
done:
  free(layers);
  free(xs);
  return rc;
}

int mt_lstm_lm_symbol(int seq_len, int num_layers, int vocab, int num_embed, int num_hidden,
                      mt_symbol **out) {
  if (!out) return MT_ERR(MT_E_INVAL, "lstm_lm: out is NULL");
  *out = NULL;
  struct {
    const char *name;
    int v, lo, hi;
  } chk[] = {{"seq_len", seq_len, 1, 64},
             {"num_layers", num_layers, 1, 64},
             {"vocab", vocab, 2, 1 << 30},
             {"num_embed", num_embed, 1, 1 << 20},
             {"num_hidden", num_hidden, 1, 1 << 20}};
  for (size_t i = 0; i < sizeof chk / sizeof chk[0]; i++)
    if (chk[i].v < chk[i].lo || chk[i].v > chk[i].hi)
      return MT_ERR(MT_E_INVAL, "lstm_lm: %s=%d is outside [%d, %d]", chk[i].name, chk[i].v,
                    chk[i].lo, chk[i].hi);
  builder b = {0};
  int rc = build(&b, seq_len, num_layers, vocab, num_embed, num_hidden, out);
  for (int i = 0; i < b.n; i++) mt_node_release(b.nodes[i]);
  free(b.nodes);
  if (rc < 0) {
    mt_symbol_free(*out);
    *out = NULL;
  }
  return rc;
}

static const char *const lm_data_names[] = {"data"};
static const char *const lm_label_names[] = {"softmax_label"};

int mt_lstm_lm_sym_gen(void *user, int bucket_key, mt_symbol **sym, int *ndata,
                       const char *const **data_names, int *nlabel,
                       const char *const **label_names) {
  const mt_lstm_lm_config *c = user;
  if (!c) return MT_ERR(MT_E_INVAL, "lstm_lm sym_gen: no mt_lstm_lm_config given as user data");
  MT_TRY(mt_lstm_lm_symbol(bucket_key, c->num_layers, c->vocab, c->num_embed, c->num_hidden, sym));
  if (ndata) *ndata = 1;
  if (data_names) *data_names = lm_data_names;
  if (nlabel) *nlabel = 1;
  if (label_names) *label_names = lm_label_names;
  return MT_OK;
}
