/* cmd_train.c — the training command of `modtrain` (docs/design.md §7): the job
 * config loaded and checked on every rank (all stop if any rank found a
 * problem), or printed with --check; then a training run in three steps:
 *
 *   check    the ranks run the same config and network, the kvstore fits
 *            the world size; the banner (world, contexts, GEMM threads, job)
 *   prepare  data iterators, Module, initializer, fit options, Speedometer
 *            or progress bar, checkpoints, and the position of --resume
 *   end      the exit code of the outcome (3 after a checkpointed stop, a
 *            whole-job abort when one of several ranks failed); frees
 *
 * with mt_module_fit between prepare and end, under the stall watchdog. */
#include <sys/stat.h>
#include <errno.h>
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/env.h"
#include "cmd.h"
#include "io/h5_container.h"
#include "io/h5_sequences.h"
#include "io/h5dataset.h"
#include "base/error.h"
#include "kernels/kernels.h"

/* One training run: what prepare makes, end frees. */
typedef struct {
  mt_config *cfg;
  int rank, world;
  const char *kv; /* the kvstore in use: the config's, or local for one process */
  volatile sig_atomic_t *stop;
  mt_data_iter *train_it, *val_it;
  mt_module *mod;
  mt_initializer *init;
  mt_batch_callback speedo; /* Speedometer or progress bar (fn NULL: none) */
  mt_epoch_callback ckpt;   /* a checkpoint every period epochs (fn NULL: none) */
  mt_epoch_callback also;   /* [checkpoint] also_params: P-EEEE.params beside it (fn NULL: none) */
  char *cfg_text;           /* the effective config, recorded in checkpoints */
  mt_fit_options o;
} train_job;

/* ---------------------------------------------------------------- check */

/* Under mpirun: a collective "does every rank agree?" (MIN of ok). */
static int all_ok(int ok) {
  if (mt_dist_world_size() <= 1) return ok;
  int all = ok;
  MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  return all;
}

/* The first rank whose text hashes differently from rank 0's, or -1. */
static int rank_differing(const char *text) {
  int world = mt_dist_world_size();
  if (world <= 1) return -1;
  uint64_t h = 0xcbf29ce484222325ull, *all = calloc((size_t)world, sizeof *all);
  for (const char *c = text; *c; c++) h = (h ^ (unsigned char)*c) * 0x100000001b3ull;
  if (!all) return -1;
  MPI_Allgather(&h, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD);
  int bad = -1;
  for (int r = 1; r < world && bad < 0; r++)
    if (all[r] != all[0]) bad = r;
  free(all);
  return bad;
}

/* The first rank whose effective config and network differ from rank 0's,
 * or -1, into *bad. Collective. */
static int rank_with_other_job(const mt_config *cfg, int *bad) {
  char *ini = NULL, *json = NULL, *both = NULL;
  int rc;
  MT_TRY_GOTO(mt_config_to_ini(cfg, &ini), rc, done);
  MT_TRY_GOTO(mt_symbol_tojson(cfg->symbol, &json), rc, done);
  size_t tl = strlen(ini) + strlen(json) + 2;
  both = malloc(tl);
  if (!both) {
    rc = mt_error_set(MT_E_NOMEM, "out of memory");
    goto done;
  }
  snprintf(both, tl, "%s\n%s", ini, json);
  *bad = rank_differing(both);
  rc = MT_OK;
done:
  free(both);
  free(json);
  free(ini);
  return rc;
}

/* The ranks run the same job, and the kvstore suits the world size (one
 * process: dist_sync and hier reduce across the contexts only, which is
 * what local does, without starting MPI). Returns the exit code. */
static int job_check(train_job *j) {
  const mt_config *cfg = j->cfg;
  char buf[1024], where[4200];
  int bad = -1;
  if (rank_with_other_job(cfg, &bad) < 0) return cmd_fail(MT_EXIT_RUNTIME, mt_last_error());
  if (bad >= 0) {
    snprintf(buf, sizeof buf,
             "ranks disagree on the config or network: rank %d's differs from rank 0's (start "
             "every rank with the same files and --set options)",
             bad);
    return j->rank == 0 ? cmd_fail(MT_EXIT_USAGE, buf) : MT_EXIT_USAGE;
  }
  const char *kv = cfg->kvstore;
  if (j->world == 1 && (!strcmp(kv, "dist_sync") || !strcmp(kv, "hier"))) kv = "local";
  if (j->world > 1 && (!strcmp(kv, "local") || !strcmp(kv, "device"))) {
    snprintf(buf, sizeof buf,
             "%s: [train] kvstore: '%s' with %d ranks would train %d separate models; use "
             "dist_sync or hier",
             mt_config_where(cfg, "train", "kvstore", where, sizeof where), kv, j->world, j->world);
    return j->rank == 0 ? cmd_fail(MT_EXIT_USAGE, buf) : MT_EXIT_USAGE;
  }
  j->kv = kv;
  return MT_EXIT_OK;
}

/* GEMM threads per rank: OPENBLAS_NUM_THREADS or OMP_NUM_THREADS when the
 * user set one (applied to both backends; its name into *tenv), else cores
 * per node / ranks per node (*tenv NULL). Collective. */
static int blas_threads(const char **tenv) {
  const char *v = mt_env(MT_ENV_OPENBLAS_NUM_THREADS);
  *tenv = v ? "OPENBLAS_NUM_THREADS" : NULL;
  if (!v && (v = mt_env(MT_ENV_OMP_NUM_THREADS))) *tenv = "OMP_NUM_THREADS";
  int threads = v ? atoi(v) : 0;
  if (threads <= 0) {
    *tenv = NULL;
    threads = mt_dist_default_blas_threads();
  }
  mt_blas_set_threads(threads);
  return threads;
}

static void ctx_list(const mt_config *cfg, char *buf, size_t n) {
  size_t len = 0;
  buf[0] = '\0';
  for (int i = 0; i < cfg->nctx && len < n; i++)
    len += (size_t)snprintf(buf + len, n - len, "%s%s(%d)", i ? "," : "",
                            cfg->ctx[i].type == MT_GPU ? "gpu" : "cpu", cfg->ctx[i].id);
}

/* "fc1 > relu1 > ..." or the symbol file. */
static void describe_network(const mt_config *cfg, char *net, size_t n) {
  net[0] = '\0';
  if (cfg->symbol_path) {
    snprintf(net, n, "%s", cfg->symbol_path);
    return;
  }
  size_t len = 0;
  if (cfg->lstm_lm) {
    len =
        (size_t)snprintf(net, n, "lstm_lm (%d LSTM layers, embed %d, hidden %d, vocab %d; buckets",
                         cfg->lm.num_layers, cfg->lm.num_embed, cfg->lm.num_hidden, cfg->lm.vocab);
    for (int i = 0; i < cfg->nbuckets && len < n; i++)
      len +=
          (size_t)snprintf(net + len, n - len, "%s%lld", i ? "," : " ", (long long)cfg->buckets[i]);
    if (len < n) snprintf(net + len, n - len, "%s)", cfg->nbuckets > 1 ? ": BucketingModule" : "");
    return;
  }
  for (int i = 0; i < cfg->nlayers && len < n; i++)
    len += (size_t)snprintf(net + len, n - len, "%s%s", i ? " > " : "", cfg->layers[i].name);
}

/* "(1, 8, 8)": one sample of a dataset of shape s = [N, d1, ...]. */
static const char *sample_str(const mt_shape *s, char *buf, size_t n) {
  mt_shape one = {.ndim = s->ndim - 1};
  for (int i = 1; i < s->ndim; i++) one.dim[i - 1] = s->dim[i];
  return mt_shape_str(&one, buf, n);
}

/* "N samples of (d1, ...)" of a checked dataset file, or "" before the check. */
static void describe_file(const mt_shape *s, char *buf, size_t n) {
  char sb[96];
  buf[0] = '\0';
  if (s->ndim >= 2)
    snprintf(buf, n, ": %lld samples of %s", (long long)s->dim[0], sample_str(s, sb, sizeof sb));
}

static void describe_data(const mt_config *cfg, char *data, size_t n) {
  if (!strcmp(cfg->train, "synthetic")) {
    mt_shape s = mt_config_synthetic_shape(cfg, cfg->num_samples);
    char sb[96];
    if (cfg->synth_ndim > 0)
      snprintf(data, n, "synthetic data (%d classes x samples of %s, %lld samples per set)",
               cfg->num_classes, sample_str(&s, sb, sizeof sb), (long long)cfg->num_samples);
    else
      snprintf(data, n, "synthetic data (%d classes x %d features, %lld samples per set)",
               cfg->num_classes, cfg->feature_dim, (long long)cfg->num_samples);
    return;
  }
  char t[160], v[160];
  describe_file(&cfg->train_shape, t, sizeof t);
  describe_file(&cfg->val_shape, v, sizeof v);
  snprintf(data, n, "data %s%s (validation %s%s)", cfg->train, t, cfg->val ? cfg->val : "none", v);
}

/* BLAS threads and this rank's GPU set, then the banner (rank 0): world,
 * contexts, kvstore, GEMM; data, network, epochs, optimizer. Returns the
 * exit code. */
static int job_report(train_job *j) {
  mt_config *cfg = j->cfg;
  const char *kv = j->kv;
  mt_dist_topology_info topo;
  if (mt_dist_topology(&topo) < 0) return cmd_fail(MT_EXIT_RUNTIME, mt_last_error());
  const char *blas = mt_blas_init();
  const char *tenv;
  int threads = blas_threads(&tenv);
#ifdef MT_HAVE_CUDA
  /* context = gpu (no ids): rank r of a node takes GPU r (modulo the node's
   * GPUs), as Horovod and DDP jobs do; gpu:I,J uses those GPUs on every rank */
  int ngpu = cfg->ctx_auto && cfg->ctx[0].type == MT_GPU ? mtk_cuda_device_count() : 0;
  if (ngpu > 0) cfg->ctx[0].id = topo.local_rank % ngpu;
#endif
  char ctxs[256];
  ctx_list(cfg, ctxs, sizeof ctxs);
  mt_log(MT_LOG_DEBUG, "main", "rank %d (node rank %d): contexts %s", j->rank, topo.local_rank,
         ctxs);
  if (j->rank != 0) return MT_EXIT_OK;
  fprintf(stderr,
          "modtrain %s: world size %d (%d node%s, %d rank%s per node), contexts %s, kvstore "
          "%s%s%s%s, GEMM %s, BLAS kernel %s",
          mt_version(), j->world, topo.num_nodes, topo.num_nodes > 1 ? "s" : "", topo.local_size,
          topo.local_size > 1 ? "s" : "", ctxs, cfg->kvstore,
          kv != cfg->kvstore ? " (1 process: " : "", kv != cfg->kvstore ? kv : "",
          kv != cfg->kvstore ? ")" : "", mt_blas_gemm(), blas ? blas : "?");
  fprintf(stderr, " x %d thread%s%s%s\n", threads, threads > 1 ? "s" : "", tenv ? " from " : "",
          tenv ? tenv : "");
  char net[512], data[1024];
  describe_network(cfg, net, sizeof net);
  describe_data(cfg, data, sizeof data);
  fprintf(stderr, "modtrain: %s: %s, batch %lld; network %s; %d epochs of %s (%s)\n", cfg->path,
          data, (long long)cfg->batch_size, net, cfg->num_epoch, cfg->optimizer,
          cfg->optimizer_params);
  return MT_EXIT_OK;
}

/* -------------------------------------------------------------- prepare */

/* mkdir -p of the checkpoint prefix's directory (rank 0 writes there). */
static int make_prefix_dir(const char *prefix) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", prefix);
  char *slash = strrchr(dir, '/');
  if (!slash || slash == dir) return MT_OK;
  *slash = '\0';
  for (char *p = dir + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    mkdir(dir, 0777);
    *p = '/';
  }
  if (mkdir(dir, 0777) != 0 && errno != EEXIST)
    return mt_error_set(MT_E_IO, "[checkpoint] prefix: cannot create directory '%s': %s", dir,
                        strerror(errno));
  return MT_OK;
}

/* fit's options from the config. */
static void fit_options(train_job *j) {
  const mt_config *cfg = j->cfg;
  mt_fit_options *o = &j->o;
  mt_fit_options_init(o);
  o->eval_data = j->val_it;
  o->eval_metric = cfg->eval_metric;
  o->kvstore = j->kv;
  o->optimizer = cfg->optimizer;
  o->optimizer_params = cfg->optimizer_params;
  o->lr_scheduler = cfg->lr_scheduler;
  o->initializer = j->init;
  o->begin_epoch = 0;
  o->num_epoch = cfg->num_epoch;
  o->metrics_file = cfg->metrics_file;
  o->timeline = cfg->timeline;
  o->metrics_every = cfg->speedometer;
}

/* [train] speedometer N: Speedometer lines every N batches, or on a
 * terminal a progress bar instead. */
static int add_speedometer(train_job *j) {
  const mt_config *cfg = j->cfg;
  if (cfg->speedometer <= 0) return MT_OK;
  if (isatty(2) && j->rank == 0 && !mt_env(MT_ENV_NO_PROGRESS))
    MT_TRY(cmd_progress_create(cfg->batch_size, cfg->num_epoch, &j->speedo));
  else MT_TRY(mt_speedometer_create(cfg->batch_size, cfg->speedometer, 1, &j->speedo));
  j->o.batch_end_callback[j->o.n_batch_end_callback++] = j->speedo;
  return MT_OK;
}

/* Checkpoints every `period` epochs, and on SIGUSR1/SIGTERM at a batch
 * boundary, recording the effective config. */
static int add_checkpoints(train_job *j) {
  const mt_config *cfg = j->cfg;
  MT_TRY(make_prefix_dir(cfg->prefix));
  MT_TRY(mt_module_checkpoint(j->mod, cfg->prefix, cfg->period, 1, j->cfg_text, &j->ckpt));
  j->o.epoch_end_callback[j->o.n_epoch_end_callback++] = j->ckpt;
  if (cfg->also_params) {
    MT_TRY(cmd_also_params_create(cfg->prefix, cfg->period, &j->also));
    j->o.epoch_end_callback[j->o.n_epoch_end_callback++] = j->also;
  }
  j->o.stop_checkpoint_prefix = cfg->prefix;
  j->o.stop_checkpoint_config = j->cfg_text;
  return MT_OK;
}

/* The Module of the config, its seed and bucket size set. */
static int make_module(train_job *j) {
  const mt_config *cfg = j->cfg;
  const char *data_name = "data";
  if (cfg->lstm_lm) {
    /* one symbol per bucket (lstm_bucketing.py's BucketingModule) */
    MT_TRY(mt_config_lm_module(cfg, &j->mod));
  } else {
    MT_TRY(mt_module_create(cfg->symbol, 1, &data_name, cfg->nlabels,
                            (const char *const *)cfg->label_names, cfg->nctx, cfg->ctx, &j->mod));
  }
  mt_module_set_seed(j->mod, cfg->seed);
  return mt_module_set_bucket_bytes(j->mod, (int64_t)cfg->bucket_mb << 20);
}

/* Under mpirun: whether every rank has the same v (collective). */
static int all_same(int v) {
  if (mt_dist_world_size() <= 1) return 1;
  int mine[2] = {v, -v}, max[2];
  MPI_Allreduce(mine, max, 2, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return max[0] == -max[1];
}

/* Batches in an epoch of the training data (the last one padded). */
static int epoch_batches(const mt_config *cfg, int64_t *n) {
  int64_t rows = cfg->num_samples;
  if (strcmp(cfg->train, "synthetic") && mtio_seq_probe(cfg->train)) {
    /* token sequences: full batches only, per bucket */
    mt_bucket_iter_info info;
    mt_data_iter *it = NULL;
    int rc = mt_config_seq_iter(cfg, cfg->train, 0, cfg->label_names[0], 0, 1, &info, &it);
    mt_data_iter_free(it);
    MT_TRY(rc);
    *n = info.nbatches;
    return MT_OK;
  }
  if (strcmp(cfg->train, "synthetic")) {
    mtio_h5_reader *r;
    MT_TRY(mtio_h5_open(cfg->train, &r));
    rows = mtio_h5_reader_meta(r)->dim[0];
    mtio_h5_close(r);
  }
  *n = (rows + cfg->batch_size - 1) / cfg->batch_size;
  return MT_OK;
}

/* One try at resuming from `epoch`'s checkpoint: its position, data_batch
 * checked against the data (0..B: B when stopped after an epoch's last
 * batch), then the Module bound, initialised and given an optimizer as fit
 * would, and restored (parameters, optimizer state, RNG position). */
static int resume_from(train_job *j, int epoch, mt_checkpoint_extra *x) {
  const mt_config *cfg = j->cfg;
  char path[4200];
  int64_t nb;
  mt_checkpoint_path(cfg->prefix, epoch, path, sizeof path);
  mt_checkpoint_extra_init(x);
  MT_TRY(mt_load_checkpoint(cfg->prefix, epoch, NULL, NULL, NULL, x));
  free(x->loaded_config);
  x->loaded_config = NULL;
  MT_TRY(epoch_batches(cfg, &nb));
  if (x->data_batch > nb)
    return mt_error_set(MT_E_FORMAT,
                        "'%s': attribute data_batch = %lld is out of range: an epoch of %s has "
                        "%lld batches of %lld (must be 0..%lld)",
                        path, (long long)x->data_batch, cfg->train, (long long)nb,
                        (long long)cfg->batch_size, (long long)nb);
  int nd, nl;
  const mt_data_desc *dd, *ld;
  MT_TRY(mt_data_iter_provide_data(j->train_it, &nd, &dd));
  MT_TRY(mt_data_iter_provide_label(j->train_it, &nl, &ld));
  MT_TRY(mt_module_bind(j->mod, nd, dd, nl, ld, 1, 0, 0, MT_REQ_WRITE));
  MT_TRY(mt_module_init_params(j->mod, j->init, NULL, NULL, 0, 0, 0));
  MT_TRY(mt_module_init_optimizer(j->mod, j->kv, cfg->optimizer, cfg->optimizer_params, 0));
  return mt_module_restore_checkpoint(j->mod, cfg->prefix, epoch);
}

/* Continues from a checkpoint: the newest complete one (auto) or the one
 * asked for, then puts the iterator at the saved epoch and batch. Under
 * auto a checkpoint that cannot be resumed from (damaged, a position out
 * of range, parameters or optimizer state that do not fit the network) is
 * skipped with a warning naming it and why, on a fresh Module, for the one
 * before it, as mt_checkpoint_latest skips damaged ones; none at all is a
 * fresh start, none usable an error. An explicit epoch never falls back.
 * The ranks agree on each step (the same files give the same answers; a
 * rank that sees otherwise stops the job rather than resume elsewhere). */
static int resume(train_job *j) {
  const mt_config *cfg = j->cfg;
  int automatic = cfg->resume == MT_RESUME_AUTO, epoch = cfg->resume, before = INT_MAX;
  int skipped = 0, rc;
  char path[4200];
  mt_checkpoint_extra x;
  for (;;) {
    if (automatic) {
      rc = mt_checkpoint_latest_before(cfg->prefix, before, &epoch);
      if (!all_same(rc == MT_OK ? epoch : rc))
        return mt_error_set(MT_E_STATE,
                            "the ranks see different checkpoints under '%s' (a file system not "
                            "shared alike?)",
                            cfg->prefix);
      if (rc == MT_E_NOTFOUND && !skipped) {
        if (mt_dist_rank() == 0)
          fprintf(stderr, "modtrain: no complete checkpoint under '%s' yet: starting at epoch 0\n",
                  cfg->prefix);
        return MT_OK;
      }
      if (rc < 0 && skipped)
        return mt_error_prefix(rc == MT_E_NOTFOUND ? MT_E_FORMAT : rc,
                               "no checkpoint under '%s' can be resumed from (%d skipped: see "
                               "the warnings)",
                               cfg->prefix, skipped);
      if (rc < 0) return rc;
    }
    mt_checkpoint_path(cfg->prefix, epoch, path, sizeof path);
    rc = resume_from(j, epoch, &x);
    if (all_ok(rc == MT_OK)) break;
    if (rc == MT_OK) rc = mt_error_set(MT_E_STATE, "another rank could not resume from '%s'", path);
    if (!automatic) return rc;
    if (mt_dist_rank() == 0)
      mt_log(MT_LOG_WARN, "checkpoint",
             "skipping checkpoint '%s': cannot resume from it: %s; trying the one before it", path,
             mt_last_error());
    skipped++;
    before = epoch;
    mt_module_free(j->mod); /* partly restored: the next try starts from a fresh one */
    j->mod = NULL;
    MT_TRY(make_module(j));
  }
  MT_TRY(mt_data_iter_set_epoch(j->train_it, x.data_epoch));
  j->o.begin_epoch = (int)x.data_epoch;
  j->o.begin_batch = x.data_batch;
  if (mt_dist_rank() == 0)
    fprintf(stderr, "modtrain: resuming from %s: epoch %lld, batch %lld (saved by %d rank%s)\n",
            path, (long long)x.data_epoch, (long long)x.data_batch, x.world_size,
            x.world_size == 1 ? "" : "s");
  return MT_OK;
}

/* [model] params (a fresh start, not a resume): the Module bound as fit
 * would, then initialised from the file, the parameters it lacks from the
 * initializer under allow_missing (cmd_mxnet.c). */
static int init_from_params(train_job *j) {
  const mt_config *cfg = j->cfg;
  char where[4300], loc[4200];
  snprintf(where, sizeof where, "%s: [model] params",
           mt_config_where(cfg, "model", "params", loc, sizeof loc));
  int nd, nl, taken, total;
  const mt_data_desc *dd, *ld;
  MT_TRY(mt_data_iter_provide_data(j->train_it, &nd, &dd));
  MT_TRY(mt_data_iter_provide_label(j->train_it, &nl, &ld));
  MT_TRY(mt_module_bind(j->mod, nd, dd, nl, ld, 1, 0, 0, MT_REQ_WRITE));
  MT_TRY(cmd_params_init(j->mod, cfg->params_path, where, cfg->allow_missing, j->init,
                         cfg->initializer, &taken, &total));
  if (j->rank == 0)
    fprintf(stderr, "modtrain: initial parameters from %s: %d of %d taken%s%s%s\n",
            cfg->params_path, taken, total, taken < total ? " (the others: " : "",
            taken < total ? cfg->initializer : "", taken < total ? ")" : "");
  return MT_OK;
}

/* Everything fit needs, owned by j (freed by job_end whatever happens).
 * The resume comes before the checkpoint callback, which holds the Module
 * that a fallback may replace. */
static int job_prepare(train_job *j) {
  mt_config *cfg = j->cfg;
  const char *label = cfg->label_names[0];
  MT_TRY(cmd_make_iter(cfg, cfg->train, 0, cfg->shuffle, label, j->rank, j->world, &j->train_it));
  if (cfg->val) MT_TRY(cmd_make_iter(cfg, cfg->val, 1, 0, label, j->rank, j->world, &j->val_it));
  cmd_data_banner(j->train_it, j->rank); /* HDF5: layout, cache, read amplification */
  MT_TRY(make_module(j));
  MT_TRY(mt_initializer_create(cfg->initializer, cfg->seed, &j->init));
  fit_options(j);
  MT_TRY(add_speedometer(j));
  MT_TRY(mt_config_to_ini(cfg, &j->cfg_text));
  j->o.stop_requested = j->stop;
  if (cfg->resume != MT_RESUME_NONE) MT_TRY(resume(j));
  if (cfg->params_path && !mt_module_params_initialized(j->mod)) MT_TRY(init_from_params(j));
  if (cfg->prefix) MT_TRY(add_checkpoints(j));
  return MT_OK;
}

/* ------------------------------------------------------------------ end */

/* The exit code of the run's status rc. */
static int exit_code(const train_job *j, int rc) {
  if (rc == MT_E_INTERRUPTED) {
    /* every rank stopped at the same batch; with a prefix the position is saved */
    if (j->rank == 0) fprintf(stderr, "modtrain: %s\n", mt_last_error());
    return j->cfg->prefix ? MT_EXIT_REQUEUE : MT_EXIT_RUNTIME;
  }
  if (rc < 0 && j->world > 1) {
    /* one rank failing ends the whole job promptly: the others may be waiting in a collective */
    fprintf(stderr, "modtrain: error (rank %d of %d): %s\n", j->rank, j->world, mt_last_error());
    fflush(stderr);
    mt_dist_abort(MT_EXIT_RUNTIME);
  }
  if (rc < 0) return cmd_fail(MT_EXIT_RUNTIME, mt_last_error());
  return MT_EXIT_OK;
}

/* The exit code of the run, then j's resources freed. */
static int job_end(train_job *j, int rc) {
  if (j->ckpt.fn) mt_epoch_callback_free(&j->ckpt);
  cmd_also_params_free(&j->also);
  free(j->cfg_text);
  int code = exit_code(j, rc);
  if (j->speedo.fn) mt_batch_callback_free(&j->speedo);
  mt_initializer_free(j->init);
  mt_module_free(j->mod);
  mt_data_iter_free(j->val_it);
  mt_data_iter_free(j->train_it);
  return code;
}

/* ---------------------------------------------------------------- train */

/* Trains the job of cfg: check, prepare, fit, end. Returns the exit code. */
static int train(mt_config *cfg, volatile sig_atomic_t *stop) {
  train_job j = {.cfg = cfg, .rank = mt_dist_rank(), .world = mt_dist_world_size(), .stop = stop};
  int code = job_check(&j);
  if (code != MT_EXIT_OK) return code;
  code = job_report(&j);
  if (code != MT_EXIT_OK) return code;
  int rc;
  MT_TRY_GOTO(job_prepare(&j), rc, end);
  MT_TRY_GOTO(mt_watchdog_start(cfg->watchdog), rc, end);
  rc = mt_module_fit(j.mod, j.train_it, &j.o);
end:
  mt_watchdog_stop();
  return job_end(&j, rc);
}

/* The config on every rank; all stop if any rank found a problem (never a
 * hang). Returns the exit code. */
static int load_on_every_rank(const char *path, int nset, const char *const *sets,
                              const char *const *origins, mt_config **cfg) {
  /* the files too; rank 0 alone reads every label (one pass over the file,
   * however many ranks) */
  int ok = mt_config_load_ex(path, NULL, nset, sets, origins, cfg) == MT_OK &&
           mt_config_check_world(*cfg, mt_dist_world_size()) == MT_OK &&
           mt_config_check_files(*cfg, mt_dist_rank() == 0) == MT_OK;
  if (all_ok(ok)) return MT_EXIT_OK;
  if (!ok && (mt_dist_rank() == 0 || mt_dist_world_size() == 1))
    return cmd_fail(MT_EXIT_USAGE, mt_last_error());
  if (!ok) fprintf(stderr, "modtrain: error (rank %d): %s\n", mt_dist_rank(), mt_last_error());
  return MT_EXIT_USAGE;
}

/* --check: the effective config on stdout. Returns the exit code. */
static int print_effective(const mt_config *cfg) {
  char *ini = NULL;
  int code = MT_EXIT_OK;
  if (mt_config_to_ini(cfg, &ini) < 0) {
    code = cmd_fail(MT_EXIT_RUNTIME, mt_last_error());
  } else {
    printf("; effective config of %s\n%s", cfg->path, ini);
    char data[1024];
    describe_data(cfg, data, sizeof data);
    fprintf(stderr, "modtrain: %s: %s\n", cfg->path, data);
    fprintf(stderr, "modtrain: %s: config OK\n", cfg->path);
  }
  free(ini);
  return code;
}

int cmd_train(const char *path, int nset, const char *const *sets, const char *const *origins,
              int check, volatile sig_atomic_t *stop) {
  mt_config *cfg = NULL;
  int code = load_on_every_rank(path, nset, sets, origins, &cfg);
  if (code == MT_EXIT_OK) code = check ? print_effective(cfg) : train(cfg, stop);
  mt_config_free(cfg);
  return code;
}
