/* config_net.c — the config-to-network step of `modtrain`: [model]
 * layers built into a symbol with the library's builder (src/net_builder.c)
 * or [model] symbol loaded, then checked for what the command needs: an
 * input named "data", a loss layer with its labels, and, for synthetic
 * data, shapes that infer and outputs that fit the classes. Errors name the
 * layer's line (or the model key's). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_keys.h"
#include "base/error.h"

/* The line of the model's last layer, or of the key that gave the model. */
static int model_key(const mt_config *c) {
  return c->symbol_path ? K_SYMBOL : c->lstm_lm ? K_LSTM_LM : K_LAYERS;
}

static int model_err_last(mt_config *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int model_err_last(mt_config *c, int code, const char *fmt, ...) {
  int k = model_key(c);
  const raw_val *r = &c->priv->raw[k];
  int line = r->line;
  if (k == K_LAYERS && r->nlines > 0) line = r->lines[r->nlines - 1];
  va_list ap;
  va_start(ap, fmt);
  int rc = cfg_verr(c, code, r->origin, line, SEC_MODEL, cfg_keys[k].name, fmt, ap);
  va_end(ap);
  return rc;
}

/* Shapes of the whole network for the synthetic data's batch: the
 * output shape of head 0 into *out0. */
static int infer_outputs(mt_config *c, const mt_shape *dshape, mt_shape *out0) {
  int narg, nout, naux;
  const char *const *names;
  MT_TRY(mt_symbol_list_arguments(c->symbol, &narg, &names));
  MT_TRY(mt_symbol_list_outputs(c->symbol, &nout, &names));
  MT_TRY(mt_symbol_list_auxiliary_states(c->symbol, &naux, &names));
  mt_shape *buf = calloc((size_t)(narg + nout + naux) + 1, sizeof *buf);
  if (!buf) return MT_NOMEM();
  const char *dname = "data";
  int rc = mt_symbol_infer_shape(c->symbol, 1, &dname, dshape, buf, buf + narg, buf + narg + nout);
  *out0 = buf[narg];
  free(buf);
  return rc;
}

/* After the cross checks (config_read.c), so the data keys are known. */
int cfg_build_network(mt_config *c) {
  mt_config_priv *p = c->priv;
  /* shapes are known before training only for synthetic data */
  int synthetic = !strcmp(c->train, "synthetic");
  mt_shape dshape = mt_config_synthetic_shape(c, c->batch_size);
  char msg[1024], data_hint[160], sb[96];
  snprintf(data_hint, sizeof data_hint, " (the data is (batch_size, %s) = %s)",
           c->synth_ndim ? "synthetic_shape" : "feature_dim", mt_shape_str(&dshape, sb, sizeof sb));
  if (c->lstm_lm) {
    MT_TRY(cfg_build_lm(c));
  } else if (c->nlayers > 0) {
    int bad = -1;
    int rc = mt_net_build(c->nlayers, c->layers, synthetic ? &dshape : NULL, &c->symbol, &bad);
    if (rc < 0) {
      cfg_last_error_copy(msg, sizeof msg);
      const raw_val *r = &p->raw[K_LAYERS];
      int line = bad >= 0 && bad < r->nlines ? r->lines[bad] : r->line;
      return cfg_loc_err(c, MT_E_INVAL, r->origin, line, SEC_MODEL, "layers", "%s%s", msg,
                         rc == MT_E_SHAPE ? data_hint : "");
    }
  } else {
    int rc = mt_symbol_load(c->symbol_path, &c->symbol);
    if (rc < 0) {
      cfg_last_error_copy(msg, sizeof msg);
      return cfg_key_err(c, MT_E_INVAL, K_SYMBOL, "cannot load the symbol: %s", msg);
    }
  }
  int narg;
  const char *const *args;
  MT_TRY(mt_symbol_list_arguments(c->symbol, &narg, &args));
  int has_data = 0;
  for (int i = 0; i < narg; i++) has_data |= !strcmp(args[i], "data");
  if (!has_data)
    return model_err_last(c, MT_E_INVAL,
                          "the network has no input named 'data' (modtrain feeds "
                          "the samples as 'data')");
  if (!mt_net_is_loss(c->symbol)) {
    const char *op = mt_net_head_op(c->symbol, 0);
    return model_err_last(c, MT_E_INVAL,
                          "the network ends with %s, not a loss layer (end it with "
                          "SoftmaxOutput, or a LinearRegressionOutput, ... so it can train)",
                          op && *op ? op : "a variable");
  }
  MT_TRY(mt_net_label_names(c->symbol, &c->nlabels, &c->label_names));
  if (c->nlabels == 0)
    return model_err_last(c, MT_E_INVAL,
                          "the network has no label argument (NAME_label): "
                          "its loss layer must read the labels");
  if (!synthetic) return MT_OK;
  if (c->nlabels != 1)
    return model_err_last(c, MT_E_INVAL,
                          "the network reads %d labels (%s, %s%s); synthetic data "
                          "has one",
                          c->nlabels, c->label_names[0], c->label_names[1],
                          c->nlabels > 2 ? ", ..." : "");
  mt_shape o = {0, {0}};
  int rc = infer_outputs(c, &dshape, &o);
  if (rc < 0) {
    cfg_last_error_copy(msg, sizeof msg);
    return model_err_last(c, MT_E_INVAL, "%s%s", msg, data_hint);
  }
  /* a SoftmaxOutput over fewer outputs than classes cannot take the labels */
  const char *op = mt_net_head_op(c->symbol, 0);
  if (op && !strcmp(op, "SoftmaxOutput") && o.ndim == 2 && o.dim[1] < c->num_classes)
    return model_err_last(c, MT_E_INVAL,
                          "the network outputs %lld classes but [data] "
                          "num_classes = %d (the labels would not fit: give the last layer before "
                          "the loss %d outputs)",
                          (long long)o.dim[1], c->num_classes, c->num_classes);
  return MT_OK;
}
