/* main.c — the `modtrain` command. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "modtrain.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: modtrain CONFIG [--resume[=EPOCH]] [--set section.key=value]...\n"
          "       modtrain --help | --version\n"
          "\n"
          "Trains the network a config describes (MXNet's Module API in C, data\n"
          "parallel over MPI: run under mpirun -n N for N ranks).\n"
          "\n"
          "options:\n"
          "  -h, --help       show this help and exit\n"
          "  -V, --version    print the version and exit\n"
          "\n"
          "environment:\n"
          "  MODTRAIN_LOG     error|warn|info|debug (default info)\n"
          "  OPENBLAS_CORETYPE  force an OpenBLAS kernel (default: best for this CPU)\n"
          "\n"
          "exit codes: 0 success, 1 runtime error, 2 usage or config error\n");
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"help", no_argument, 0, 'h'}, {"version", no_argument, 0, 'V'}, {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
    switch (c) {
    case 'h': usage(stdout); return 0;
    case 'V': printf("modtrain %s\n", mt_version()); return 0;
    default: usage(stderr); return 2;
    }
  }
  usage(stderr);
  return 2;
}
