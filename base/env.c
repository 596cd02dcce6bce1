/* env.c — the environment knob table of env.h and its readers. */
#include <stdlib.h>
#include <string.h>

#include "base/env.h"

static const mt_env_knob knobs[MT_ENV_COUNT] = {
#define MT_ENV_ROW_(id, name, def, doc) {name, def, doc},
    MT_ENV_TABLE(MT_ENV_ROW_)
#undef MT_ENV_ROW_
};

const mt_env_knob *mt_env_knobs(void) { return knobs; }

const char *mt_env(mt_env_id id) {
  if ((int)id < 0 || id >= MT_ENV_COUNT) return NULL;
  return getenv(knobs[id].name);
}

int mt_env_is_zero(mt_env_id id) {
  const char *e = mt_env(id);
  return e && !strcmp(e, "0");
}
