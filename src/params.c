/* params.c — MXNet `.params` files (mx.nd.save / mx.nd.load) for arenas of
 * parameters: mt_params_save writes "arg:NAME" and "aux:NAME" arrays,
 * mt_params_load reads them back (also files of plain names). The file
 * format itself is io/params_file.c's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "io/params_file.h"
#include "module.h"

int mt_params_save(const char *path, const mt_arena *arg_params, const mt_arena *aux_params) {
  if (!path) return MT_ERR(MT_E_INVAL, "params_save: NULL path");
  int na = arg_params ? mt_arena_count(arg_params) : 0;
  int nx = aux_params ? mt_arena_count(aux_params) : 0, n = na + nx, rc = MT_OK;
  char **names = calloc((size_t)n + 1, sizeof *names);
  mt_shape *shapes = calloc((size_t)n + 1, sizeof *shapes);
  const float **data = calloc((size_t)n + 1, sizeof *data);
  float **tmp = calloc((size_t)n + 1, sizeof *tmp);
  if (!names || !shapes || !data || !tmp) {
    rc = MT_NOMEM();
    goto done;
  }
  for (int i = 0; i < n; i++) {
    const mt_arena *a = i < na ? arg_params : aux_params;
    int k = i < na ? i : i - na;
    const char *nm = mt_arena_name(a, k);
    size_t len = strlen(nm) + 5;
    if (!(names[i] = malloc(len))) {
      rc = MT_NOMEM();
      goto done;
    }
    snprintf(names[i], len, "%s:%s", i < na ? "arg" : "aux", nm);
    shapes[i] = mt_ndarray_shape(mt_arena_at(a, k));
    MT_TRY_GOTO(mt_ndarray_host_view(mt_arena_at(a, k), &data[i], &tmp[i]), rc, done);
  }
  rc = mtio_params_write(path, n, (const char *const *)names, shapes, data);
done:
  for (int i = 0; i < n; i++) {
    if (names) free(names[i]);
    if (tmp) free(tmp[i]);
  }
  free(names);
  free(shapes);
  free(data);
  free(tmp);
  return rc;
}

int mt_params_load(const char *path, mt_arena **arg_params, mt_arena **aux_params) {
  if (!path || !arg_params || !aux_params) return MT_ERR(MT_E_INVAL, "params_load: NULL argument");
  *arg_params = *aux_params = NULL;
  int n, rc = MT_OK;
  mtio_named_array *list;
  MT_TRY(mtio_params_read(path, &n, &list));
  const char **names[2] = {calloc((size_t)n + 1, sizeof(char *)),
                           calloc((size_t)n + 1, sizeof(char *))};
  mt_shape *shapes[2] = {calloc((size_t)n + 1, sizeof(mt_shape)),
                         calloc((size_t)n + 1, sizeof(mt_shape))};
  int *which = calloc((size_t)n + 1, sizeof *which), cnt[2] = {0, 0};
  mt_arena *out[2] = {NULL, NULL};
  if (!names[0] || !names[1] || !shapes[0] || !shapes[1] || !which) {
    rc = MT_NOMEM();
    goto done;
  }
  for (int i = 0; i < n; i++) {
    const char *key = list[i].name;
    if (!key) {
      rc = MT_ERR(MT_E_FORMAT,
                  "'%s' holds %d unnamed arrays; parameters need names (arg:NAME, aux:NAME)", path,
                  n);
      goto done;
    }
    /* "arg:" and "aux:" as mx.model.load_checkpoint; a bare name (Gluon's
     * save_parameters) is an argument. */
    int g = !strncmp(key, "aux:", 4);
    const char *nm = (!strncmp(key, "arg:", 4) || g) ? key + 4 : key;
    for (int k = 0; k < cnt[g]; k++)
      if (!strcmp(names[g][k], nm)) {
        rc = MT_ERR(MT_E_FORMAT, "'%s': parameter '%s' appears twice", path, key);
        goto done;
      }
    which[i] = g;
    names[g][cnt[g]] = nm;
    shapes[g][cnt[g]++] = list[i].shape;
  }
  for (int g = 0; g < 2; g++)
    MT_TRY_GOTO(mt_arena_create(mt_cpu(0), cnt[g], names[g], shapes[g], &out[g]), rc, done);
  int pos[2] = {0, 0};
  for (int i = 0; i < n; i++) {
    mt_ndarray *a = mt_arena_at(out[which[i]], pos[which[i]]++);
    memcpy(mt_ndarray_data(a), list[i].data, sizeof(float) * (size_t)mt_ndarray_size(a));
  }
  *arg_params = out[0];
  *aux_params = out[1];
  out[0] = out[1] = NULL;
done:
  mt_arena_free(out[0]);
  mt_arena_free(out[1]);
  for (int g = 0; g < 2; g++) {
    free(names[g]);
    free(shapes[g]);
  }
  free(which);
  mtio_named_arrays_free(n, list);
  return rc;
}
