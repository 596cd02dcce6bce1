/* fuzz_config.c — libFuzzer harness for the command's config reader
 * (cmd/config_read.c, config_check.c, config_net.c through cmd/config.h):
 * mt_config_load_ex on INI text, with --set overrides.
 *
 * Input: the INI text, optionally followed by a line "--set" and then one
 * override ("section.key=value") per line, at most 16; a line "--resume"
 * instead starts overrides that name "--resume" as their origin (how the
 * command passes resume = EPOCH). The config is read from a file in the
 * scratch directory (so the file reader runs too), which is also the
 * working directory while the input runs (the previous one is restored
 * after it, so libFuzzer's own relative paths keep working; give
 * -artifact_prefix as an absolute path, as fuzz/run.sh does, or a crash
 * input is written into the scratch directory): relative paths in seeds find data/train.h5,
 * data/val.h5 (dataset files), net-symbol.json (the tutorial's MLP as MXNet
 * JSON), ckpt/ and metrics/ there. Inputs naming /dev, /proc or /sys are
 * skipped (a device file as the symbol would read forever: not a finding).
 * A config that loads must survive mt_config_to_ini -> load -> to_ini with
 * the same text (what checkpoints record and ranks compare), and
 * mt_config_check_world for 1..3 ranks. */
#include "fuzz_common.h"

#include <sys/stat.h>

#include "cmd/config.h"

#define MAX_SETS 16

static int cwd = -1; /* libFuzzer's working directory */

static const char tutorial_json[] =
    "{\"nodes\": [{\"op\": \"null\", \"name\": \"data\", \"inputs\": []}, {\"op\": \"null\", "
    "\"name\": \"fc1_weight\", \"attrs\": {\"num_hidden\": \"64\"}, \"inputs\": []}, {\"op\": "
    "\"null\", \"name\": \"fc1_bias\", \"attrs\": {\"num_hidden\": \"64\"}, \"inputs\": []}, "
    "{\"op\": \"FullyConnected\", \"name\": \"fc1\", \"attrs\": {\"num_hidden\": \"64\"}, "
    "\"inputs\": [[0, 0, 0], [1, 0, 0], [2, 0, 0]]}, {\"op\": \"Activation\", \"name\": "
    "\"relu1\", \"attrs\": {\"act_type\": \"relu\"}, \"inputs\": [[3, 0, 0]]}, {\"op\": \"null\", "
    "\"name\": \"fc2_weight\", \"attrs\": {\"num_hidden\": \"10\"}, \"inputs\": []}, {\"op\": "
    "\"null\", \"name\": \"fc2_bias\", \"attrs\": {\"num_hidden\": \"10\"}, \"inputs\": []}, "
    "{\"op\": \"FullyConnected\", \"name\": \"fc2\", \"attrs\": {\"num_hidden\": \"10\"}, "
    "\"inputs\": [[4, 0, 0], [5, 0, 0], [6, 0, 0]]}, {\"op\": \"null\", \"name\": "
    "\"softmax_label\", \"inputs\": []}, {\"op\": \"SoftmaxOutput\", \"name\": \"softmax\", "
    "\"inputs\": [[7, 0, 0], [8, 0, 0]]}], \"arg_nodes\": [0, 1, 2, 5, 6, 8], \"node_row_ptr\": "
    "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], \"heads\": [[9, 0, 0]], \"attrs\": {\"mxnet_version\": "
    "[\"int\", 10901]}}";

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fz_init();
  cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cwd < 0 || chdir(fz_dir) != 0) abort();
  if (mkdir("data", 0700) != 0 || mkdir("ckpt", 0700) != 0 || mkdir("metrics", 0700) != 0) abort();
  /* the reader only checks that data files are readable */
  fz_write("data/train.h5", "\x89HDF\r\n\x1a\n", 8);
  fz_write("data/val.h5", "\x89HDF\r\n\x1a\n", 8);
  fz_write("net-symbol.json", tutorial_json, sizeof tutorial_json - 1);
  mt_symbol *sym = NULL;
  if (mt_symbol_load("net-symbol.json", &sym) != MT_OK) {
    fprintf(stderr, "fuzz_config: the tutorial symbol does not load: %s\n", mt_last_error());
    abort();
  }
  mt_symbol_free(sym);
  if (fchdir(cwd) != 0) abort();
  return 0;
}

static int mentions(const char *s, size_t n, const char *word) {
  return memmem(s, n, word, strlen(word)) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *in = (const char *)data;
  if (mentions(in, size, "/dev") || mentions(in, size, "/proc") || mentions(in, size, "/sys"))
    return -1;
  if (chdir(fz_dir) != 0) abort();
  /* split: the INI text up to a line "--set" or "--resume", then overrides */
  size_t ini_len = size;
  const char *sets[MAX_SETS], *origins[MAX_SETS];
  int nset = 0;
  char *copy = malloc(size + 1);
  if (!copy) abort();
  memcpy(copy, in, size);
  copy[size] = '\0';
  for (size_t pos = 0; pos < size;) {
    char *line = copy + pos;
    char *nl = memchr(line, '\n', size - pos);
    size_t len = nl ? (size_t)(nl - line) : size - pos;
    size_t next = pos + len + (nl ? 1 : 0);
    if (ini_len == size) {
      if ((len == 5 && !memcmp(line, "--set", 5)) || (len == 8 && !memcmp(line, "--resume", 8))) {
        ini_len = pos;
        origins[0] = len == 5 ? "--set" : "--resume";
      }
    } else if (nset < MAX_SETS) {
      if (nl) *nl = '\0';
      origins[nset] = origins[0];
      sets[nset++] = line;
    }
    pos = next;
  }
  /* the INI part goes through the file reader (which refuses NUL bytes) */
  char path[1100];
  fz_path(path, sizeof path, "job.ini");
  fz_write(path, copy, ini_len);
  mt_config *cfg = NULL;
  int rc = mt_config_load_ex(path, NULL, nset, sets, origins, &cfg);
  if (rc == MT_OK) {
    FZ_CHECK(cfg != NULL, "load succeeded without a config");
    for (int w = 1; w <= 3; w++) (void)mt_config_check_world(cfg, w);
    char where[256];
    (void)mt_config_where(cfg, "train", "num_epoch", where, sizeof where);
    char *ini = NULL, *ini2 = NULL;
    FZ_CHECK(mt_config_to_ini(cfg, &ini) == MT_OK, "to_ini failed: %s", mt_last_error());
    mt_config *again = NULL;
    rc = mt_config_load_string(ini, "effective.ini", 0, NULL, &again);
    FZ_CHECK(rc == MT_OK, "the effective config does not load again: %s\n%s", mt_last_error(), ini);
    FZ_CHECK(mt_config_to_ini(again, &ini2) == MT_OK, "to_ini failed: %s", mt_last_error());
    FZ_CHECK(!strcmp(ini, ini2), "the effective config changes on reload:\n%s\n----\n%s", ini,
             ini2);
    free(ini);
    free(ini2);
    mt_config_free(again);
    mt_config_free(cfg);
  } else {
    FZ_CHECK(cfg == NULL, "failed load left a config");
    FZ_CHECK(rc < 0, "load failed with %d", rc);
    FZ_REFUSED(rc, "mt_config_load");
  }
  unlink(path);
  free(copy);
  if (fchdir(cwd) != 0) abort();
  return 0;
}
