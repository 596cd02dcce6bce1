/* fit.c — BaseModule.fit / score / predict / iter_predict in MXNet's order
 * of operations, and the Speedometer callback. The log lines are
 * docs/design.md §8's, printed by rank 0 through mt_log_train. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/env.h"
#include "base/error.h"
#include "base/timeline.h"
#include "kvstore/world.h"
#include "module.h"

/* Failure injection for the failure tests (docs/failures.md):
 * MODTRAIN_FAULT="rank=R,epoch=E,batch=B,kind=K" makes rank R, before batch
 * B of epoch E, fail with an error (K=error), die at once without telling
 * MPI (exit), hang (hang), or feed NaN into the network (nan). */
typedef struct {
  int on, rank, epoch, batch;
  char kind[16];
} fault_spec;

static fault_spec fault_parse(void) {
  fault_spec f = {0, -1, 0, 0, ""};
  const char *e = mt_env(MT_ENV_FAULT);
  if (!e || !*e) return f;
  if (sscanf(e, "rank=%d,epoch=%d,batch=%d,kind=%15s", &f.rank, &f.epoch, &f.batch, f.kind) == 4)
    f.on = 1;
  return f;
}

static int fault_hit(const fault_spec *f, int epoch, int nbatch, mt_batch *b) {
  if (!f->on || f->rank != mt_dist_rank() || f->epoch != epoch || f->batch != nbatch) return MT_OK;
  fprintf(stderr, "modtrain: MODTRAIN_FAULT: rank %d injects '%s' at epoch %d batch %d\n", f->rank,
          f->kind, epoch, nbatch);
  fflush(stderr);
  if (!strcmp(f->kind, "exit")) _exit(7);
  if (!strcmp(f->kind, "hang"))
    for (;;) pause();
  if (!strcmp(f->kind, "nan")) {
    float nan = NAN;
    for (int i = 0; i < b->ndata; i++) MT_TRY(mt_ndarray_fill(b->data[i], nan));
    return MT_OK;
  }
  return MT_ERR(MT_E_INVAL, "injected fault (MODTRAIN_FAULT)");
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void mt_fit_options_init(mt_fit_options *o) {
  memset(o, 0, sizeof *o);
  o->eval_metric = "acc";
  o->kvstore = "local";
  o->optimizer = "sgd";
  o->optimizer_params = "learning_rate=0.01";
  o->num_epoch = -1;
}

static int call_batch_cbs(int n, const mt_batch_callback *cbs, int epoch, int nbatch,
                          mt_metric *metric, int64_t batch_size) {
  mt_batch_end_params p = {epoch, nbatch, metric, batch_size};
  for (int i = 0; i < n; i++)
    if (cbs[i].fn) {
      int rc = cbs[i].fn(&p, cbs[i].user);
      if (rc < 0) return rc;
    }
  return MT_OK;
}

/* Under MPI: dst's sums become the sum over ranks of src's (dst may be src). */
static int reduce_metric(mt_module *m, const mt_metric *src, mt_metric *dst) {
  int n = mt_metric_state_size(src);
  double *buf = calloc((size_t)n + 1, sizeof *buf);
  if (!buf) return MT_NOMEM();
  int rc = mt_metric_state_get(src, buf);
  if (rc == MT_OK) rc = mt_kvstore_allreduce_f64(mt_module_kvstore(m), buf, n);
  if (rc == MT_OK) rc = mt_metric_state_set(dst, buf);
  free(buf);
  return rc;
}

static int is_dist(const mt_module *m) {
  mt_kvstore *kv = mt_module_kvstore(m);
  return kv && mt_kvstore_is_dist(kv);
}

int mt_module_score(mt_module *m, mt_data_iter *eval, mt_metric *metric, int num_batch, int reset,
                    int epoch, int ncb, const mt_batch_callback *cbs) {
  if (!mt_module_binded(m) || !mt_module_params_initialized(m))
    return MT_ERR(MT_E_STATE, "call bind and init_params before score");
  if (reset) MT_TRY(mt_data_iter_reset(eval));
  mt_metric_reset(metric);
  mt_batch b;
  int nbatch = 0, rc;
  while ((num_batch < 0 || nbatch < num_batch) && (rc = mt_data_iter_next(eval, &b)) == 1) {
    MT_TRY(mt_module_forward(m, &b, 0));
    MT_TRY(mt_module_update_metric(m, metric, b.nlabel, b.label));
    MT_TRY(call_batch_cbs(ncb, cbs, epoch, nbatch, metric, mt_data_iter_batch_size(eval)));
    nbatch++;
  }
  if (rc < 0) return rc;
  /* every rank scored its shard: the result is the metric of all of them */
  return is_dist(m) ? reduce_metric(m, metric, metric) : MT_OK;
}

/* Views of the outputs without the batch's padding rows. */
static int outputs_unpadded(mt_module *m, const mt_batch *b, int *n, mt_ndarray **views) {
  mt_ndarray *const *outs;
  MT_TRY(mt_module_get_outputs(m, n, &outs));
  for (int i = 0; i < *n; i++) {
    int64_t rows = outs[i]->shape.dim[0] - b->pad;
    int rc = mt_ndarray_slice(outs[i], 0, rows < 0 ? 0 : rows, &views[i]);
    if (rc < 0) {
      for (int k = 0; k < i; k++) mt_ndarray_free(views[k]);
      return rc;
    }
  }
  return MT_OK;
}

int mt_module_iter_predict(mt_module *m, mt_data_iter *eval, int num_batch, int reset,
                           mt_iter_predict_fn fn, void *user) {
  if (!mt_module_binded(m) || !mt_module_params_initialized(m))
    return MT_ERR(MT_E_STATE, "call bind and init_params before iter_predict");
  if (reset) MT_TRY(mt_data_iter_reset(eval));
  mt_batch b;
  int nbatch = 0, rc;
  while ((num_batch < 0 || nbatch < num_batch) && (rc = mt_data_iter_next(eval, &b)) == 1) {
    MT_TRY(mt_module_forward(m, &b, 0));
    mt_ndarray *views[64];
    int n;
    MT_TRY(outputs_unpadded(m, &b, &n, views));
    int stop = fn(n, views, nbatch, &b, user);
    for (int i = 0; i < n; i++) mt_ndarray_free(views[i]);
    if (stop < 0) return stop;
    if (stop) break;
    nbatch++;
  }
  return rc < 0 ? rc : MT_OK;
}

typedef struct {
  int n;
  int64_t rows, cap;
  mt_shape shape[64];
  float *buf[64]; /* host copies, grown as batches arrive */
} predict_acc;

static int predict_collect(int n, mt_ndarray *const *outs, int nbatch, const mt_batch *b,
                           void *user) {
  predict_acc *a = user;
  if (n > 64) n = 64;
  a->n = n;
  int64_t rows = outs[0]->shape.dim[0];
  if (a->rows + rows > a->cap) {
    int64_t cap = (a->rows + rows) * 2;
    for (int i = 0; i < n; i++) {
      int64_t row = outs[i]->shape.dim[0] ? outs[i]->size / outs[i]->shape.dim[0] : 0;
      float *p = realloc(a->buf[i], sizeof(float) * (size_t)(cap * (row ? row : 1)));
      if (!p) return MT_NOMEM();
      a->buf[i] = p;
    }
    a->cap = cap;
  }
  for (int i = 0; i < n; i++) {
    int64_t row = outs[i]->shape.dim[0] ? outs[i]->size / outs[i]->shape.dim[0] : 0;
    a->shape[i] = outs[i]->shape;
    MT_TRY(mt_ndarray_copy_to(outs[i], a->buf[i] + a->rows * row, outs[i]->size));
  }
  a->rows += rows;
  return 0;
}

int mt_module_predict(mt_module *m, mt_data_iter *eval, int num_batch, int reset, int *nout,
                      mt_ndarray ***outputs) {
  *nout = 0;
  *outputs = NULL;
  predict_acc a;
  memset(&a, 0, sizeof a);
  int rc = mt_module_iter_predict(m, eval, num_batch, reset, predict_collect, &a);
  mt_ndarray **res = NULL;
  if (rc == MT_OK && a.n > 0) {
    res = calloc((size_t)a.n, sizeof *res);
    if (!res) rc = MT_NOMEM();
    for (int i = 0; rc == MT_OK && i < a.n; i++) {
      mt_shape s = a.shape[i];
      s.dim[0] = a.rows;
      rc = mt_ndarray_create(s, mt_cpu(0), &res[i]);
      if (rc == MT_OK) memcpy(res[i]->data, a.buf[i], sizeof(float) * (size_t)res[i]->size);
    }
    if (rc < 0 && res) {
      for (int i = 0; i < a.n; i++) mt_ndarray_free(res[i]);
      free(res);
      res = NULL;
    }
  }
  for (int i = 0; i < 64; i++) free(a.buf[i]);
  if (rc < 0) return rc;
  *nout = res ? a.n : 0;
  *outputs = res;
  return MT_OK;
}

/* ------------------------------------------------------------ metrics file */

static void json_metrics(FILE *f, const mt_metric *m, int global) {
  fputs("\"metrics\": {", f);
  for (int i = 0; i < mt_metric_num(m); i++) {
    const char *name;
    double v;
    if ((global ? mt_metric_get_global : mt_metric_get)(m, i, &name, &v) < 0) continue;
    fprintf(f, "%s\"", i ? ", " : "");
    for (const char *c = name; *c; c++) {
      if (*c == '"' || *c == '\\') fputc('\\', f);
      fputc(*c, f);
    }
    if (isfinite(v)) fprintf(f, "\": %.17g", v);
    else fputs("\": null", f);
  }
  fputc('}', f);
}

/* One line, flushed: a write that fails (ENOSPC, EIO, /dev/full) is an
 * error naming the file, not a line silently lost (docs/failures.md). */
static int metrics_event(FILE *f, const char *path, const char *event, int epoch, int batch,
                         int64_t samples, double speed, double t, const mt_metric *m, int global) {
  if (!f) return MT_OK;
  fprintf(f,
          "{\"event\": \"%s\", \"epoch\": %d, \"batch\": %d, \"samples\": %lld, "
          "\"samples_per_sec\": %.3f, \"time\": %.6f, ",
          event, epoch, batch, (long long)samples, speed, t);
  json_metrics(f, m, global);
  fputs("}\n", f);
  errno = 0;
  if (fflush(f) != 0 || ferror(f))
    return MT_ERR(MT_E_IO, "metrics_file %s: writing the %s line failed: %s", path, event,
                  strerror(errno ? errno : EIO));
  return MT_OK;
}

static void log_metric(const char *prefix, int epoch, const mt_metric *metric, int global) {
  for (int i = 0; i < mt_metric_num(metric); i++) {
    const char *name;
    double v;
    if ((global ? mt_metric_get_global : mt_metric_get)(metric, i, &name, &v) == MT_OK)
      mt_log_train("Epoch[%d] %s-%s=%f", epoch, prefix, name, v);
  }
}

/* Every rank stopped after `nbatch` batches of `epoch`: rank 0 writes the
 * checkpoint of that position; all ranks learn whether it worked. */
static int stop_here(mt_module *m, const mt_fit_options *opt, int epoch, int nbatch) {
  int rc = MT_OK;
  char path[4200] = "";
  if (opt->stop_checkpoint_prefix && *opt->stop_checkpoint_prefix) {
    mt_checkpoint_path(opt->stop_checkpoint_prefix, epoch, path, sizeof path);
    /* every rank syncs (a collective-free copy); rank 0 writes */
    mt_kvstore *kv = mt_module_kvstore(m);
    if (!kv || kv->rank == 0) {
      rc = mt_module_save_checkpoint_at(m, opt->stop_checkpoint_prefix, epoch, nbatch,
                                        opt->stop_checkpoint_config);
      if (rc == MT_OK) mt_log_train("Saved checkpoint to \"%s\"", path);
    }
    double failed = rc < 0;
    if (kv && mt_kvstore_is_dist(kv)) {
      int r2 = mt_kvstore_allreduce_f64(kv, &failed, 1);
      if (r2 < 0) return r2;
    }
    if (rc < 0)
      return mt_error_prefix(rc, "checkpoint on stop at epoch %d batch %d", epoch, nbatch);
    if (failed > 0) return MT_ERR(MT_E_IO, "rank 0 could not write the checkpoint %s", path);
    return MT_ERR(MT_E_INTERRUPTED,
                  "stopped on request at epoch %d after batch %d; the position is in %s: resume "
                  "with --resume (or [checkpoint] resume = auto)",
                  epoch, nbatch, path);
  }
  return MT_ERR(MT_E_INTERRUPTED,
                "stopped on request at epoch %d after batch %d; no [checkpoint] prefix, nothing "
                "saved",
                epoch, nbatch);
}

/* ------------------------------------------------------------------- fit */

/* One fit: the module, its data and options, and what fit holds while it
 * runs (freed by fit_free). */
typedef struct {
  mt_module *m;
  mt_data_iter *train;
  const mt_fit_options *opt;
  mt_metric *train_metric, *val_metric;
  mt_metric *view;    /* train_metric, or under MPI its sums over ranks (log, callbacks) */
  FILE *mfile;        /* metrics_file on rank 0, or NULL */
  int64_t batch_size; /* samples per batch over all ranks */
  fault_spec fault;
  double fit_t0, last_t; /* start of fit; last metrics_file line of this epoch */
  int64_t last_samples;  /* samples at last_t */
} fit_state;

/* Binds, initialises the parameters and installs the optimizer, each
 * unless the caller already did, then the options' lr scheduler. A module the caller
 * already prepared (bound, initialised, optimizer installed and perhaps
 * restored from a checkpoint) is continued as it is; MXNet's fit would warn
 * at each step and ignore it, the same outcome. */
static int fit_prepare_module(mt_module *m, mt_data_iter *train, const mt_fit_options *opt) {
  int nd, nl, rc;
  const mt_data_desc *dd, *ld;
  MT_TRY(mt_data_iter_provide_data(train, &nd, &dd));
  MT_TRY(mt_data_iter_provide_label(train, &nl, &ld));
  if (!mt_module_binded(m) || opt->force_rebind)
    MT_TRY(mt_module_bind(m, nd, dd, nl, ld, 1, 0, opt->force_rebind, MT_REQ_WRITE));
  if (!mt_module_params_initialized(m) || opt->force_init) {
    mt_initializer *own_init = NULL;
    const mt_initializer *init = opt->initializer;
    if (!init) {
      MT_TRY(mt_initializer_create("uniform scale=0.01", 0, &own_init));
      init = own_init;
    }
    rc = mt_module_init_params(m, init, opt->arg_params, opt->aux_params, opt->allow_missing,
                               opt->force_init, 0);
    mt_initializer_free(own_init);
    if (rc < 0) return rc;
  }
  if (!mt_module_optimizer_initialized(m))
    MT_TRY(mt_module_init_optimizer(m, opt->kvstore, opt->optimizer, opt->optimizer_params, 0));
  if (opt->lr_scheduler && *opt->lr_scheduler) {
    /* one scheduler for each optimizer (a SequentialModule's children) */
    mt_module_opt_group g[MT_MODULE_MAX_OPT_GROUPS];
    int ng = mt_module_opt_groups(m, MT_MODULE_MAX_OPT_GROUPS, g);
    for (int i = 0; i < ng; i++) {
      mt_lr_scheduler *sched;
      MT_TRY(
          mt_lr_scheduler_create(opt->lr_scheduler, mt_optimizer_learning_rate(g[i].opt), &sched));
      MT_TRY(mt_optimizer_set_lr_scheduler(g[i].opt, sched));
    }
  }
  return MT_OK;
}

/* The metrics, the metrics file and the clock. */
static int fit_prepare(fit_state *s) {
  const mt_fit_options *opt = s->opt;
  const char *eval_metric = opt->eval_metric ? opt->eval_metric : "acc";
  MT_TRY(mt_metric_create(eval_metric, &s->train_metric));
  MT_TRY(mt_metric_create(opt->validation_metric ? opt->validation_metric : eval_metric,
                          &s->val_metric));
  /* Under MPI the training metric stays local; `view` holds the sums over
   * ranks for the log and the batch-end callbacks. */
  s->view = s->train_metric;
  if (is_dist(s->m)) MT_TRY(mt_metric_create(eval_metric, &s->view));
  mt_kvstore *kv = mt_module_kvstore(s->m);
  s->batch_size = mt_data_iter_batch_size(s->train) * (kv ? kv->num_workers : 1);
  s->fault = fault_parse();
  s->fit_t0 = s->last_t = now_s();
  s->last_samples = 0;
  if (opt->metrics_file && *opt->metrics_file && mt_log_rank() == 0) {
    s->mfile = fopen(opt->metrics_file, "a");
    if (!s->mfile)
      return MT_ERR(MT_E_IO, "metrics_file %s: %s", opt->metrics_file, strerror(errno));
  }
  return MT_OK;
}

static void fit_free(fit_state *s) {
  if (s->mfile) fclose(s->mfile);
  if (s->view && s->view != s->train_metric) mt_metric_free(s->view);
  mt_metric_free(s->train_metric);
  mt_metric_free(s->val_metric);
}

/* Under MPI: the sums over ranks into `view` when the metrics file or a
 * batch-end callback reads them after this batch; *reduced says whether. */
static int fit_reduce_for_readers(fit_state *s, int nbatch, int metrics_now, int *reduced) {
  const mt_fit_options *opt = s->opt;
  *reduced = 0;
  if (s->view == s->train_metric) return MT_OK;
  int want = metrics_now;
  for (int i = 0; i < opt->n_batch_end_callback; i++) {
    int f = opt->batch_end_callback[i].frequent;
    want |= f == 0 || (f > 0 && nbatch % f == 0);
  }
  if (want) MT_TRY(reduce_metric(s->m, s->train_metric, s->view));
  *reduced = want;
  return MT_OK;
}

/* The metrics file's line for this batch: samples so far, speed since the
 * last line. */
static int fit_batch_metrics_event(fit_state *s, int epoch, int nbatch) {
  double t = now_s();
  int64_t samples = (int64_t)(nbatch + 1) * s->batch_size;
  double speed = t > s->last_t ? (double)(samples - s->last_samples) / (t - s->last_t) : 0;
  s->last_t = t;
  s->last_samples = samples;
  return metrics_event(s->mfile, s->opt->metrics_file, "train_batch", epoch, nbatch, samples, speed,
                       t - s->fit_t0, s->view, 0);
}

/* One batch: forward, backward, update, the metric, the metrics file, the
 * batch-end callbacks. */
static int fit_batch(fit_state *s, int epoch, int nbatch, mt_batch *b) {
  const mt_fit_options *opt = s->opt;
  mt_watchdog_progress("training", epoch, nbatch);
  MT_TRY(fault_hit(&s->fault, epoch, nbatch, b));
  MT_TRY(mt_module_forward_backward(s->m, b));
  int64_t tl = MT_TL_BEGIN();
  MT_TRY(mt_module_update(s->m));
  MT_TL_END(tl, "update", "update", NULL, -1);
  MT_TRY(mt_module_update_metric(s->m, s->train_metric, b->nlabel, b->label));
  int reduced, metrics_now = opt->metrics_every > 0 && (nbatch + 1) % opt->metrics_every == 0;
  MT_TRY(fit_reduce_for_readers(s, nbatch, metrics_now, &reduced));
  if (metrics_now && s->mfile) MT_TRY(fit_batch_metrics_event(s, epoch, nbatch));
  MT_TRY(call_batch_cbs(opt->n_batch_end_callback, opt->batch_end_callback, epoch, nbatch, s->view,
                        s->batch_size));
  if (reduced && mt_metric_num(s->view) > 0) {
    /* a callback reset the local sums (Speedometer auto_reset): do it for real */
    const char *nm;
    double v;
    if (mt_metric_get(s->view, 0, &nm, &v) == MT_OK && isnan(v))
      mt_metric_reset_local(s->train_metric);
  }
  return MT_OK;
}

/* Preemption: the flag raised at batch k is agreed on at batch k+1
 * (non-blocking), so every rank stops after the same batch; *stop says
 * whether any rank asked. */
static int fit_agree_stop(fit_state *s, int *stop) {
  int any = 0;
  mt_kvstore *kv = mt_module_kvstore(s->m);
  if (!kv) { /* a module without a kvstore (no parameters): this process alone */
    *stop = *s->opt->stop_requested != 0;
    return MT_OK;
  }
  MT_TRY(mt_kvstore_agree_wait(kv, &any));
  *stop = any != 0;
  if (*stop) return MT_OK;
  return mt_kvstore_agree_start(kv, *s->opt->stop_requested != 0);
}

/* The batches of one epoch (after those a resume skips, in its first);
 * *nbatch counts them; *stop: every rank stopped on request after it. */
static int fit_batches(fit_state *s, int epoch, int *nbatch, int *stop) {
  const mt_fit_options *opt = s->opt;
  mt_batch b;
  int got = 0;
  if (epoch == opt->begin_epoch && opt->begin_batch > 0) { /* resume inside the epoch */
    for (; *nbatch < opt->begin_batch && (got = mt_data_iter_next(s->train, &b)) == 1;
         (*nbatch)++) {}
    if (*nbatch < opt->begin_batch && got < 0) return got;
  }
  for (;;) {
    int64_t tl = MT_TL_BEGIN();
    got = mt_data_iter_next(s->train, &b);
    MT_TL_END(tl, "data", "data wait", NULL, *nbatch);
    if (got != 1) break;
    tl = MT_TL_BEGIN();
    int rc = fit_batch(s, epoch, *nbatch, &b);
    MT_TL_END(tl, "batch", "batch", NULL, *nbatch);
    MT_TRY(rc);
    (*nbatch)++;
    if (opt->stop_requested) {
      MT_TRY(fit_agree_stop(s, stop));
      if (*stop) return MT_OK;
    }
  }
  return got < 0 ? got : MT_OK;
}

/* After the epoch's last batch: the parameters synced across devices, then
 * the epoch-end callbacks (checkpoints) with them. */
static int fit_epoch_callbacks(fit_state *s, int epoch) {
  const mt_fit_options *opt = s->opt;
  mt_module *m = s->m;
  const mt_arena *args, *aux;
  MT_TRY(mt_module_get_params(m, &args, &aux));
  if (mt_module_num_contexts(m) > 1) /* sync aux states across devices, as MXNet's fit */
    MT_TRY(mt_module_init_params(m, NULL, args, aux, 0, 1, 0));
  for (int i = 0; i < opt->n_epoch_end_callback; i++)
    if (opt->epoch_end_callback[i].fn)
      MT_TRY(opt->epoch_end_callback[i].fn(epoch, mt_module_symbol(m), args, aux,
                                           opt->epoch_end_callback[i].user));
  return MT_OK;
}

/* The validation data scored, its callbacks, log line and metrics line. */
static int fit_validate(fit_state *s, int epoch) {
  const mt_fit_options *opt = s->opt;
  mt_watchdog_progress("validation", epoch, 0);
  int64_t tl = MT_TL_BEGIN();
  int rc = mt_module_score(s->m, opt->eval_data, s->val_metric, -1, 1, epoch,
                           opt->n_eval_batch_end_callback, opt->eval_batch_end_callback);
  MT_TL_END(tl, "validation", "validation", NULL, epoch);
  MT_TRY(rc);
  MT_TRY(call_batch_cbs(opt->n_eval_end_callback, opt->eval_end_callback, epoch, -1, s->val_metric,
                        s->batch_size));
  log_metric("Validation", epoch, s->val_metric, 0);
  return metrics_event(s->mfile, opt->metrics_file, "validation", epoch, -1, 0, 0,
                       now_s() - s->fit_t0, s->val_metric, 0);
}

/* The end of an epoch of nbatch batches begun at tic: the training metric
 * (over all ranks) and time logged, epoch-end callbacks, validation, and the
 * training data rewound. */
static int fit_epoch_end(fit_state *s, int epoch, int nbatch, double tic) {
  if (s->view != s->train_metric) MT_TRY(reduce_metric(s->m, s->train_metric, s->view));
  log_metric("Train", epoch, s->view, 1);
  double cost = now_s() - tic;
  mt_log_train("Epoch[%d] Time cost=%.3f", epoch, cost);
  int mrc = metrics_event(s->mfile, s->opt->metrics_file, "train_epoch", epoch, nbatch,
                          (int64_t)nbatch * s->batch_size,
                          cost > 0 ? (double)nbatch * (double)s->batch_size / cost : 0,
                          now_s() - s->fit_t0, s->view, 1);
  s->last_t = now_s();
  s->last_samples = 0;
  if (mrc < 0) { /* the epoch's checkpoint is still written, then the run ends */
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", mt_last_error());
    MT_TRY(fit_epoch_callbacks(s, epoch));
    return MT_ERR(mrc, "%s", msg);
  }
  MT_TRY(fit_epoch_callbacks(s, epoch));
  if (s->opt->eval_data) MT_TRY(fit_validate(s, epoch));
  return mt_data_iter_reset(s->train);
}

/* One epoch: its batches (an error in them names the epoch and batch), then
 * its end; or, stopped on request, the checkpoint of the position. */
static int fit_epoch_body(fit_state *s, int epoch) {
  double tic = now_s();
  mt_metric_reset(s->train_metric);
  int nbatch = 0, stop = 0;
  int rc = fit_batches(s, epoch, &nbatch, &stop);
  if (rc < 0) return mt_error_prefix(rc, "Epoch[%d] Batch[%d]", epoch, nbatch);
  if (stop) return stop_here(s->m, s->opt, epoch, nbatch);
  return fit_epoch_end(s, epoch, nbatch, tic);
}

/* The epoch as one timeline span, after an instant marker. */
static int fit_epoch(fit_state *s, int epoch) {
  if (mt_tl_on()) mt_tl_instant("epoch", "epoch start", epoch);
  int64_t tl = MT_TL_BEGIN();
  int rc = fit_epoch_body(s, epoch);
  MT_TL_END(tl, "epoch", "epoch", NULL, epoch);
  return rc;
}

/* The timeline (opt->timeline, else MODTRAIN_TIMELINE) started on every
 * rank, the clocks aligned across ranks; *on: whether it records. */
static int fit_timeline_start(mt_module *m, const mt_fit_options *opt, int *on) {
  const char *path = opt->timeline && *opt->timeline ? opt->timeline : mt_env(MT_ENV_TIMELINE);
  *on = 0;
  if (!path || !*path || mt_tl_on()) return MT_OK; /* off, or an enclosing fit records */
  mt_kvstore *kv = mt_module_kvstore(m);
  int dist = kv && mt_kvstore_is_dist(kv) && kv->num_workers > 1;
  /* named by the MPI rank (ranks with a local kvstore do not share a file) */
  int up = mt_dist_mpi_up();
  int rc = mt_tl_start(path, up ? mt_dist_rank() : 0, up ? mt_dist_world_size() : 1);
  if (dist) { /* every rank started, or none goes on */
    double bad = rc < 0;
    MT_TRY(mt_kvstore_allreduce_f64(kv, &bad, 1));
    if (bad > 0 && rc >= 0) {
      mt_tl_write();
      return MT_ERR(MT_E_IO, "timeline %s: another rank could not start its timeline", path);
    }
  }
  MT_TRY(rc);
  if (dist) MT_TRY(mt_dist_timeline_align());
  *on = 1;
  return MT_OK;
}

int mt_module_fit(mt_module *m, mt_data_iter *train, const mt_fit_options *opt) {
  mt_fit_options defaults;
  if (!opt) {
    mt_fit_options_init(&defaults);
    opt = &defaults;
  }
  if (opt->num_epoch < 0) return MT_ERR(MT_E_INVAL, "fit: please specify number of epochs");
  MT_TRY(fit_prepare_module(m, train, opt));
  fit_state s = {.m = m, .train = train, .opt = opt};
  int rc, tl_on = 0;
  MT_TRY_GOTO(fit_prepare(&s), rc, done);
  MT_TRY_GOTO(fit_timeline_start(m, opt, &tl_on), rc, done);
  for (int epoch = opt->begin_epoch; epoch < opt->num_epoch; epoch++)
    MT_TRY_GOTO(fit_epoch(&s, epoch), rc, done);
done:
  if (s.mfile) { /* the last lines reach the file, or the run fails */
    errno = 0;
    if (fclose(s.mfile) != 0 && rc >= 0)
      rc = MT_ERR(MT_E_IO, "metrics_file %s: closing failed: %s", opt->metrics_file,
                  strerror(errno ? errno : EIO));
    s.mfile = NULL;
  }
  fit_free(&s);
  if (tl_on) { /* also after an error or a stop: the timeline up to there */
    int trc = mt_tl_write();
    if (trc < 0 && rc >= 0) rc = trc;
    if (trc >= 0) mt_log(MT_LOG_INFO, "fit", "timeline written to %s", mt_tl_path());
  }
  return rc;
}

/* ------------------------------------------------------------- Speedometer */

typedef struct {
  int64_t batch_size;
  int frequent, auto_reset, init, last_count;
  double tic;
} speedometer;

static int speedometer_cb(const mt_batch_end_params *p, void *user) {
  speedometer *s = user;
  int count = p->nbatch;
  if (s->last_count > count) s->init = 0;
  s->last_count = count;
  if (!s->init) {
    s->init = 1;
    s->tic = now_s();
    return 0;
  }
  if (count % s->frequent) return 0;
  double dt = now_s() - s->tic;
  double speed = dt > 0 ? (double)s->frequent * (double)s->batch_size / dt : INFINITY;
  char line[1024];
  int off = s->auto_reset
                ? snprintf(line, sizeof line, "Epoch[%d] Batch [%d-%d]\tSpeed: %.2f samples/sec",
                           p->epoch, count - s->frequent, count, speed)
                : snprintf(line, sizeof line, "Epoch[%d] Batch [0-%d]\tSpeed: %.2f samples/sec",
                           p->epoch, count, speed);
  if (p->eval_metric) {
    for (int i = 0; i < mt_metric_num(p->eval_metric) && off < (int)sizeof line; i++) {
      const char *name;
      double v;
      if (mt_metric_get(p->eval_metric, i, &name, &v) == MT_OK)
        off += snprintf(line + off, sizeof line - (size_t)off, "\t%s=%f", name, v);
    }
    if (s->auto_reset) mt_metric_reset_local(p->eval_metric);
  }
  mt_log_train("%s", line);
  s->tic = now_s();
  return 0;
}

int mt_speedometer_create(int64_t batch_size, int frequent, int auto_reset,
                          mt_batch_callback *out) {
  memset(out, 0, sizeof *out);
  if (frequent <= 0)
    return MT_ERR(MT_E_INVAL, "speedometer: frequent must be positive, got %d", frequent);
  speedometer *s = calloc(1, sizeof *s);
  if (!s) return MT_NOMEM();
  s->batch_size = batch_size;
  s->frequent = frequent;
  s->auto_reset = auto_reset;
  out->fn = speedometer_cb;
  out->user = s;
  out->frequent = frequent;
  return MT_OK;
}

void mt_batch_callback_free(mt_batch_callback *cb) {
  if (!cb) return;
  free(cb->user);
  cb->user = NULL;
  cb->fn = NULL;
}
