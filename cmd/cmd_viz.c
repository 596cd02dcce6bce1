/* cmd_viz.c — `modtrain viz`: Graphviz DOT of a network on stdout, from a
 * job config (with --set overrides; shapes on the edges: those of the
 * synthetic data, or of the training file's samples, read from its header)
 * or from an MXNet -symbol.json.
 * Exit status: 0 written, 1 the DOT could not be made, 2 bad usage or a
 * config/symbol that does not load. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "io/h5dataset.h"

#define VIZ_USAGE "usage: modtrain viz [--set section.key=value]... CONFIG | SYMBOL.json\n"

/* A symbol file: named .json, or text starting with '{'. */
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

/* The batch shape (batch, d1, ...) of a dataset file's samples into *ds:
 * 1 when the file opens as a dataset, else 0 (the DOT then has no shapes;
 * training reports what is wrong with the file). */
static int file_shape(const char *path, int64_t batch, mt_shape *ds) {
  mtio_h5_reader *r = NULL;
  if (mtio_h5_open(path, &r) < 0) {
    mt_error_clear();
    return 0;
  }
  const mtio_h5_meta *m = mtio_h5_reader_meta(r);
  ds->ndim = m->ndim;
  for (int i = 0; i < m->ndim; i++) ds->dim[i] = i ? m->dim[i] : batch;
  mtio_h5_close(r);
  return 1;
}

/* The options into sets (nset of them); the path is argv[optind]. Returns
 * -1 to go on, or the exit code. */
static int viz_options(int argc, char **argv, const char **sets, int *nset) {
  static const struct option opts[] = {
      {"set", required_argument, 0, 's'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case 's': sets[(*nset)++] = optarg; break;
    case 'h':
      printf(VIZ_USAGE "Writes Graphviz DOT of the network on stdout (render: dot -Tsvg).\n");
      return MT_EXIT_OK;
    default: fprintf(stderr, VIZ_USAGE); return MT_EXIT_USAGE;
    }
  }
  if (optind != argc - 1) {
    fprintf(stderr, VIZ_USAGE);
    return MT_EXIT_USAGE;
  }
  return -1;
}

/* The DOT of the network at path into *dot; the symbol or config it
 * loaded into *sym or *cfg (the caller frees them). Returns the exit code. */
static int viz_dot(const char *path, int nset, const char *const *sets, mt_symbol **sym,
                   mt_config **cfg, char **dot) {
  if (is_json_file(path)) {
    if (nset)
      return cmd_fail(MT_EXIT_USAGE, "viz: --set applies to a config, not to a symbol file");
    if (mt_symbol_load(path, sym) < 0) return cmd_fail(MT_EXIT_USAGE, mt_last_error());
    if (mt_net_to_dot(*sym, 0, NULL, NULL, dot) < 0)
      return cmd_fail(MT_EXIT_RUNTIME, mt_last_error());
    return MT_EXIT_OK;
  }
  if (mt_config_load(path, nset, sets, cfg) < 0) return cmd_fail(MT_EXIT_USAGE, mt_last_error());
  const char *dname = "data";
  mt_shape ds = mt_config_synthetic_shape(*cfg, (*cfg)->batch_size);
  int known =
      !strcmp((*cfg)->train, "synthetic") || file_shape((*cfg)->train, (*cfg)->batch_size, &ds);
  if (mt_net_to_dot((*cfg)->symbol, known, known ? &dname : NULL, known ? &ds : NULL, dot) < 0)
    return cmd_fail(MT_EXIT_RUNTIME, mt_last_error());
  return MT_EXIT_OK;
}

int cmd_viz(int argc, char **argv) {
  const char **sets = calloc((size_t)argc + 1, sizeof *sets);
  int nset = 0;
  if (!sets) return cmd_fail(MT_EXIT_RUNTIME, "out of memory");
  mt_symbol *sym = NULL;
  mt_config *cfg = NULL;
  char *dot = NULL;
  int code = viz_options(argc, argv, sets, &nset);
  if (code < 0) {
    code = viz_dot(argv[optind], nset, sets, &sym, &cfg, &dot);
    if (code == MT_EXIT_OK) fputs(dot, stdout);
  }
  free(dot);
  mt_symbol_free(sym);
  mt_config_free(cfg);
  free(sets);
  return code;
}
