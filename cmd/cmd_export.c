/* cmd_export.c — `modtrain export CONFIG --epoch E [--out PREFIX]`: checkpoint
 * E of a job config's run (PREFIX-EEEE.h5) handed back to MXNet as what
 * mx.model.save_checkpoint writes and mx.model.load_checkpoint reads:
 * OUT-symbol.json (the checkpoint's own symbol) and OUT-EEEE.params
 * ("arg:NAME" / "aux:NAME" float32 arrays, the bytes MXNet 1.x's
 * mx.nd.save writes; tests/fixtures/mxnet/export-*). OUT is the config's
 * prefix unless --out gives another. Both files are written to a temporary
 * file and renamed. Exit status: 0 done, 1 runtime error, 2 bad usage or
 * config. */
#include <sys/stat.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "cmd.h"

typedef struct {
  int epoch;
  const char *out; /* --out PREFIX, NULL: the config's prefix */
  const char **sets;
  int nset;
  mt_config *cfg;
  mt_symbol *sym;
  mt_arena *args, *aux;
} export_job;

/* The options into x; the config is argv[optind]. Returns -1 to go on, or
 * the exit code. */
static int export_options(export_job *x, int argc, char **argv, void (*usage)(FILE *)) {
  static const struct option opts[] = {{"epoch", required_argument, 0, 'e'},
                                       {"out", required_argument, 0, 'o'},
                                       {"set", required_argument, 0, 's'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case 'e': x->epoch = atoi(optarg); break;
    case 'o': x->out = optarg; break;
    case 's': x->sets[x->nset++] = optarg; break;
    case 'h': usage(stdout); return MT_EXIT_OK;
    default: return MT_EXIT_USAGE;
    }
  }
  if (optind != argc - 1 || x->epoch < 0 || (x->out && !*x->out)) {
    fprintf(stderr,
            "modtrain export: usage: modtrain export CONFIG --epoch E [--out PREFIX] "
            "[--set section.key=value]...\n");
    return MT_EXIT_USAGE;
  }
  return -1;
}

/* mkdir -p of the directory of prefix (the files' place). */
static int make_dir_of(const char *prefix) {
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
    return mt_error_set(MT_E_IO, "export: cannot create directory '%s': %s", dir, strerror(errno));
  return MT_OK;
}

/* Reads the checkpoint, writes OUT-symbol.json and OUT-EEEE.params. */
static int export_run(export_job *x, const char *config) {
  if (mt_config_load(config, x->nset, x->sets, &x->cfg) < 0)
    return cmd_fail(MT_EXIT_USAGE, mt_last_error());
  const mt_config *cfg = x->cfg;
  if (!cfg->prefix) {
    char buf[4400];
    snprintf(buf, sizeof buf, "%s: [checkpoint] prefix is not set: no checkpoints to export",
             cfg->path);
    return cmd_fail(MT_EXIT_USAGE, buf);
  }
  const char *out = x->out ? x->out : cfg->prefix;
  char ckpt[4200], params[4200], symbol[4200];
  if (mt_checkpoint_path(cfg->prefix, x->epoch, ckpt, sizeof ckpt) < 0 ||
      cmd_params_path(out, x->epoch, params, sizeof params) < 0)
    return cmd_fail(MT_EXIT_USAGE, mt_last_error());
  snprintf(symbol, sizeof symbol, "%s-symbol.json", out);
  if (mt_load_checkpoint(cfg->prefix, x->epoch, &x->sym, &x->args, &x->aux, NULL) < 0 ||
      make_dir_of(out) < 0 || mt_symbol_save(x->sym, symbol) < 0 ||
      mt_params_save(params, x->args, x->aux) < 0)
    return cmd_fail(MT_EXIT_RUNTIME, mt_last_error());
  fprintf(stderr, "modtrain export: %s: wrote %s and %s (%d arg, %d aux arrays)\n", ckpt, symbol,
          params, mt_arena_count(x->args), x->aux ? mt_arena_count(x->aux) : 0);
  return MT_EXIT_OK;
}

int cmd_export(int argc, char **argv, void (*usage)(FILE *)) {
  export_job x = {.epoch = -1};
  x.sets = calloc((size_t)argc + 1, sizeof *x.sets);
  if (!x.sets) return cmd_fail(MT_EXIT_RUNTIME, "out of memory");
  int code = export_options(&x, argc, argv, usage);
  if (code < 0) code = export_run(&x, argv[optind]);
  mt_arena_free(x.args);
  mt_arena_free(x.aux);
  mt_symbol_free(x.sym);
  mt_config_free(x.cfg);
  free(x.sets);
  return code;
}
