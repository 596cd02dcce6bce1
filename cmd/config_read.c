/* config_read.c — reading the job config of `modtrain` (docs/design.md §7;
 * keys in docs/config.md): an INI file read with inih into what was written
 * for each key and where, the --set overrides applied on top, then every
 * value checked (config_check.c), the keys cross-checked and the network
 * built (config_net.c), so that a mistake is one line naming file, line and
 * key before anything runs.
 *
 * inih (Debian's build: handler without line numbers, 200-character lines,
 * only ';' as an inline comment) is driven through ini_parse_stream with our
 * own line reader. The reader numbers the lines, strips inline comments
 * (';' or '#' at the start or after whitespace), normalises section headers
 * and classifies each line as inih will (a section, a key, or an indented
 * continuation of the previous key's value), so the handler knows the line
 * and the kind of every value it gets. */
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_keys.h"
#include "base/error.h"

/* -------------------------------------------------------- raw values */

static void raw_clear(raw_val *r) {
  free(r->value);
  free(r->lines);
  memset(r, 0, sizeof *r);
}

static void order_push(mt_config_priv *p, int k) {
  int j = 0;
  for (int i = 0; i < p->norder; i++)
    if (p->order[i] != k) p->order[j++] = p->order[i];
  p->order[j++] = k;
  p->norder = j;
}

/* Appends one value line (layers). */
static int raw_add_line(raw_val *r, const char *text, int line) {
  size_t old = r->value ? strlen(r->value) : 0, add = strlen(text);
  char *v = realloc(r->value, old + add + 2);
  if (!v) return MT_NOMEM();
  r->value = v;
  if (old) v[old++] = '\n';
  memcpy(v + old, text, add + 1);
  int *l = realloc(r->lines, sizeof(int) * (size_t)(r->nlines + 1));
  if (!l) return MT_NOMEM();
  r->lines = l;
  r->lines[r->nlines++] = line;
  return MT_OK;
}

/* ------------------------------------------------------------ parsing */

typedef struct {
  mt_config *cfg;
  const char *text;
  size_t pos, len;
  int lineno;   /* the line inih is processing */
  int cont;     /* it continues the previous key's value */
  int have_key; /* a key line since the last header (inih's prev_name) */
  int cur_sec;  /* section of the current header: -1 none, -2 unknown */
  int err;      /* first error recorded (its message is mt_last_error) */
  int err_line;
  char *buf; /* the current line, processed */
  size_t cap;
} parse_state;

static void record(parse_state *p, int rc) {
  if (!p->err) {
    p->err = rc;
    p->err_line = p->lineno;
  }
}

static char *rstrip(char *s) {
  size_t n = strlen(s);
  while (n && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
  return s;
}

/* inih's line reader: hands inih one processed line at a time (see top). */
static char *cfg_reader(char *out, int num, void *stream) {
  parse_state *p = stream;
  if (p->pos >= p->len) return NULL;
  const char *s = p->text + p->pos;
  const char *nl = memchr(s, '\n', p->len - p->pos);
  size_t n = nl ? (size_t)(nl - s) : p->len - p->pos;
  p->pos += n + (nl ? 1 : 0);
  p->lineno++;
  p->cont = 0;
  if (n + 1 > p->cap) {
    char *b = realloc(p->buf, n + 1);
    if (!b) {
      record(p, MT_NOMEM());
      out[0] = '\0';
      return out;
    }
    p->buf = b;
    p->cap = n + 1;
  }
  char *line = p->buf;
  memcpy(line, s, n);
  line[n] = '\0';
  if (p->lineno == 1 && !strncmp(line, "\xEF\xBB\xBF", 3)) memmove(line, line + 3, n - 2);
  /* inline comments: ';' or '#' at the start or after whitespace */
  for (char *c = line; *c; c++)
    if ((*c == ';' || *c == '#') && (c == line || isspace((unsigned char)c[-1]))) {
      *c = '\0';
      break;
    }
  rstrip(line);
  char *f = line;
  while (*f && isspace((unsigned char)*f)) f++;
  mt_config *cfg = p->cfg;
  if (!*f) {
    line[0] = '\0';
  } else if (*f == '[') {
    char *end = strchr(f, ']');
    if (!end) {
      record(p, cfg_loc_err(cfg, MT_E_FORMAT, NULL, p->lineno, -1, NULL,
                            "'%s': section header without ']' (write [data], [model], [train] or "
                            "[checkpoint])",
                            f));
      line[0] = '\0';
    } else {
      if (end[1]) {
        record(p,
               cfg_loc_err(cfg, MT_E_FORMAT, NULL, p->lineno, -1, NULL,
                           "'%s': text after the section header (put keys on their own lines)", f));
      }
      *end = '\0';
      char name[256];
      const char *q = f + 1;
      while (isspace((unsigned char)*q)) q++;
      snprintf(name, sizeof name, "%s", q);
      rstrip(name);
      int sec = cfg_find_section(name);
      if (sec < 0) {
        record(p, cfg_unknown_section(cfg, NULL, p->lineno, name));
        p->cur_sec = -2;
      } else {
        p->cur_sec = sec;
        if (!cfg->priv->sec_line[sec]) cfg->priv->sec_line[sec] = p->lineno;
      }
      snprintf(line, p->cap, "[%s]", name); /* never longer than the line it replaces */
      p->have_key = 0;
    }
  } else if (f > line && p->have_key) {
    p->cont = 1; /* inih calls the handler again with the previous key */
  } else {
    memmove(line, f, strlen(f) + 1);
    p->have_key = 1;
    const char *eq = strpbrk(line, "=:");
    if (!eq)
      record(p, cfg_loc_err(cfg, MT_E_FORMAT, NULL, p->lineno, p->cur_sec >= 0 ? p->cur_sec : -1,
                            NULL, "'%s' is not key = value, a [section] or a comment", line));
    else if (eq == line)
      record(p, cfg_loc_err(cfg, MT_E_FORMAT, NULL, p->lineno, p->cur_sec >= 0 ? p->cur_sec : -1,
                            NULL, "'%s' has no key before '%c'", line, *eq));
  }
  size_t len = strlen(line);
  if ((int)len + 3 > num) {
    record(p,
           cfg_loc_err(cfg, MT_E_FORMAT, NULL, p->lineno, p->cur_sec >= 0 ? p->cur_sec : -1, NULL,
                       "line is %zu characters long; at most %d fit (comments do not count: "
                       "split a long value, or shorten the path)",
                       len, num - 3));
    line[0] = '\0';
    len = 0;
  }
  memcpy(out, line, len);
  out[len] = '\n';
  out[len + 1] = '\0';
  return out;
}

static int cfg_handler(void *user, const char *section, const char *name, const char *value) {
  parse_state *p = user;
  if (p->err) return 1; /* one error: the first */
  mt_config *c = p->cfg;
  mt_config_priv *pr = c->priv;
  if (!*section) {
    record(p, cfg_loc_err(c, MT_E_FORMAT, NULL, p->lineno, -1, NULL,
                          "%s: key outside any section (put it under [data], [model], [train] or "
                          "[checkpoint])",
                          name));
    return 1;
  }
  int sec = cfg_find_section(section);
  if (sec < 0) return 1; /* reported at the header */
  int k = cfg_find_key(sec, name);
  if (p->cont) {
    if (k >= 0 && (cfg_keys[k].flags & F_MULTILINE)) {
      if (pr->raw[k].origin == NULL && pr->raw[k].given) {
        int rc = raw_add_line(&pr->raw[k], value, p->lineno);
        if (rc < 0) record(p, rc);
      }
      return 1;
    }
    record(p,
           cfg_loc_err(c, MT_E_FORMAT, NULL, p->lineno, sec, name,
                       "indented line '%s' continues this key's value; only [model] layers takes "
                       "several lines (remove the indentation)",
                       value));
    return 1;
  }
  if (k < 0) {
    record(p, cfg_unknown_key(c, NULL, p->lineno, sec, name));
    return 1;
  }
  raw_val *r = &pr->raw[k];
  if (r->given) {
    record(p, cfg_loc_err(c, MT_E_FORMAT, NULL, p->lineno, sec, name,
                          "given twice (first at line %d; remove one)", r->line));
    return 1;
  }
  r->given = 1;
  r->line = p->lineno;
  int rc = MT_OK;
  if (cfg_keys[k].flags & F_MULTILINE) {
    r->value = strdup("");
    if (!r->value) rc = MT_NOMEM();
    else if (*value) rc = raw_add_line(r, value, p->lineno);
  } else {
    r->value = strdup(value);
    if (!r->value) rc = MT_NOMEM();
  }
  if (rc < 0) record(p, rc);
  order_push(pr, k);
  return 1;
}

/* One line of the text (1-based), into buf. */
static void text_line(const char *text, int line, char *buf, size_t n) {
  const char *s = text;
  for (int i = 1; i < line && s; i++) {
    s = strchr(s, '\n');
    if (s) s++;
  }
  if (!s) s = "";
  size_t len = strcspn(s, "\r\n");
  if (len >= n) len = n - 1;
  memcpy(buf, s, len);
  buf[len] = '\0';
}

static int parse_text(mt_config *c, const char *text) {
  parse_state p = {.cfg = c, .text = text, .len = strlen(text), .cur_sec = -1};
  int rc = ini_parse_stream(cfg_reader, &p, cfg_handler, &p);
  free(p.buf);
  if (rc > 0 && (!p.err || rc < p.err_line)) {
    char ln[200];
    text_line(text, rc, ln, sizeof ln);
    return cfg_loc_err(c, MT_E_FORMAT, NULL, rc, -1, NULL,
                       "'%s' is not key = value, a [section] or a comment", ln);
  }
  if (p.err) return p.err;
  if (rc == -2) return MT_NOMEM();
  if (rc < 0) return mt_error_set(MT_E_IO, "%s: cannot parse (inih error %d)", c->path, rc);
  return MT_OK;
}

/* The longest line cfg_reader passes (inih's 200-character buffer). */
#define CFG_LINE_MAX 197

/* An override must be a value the config file could hold: mt_config_to_ini
 * writes the effective config as a file (checkpoints record it, --check
 * prints it), and it must read back as given. So no line break (but
 * between layers), no ';' or '#' at the start of a value or layer or after
 * whitespace (a comment in a file), and no line over CFG_LINE_MAX. */
static int override_writable(mt_config *c, int k) {
  const char *v = c->priv->raw[k].value;
  size_t indent = strlen(cfg_keys[k].name) + 3; /* "key = ", or the continuation indent */
  const char *line = v;                         /* the line (a layer) being checked */
  for (const char *q = v;; q++) {
    if (*q == '\n' && (cfg_keys[k].flags & F_MULTILINE)) {
      line = q + 1;
      continue;
    }
    if (!*q) break;
    if (*q == '\n' || *q == '\r')
      return cfg_key_err(c, MT_E_INVAL, k, "the value holds a line break (one line per value)");
    if ((*q == '#' || *q == ';') && (q == line || isspace((unsigned char)q[-1])))
      return cfg_key_err(c, MT_E_INVAL, k,
                         "'%.*s': a '%c' at the start or after a space begins a comment in a "
                         "config file, so the effective config could not hold this value",
                         (int)strcspn(line, "\n"), line, *q);
    if (indent + (size_t)(q - line) + 1 > CFG_LINE_MAX)
      return cfg_key_err(c, MT_E_INVAL, k,
                         "'%.40s...' is longer than a config file's line holds (%d characters "
                         "with the key)",
                         line, CFG_LINE_MAX);
  }
  return MT_OK;
}

/* "section.key=value" from the command line. */
static int apply_override(mt_config *c, const char *set, const char *origin) {
  const char *eq = strchr(set, '=');
  const char *dot = strchr(set, '.');
  if (!eq || !dot || dot > eq)
    return mt_error_set(MT_E_FORMAT,
                        "%s: '%s' is not section.key=value (e.g. --set "
                        "data.batch_size=64)",
                        origin, set);
  char sec_name[64], key_name[64];
  size_t sl = (size_t)(dot - set), kl = (size_t)(eq - dot - 1);
  if (sl == 0 || sl >= sizeof sec_name || kl == 0 || kl >= sizeof key_name)
    return mt_error_set(MT_E_FORMAT,
                        "%s: '%s' is not section.key=value (e.g. --set "
                        "data.batch_size=64)",
                        origin, set);
  memcpy(sec_name, set, sl);
  sec_name[sl] = '\0';
  memcpy(key_name, dot + 1, kl);
  key_name[kl] = '\0';
  int sec = cfg_find_section(sec_name);
  if (sec < 0) return cfg_unknown_section(c, origin, 0, sec_name);
  int k = cfg_find_key(sec, key_name);
  if (k < 0) return cfg_unknown_key(c, origin, 0, sec, key_name);
  const char *v = eq + 1;
  while (isspace((unsigned char)*v)) v++;
  raw_val *r = &c->priv->raw[k];
  raw_clear(r);
  r->given = 1;
  r->origin = origin;
  if (cfg_keys[k].flags & F_MULTILINE) {
    /* layers on the command line: lines separated by newlines or ';' */
    r->value = strdup("");
    if (!r->value) return MT_NOMEM();
    const char *q = v;
    while (*q) {
      size_t len = strcspn(q, ";\n");
      char *piece = malloc(len + 1);
      if (!piece) return MT_NOMEM();
      memcpy(piece, q, len);
      piece[len] = '\0';
      char *t = piece;
      while (isspace((unsigned char)*t)) t++;
      rstrip(t);
      int rc = *t ? raw_add_line(r, t, 0) : MT_OK;
      free(piece);
      if (rc < 0) return rc;
      q += len;
      if (*q) q++;
    }
  } else {
    r->value = strdup(v);
    if (!r->value) return MT_NOMEM();
    rstrip(r->value);
  }
  MT_TRY(override_writable(c, k));
  order_push(c->priv, k);
  return MT_OK;
}

/* ------------------------------------------------------------ loading */

void mt_config_free(mt_config *c) {
  if (!c) return;
  free(c->path);
  free(c->train);
  free(c->val);
  free(c->symbol_path);
  for (int i = 0; i < c->nlayers; i++) mt_layer_spec_free(&c->layers[i]);
  free(c->layers);
  mt_symbol_free(c->symbol);
  mt_net_names_free(c->nlabels, c->label_names);
  free(c->optimizer);
  free(c->optimizer_params);
  free(c->lr_scheduler);
  free(c->initializer);
  free(c->eval_metric);
  free(c->kvstore);
  free(c->metrics_file);
  free(c->timeline);
  free(c->prefix);
  free(c->params_path);
  if (c->priv)
    for (int k = 0; k < NKEYS; k++) raw_clear(&c->priv->raw[k]);
  free(c->priv);
  free(c);
}

/* Typed fields from the documented defaults (the same checks as written
 * values, so the docs and the code cannot disagree). */
static int apply_defaults(mt_config *c) {
  for (int k = 0; k < NKEYS; k++) {
    raw_val *r = &c->priv->raw[k];
    if (!cfg_keys[k].def || (cfg_keys[k].flags & F_OPTPASS) || r->given) continue;
    r->value = strdup(cfg_keys[k].def);
    if (!r->value) return MT_NOMEM();
    int rc = cfg_apply_key(c, k);
    free(r->value);
    r->value = NULL;
    if (rc < 0) return rc;
  }
  return MT_OK;
}

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    mt_error_set(MT_E_IO, "%s: cannot open the config: %s", path, strerror(errno));
    return NULL;
  }
  size_t len = 0, cap = 4096;
  char *buf = malloc(cap);
  while (buf) {
    size_t got = fread(buf + len, 1, cap - len - 1, f);
    len += got;
    if (got == 0) break;
    if (len + 1 == cap) {
      char *b = realloc(buf, cap * 2);
      if (!b) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = b;
      cap *= 2;
    }
  }
  int bad = ferror(f);
  fclose(f);
  if (!buf) {
    MT_NOMEM();
    return NULL;
  }
  if (bad) {
    free(buf);
    mt_error_set(MT_E_IO, "%s: cannot read the config", path);
    return NULL;
  }
  buf[len] = '\0';
  if (strlen(buf) != len) {
    free(buf);
    mt_error_set(MT_E_FORMAT, "%s: the config is not a text file (it holds a NUL byte)", path);
    return NULL;
  }
  return buf;
}

int mt_config_load_ex(const char *path, const char *text, int nset, const char *const *sets,
                      const char *const *origins, mt_config **out) {
  if (!out) return MT_ERR(MT_E_INVAL, "mt_config_load: NULL output");
  *out = NULL;
  if (!path) return MT_ERR(MT_E_INVAL, "mt_config_load: NULL path");
  mt_config *c = calloc(1, sizeof *c);
  char *owned = NULL;
  int rc = MT_OK;
  if (!c || !(c->priv = calloc(1, sizeof *c->priv)) || !(c->path = strdup(path))) {
    rc = MT_NOMEM();
    goto fail;
  }
  if (!text) {
    owned = read_file(path);
    if (!owned) {
      rc = MT_E_IO;
      goto fail;
    }
    text = owned;
  }
  MT_TRY_GOTO(parse_text(c, text), rc, fail);
  for (int i = 0; i < nset; i++)
    MT_TRY_GOTO(apply_override(c, sets[i], origins && origins[i] ? origins[i] : "--set"), rc, fail);
  MT_TRY_GOTO(apply_defaults(c), rc, fail);
  for (int i = 0; i < c->priv->norder; i++)
    MT_TRY_GOTO(cfg_apply_key(c, c->priv->order[i]), rc, fail);
  MT_TRY_GOTO(cfg_cross_check(c), rc, fail);
  MT_TRY_GOTO(cfg_build_network(c), rc, fail);
  free(owned);
  *out = c;
  return MT_OK;
fail:
  free(owned);
  mt_config_free(c);
  return rc;
}

int mt_config_load(const char *path, int nset, const char *const *sets, mt_config **out) {
  return mt_config_load_ex(path, NULL, nset, sets, NULL, out);
}

int mt_config_load_string(const char *text, const char *name, int nset, const char *const *sets,
                          mt_config **out) {
  if (!text) return MT_ERR(MT_E_INVAL, "mt_config_load_string: NULL text");
  return mt_config_load_ex(name ? name : "<string>", text, nset, sets, NULL, out);
}
