/* bench_net.h — the MLP every training benchmark builds (header-only):
 * data -> fc1 -> relu1 -> ... -> fcN -> SoftmaxOutput("softmax"), fc l
 * with num_hidden = hidden[l - 1]. */
#ifndef MT_BENCH_NET_H
#define MT_BENCH_NET_H
#include <stdio.h>

#include "modtrain.h"

/* 0 with the symbol in *out, or the failing call's MT_E_* code. */
static inline int bench_mlp(const int *hidden, int nfc, mt_symbol **out) {
  *out = NULL;
  mt_symbol *cur;
  int rc = mt_symbol_variable("data", &cur);
  for (int l = 0; rc == MT_OK && l <= nfc; l++) {
    char name[32], attrs[64];
    mt_symbol *next = NULL;
    if (l == nfc) {
      rc = mt_symbol_create("SoftmaxOutput", "softmax", NULL, 1, &cur, &next);
    } else {
      snprintf(name, sizeof name, "fc%d", l + 1);
      snprintf(attrs, sizeof attrs, "num_hidden=%d", hidden[l]);
      rc = mt_symbol_create("FullyConnected", name, attrs, 1, &cur, &next);
      if (rc == MT_OK && l + 1 < nfc) {
        mt_symbol_free(cur);
        cur = next;
        snprintf(name, sizeof name, "relu%d", l + 1);
        rc = mt_symbol_create("Activation", name, "act_type=relu", 1, &cur, &next);
      }
    }
    mt_symbol_free(cur);
    cur = next;
  }
  if (rc == MT_OK) *out = cur;
  else mt_symbol_free(cur);
  return rc;
}

#endif
