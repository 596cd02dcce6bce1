/* fuzz_symbol_json.c — libFuzzer harness for MXNet symbol JSON
 * (src/symbol_json.c): mt_symbol_load on a file holding the input, then,
 * for a symbol that loads, its argument / output / auxiliary lists, shape
 * inference from a small data shape (2, 8) when it has an argument named
 * "data" (errors are fine, crashes are not), and the round trip
 * tojson -> load_json -> tojson, which must give the same text (the writer
 * reproduces MXNet's bytes, so what it writes must read back unchanged). */
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fz_init();
  return 0;
}

static void infer(mt_symbol *s) {
  int narg, nout, naux;
  const char *const *args, *const *outs, *const *aux;
  /* the loader builds the graph: every list works on a symbol that loaded */
  FZ_CHECK(mt_symbol_list_arguments(s, &narg, &args) == MT_OK, "%s", mt_last_error());
  FZ_CHECK(mt_symbol_list_outputs(s, &nout, &outs) == MT_OK, "%s", mt_last_error());
  FZ_CHECK(mt_symbol_list_auxiliary_states(s, &naux, &aux) == MT_OK, "%s", mt_last_error());
  int has_data = 0;
  for (int i = 0; i < narg; i++) {
    FZ_CHECK(args[i] != NULL, "argument %d has no name", i);
    has_data |= !strcmp(args[i], "data");
  }
  if (!has_data) return;
  mt_shape *shapes = calloc((size_t)narg + (size_t)nout + (size_t)naux + 1, sizeof *shapes);
  if (!shapes) abort();
  const char *names[] = {"data"};
  mt_shape dshape = MT_SHAPE(2, 8);
  int rc = mt_symbol_infer_shape(s, 1, names, &dshape, shapes, shapes + narg, shapes + narg + nout);
  if (rc < 0) FZ_REFUSED(rc, "mt_symbol_infer_shape");
  free(shapes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[1100];
  fz_path(path, sizeof path, "net-symbol.json");
  fz_write(path, data, size);
  mt_symbol *s = NULL;
  int rc = mt_symbol_load(path, &s);
  unlink(path);
  if (rc < 0) {
    FZ_CHECK(s == NULL, "failed load left a symbol");
    FZ_REFUSED(rc, "mt_symbol_load");
    return 0;
  }
  infer(s);
  char *json = NULL, *json2 = NULL;
  FZ_CHECK(mt_symbol_tojson(s, &json) == MT_OK, "tojson failed: %s", mt_last_error());
  mt_symbol *s2 = NULL;
  rc = mt_symbol_load_json(json, &s2);
  FZ_CHECK(rc == MT_OK, "what tojson wrote does not load: %s\n%s", mt_last_error(), json);
  FZ_CHECK(mt_symbol_tojson(s2, &json2) == MT_OK, "tojson failed: %s", mt_last_error());
  FZ_CHECK(!strcmp(json, json2), "tojson -> load -> tojson changes the text:\n%s\n----\n%s", json,
           json2);
  free(json);
  free(json2);
  mt_symbol_free(s2);
  mt_symbol_free(s);
  return 0;
}
