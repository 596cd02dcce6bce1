/* cmd.h — what the files of the `modtrain` command share: its exit codes,
 * its error line, the entry points of the training command and the
 * subcommands (main.c dispatches to them), the data iterators of a job
 * config, and the progress bar. The command's files:
 *
 *   main.c        argument dispatch, --help/--version, the stop signals
 *   cmd_train.c   the training command: config on every rank, prepare, fit, end
 *   cmd_eval.c    predict and score a checkpoint
 *   cmd_viz.c     Graphviz DOT of a network
 *   cmd_synth.c   the synthetic dataset written to HDF5
 *   cmd_data.c    the data iterators of a job config
 *   progress.c    the progress bar shown on a terminal
 *   cmd_export.c  a checkpoint as MXNet's P-symbol.json and P-EEEE.params
 *   cmd_mxnet.c   parameters files in (MXNet .params or .h5) and out
 *   config*.{c,h} the job config (config.h) */
#ifndef MT_CMD_CMD_H
#define MT_CMD_CMD_H
#include <signal.h>
#include <stdio.h>

#include "base/exit_codes.h"
#include "modtrain.h"
#include "config.h"

/* "modtrain: error: WHAT" on stderr; returns code. */
static inline int cmd_fail(int code, const char *what) {
  fprintf(stderr, "modtrain: error: %s\n", what);
  return code;
}

/* The training command: loads the config at path with the overrides (each
 * named by its origin, "--set" or "--resume", in errors) on every rank, all
 * ranks stopping if any found a problem; then with check prints the
 * effective config, else trains, stopping at a batch boundary once *stop is
 * raised. Returns the exit code. */
int cmd_train(const char *path, int nset, const char *const *sets, const char *const *origins,
              int check, volatile sig_atomic_t *stop);

/* modtrain predict (score 0) / score (score 1): argv[0] is the subcommand;
 * usage prints the command's help for --help. Returns the exit code. */
int cmd_eval(int argc, char **argv, int score, void (*usage)(FILE *));

/* modtrain viz: argv[0] is the subcommand. Returns the exit code. */
int cmd_viz(int argc, char **argv);

/* modtrain synth: argv[0] is the subcommand. Returns the exit code. */
int mt_cmd_synth(int argc, char **argv);

/* The iterator of one data set of cfg: `synthetic` (generated in memory,
 * this rank's shard taken from each global batch) or an HDF5 dataset file
 * (each rank reads only its rows), its labels named `label`. part: 0
 * training, 1 validation. *out is NULL on error; the caller frees it. */
int cmd_make_iter(const mt_config *cfg, const char *src, int part, int shuffle, const char *label,
                  int rank, int world, mt_data_iter **out);

/* Rank 0: the HDF5 iterator's line (layout, cache chosen, bytes read per
 * byte used) on stderr, as a warning with the fix when reading costs a lot;
 * nothing for other iterators. */
void cmd_data_banner(const mt_data_iter *it, int rank);

/* A progress bar on stderr (rank 0): epoch, bar, samples/s, time left;
 * what `modtrain` shows instead of Speedometer lines on a terminal. Free
 * with mt_batch_callback_free. */
int cmd_progress_create(int64_t batch_size, int num_epoch, mt_batch_callback *out);

/* modtrain export: argv[0] is the subcommand. Returns the exit code. */
int cmd_export(int argc, char **argv, void (*usage)(FILE *));

/* "P-0003.params" for (P, 3) into buf: MXNet's save_checkpoint name. */
int cmd_params_path(const char *prefix, int epoch, char *buf, size_t len);
/* A parameters file: a modtrain checkpoint named P-EEEE.h5 (its /arg and
 * /aux), else an MXNet .params (mt_params_load). New CPU arenas. */
int cmd_params_read(const char *path, mt_arena **args, mt_arena **aux);
/* [model] params: the bound module's parameters from the file at path,
 * each name and shape checked against the network first (a differing shape
 * is an error naming the parameter and the file; with allow_missing a
 * parameter the file lacks gets init and a name the network lacks is
 * ignored, without it both are errors); every parameter is listed at debug
 * level, taken or initialized. `where` ("FILE:LINE: [model] params") starts
 * each message. *taken of *total parameters came from the file. */
int cmd_params_init(mt_module *mod, const char *path, const char *where, int allow_missing,
                    const mt_initializer *init, const char *init_spec, int *taken, int *total);
/* predict / score --params: the same checks without allow_missing, then
 * set_params. */
int cmd_params_set(mt_module *mod, const char *path, const char *where);
/* [checkpoint] also_params: an epoch callback writing P-EEEE.params (rank 0,
 * every period epochs, atomically) as the checkpoint callback writes
 * P-EEEE.h5. Free with cmd_also_params_free. */
int cmd_also_params_create(const char *prefix, int period, mt_epoch_callback *out);
void cmd_also_params_free(mt_epoch_callback *cb);

#endif
