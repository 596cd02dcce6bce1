/* cmd_eval.c — `modtrain predict` and `modtrain score`: checkpoint E of a
 * job config's run (or, with --params, an MXNet checkpoint P-EEEE.params
 * and its --symbol P-symbol.json, or any modtrain P-EEEE.h5), bound for inference on the config's
 * validation (or, with --data train, training) data in one process; predict writes the outputs to
 * an HDF5 file (/pred/<output> [N, ...], attributes checkpoint, data, epoch), score prints the
 * config's eval_metric as name=value lines. Exit status: 0 done, 1 runtime error, 2 bad usage or
 * config. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "io/h5_container.h"
#include "base/error.h"

/* What the command was asked for, and what it holds (freed by eval_free). */
typedef struct {
  const char *name;  /* "predict" or "score" */
  int score;         /* 1: score, 0: predict */
  int epoch;         /* the checkpoint's */
  const char *out;   /* predict: the output file, NULL: PREFIX-EEEE-pred.h5 */
  const char *which; /* "val" or "train" */
  const char **sets;
  int nset;
  const char *params; /* --params: the parameters file (.params or .h5), NULL: --epoch's */
  const char *symbol; /* --symbol: the network's JSON, NULL: the config's (or the checkpoint's) */
  char **labels;      /* the label names of --symbol's network */
  int nlabels;

  mt_config *cfg;
  const char *src; /* the data set evaluated: cfg->train or cfg->val */
  char path[4200]; /* the checkpoint file */
  mt_symbol *sym;
  mt_arena *args, *aux;
  mt_data_iter *it;
  mt_module *mod;
  mt_metric *metric;
  mt_ndarray **preds;
  int npred;
} eval_job;

/* The options into e; the config is argv[optind]. Returns -1 to go on, or
 * the exit code. */
static int eval_options(eval_job *e, int argc, char **argv, void (*usage)(FILE *)) {
  static const struct option opts[] = {
      {"epoch", required_argument, 0, 'e'},  {"out", required_argument, 0, 'o'},
      {"data", required_argument, 0, 'd'},   {"set", required_argument, 0, 's'},
      {"params", required_argument, 0, 'p'}, {"symbol", required_argument, 0, 'y'},
      {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case 'e': e->epoch = atoi(optarg); break;
    case 'o': e->out = optarg; break;
    case 'd': e->which = optarg; break;
    case 's': e->sets[e->nset++] = optarg; break;
    case 'p': e->params = optarg; break;
    case 'y': e->symbol = optarg; break;
    case 'h': usage(stdout); return MT_EXIT_OK;
    default: return MT_EXIT_USAGE;
    }
  }
  /* either checkpoint E of the config, or a parameters file (--symbol only with it) */
  int which_ok = !strcmp(e->which, "val") || !strcmp(e->which, "train");
  if (optind != argc - 1 || !which_ok || (e->epoch < 0) == !e->params ||
      (e->symbol && !e->params)) {
    fprintf(stderr,
            "modtrain %s: usage: modtrain %s CONFIG (--epoch E | [--symbol P-symbol.json] "
            "--params P-EEEE.params)%s [--data val|train]\n",
            e->name, e->name, e->score ? "" : " [--out PREDS.h5]");
    return MT_EXIT_USAGE;
  }
  return -1;
}

/* The checkpoint's network and parameters in a module bound for inference
 * on the chosen data. */
static int eval_prepare(eval_job *e) {
  const mt_config *cfg = e->cfg;
  const char *data_name = "data";
  int nd, nl;
  const mt_data_desc *dd, *ld;
  int nlabels = cfg->nlabels;
  char **labels = cfg->label_names;
  if (!e->params) {
    MT_TRY(mt_load_checkpoint(cfg->prefix, e->epoch, &e->sym, &e->args, &e->aux, NULL));
  } else if (e->symbol) {
    MT_TRY(mt_symbol_load(e->symbol, &e->sym));
    MT_TRY(mt_net_label_names(e->sym, &e->nlabels, &e->labels));
    if (e->nlabels == 0)
      return mt_error_set(
          MT_E_INVAL, "--symbol '%s': the network has no label argument (NAME_label)", e->symbol);
    nlabels = e->nlabels;
    labels = e->labels;
  } else {
    MT_TRY(mt_symbol_copy(cfg->symbol, &e->sym));
  }
  MT_TRY(cmd_make_iter(cfg, e->src, e->src == cfg->train ? 0 : 1, 0, labels[0], 0, 1, &e->it));
  if (cfg->lstm_lm && !e->params) /* the buckets' symbols come from the config, as in training */
    MT_TRY(mt_config_lm_module(cfg, &e->mod));
  else
    MT_TRY(mt_module_create(e->sym, 1, &data_name, nlabels, (const char *const *)labels, cfg->nctx,
                            cfg->ctx, &e->mod));
  MT_TRY(mt_data_iter_provide_data(e->it, &nd, &dd));
  MT_TRY(mt_data_iter_provide_label(e->it, &nl, &ld));
  MT_TRY(mt_module_bind(e->mod, nd, dd, nl, ld, 0, 0, 0, MT_REQ_NULL));
  if (e->params) return cmd_params_set(e->mod, e->params, "--params");
  return mt_module_set_params(e->mod, e->args, e->aux, 0, 1, 0);
}

/* score: the eval_metric over the data, one name=value line per metric. */
static int eval_score(eval_job *e) {
  MT_TRY(mt_metric_create(e->cfg->eval_metric, &e->metric));
  MT_TRY(mt_module_score(e->mod, e->it, e->metric, -1, 1, e->epoch, 0, NULL));
  for (int i = 0; i < mt_metric_num(e->metric); i++) {
    const char *mn;
    double v;
    mt_metric_get(e->metric, i, &mn, &v);
    printf("%s=%f\n", mn, v);
  }
  return MT_OK;
}

/* The predictions into the HDF5 file out, written whole or not at all. */
static int write_predictions(eval_job *e, const char *out) {
  mtio_h5w *w = NULL;
  int nout, rc;
  const char *const *onames;
  MT_TRY(mt_module_output_names(e->mod, &nout, &onames));
  MT_TRY_GOTO(mtio_h5w_create(out, 0, &w), rc, fail);
  MT_TRY_GOTO(mtio_h5w_attr_str(w, "/", "checkpoint", e->path), rc, fail);
  MT_TRY_GOTO(mtio_h5w_attr_str(w, "/", "data", e->src), rc, fail);
  MT_TRY_GOTO(mtio_h5w_attr_i64(w, "/", "epoch", e->epoch), rc, fail);
  for (int i = 0; i < e->npred && i < nout; i++) {
    char dset[512];
    snprintf(dset, sizeof dset, "/pred/%s", onames[i]);
    mt_shape sh = mt_ndarray_shape(e->preds[i]);
    MT_TRY_GOTO(mtio_h5w_array(w, dset, &sh, mt_ndarray_data(e->preds[i])), rc, fail);
  }
  return mtio_h5w_commit(w);
fail:
  mtio_h5w_abort(w);
  return rc;
}

/* predict: the outputs over the data into --out (default PREFIX-EEEE-pred.h5). */
static int eval_predict(eval_job *e) {
  MT_TRY(mt_module_predict(e->mod, e->it, -1, 1, &e->npred, &e->preds));
  char def[4200];
  const char *out = e->out;
  if (!out) {
    const char *dot = strrchr(e->path, '.'), *slash = strrchr(e->path, '/');
    int stem = dot && (!slash || dot > slash) ? (int)(dot - e->path) : (int)strlen(e->path);
    snprintf(def, sizeof def, "%.*s-pred.h5", stem, e->path);
    out = def;
  }
  MT_TRY(write_predictions(e, out));
  mt_shape sh = mt_ndarray_shape(e->preds[0]);
  char sb[96];
  fprintf(stderr, "modtrain predict: %s on %s: %s predictions written to %s\n", e->path, e->src,
          mt_shape_str(&sh, sb, sizeof sb), out);
  return MT_OK;
}

/* Loads the config, then predicts or scores. Returns the exit code. */
static int eval_run(eval_job *e, const char *config) {
  if (mt_config_load(config, e->nset, e->sets, &e->cfg) < 0)
    return cmd_fail(MT_EXIT_USAGE, mt_last_error());
  const mt_config *cfg = e->cfg;
  if (!cfg->prefix && !e->params) {
    char buf[4400];
    snprintf(buf, sizeof buf, "%s: [checkpoint] prefix is not set: no checkpoints to %s", cfg->path,
             e->name);
    return cmd_fail(MT_EXIT_USAGE, buf);
  }
  e->src = !strcmp(e->which, "train") || !cfg->val ? cfg->train : cfg->val;
  if (e->params) snprintf(e->path, sizeof e->path, "%s", e->params);
  else mt_checkpoint_path(cfg->prefix, e->epoch, e->path, sizeof e->path);
  int rc = eval_prepare(e);
  if (rc == MT_OK) rc = e->score ? eval_score(e) : eval_predict(e);
  return rc < 0 ? cmd_fail(MT_EXIT_RUNTIME, mt_last_error()) : MT_EXIT_OK;
}

static void eval_free(eval_job *e) {
  for (int i = 0; i < e->npred; i++) mt_ndarray_free(e->preds[i]);
  free(e->preds);
  mt_metric_free(e->metric);
  mt_module_free(e->mod);
  mt_data_iter_free(e->it);
  mt_arena_free(e->args);
  mt_arena_free(e->aux);
  mt_symbol_free(e->sym);
  mt_config_free(e->cfg);
  mt_net_names_free(e->nlabels, e->labels);
  free(e->sets);
}

int cmd_eval(int argc, char **argv, int score, void (*usage)(FILE *)) {
  eval_job e = {.name = score ? "score" : "predict", .score = score, .epoch = -1, .which = "val"};
  e.sets = calloc((size_t)argc + 1, sizeof *e.sets);
  if (!e.sets) return cmd_fail(MT_EXIT_RUNTIME, "out of memory");
  int code = eval_options(&e, argc, argv, usage);
  if (code < 0) code = eval_run(&e, argv[optind]);
  eval_free(&e);
  return code;
}
