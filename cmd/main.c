/* main.c — the `modtrain` command (docs/design.md §7): the subcommands (viz,
 * synth, predict, score, export) dispatched to their files, the training command's
 * options (--set, --resume, --check, --help, --version) read here and the
 * job trained by cmd_train.c; the stop signals taken by one thread; MPI
 * started first under mpirun/srun. Exit codes: 0 success, 1 runtime error,
 * 2 usage or config error, 3 checkpointed after a
 * stop signal (requeue), 4 ended by the watchdog (base/exit_codes.h, --help). */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/env.h"
#include "base/exit_codes.h"
#include "cmd.h"

/* SIGUSR1 / SIGTERM (what Slurm sends before a time limit or preemption):
 * finish the batch, checkpoint the position, exit MT_EXIT_REQUEUE.
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
      "       modtrain predict|score CONFIG [--symbol P-symbol.json] --params P-EEEE.params ...\n"
      "       modtrain export CONFIG --epoch E [--out PREFIX] [--set ...]\n"
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
      "  predict|score ... --params FILE [--symbol P-symbol.json]\n"
      "                           the same with the parameters of an MXNet checkpoint\n"
      "                           (P-EEEE.params) or a modtrain one (P-EEEE.h5) instead of\n"
      "                           --epoch; the network is --symbol's, else the config's\n"
      "  export CONFIG --epoch E  checkpoint E as MXNet's PREFIX-symbol.json and\n"
      "                           PREFIX-EEEE.params (mx.model.load_checkpoint reads them);\n"
      "                           --out PREFIX: written there (default: the config's prefix)\n"
      "\n"
      "signals: SIGUSR1 or SIGTERM make every rank stop at the next batch boundary; with\n"
      "[checkpoint] prefix set, the position is checkpointed and the exit status is 3.\n");
  /* made from base/env.h's and base/exit_codes.h's tables (tests/test_docs.sh
   * checks the README and docs/ against them) */
  fprintf(f, "\nenvironment:\n");
  const mt_env_knob *k = mt_env_knobs();
  for (int i = 0; i < MT_ENV_COUNT; i++)
    fprintf(f, "  %s\n      %s (default: %s)\n", k[i].name, k[i].doc, k[i].def);
  fprintf(f, "\nexit codes:\n");
#define MT_EXIT_HELP_(id, code, doc) fprintf(f, "  %d  %s\n", code, doc);
  MT_EXIT_TABLE(MT_EXIT_HELP_)
#undef MT_EXIT_HELP_
}

/* The training command's options: the overrides in command-line order
 * (--resume becomes checkpoint.resume; owned holds the texts made for it). */
typedef struct {
  const char **sets, **origins;
  char **owned;
  int nset, nowned, check;
} train_args;

static void train_args_free(train_args *a) {
  for (int i = 0; i < a->nowned; i++) free(a->owned[i]);
  free(a->owned);
  free(a->sets);
  free(a->origins);
}

/* --resume[=EPOCH] as the override checkpoint.resume=EPOCH|auto. */
static int add_resume(train_args *a, const char *epoch) {
  size_t n = strlen(epoch ? epoch : "auto") + 32;
  char *s = malloc(n);
  if (!s) return -1;
  snprintf(s, n, "checkpoint.resume=%s", epoch ? epoch : "auto");
  a->owned[a->nowned++] = s;
  a->origins[a->nset] = "--resume";
  a->sets[a->nset++] = s;
  return 0;
}

/* Reads the options into a; the config is argv[optind]. Returns -1 to go
 * on, or the exit code (--help, --version, a bad option or argument). */
static int train_options(int argc, char **argv, train_args *a) {
  static const struct option opts[] = {
      {"set", required_argument, 0, 's'}, {"resume", optional_argument, 0, 'r'},
      {"check", no_argument, 0, 'c'},     {"help", no_argument, 0, 'h'},
      {"version", no_argument, 0, 'V'},   {0, 0, 0, 0}};
  a->sets = calloc((size_t)argc + 1, sizeof *a->sets);
  a->origins = calloc((size_t)argc + 1, sizeof *a->origins);
  a->owned = calloc((size_t)argc + 1, sizeof *a->owned);
  if (!a->sets || !a->origins || !a->owned) return cmd_fail(MT_EXIT_RUNTIME, "out of memory");
  int c;
  while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
    switch (c) {
    case 's':
      a->origins[a->nset] = "--set";
      a->sets[a->nset++] = optarg;
      break;
    case 'r':
      if (add_resume(a, optarg) < 0) return cmd_fail(MT_EXIT_RUNTIME, "out of memory");
      break;
    case 'c': a->check = 1; break;
    case 'h': usage(stdout); return MT_EXIT_OK;
    case 'V': printf("modtrain %s\n", mt_version()); return MT_EXIT_OK;
    default: usage(stderr); return MT_EXIT_USAGE;
    }
  }
  if (optind >= argc) {
    fprintf(stderr, "modtrain: error: no CONFIG given\n\n");
    usage(stderr);
    return MT_EXIT_USAGE;
  }
  if (optind < argc - 1) {
    fprintf(stderr,
            "modtrain: error: one CONFIG expected, got '%s' and '%s' (write --resume=N, "
            "not --resume N)\n",
            argv[optind], argv[optind + 1]);
    return MT_EXIT_USAGE;
  }
  return -1;
}

static int train_command(int argc, char **argv) {
  train_args a = {0};
  int code = train_options(argc, argv, &a);
  if (code < 0) code = cmd_train(argv[optind], a.nset, a.sets, a.origins, a.check, &stop_requested);
  train_args_free(&a);
  return code;
}

/* True when started by mpirun/srun (a launcher's variables are set). */
static int getenv_any_launcher(void) {
  return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

/* The world size a launcher set (1 when none did, or for one rank). */
static int launched_ranks(void) {
  const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"};
  for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
    const char *v = getenv(vars[i]);
    if (v && atoi(v) > 1) return atoi(v);
  }
  return 1;
}

int main(int argc, char **argv) {
  if (argc >= 2) {
    const char *sub = argv[1];
    if (!strcmp(sub, "viz")) return cmd_viz(argc - 1, argv + 1);
    if (!strcmp(sub, "synth")) return mt_cmd_synth(argc - 1, argv + 1);
    if (!strcmp(sub, "predict")) return cmd_eval(argc - 1, argv + 1, 0, usage);
    if (!strcmp(sub, "score")) return cmd_eval(argc - 1, argv + 1, 1, usage);
    if (!strcmp(sub, "export")) return cmd_export(argc - 1, argv + 1, usage);
  }
  take_stop_signals(); /* training: before MPI starts its threads */
  /* under mpirun/srun: MPI up before anything else, so every rank can agree */
  if (launched_ranks() >= 1 && getenv_any_launcher()) {
    if (mt_dist_init(&argc, &argv) < 0) return cmd_fail(MT_EXIT_RUNTIME, mt_last_error());
  }
  return train_command(argc, argv);
}
