/* topology_check: an MPI program that proves the job it runs in spans the
 * node topology it was asked for, and that collectives cross the node
 * boundary correctly. Run it under tests/mpi/two_nodes.sh.
 *
 * Each rank prints one line: world rank/size, hostname, its rank/size in the
 * node-local communicator from MPI_Comm_split_type(MPI_COMM_TYPE_SHARED), and
 * its node index. Then it checks, aborting the job with a message naming the
 * rank on the first mismatch:
 *   - the number of nodes (node-local leaders) is --nodes (default 2) and
 *     every node-local communicator has --local ranks (default 2);
 *   - ranks are laid out by node: world rank r sits on node r / local, and
 *     ranks share a hostname exactly when they share a node (so the nodes
 *     really have distinct hostnames);
 *   - a flat MPI_Allreduce of a vector of N doubles (x[i] = rank + 1 + i)
 *     equals the closed form size*(size+1)/2 + size*i, for a small vector
 *     (8 elements, one TCP message) and a large one (1 Mi elements = 8 MiB,
 *     many TCP fragments);
 *   - the same sum computed hierarchically (MPI_Reduce inside the node,
 *     MPI_Allreduce among node leaders, MPI_Bcast inside the node) — the
 *     shape of the kvstore's `hier` backend — gives the same bits as the flat
 *     one (all values are small integers, so every order of summation is
 *     exact in double).
 * Rank 0 prints "topology_check: OK ..." when all ranks passed.
 *
 * --fail-rank R [--fail-code C]: after the checks pass, rank R exits with
 * status C (default 3) without MPI_Finalize, while every other rank blocks in
 * MPI_Barrier: this is how the harness's failure path is tested (the job must
 * end promptly with a non-zero status instead of hanging).
 */
#define _POSIX_C_SOURCE 200809L
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HOST_LEN 256

static int g_rank = -1;

/* Ends the whole job with status 1 after saying why and where. */
static void fail(const char *what) {
  fprintf(stderr, "topology_check: rank %d: FAIL: %s\n", g_rank, what);
  fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
  exit(1);
}

static long parse_long(const char *s, const char *flag) {
  char *end = NULL;
  long v = strtol(s, &end, 10);
  if (!s[0] || *end) {
    fprintf(stderr, "topology_check: %s needs an integer, got '%s'\n", flag, s);
    exit(2);
  }
  return v;
}

/* Flat allreduce of n doubles x[i] = rank + 1 + i, checked against the
 * closed form; then the hierarchical version, checked bit-equal to the flat
 * one. `local` is the node-local communicator, `leaders` the communicator of
 * node-local rank 0s (MPI_COMM_NULL on the other ranks). */
static void check_sums(size_t n, int rank, int size, MPI_Comm local, MPI_Comm leaders) {
  double *x = malloc(n * sizeof(*x));
  double *flat = malloc(n * sizeof(*flat));
  double *hier = malloc(n * sizeof(*hier));
  char msg[256];
  if (!x || !flat || !hier) fail("out of memory");
  for (size_t i = 0; i < n; i++) x[i] = (double)rank + 1.0 + (double)i;

  MPI_Allreduce(x, flat, (int)n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  for (size_t i = 0; i < n; i++) {
    double want = (double)size * (size + 1) / 2.0 + (double)size * (double)i;
    if (flat[i] != want) {
      snprintf(msg, sizeof(msg), "flat allreduce of %zu doubles: [%zu] = %.17g, want %.17g", n, i,
               flat[i], want);
      fail(msg);
    }
  }

  int local_rank;
  MPI_Comm_rank(local, &local_rank);
  MPI_Reduce(x, hier, (int)n, MPI_DOUBLE, MPI_SUM, 0, local);
  if (leaders != MPI_COMM_NULL)
    MPI_Allreduce(MPI_IN_PLACE, hier, (int)n, MPI_DOUBLE, MPI_SUM, leaders);
  MPI_Bcast(hier, (int)n, MPI_DOUBLE, 0, local);
  if (memcmp(hier, flat, n * sizeof(*flat)) != 0) {
    snprintf(msg, sizeof(msg), "hierarchical allreduce of %zu doubles differs from flat", n);
    fail(msg);
  }
  free(x);
  free(flat);
  free(hier);
}

int main(int argc, char **argv) {
  int want_nodes = 2, want_local = 2, fail_rank = -1, fail_code = 3;
  for (int i = 1; i < argc; i++) {
    if (i + 1 < argc && !strcmp(argv[i], "--nodes")) {
      want_nodes = (int)parse_long(argv[++i], "--nodes");
    } else if (i + 1 < argc && !strcmp(argv[i], "--local")) {
      want_local = (int)parse_long(argv[++i], "--local");
    } else if (i + 1 < argc && !strcmp(argv[i], "--fail-rank")) {
      fail_rank = (int)parse_long(argv[++i], "--fail-rank");
    } else if (i + 1 < argc && !strcmp(argv[i], "--fail-code")) {
      fail_code = (int)parse_long(argv[++i], "--fail-code");
    } else {
      fprintf(stderr,
              "usage: topology_check [--nodes N] [--local L] [--fail-rank R [--fail-code C]]\n");
      return 2;
    }
  }

  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  g_rank = rank;

  char host[HOST_LEN] = {0};
  if (gethostname(host, sizeof(host) - 1) != 0) fail("gethostname failed");

  MPI_Comm local;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &local);
  int local_rank, local_size;
  MPI_Comm_rank(local, &local_rank);
  MPI_Comm_size(local, &local_size);

  /* Node index = rank among node leaders (leaders ordered by world rank). */
  MPI_Comm leaders;
  MPI_Comm_split(MPI_COMM_WORLD, local_rank == 0 ? 0 : MPI_UNDEFINED, rank, &leaders);
  int node = -1, nodes = 0;
  if (leaders != MPI_COMM_NULL) {
    MPI_Comm_rank(leaders, &node);
    MPI_Comm_size(leaders, &nodes);
  }
  MPI_Bcast(&node, 1, MPI_INT, 0, local);
  MPI_Bcast(&nodes, 1, MPI_INT, 0, local);

  printf("topology_check: rank %d/%d host %s local %d/%d node %d/%d\n", rank, size, host,
         local_rank, local_size, node, nodes);
  fflush(stdout);

  char msg[512];
  if (nodes != want_nodes) {
    snprintf(msg, sizeof(msg), "%d nodes, want %d", nodes, want_nodes);
    fail(msg);
  }
  if (local_size != want_local) {
    snprintf(msg, sizeof(msg), "node-local size %d on host %s, want %d", local_size, host,
             want_local);
    fail(msg);
  }
  if (size != want_nodes * want_local) {
    snprintf(msg, sizeof(msg), "world size %d, want %d x %d", size, want_nodes, want_local);
    fail(msg);
  }
  if (node != rank / want_local) {
    snprintf(msg, sizeof(msg), "rank %d on node %d, want node %d (ranks laid out by node)", rank,
             node, rank / want_local);
    fail(msg);
  }

  /* Same hostname <=> same node, over every pair of ranks. */
  char *hosts = malloc((size_t)size * HOST_LEN);
  int *node_of = malloc((size_t)size * sizeof(int));
  if (!hosts || !node_of) fail("out of memory");
  MPI_Allgather(host, HOST_LEN, MPI_CHAR, hosts, HOST_LEN, MPI_CHAR, MPI_COMM_WORLD);
  MPI_Allgather(&node, 1, MPI_INT, node_of, 1, MPI_INT, MPI_COMM_WORLD);
  for (int a = 0; a < size; a++) {
    for (int b = a + 1; b < size; b++) {
      int same_host = strcmp(hosts + (size_t)a * HOST_LEN, hosts + (size_t)b * HOST_LEN) == 0;
      int same_node = node_of[a] == node_of[b];
      if (same_host != same_node) {
        snprintf(msg, sizeof(msg),
                 "ranks %d (%s, node %d) and %d (%s, node %d): hostname and "
                 "node disagree",
                 a, hosts + (size_t)a * HOST_LEN, node_of[a], b, hosts + (size_t)b * HOST_LEN,
                 node_of[b]);
        fail(msg);
      }
    }
  }

  check_sums(8, rank, size, local, leaders);
  check_sums((size_t)1 << 20, rank, size, local, leaders);

  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0) {
    printf("topology_check: OK %d nodes x %d ranks (", nodes, local_size);
    for (int n = 0; n < nodes; n++)
      printf("%s%s", n ? ", " : "", hosts + (size_t)n * want_local * HOST_LEN);
    printf("), flat and hierarchical allreduce agree\n");
    fflush(stdout);
  }

  if (fail_rank >= 0) {
    if (rank == fail_rank) {
      fprintf(stderr, "topology_check: rank %d on %s exits with status %d as asked\n", rank, host,
              fail_code);
      fflush(stderr);
      _exit(fail_code);
    }
    MPI_Barrier(MPI_COMM_WORLD); /* never completes: the job must be ended for us */
  }

  free(hosts);
  free(node_of);
  if (leaders != MPI_COMM_NULL) MPI_Comm_free(&leaders);
  MPI_Comm_free(&local);
  MPI_Finalize();
  return 0;
}
