/* main.c — the `modtrain` command (DESIGN.md §7): reads a job config
 * (src/config.c), builds the network, the data iterators and the Module,
 * and trains with mt_module_fit, printing MXNet's log lines (§8). The
 * subcommand `viz` writes Graphviz DOT of a network. Exit codes: 0 success,
 * 1 runtime error, 2 usage or config error (or not implemented yet). */
#include <getopt.h>
#include <sys/stat.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "modtrain.h"
#include "src/config.h"
#include "io/h5_container.h"
#include "base/error.h"
#include "src/net_builder.h"
#include "kernels/kernels.h"

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2, EXIT_REQUEUE = 3 };

/* SIGUSR1 / SIGTERM (what Slurm sends before a time limit or preemption):
 * finish the batch, checkpoint the position, exit EXIT_REQUEUE.
 *
 * The signals are blocked in every thread before any is made (MPI's, the
 * prefetch thread, the GEMM library's) and taken by one thread that waits
 * for them with sigwait, so no computing thread is ever interrupted: with
 * an asynchronous handler, a SIGUSR1 landing inside oneDNN's sgemm on the
 * training thread corrupted the heap in about one run in six. */
static volatile sig_atomic_t stop_requested;
static sigset_t stop_signals;

static void *stop_signal_thread(void *arg) {
  (void)arg;
  for (;;) {
    int sig = 0;
    if (sigwait(&stop_signals, &sig) == 0) stop_requested = sig;
  }
  return NULL;
}

/* Blocks SIGUSR1 and SIGTERM in this thread (and so in every thread made
 * later) and starts the thread that receives them. */
static void take_stop_signals(void) {
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGUSR1);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
  pthread_t t;
  pthread_attr_t a;
  pthread_attr_init(&a);
  pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
  if (pthread_create(&t, &a, stop_signal_thread, NULL) != 0) {
    /* no thread: leave the default action (SIGTERM ends the process) */
    pthread_sigmask(SIG_UNBLOCK, &stop_signals, NULL);
  }
  pthread_attr_destroy(&a);
}

static void usage(FILE *f) {
  fprintf(
      f,
      "usage: modtrain CONFIG [--resume[=EPOCH]] [--set section.key=value]... [--check]\n"
      "       modtrain viz [--set section.key=value]... CONFIG | SYMBOL.json\n"
      "       modtrain synth --classes C --dim D --samples N [--seed S] [--part K] OUT.h5\n"
      "       modtrain predict CONFIG --epoch E [--out PREDS.h5] [--data val|train] [--set ...]\n"
      "       modtrain score CONFIG --epoch E [--data val|train] [--set ...]\n"
      "       modtrain --help | --version\n"
      "\n"
      "Trains the network a job config describes with MXNet's Module API in C\n"
      "(bind, init_params, init_optimizer, fit), printing MXNet's log lines.\n"
      "The config's keys, their defaults and meaning: docs/config.md.\n"
      "\n"
      "options:\n"
      "  --set section.key=value  override a config key after the file is read; repeatable,\n"
      "                           checked like the file (default: none)\n"
      "  --resume[=EPOCH]         continue from the newest complete checkpoint, or EPOCH's;\n"
      "                           the same as --set checkpoint.resume=auto|EPOCH\n"
      "                           (default: the config's [checkpoint] resume, none)\n"
      "  --check                  check the config and build the network, print the\n"
      "                           effective config, and exit without training (default: off)\n"
      "  -h, --help               show this help and exit\n"
      "  -V, --version            print the version and exit\n"
      "\n"
      "subcommands:\n"
      "  viz CONFIG|SYMBOL.json   Graphviz DOT of the network on stdout (shapes on the\n"
      "                           edges for a config with synthetic data); render it with\n"
      "                           dot -Tsvg\n"
      "  synth --classes C --dim D --samples N [--seed S] [--part K] OUT.h5\n"
      "                           write the synthetic dataset to an HDF5 file\n"
      "  predict CONFIG --epoch E  the outputs of checkpoint E on the config's validation\n"
      "                           data (--data train: the training data) into an HDF5 file:\n"
      "                           /pred/<output> [N, ...]; default PREFIX-EEEE-pred.h5\n"
      "  score CONFIG --epoch E    the config's eval_metric of checkpoint E on that data\n"
      "\n"
      "environment:\n"
      "  MODTRAIN_LOG        error|warn|info|debug (default info)\n"
      "  OPENBLAS_CORETYPE   force an OpenBLAS kernel (default: the best for this CPU)\n"
      "  OPENBLAS_NUM_THREADS, OMP_NUM_THREADS\n"
      "                      GEMM threads per rank (default: cores per node / ranks per node)\n"
      "  MODTRAIN_GEMM       openblas: GEMMs through OpenBLAS instead of oneDNN\n"
      "  MODTRAIN_SHM        0: ranks of a node reduce through MPI, not shared memory\n"
      "  MODTRAIN_SHARED_UPDATE\n"
      "                      0: every rank updates all parameters (default on one node:\n"
      "                      parameters shared in memory, each rank updates a slice)\n"
      "  MODTRAIN_FUSE       FullyConnected + Activation in one step: 0 never, 1 on CPU\n"
      "                      too (default: GPU contexts only); the same results\n"
      "  MODTRAIN_GPU_STREAMS 0: several GPU contexts share the legacy stream\n"
      "  MODTRAIN_GPU_CACHE  0: plain cudaMalloc/cudaFree, no caching allocator\n"
      "  MODTRAIN_CUDA_AWARE_MPI 0: stage GPU buckets through host memory even where\n"
      "                      MPI takes device pointers\n"
      "\n"
      "exit codes:\n"
      "  0  success\n"
      "  1  runtime error (training or data failed)\n"
      "  2  usage or config error, nothing trained; or not implemented yet in this version\n"
      "  3  checkpoint written after SIGUSR1/SIGTERM, requeue me (resume continues exactly)\n"
      "  4  the watchdog ended the job (no progress for [train] watchdog seconds)\n"
      "\n"
      "signals: SIGUSR1 or SIGTERM make every rank stop at the next batch boundary; with\n"
      "[checkpoint] prefix set, the position is checkpointed and the exit status is 3.\n");
}

static int fail(int code, const char *what) {
  fprintf(stderr, "modtrain: error: %s\n", what);
  return code;
}

/* ------------------------------------------------------------------- viz */

static int is_json_file(const char *path) {
  size_t n = strlen(path);
  if (n >= 5 && !strcmp(path + n - 5, ".json")) return 1;
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  int c;
  while ((c = fgetc(f)) == ' ' || c == '\t' || c == '\n' || c == '\r') {}
  fclose(f);
  return c == '{';
}

static int cmd_viz(int argc, char **argv) {
  static const struct option opts[] = {
      {"set", required_argument, 0, 's'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
  const char **sets = calloc((size_t)argc + 1, sizeof *sets);
  int nset = 0, c;
  if (!sets) return fail(EXIT_RUNTIME, "out of memory");
  optind = 1;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case 's': sets[nset++] = optarg; break;
    case 'h':
      printf(
          "usage: modtrain viz [--set section.key=value]... CONFIG | SYMBOL.json\n"
          "Writes Graphviz DOT of the network on stdout (render: dot -Tsvg).\n");
      free(sets);
      return EXIT_OK;
    default:
      fprintf(stderr, "usage: modtrain viz [--set section.key=value]... CONFIG | SYMBOL.json\n");
      free(sets);
      return EXIT_USAGE;
    }
  }
  if (optind != argc - 1) {
    fprintf(stderr, "usage: modtrain viz [--set section.key=value]... CONFIG | SYMBOL.json\n");
    free(sets);
    return EXIT_USAGE;
  }
  const char *path = argv[optind];
  mt_symbol *sym = NULL;
  mt_config *cfg = NULL;
  char *dot = NULL;
  int rc, code = EXIT_OK;
  if (is_json_file(path)) {
    if (nset) {
      free(sets);
      return fail(EXIT_USAGE, "viz: --set applies to a config, not to a symbol file");
    }
    rc = mt_symbol_load(path, &sym);
    if (rc < 0) {
      free(sets);
      return fail(EXIT_USAGE, mt_last_error());
    }
    rc = mt_net_to_dot(sym, 0, NULL, NULL, &dot);
  } else {
    rc = mt_config_load(path, nset, sets, &cfg);
    if (rc < 0) {
      free(sets);
      return fail(EXIT_USAGE, mt_last_error());
    }
    const char *dname = "data";
    mt_shape ds = {.ndim = 2, .dim = {cfg->batch_size, cfg->feature_dim}};
    int known = !strcmp(cfg->train, "synthetic");
    rc = mt_net_to_dot(cfg->symbol, known, known ? &dname : NULL, known ? &ds : NULL, &dot);
  }
  if (rc < 0) code = fail(EXIT_RUNTIME, mt_last_error());
  else fputs(dot, stdout);
  free(dot);
  mt_symbol_free(sym);
  mt_config_free(cfg);
  free(sets);
  return code;
}

/* ----------------------------------------------------- label renaming */

/* mt_synthetic_iter_create names its labels "softmax_label"; a network
 * whose loss layer has another name reads NAME_label. This wrapper gives
 * the iterator's labels the network's name (the batches are unchanged). */
typedef struct {
  mt_data_iter *inner;
  int nlabel;
  mt_data_desc label[MT_MAX_BATCH_INPUTS];
} relabel_iter;

static int rl_next(void *s, mt_batch *b) {
  return mt_data_iter_next(((relabel_iter *)s)->inner, b);
}
static int rl_reset(void *s) { return mt_data_iter_reset(((relabel_iter *)s)->inner); }
static int rl_provide_data(void *s, int *n, const mt_data_desc **d) {
  return mt_data_iter_provide_data(((relabel_iter *)s)->inner, n, d);
}
static int rl_provide_label(void *s, int *n, const mt_data_desc **d) {
  relabel_iter *r = s;
  *n = r->nlabel;
  *d = r->label;
  return MT_OK;
}
static void rl_destroy(void *s) {
  relabel_iter *r = s;
  mt_data_iter_free(r->inner);
  free(r);
}

/* Takes ownership of *it: on return *it is the renamed iterator (or freed
 * and NULL on error). */
static int relabel(mt_data_iter **it, const char *label_name) {
  int n;
  const mt_data_desc *d;
  int rc = mt_data_iter_provide_label(*it, &n, &d);
  if (rc < 0 || (n == 1 && !strcmp(d[0].name, label_name))) return rc;
  relabel_iter *r = calloc(1, sizeof *r);
  if (!r || n != 1 || strlen(label_name) >= sizeof r->label[0].name) {
    free(r);
    mt_data_iter_free(*it);
    *it = NULL;
    return r ? mt_error_set(MT_E_INVAL, "label name '%s' does not fit the data", label_name)
             : mt_error_set(MT_E_NOMEM, "out of memory");
  }
  r->inner = *it;
  r->nlabel = 1;
  r->label[0] = d[0];
  snprintf(r->label[0].name, sizeof r->label[0].name, "%s", label_name);
  static const mt_data_iter_vtable vt = {rl_next, rl_reset, rl_provide_data, rl_provide_label,
                                         rl_destroy};
  rc = mt_data_iter_create(&vt, r, it);
  if (rc < 0) {
    rl_destroy(r);
    *it = NULL;
  }
  return rc;
}

/* This rank's shard of every global batch (a no-op for one rank). */
static int shard(mt_data_iter **it, int rank, int world) {
  if (world <= 1) return MT_OK;
  mt_data_iter *s;
  int rc = mt_data_iter_shard(*it, rank, world, &s);
  if (rc < 0) return rc;
  *it = s;
  return MT_OK;
}

/* The iterator of one data set: `synthetic` (generated in memory, this
 * rank's shard taken from each global batch) or an HDF5 dataset file (each
 * rank reads only its rows). part: 0 training, 1 validation. */
static int make_iter(const mt_config *cfg, const char *src, int part, int shuffle,
                     const char *label, int rank, int world, mt_data_iter **out) {
  *out = NULL;
  if (strcmp(src, "synthetic"))
    return mt_h5_iter_create(src, cfg->batch_size, shuffle, cfg->seed, MT_LAST_BATCH_PAD, rank,
                             world, "data", label, out);
  int rc = mt_synthetic_iter_create(cfg->num_classes, cfg->feature_dim, cfg->num_samples,
                                    cfg->batch_size, cfg->seed, part, shuffle, out);
  if (rc == MT_OK) rc = relabel(out, label);
  if (rc == MT_OK) rc = shard(out, rank, world);
  if (rc < 0) {
    mt_data_iter_free(*out);
    *out = NULL;
  }
  return rc;
}

/* ------------------------------------------------------------ training */

/* True when started by mpirun/srun with more than one rank: this version
 * trains one process only. */
int mt_cmd_synth(int argc, char **argv); /* src/cmd_synth.c */

static int getenv_any_launcher(void) {
  return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

static int launched_ranks(void) {
  const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"};
  for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
    const char *v = getenv(vars[i]);
    if (v && atoi(v) > 1) return atoi(v);
  }
  return 1;
}

static void ctx_list(const mt_config *cfg, char *buf, size_t n) {
  size_t len = 0;
  buf[0] = '\0';
  for (int i = 0; i < cfg->nctx && len < n; i++)
    len += (size_t)snprintf(buf + len, n - len, "%s%s(%d)", i ? "," : "",
                            cfg->ctx[i].type == MT_GPU ? "gpu" : "cpu", cfg->ctx[i].id);
}

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

/* Continues from a checkpoint: binds, initialises and installs the optimizer
 * as fit would, then loads parameters, optimizer state and RNG position and
 * puts the iterator at the saved epoch and batch. */
static int resume(const mt_config *cfg, mt_module *mod, mt_data_iter *train_it, const char *kv,
                  const mt_initializer *init, mt_fit_options *o) {
  int epoch = cfg->resume, rc;
  char path[4200];
  if (cfg->resume == MT_RESUME_AUTO) {
    rc = mt_checkpoint_latest(cfg->prefix, &epoch);
    if (rc == MT_E_NOTFOUND) {
      if (mt_dist_rank() == 0)
        fprintf(stderr, "modtrain: no complete checkpoint under '%s' yet: starting at epoch 0\n",
                cfg->prefix);
      return MT_OK;
    }
    if (rc < 0) return rc;
  }
  mt_checkpoint_extra x;
  mt_checkpoint_extra_init(&x);
  MT_TRY(mt_load_checkpoint(cfg->prefix, epoch, NULL, NULL, NULL, &x));
  free(x.loaded_config);
  int nd, nl;
  const mt_data_desc *dd, *ld;
  MT_TRY(mt_data_iter_provide_data(train_it, &nd, &dd));
  MT_TRY(mt_data_iter_provide_label(train_it, &nl, &ld));
  MT_TRY(mt_module_bind(mod, nd, dd, nl, ld, 1, 0, 0, MT_REQ_WRITE));
  MT_TRY(mt_module_init_params(mod, init, NULL, NULL, 0, 0, 0));
  MT_TRY(mt_module_init_optimizer(mod, kv, cfg->optimizer, cfg->optimizer_params, 0));
  MT_TRY(mt_module_restore_checkpoint(mod, cfg->prefix, epoch));
  MT_TRY(mt_data_iter_set_epoch(train_it, x.data_epoch));
  o->begin_epoch = (int)x.data_epoch;
  o->begin_batch = x.data_batch;
  mt_checkpoint_path(cfg->prefix, epoch, path, sizeof path);
  if (mt_dist_rank() == 0)
    fprintf(stderr, "modtrain: resuming from %s: epoch %lld, batch %lld (saved by %d rank%s)\n",
            path, (long long)x.data_epoch, (long long)x.data_batch, x.world_size,
            x.world_size == 1 ? "" : "s");
  return MT_OK;
}

static int train(mt_config *cfg) {
  char buf[1024], where[4200];
  int world = mt_dist_world_size(), rank = mt_dist_rank();
  /* ranks must run the same job: compare the effective config and network */
  char *ini = NULL, *json = NULL;
  if (mt_config_to_ini(cfg, &ini) < 0 || mt_symbol_tojson(cfg->symbol, &json) < 0)
    return fail(EXIT_RUNTIME, mt_last_error());
  size_t tl = strlen(ini) + strlen(json) + 2;
  char *both = malloc(tl);
  if (!both) return fail(EXIT_RUNTIME, "out of memory");
  snprintf(both, tl, "%s\n%s", ini, json);
  int bad = rank_differing(both);
  free(both);
  free(json);
  free(ini);
  if (bad >= 0) {
    snprintf(buf, sizeof buf,
             "ranks disagree on the config or network: rank %d's differs from rank 0's (start "
             "every rank with the same files and --set options)",
             bad);
    return rank == 0 ? fail(EXIT_USAGE, buf) : EXIT_USAGE;
  }

  /* One process: dist_sync and hier reduce across the contexts only, which
   * is what local does, without starting MPI. */
  const char *kv = cfg->kvstore;
  if (world == 1 && (!strcmp(kv, "dist_sync") || !strcmp(kv, "hier"))) kv = "local";
  if (world > 1 && (!strcmp(kv, "local") || !strcmp(kv, "device"))) {
    snprintf(buf, sizeof buf,
             "%s: [train] kvstore: '%s' with %d ranks would train %d separate models; use "
             "dist_sync or hier",
             mt_config_where(cfg, "train", "kvstore", where, sizeof where), kv, world, world);
    return rank == 0 ? fail(EXIT_USAGE, buf) : EXIT_USAGE;
  }
  /* BLAS threads per rank: cores per node / ranks per node, unless the user chose */
  mt_dist_topology_info topo;
  if (mt_dist_topology(&topo) < 0) return fail(EXIT_RUNTIME, mt_last_error());
  const char *blas = mt_blas_init();
  /* GEMM threads per rank: OPENBLAS_NUM_THREADS or OMP_NUM_THREADS when the
   * user set one (applied to both backends), else cores per node / ranks
   * per node */
  const char *tenv = getenv("OPENBLAS_NUM_THREADS") ? "OPENBLAS_NUM_THREADS"
                     : getenv("OMP_NUM_THREADS")    ? "OMP_NUM_THREADS"
                                                    : NULL;
  int threads = tenv ? atoi(getenv(tenv)) : 0;
  if (threads <= 0) {
    tenv = NULL;
    threads = mt_dist_default_blas_threads();
  }
  mt_blas_set_threads(threads);
#ifdef MT_HAVE_CUDA
  /* context = gpu (no ids): rank r of a node takes GPU r (modulo the node's
   * GPUs), as Horovod and DDP jobs do; gpu:I,J uses those GPUs on every rank */
  int ngpu = cfg->ctx_auto && cfg->ctx[0].type == MT_GPU ? mtk_cuda_device_count() : 0;
  if (ngpu > 0) cfg->ctx[0].id = topo.local_rank % ngpu;
#endif
  char ctxs[256];
  ctx_list(cfg, ctxs, sizeof ctxs);
  mt_log(MT_LOG_DEBUG, "main", "rank %d (node rank %d): contexts %s", rank, topo.local_rank, ctxs);
  if (rank == 0)
    fprintf(stderr,
            "modtrain %s: world size %d (%d node%s, %d rank%s per node), contexts %s, kvstore "
            "%s%s%s%s, GEMM %s, BLAS kernel %s",
            mt_version(), world, topo.num_nodes, topo.num_nodes > 1 ? "s" : "", topo.local_size,
            topo.local_size > 1 ? "s" : "", ctxs, cfg->kvstore,
            kv != cfg->kvstore ? " (1 process: " : "", kv != cfg->kvstore ? kv : "",
            kv != cfg->kvstore ? ")" : "", mt_blas_gemm(), blas ? blas : "?");
  if (rank == 0)
    fprintf(stderr, " x %d thread%s%s%s\n", threads, threads > 1 ? "s" : "", tenv ? " from " : "",
            tenv ? tenv : "");
  char net[512] = "";
  if (cfg->symbol_path) {
    snprintf(net, sizeof net, "%s", cfg->symbol_path);
  } else {
    size_t len = 0;
    for (int i = 0; i < cfg->nlayers && len < sizeof net; i++)
      len += (size_t)snprintf(net + len, sizeof net - len, "%s%s", i ? " > " : "",
                              cfg->layers[i].name);
  }
  char data[1024];
  if (!strcmp(cfg->train, "synthetic"))
    snprintf(data, sizeof data, "synthetic data (%d classes x %d features, %lld samples per set)",
             cfg->num_classes, cfg->feature_dim, (long long)cfg->num_samples);
  else
    snprintf(data, sizeof data, "data %s (validation %s)", cfg->train,
             cfg->val ? cfg->val : "none");
  if (rank == 0)
    fprintf(stderr, "modtrain: %s: %s, batch %lld; network %s; %d epochs of %s (%s)\n", cfg->path,
            data, (long long)cfg->batch_size, net, cfg->num_epoch, cfg->optimizer,
            cfg->optimizer_params);

  mt_data_iter *train_it = NULL, *val_it = NULL;
  mt_module *mod = NULL;
  mt_initializer *init = NULL;
  mt_batch_callback speedo = {0};
  int have_speedo = 0, rc;
  const char *label = cfg->label_names[0];
  rc = make_iter(cfg, cfg->train, 0, cfg->shuffle, label, rank, world, &train_it);
  if (rc == MT_OK && cfg->val) rc = make_iter(cfg, cfg->val, 1, 0, label, rank, world, &val_it);
  const char *data_name = "data";
  const char *const *labels = (const char *const *)cfg->label_names;
  if (rc == MT_OK)
    rc = mt_module_create(cfg->symbol, 1, &data_name, cfg->nlabels, labels, cfg->nctx, cfg->ctx,
                          &mod);
  if (rc == MT_OK) rc = mt_initializer_create(cfg->initializer, cfg->seed, &init);
  mt_fit_options o;
  mt_fit_options_init(&o);
  o.eval_data = val_it;
  o.eval_metric = cfg->eval_metric;
  o.kvstore = kv;
  o.optimizer = cfg->optimizer;
  o.optimizer_params = cfg->optimizer_params;
  o.lr_scheduler = cfg->lr_scheduler;
  o.initializer = init;
  o.begin_epoch = 0;
  o.num_epoch = cfg->num_epoch;
  o.metrics_file = cfg->metrics_file;
  o.metrics_every = cfg->speedometer;
  if (rc == MT_OK && cfg->speedometer > 0 && isatty(2) && rank == 0 &&
      !getenv("MODTRAIN_NO_PROGRESS")) {
    /* on a terminal a progress bar replaces the Speedometer lines */
    rc = mt_progress_create(cfg->batch_size, cfg->num_epoch, &speedo);
    if (rc == MT_OK) {
      have_speedo = 1;
      o.batch_end_callback[o.n_batch_end_callback++] = speedo;
    }
  } else if (rc == MT_OK && cfg->speedometer > 0) {
    rc = mt_speedometer_create(cfg->batch_size, cfg->speedometer, 1, &speedo);
    if (rc == MT_OK) {
      have_speedo = 1;
      o.batch_end_callback[o.n_batch_end_callback++] = speedo;
    }
  }
  if (rc == MT_OK) mt_module_set_seed(mod, cfg->seed);
  if (rc == MT_OK) rc = mt_module_set_bucket_bytes(mod, (int64_t)cfg->bucket_mb << 20);
  /* checkpoints: every `period` epochs, and on SIGUSR1/SIGTERM at a batch boundary */
  char *cfg_text = NULL;
  mt_epoch_callback ckpt = {0};
  if (rc == MT_OK) rc = mt_config_to_ini(cfg, &cfg_text);
  if (rc == MT_OK && cfg->prefix) {
    rc = make_prefix_dir(cfg->prefix);
    if (rc == MT_OK) rc = mt_module_checkpoint(mod, cfg->prefix, cfg->period, 1, cfg_text, &ckpt);
    if (rc == MT_OK) o.epoch_end_callback[o.n_epoch_end_callback++] = ckpt;
    o.stop_checkpoint_prefix = cfg->prefix;
    o.stop_checkpoint_config = cfg_text;
  }
  o.stop_requested = &stop_requested;
  /* resume: the newest complete checkpoint (auto) or the one asked for */
  if (rc == MT_OK && cfg->resume != MT_RESUME_NONE) rc = resume(cfg, mod, train_it, kv, init, &o);
  if (rc == MT_OK) rc = mt_watchdog_start(cfg->watchdog);
  if (rc == MT_OK) rc = mt_module_fit(mod, train_it, &o);
  mt_watchdog_stop();
  if (ckpt.fn) mt_epoch_callback_free(&ckpt);
  free(cfg_text);
  int code = EXIT_OK;
  if (rc == MT_E_INTERRUPTED) {
    /* every rank stopped at the same batch; with a prefix the position is saved */
    if (rank == 0) fprintf(stderr, "modtrain: %s\n", mt_last_error());
    code = cfg->prefix ? EXIT_REQUEUE : EXIT_RUNTIME;
  } else if (rc < 0 && world > 1) {
    /* one rank failing ends the whole job promptly: the others may be waiting in a collective */
    fprintf(stderr, "modtrain: error (rank %d of %d): %s\n", rank, world, mt_last_error());
    fflush(stderr);
    mt_dist_abort(EXIT_RUNTIME);
  } else if (rc < 0) {
    code = fail(EXIT_RUNTIME, mt_last_error());
  }
  if (have_speedo) mt_batch_callback_free(&speedo);
  mt_initializer_free(init);
  mt_module_free(mod);
  mt_data_iter_free(val_it);
  mt_data_iter_free(train_it);
  return code;
}

static int cmd_train(int argc, char **argv) {
  static const struct option opts[] = {
      {"set", required_argument, 0, 's'}, {"resume", optional_argument, 0, 'r'},
      {"check", no_argument, 0, 'c'},     {"help", no_argument, 0, 'h'},
      {"version", no_argument, 0, 'V'},   {0, 0, 0, 0}};
  /* overrides in command-line order; --resume becomes checkpoint.resume */
  const char **sets = calloc((size_t)argc + 1, sizeof *sets);
  const char **origins = calloc((size_t)argc + 1, sizeof *origins);
  char **owned = calloc((size_t)argc + 1, sizeof *owned);
  int nset = 0, nowned = 0, check = 0, c, code = EXIT_OK;
  if (!sets || !origins || !owned) {
    code = fail(EXIT_RUNTIME, "out of memory");
    goto done;
  }
  while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
    switch (c) {
    case 's':
      origins[nset] = "--set";
      sets[nset++] = optarg;
      break;
    case 'r': {
      size_t n = strlen(optarg ? optarg : "auto") + 32;
      char *s = malloc(n);
      if (!s) {
        code = fail(EXIT_RUNTIME, "out of memory");
        goto done;
      }
      snprintf(s, n, "checkpoint.resume=%s", optarg ? optarg : "auto");
      owned[nowned++] = s;
      origins[nset] = "--resume";
      sets[nset++] = s;
      break;
    }
    case 'c': check = 1; break;
    case 'h': usage(stdout); goto done;
    case 'V': printf("modtrain %s\n", mt_version()); goto done;
    default:
      usage(stderr);
      code = EXIT_USAGE;
      goto done;
    }
  }
  if (optind >= argc) {
    fprintf(stderr, "modtrain: error: no CONFIG given\n\n");
    usage(stderr);
    code = EXIT_USAGE;
    goto done;
  }
  if (optind < argc - 1) {
    fprintf(stderr,
            "modtrain: error: one CONFIG expected, got '%s' and '%s' (write --resume=N, "
            "not --resume N)\n",
            argv[optind], argv[optind + 1]);
    code = EXIT_USAGE;
    goto done;
  }
  mt_config *cfg = NULL;
  int ok = mt_config_load_ex(argv[optind], NULL, nset, sets, origins, &cfg) == MT_OK &&
           mt_config_check_world(cfg, mt_dist_world_size()) == MT_OK;
  /* every rank validates; all stop if any rank found a problem (never a hang) */
  int all = all_ok(ok);
  if (!all) {
    if (!ok && (mt_dist_rank() == 0 || mt_dist_world_size() == 1))
      code = fail(EXIT_USAGE, mt_last_error());
    else if (!ok) {
      fprintf(stderr, "modtrain: error (rank %d): %s\n", mt_dist_rank(), mt_last_error());
      code = EXIT_USAGE;
    } else code = EXIT_USAGE;
    mt_config_free(cfg);
    goto done;
  }
  if (check) {
    char *ini = NULL;
    if (mt_config_to_ini(cfg, &ini) < 0) {
      code = fail(EXIT_RUNTIME, mt_last_error());
    } else {
      printf("; effective config of %s\n%s", cfg->path, ini);
      fprintf(stderr, "modtrain: %s: config OK\n", cfg->path);
    }
    free(ini);
  } else {
    code = train(cfg);
  }
  mt_config_free(cfg);
done:
  for (int i = 0; i < nowned; i++) free(owned[i]);
  free(owned);
  free(sets);
  free(origins);
  return code;
}

/* modtrain predict / score: a checkpoint of the config's run, on its
 * validation (or training) data, one process. */
static int cmd_eval(int argc, char **argv, int score) {
  static const struct option opts[] = {
      {"epoch", required_argument, 0, 'e'}, {"out", required_argument, 0, 'o'},
      {"data", required_argument, 0, 'd'},  {"set", required_argument, 0, 's'},
      {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
  const char *name = score ? "score" : "predict", *out = NULL, *which = "val";
  const char **sets = calloc((size_t)argc + 1, sizeof *sets);
  int nset = 0, epoch = -1, c, code = EXIT_OK;
  if (!sets) return fail(EXIT_RUNTIME, "out of memory");
  optind = 1;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case 'e': epoch = atoi(optarg); break;
    case 'o': out = optarg; break;
    case 'd': which = optarg; break;
    case 's': sets[nset++] = optarg; break;
    case 'h':
      usage(stdout);
      free(sets);
      return EXIT_OK;
    default: free(sets); return EXIT_USAGE;
    }
  }
  if (optind != argc - 1 || epoch < 0 || (strcmp(which, "val") && strcmp(which, "train"))) {
    fprintf(stderr, "modtrain %s: usage: modtrain %s CONFIG --epoch E%s [--data val|train]\n", name,
            name, score ? "" : " [--out PREDS.h5]");
    free(sets);
    return EXIT_USAGE;
  }
  mt_config *cfg = NULL;
  mt_symbol *sym = NULL;
  mt_arena *args = NULL, *aux = NULL;
  mt_data_iter *it = NULL;
  mt_module *mod = NULL;
  mt_metric *metric = NULL;
  mt_ndarray **preds = NULL;
  int npred = 0;
  char path[4200], buf[4400];
  if (mt_config_load(argv[optind], nset, sets, &cfg) < 0) {
    code = fail(EXIT_USAGE, mt_last_error());
    goto done;
  }
  if (!cfg->prefix) {
    snprintf(buf, sizeof buf, "%s: [checkpoint] prefix is not set: no checkpoints to %s", cfg->path,
             name);
    code = fail(EXIT_USAGE, buf);
    goto done;
  }
  const char *src = !strcmp(which, "train") || !cfg->val ? cfg->train : cfg->val;
  const char *label = cfg->label_names[0];
  const char *data_name = "data";
  int rc = mt_load_checkpoint(cfg->prefix, epoch, &sym, &args, &aux, NULL);
  if (rc == MT_OK) rc = make_iter(cfg, src, src == cfg->train ? 0 : 1, 0, label, 0, 1, &it);
  if (rc == MT_OK)
    rc = mt_module_create(sym, 1, &data_name, cfg->nlabels, (const char *const *)cfg->label_names,
                          cfg->nctx, cfg->ctx, &mod);
  int nd, nl;
  const mt_data_desc *dd, *ld;
  if (rc == MT_OK) rc = mt_data_iter_provide_data(it, &nd, &dd);
  if (rc == MT_OK) rc = mt_data_iter_provide_label(it, &nl, &ld);
  if (rc == MT_OK) rc = mt_module_bind(mod, nd, dd, nl, ld, 0, 0, 0, MT_REQ_NULL);
  if (rc == MT_OK) rc = mt_module_set_params(mod, args, aux, 0, 1, 0);
  mt_checkpoint_path(cfg->prefix, epoch, path, sizeof path);
  if (rc == MT_OK && score) {
    rc = mt_metric_create(cfg->eval_metric, &metric);
    if (rc == MT_OK) rc = mt_module_score(mod, it, metric, -1, 1, epoch, 0, NULL);
    for (int i = 0; rc == MT_OK && i < mt_metric_num(metric); i++) {
      const char *mn;
      double v;
      mt_metric_get(metric, i, &mn, &v);
      printf("%s=%f\n", mn, v);
    }
  } else if (rc == MT_OK) {
    rc = mt_module_predict(mod, it, -1, 1, &npred, &preds);
    char def[4200];
    if (!out) {
      snprintf(def, sizeof def, "%.*s-pred.h5", (int)(strlen(path) - 3), path);
      out = def;
    }
    mtio_h5w *w = NULL;
    int nout;
    const char *const *onames;
    if (rc == MT_OK) rc = mt_module_output_names(mod, &nout, &onames);
    if (rc == MT_OK) rc = mtio_h5w_create(out, 0, &w);
    if (rc == MT_OK) rc = mtio_h5w_attr_str(w, "/", "checkpoint", path);
    if (rc == MT_OK) rc = mtio_h5w_attr_str(w, "/", "data", src);
    if (rc == MT_OK) rc = mtio_h5w_attr_i64(w, "/", "epoch", epoch);
    for (int i = 0; rc == MT_OK && i < npred && i < nout; i++) {
      char dset[512];
      snprintf(dset, sizeof dset, "/pred/%s", onames[i]);
      mt_shape sh = mt_ndarray_shape(preds[i]);
      rc = mtio_h5w_array(w, dset, &sh, mt_ndarray_data(preds[i]));
    }
    if (rc == MT_OK) rc = mtio_h5w_commit(w);
    else mtio_h5w_abort(w);
    if (rc == MT_OK) {
      mt_shape sh = mt_ndarray_shape(preds[0]);
      char sb[96];
      fprintf(stderr, "modtrain predict: %s on %s: %s predictions written to %s\n", path, src,
              mt_shape_str(&sh, sb, sizeof sb), out);
    }
  }
  if (rc < 0) code = fail(EXIT_RUNTIME, mt_last_error());
done:
  for (int i = 0; i < npred; i++) mt_ndarray_free(preds[i]);
  free(preds);
  mt_metric_free(metric);
  mt_module_free(mod);
  mt_data_iter_free(it);
  mt_arena_free(args);
  mt_arena_free(aux);
  mt_symbol_free(sym);
  mt_config_free(cfg);
  free(sets);
  return code;
}

int main(int argc, char **argv) {
  if (argc >= 2) {
    const char *sub = argv[1];
    if (!strcmp(sub, "viz")) return cmd_viz(argc - 1, argv + 1);
    if (!strcmp(sub, "synth")) return mt_cmd_synth(argc - 1, argv + 1);
    if (!strcmp(sub, "predict")) return cmd_eval(argc - 1, argv + 1, 0);
    if (!strcmp(sub, "score")) return cmd_eval(argc - 1, argv + 1, 1);
  }
  take_stop_signals(); /* training: before MPI starts its threads */
  /* under mpirun/srun: MPI up before anything else, so every rank can agree */
  if (launched_ranks() >= 1 && getenv_any_launcher()) {
    if (mt_dist_init(&argc, &argv) < 0) return fail(EXIT_RUNTIME, mt_last_error());
  }
  return cmd_train(argc, argv);
}
