// runtime.cpp — a CPU emulation of the CUDA runtime, cuBLAS and NCCL calls
// modtrain makes (tests/cuda_emu/README.md). "Device" memory is host memory
// that the emulator tracks, so it can refuse what a GPU would fault on or
// silently get wrong:
//   - a copy whose kind does not match the pointers (a host pointer where
//     cudaMemcpyHostToDevice wants device memory, ...);
//   - cudaFree of a pointer cudaMalloc did not return, cudaMemset or a
//     cuBLAS operand outside device memory, memory of another device;
//   - a launch with 0 blocks, more than 1024 threads per block, or threads
//     that skip a __syncthreads the others reach;
//   - two devices in one NCCL clique that are the same device.
// cudaMalloc'd memory starts as NaN bytes (0xFF), as a GPU's starts as
// garbage: a kernel that reads before it writes shows.
//
// Streams: work on the legacy stream (0) runs at once, after the device's
// streams have run what they hold, as CUDA's legacy stream waits for the
// blocking streams. Work on a stream (kernels, async copies and memsets,
// cuBLAS on a handle bound to it) waits in the stream's queue until
// something synchronizes with it: cudaStreamSynchronize, cudaDeviceSynchronize,
// legacy-stream work on its device, cudaFree, a peer copy touching its
// device. A device's streams then run newest first, so work that leans on
// another stream without waiting for it tends to see stale data. Host code
// that reads what a stream wrote before synchronizing sees it unwritten.
#include <cblas.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <vector>

#include "cublas_v2.h"
#include "cuda_runtime.h"
#include "device.h"
#include "nccl.h"

uint3 threadIdx, blockIdx;
dim3 blockDim, gridDim;

namespace {

int device_count() {
  static int n = -1;
  if (n < 0) {
    const char *e = getenv("MT_CUDA_EMU_DEVICES");
    n = e ? atoi(e) : 2;
    if (n < 0) n = 0;
    fprintf(stderr, "[cuda-emu] CPU emulation of the CUDA runtime, cuBLAS and NCCL: %d device(s)\n",
            n);
  }
  return n;
}

thread_local int current_device;
thread_local cudaError_t last_error = cudaSuccess;

struct block {
  size_t bytes;
  int device; // -1: pinned host memory (cudaMallocHost)
};
std::map<uintptr_t, block> blocks; // base address -> block

// The block holding [p, p + bytes), or NULL.
const block *find(const void *p, size_t bytes, uintptr_t *base) {
  uintptr_t a = (uintptr_t)p;
  auto it = blocks.upper_bound(a);
  if (it == blocks.begin()) return nullptr;
  --it;
  if (a + bytes > it->first + it->second.bytes) return nullptr;
  if (base) *base = it->first;
  return &it->second;
}

// Device of device memory [p, p + bytes), -1 for host memory, -2 for a
// range that starts in a device block and runs past it.
int where(const void *p, size_t bytes) {
  const block *b = find(p, bytes ? bytes : 1, nullptr);
  if (b) return b->device;
  const block *start = find(p, 1, nullptr);
  return start && start->device >= 0 ? -2 : -1;
}

cudaError_t fail(cudaError_t e, const char *what) {
  fprintf(stderr, "[cuda-emu] %s\n", what);
  last_error = e;
  return e;
}

cudaError_t check_kind(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind) {
  int d = where(dst, bytes), s = where(src, bytes);
  if (d == -2 || s == -2) return fail(cudaErrorInvalidValue, "copy runs past a device block");
  int want_d = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  int want_s = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if (kind == cudaMemcpyDefault) return cudaSuccess;
  if ((d >= 0) != want_d || (s >= 0) != want_s)
    return fail(cudaErrorInvalidValue, "cudaMemcpy kind does not match the pointers");
  return cudaSuccess;
}

} // namespace

struct CUstream_st {
  int device;
  std::deque<std::function<void()>> queue;
};

namespace {

std::vector<CUstream_st *> streams; // live streams, oldest first

void flush(CUstream_st *s) {
  int saved = current_device;
  current_device = s->device;
  while (!s->queue.empty()) {
    std::function<void()> w = std::move(s->queue.front());
    s->queue.pop_front();
    w();
  }
  current_device = saved;
}

// Runs what the streams of `device` (-1: every device) hold, newest first.
void flush_device(int device) {
  for (auto it = streams.rbegin(); it != streams.rend(); ++it)
    if (device < 0 || (*it)->device == device) flush(*it);
}

int pinned(const void *p) {
  const block *b = find(p, 1, nullptr);
  return b && b->device < 0;
}

} // namespace

void mtk_emu_submit(cudaStream_t stream, std::function<void()> work) {
  if (!stream) {
    flush_device(current_device);
    work();
  } else {
    stream->queue.push_back(std::move(work));
  }
}

extern "C" {

cudaError_t cudaGetDeviceCount(int *count) {
  *count = device_count();
  return *count ? cudaSuccess : cudaErrorNoDevice;
}

cudaError_t cudaSetDevice(int device) {
  if (device < 0 || device >= device_count())
    return fail(cudaErrorInvalidDevice, "cudaSetDevice: no such device");
  current_device = device;
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int *device) {
  *device = current_device;
  return cudaSuccess;
}

cudaError_t cudaMalloc(void **ptr, size_t bytes) {
  if (device_count() == 0) return fail(cudaErrorNoDevice, "cudaMalloc: no device");
  void *p = malloc(bytes ? bytes : 1);
  if (!p) return last_error = cudaErrorMemoryAllocation;
  memset(p, 0xFF, bytes); // NaN floats: what was never written shows
  blocks[(uintptr_t)p] = block{bytes ? bytes : 1, current_device};
  *ptr = p;
  return cudaSuccess;
}

cudaError_t cudaFree(void *ptr) {
  if (!ptr) return cudaSuccess;
  flush_device(-1); // cudaFree synchronizes
  auto it = blocks.find((uintptr_t)ptr);
  if (it == blocks.end() || it->second.device < 0)
    return fail(cudaErrorInvalidValue, "cudaFree of a pointer cudaMalloc did not return");
  blocks.erase(it);
  free(ptr);
  return cudaSuccess;
}

cudaError_t cudaMallocHost(void **ptr, size_t bytes) {
  void *p = malloc(bytes ? bytes : 1);
  if (!p) return last_error = cudaErrorMemoryAllocation;
  blocks[(uintptr_t)p] = block{bytes ? bytes : 1, -1};
  *ptr = p;
  return cudaSuccess;
}

cudaError_t cudaFreeHost(void *ptr) {
  if (!ptr) return cudaSuccess;
  flush_device(-1);
  auto it = blocks.find((uintptr_t)ptr);
  if (it == blocks.end() || it->second.device >= 0)
    return fail(cudaErrorInvalidValue, "cudaFreeHost of a pointer cudaMallocHost did not return");
  blocks.erase(it);
  free(ptr);
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind) {
  cudaError_t e = check_kind(dst, src, bytes, kind);
  if (e != cudaSuccess) return e;
  // the legacy stream of the current device, and of the devices involved
  flush_device(current_device);
  int d = where(dst, bytes), s = where(src, bytes);
  if (d >= 0) flush_device(d);
  if (s >= 0) flush_device(s);
  if (bytes) memmove(dst, src, bytes);
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream) {
  if (!stream) return cudaMemcpy(dst, src, bytes, kind);
  cudaError_t e = check_kind(dst, src, bytes, kind);
  if (e != cudaSuccess) return e;
  if (stream->device != current_device)
    return fail(cudaErrorInvalidResourceHandle, "cudaMemcpyAsync: stream of another device");
  int d = where(dst, bytes), s = where(src, bytes);
  if (d < 0 && !pinned(dst)) { // to pageable memory: returns when done
    flush(stream);
    if (bytes) memmove(dst, src, bytes);
    return cudaSuccess;
  }
  if (s < 0 && !pinned(src)) { // from pageable memory: staged at the call
    std::vector<char> staged((const char *)src, (const char *)src + bytes);
    mtk_emu_submit(stream, [dst, staged]() { memcpy(dst, staged.data(), staged.size()); });
    return cudaSuccess;
  }
  mtk_emu_submit(stream, [dst, src, bytes]() { memmove(dst, src, bytes); });
  return cudaSuccess;
}

cudaError_t cudaMemcpyPeer(void *dst, int dst_device, const void *src, int src_device,
                           size_t bytes) {
  if (where(dst, bytes) != dst_device || where(src, bytes) != src_device)
    return fail(cudaErrorInvalidValue, "cudaMemcpyPeer: a pointer is not on its device");
  flush_device(current_device); // serialized with the work of all three devices
  flush_device(dst_device);
  flush_device(src_device);
  if (bytes) memmove(dst, src, bytes);
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *ptr, int value, size_t bytes, cudaStream_t stream) {
  if (bytes && where(ptr, bytes) < 0)
    return fail(cudaErrorInvalidValue, "cudaMemset outside device memory");
  if (stream && stream->device != current_device)
    return fail(cudaErrorInvalidResourceHandle, "cudaMemsetAsync: stream of another device");
  mtk_emu_submit(stream, [ptr, value, bytes]() { memset(ptr, value, bytes); });
  return cudaSuccess;
}

cudaError_t cudaMemset(void *ptr, int value, size_t bytes) {
  return cudaMemsetAsync(ptr, value, bytes, nullptr);
}

cudaError_t cudaDeviceSynchronize(void) {
  flush_device(current_device);
  return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t *stream) {
  *stream = new CUstream_st{current_device, {}};
  streams.push_back(*stream);
  return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  if (!stream) return fail(cudaErrorInvalidResourceHandle, "cudaStreamDestroy(0)");
  flush(stream); // queued work still runs, as on a GPU
  streams.erase(std::find(streams.begin(), streams.end(), stream));
  delete stream;
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  if (stream) flush(stream); // the legacy stream's own work has run already
  return cudaSuccess;
}

cudaError_t cudaGetLastError(void) {
  cudaError_t e = last_error;
  last_error = cudaSuccess;
  return e;
}

const char *cudaGetErrorString(cudaError_t error) {
  switch (error) {
  case cudaSuccess: return "no error";
  case cudaErrorInvalidValue: return "invalid argument";
  case cudaErrorMemoryAllocation: return "out of memory";
  case cudaErrorInvalidConfiguration: return "invalid configuration argument";
  case cudaErrorNoDevice: return "no CUDA-capable device is detected";
  case cudaErrorInvalidDevice: return "invalid device ordinal";
  case cudaErrorInvalidResourceHandle: return "invalid resource handle";
  }
  return "unknown error";
}

cudaError_t cudaDeviceGetPCIBusId(char *bus_id, int len, int device) {
  if (device < 0 || device >= device_count()) return last_error = cudaErrorInvalidDevice;
  snprintf(bus_id, (size_t)len, "0000:%02x:00.0", device + 1);
  return cudaSuccess;
}

/* ---------------------------------------------------------------- cuBLAS */

struct cublasContext {
  int device;
  cudaStream_t stream;
};

cublasStatus_t cublasCreate(cublasHandle_t *handle) {
  *handle = new cublasContext{current_device, nullptr};
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy(cublasHandle_t handle) {
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream) {
  if (stream && stream->device != handle->device) return CUBLAS_STATUS_INVALID_VALUE;
  handle->stream = stream;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa,
                           cublasOperation_t transb, int m, int n, int k, const float *alpha,
                           const float *A, int lda, const float *B, int ldb, const float *beta,
                           float *C, int ldc) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (m < 0 || n < 0 || k < 0) return CUBLAS_STATUS_INVALID_VALUE;
  if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
  size_t ca = (size_t)(transa == CUBLAS_OP_N ? k : m), cb = (size_t)(transb == CUBLAS_OP_N ? n : k);
  int dev = handle->device;
  if ((k > 0 && (where(A, ca * (size_t)lda * sizeof(float)) != dev ||
                 where(B, cb * (size_t)ldb * sizeof(float)) != dev)) ||
      where(C, (size_t)n * (size_t)ldc * sizeof(float)) != dev) {
    fprintf(stderr, "[cuda-emu] cublasSgemm: an operand is not in the handle's device memory\n");
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  if (current_device != dev) {
    fprintf(stderr, "[cuda-emu] cublasSgemm: the handle's device is not the current one\n");
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  float a = *alpha, b = *beta; // host pointer mode: read at the call
  CBLAS_TRANSPOSE ta = transa == CUBLAS_OP_N ? CblasNoTrans : CblasTrans;
  CBLAS_TRANSPOSE tb = transb == CUBLAS_OP_N ? CblasNoTrans : CblasTrans;
  mtk_emu_submit(handle->stream, [=]() {
    cblas_sgemm(CblasColMajor, ta, tb, m, n, k, a, A, lda, B, ldb, b, C, ldc);
  });
  return CUBLAS_STATUS_SUCCESS;
}

const char *cublasGetStatusString(cublasStatus_t status) {
  switch (status) {
  case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
  case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
  case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
  case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
  }
  return "CUBLAS_STATUS_UNKNOWN";
}

} // extern "C"

/* ------------------------------------------------------------------ NCCL */

struct clique {
  int n, live;
};

// A communicator across processes (ncclCommInitRank): a POSIX shared-memory
// segment named by the unique id, with a barrier and one slot per rank;
// collectives go through it chunk by chunk, summed in rank order by every
// rank alike.
enum { XSLOT = 1 << 20, XMAX = 64 };
struct xproc {
  unsigned nranks, arrived, generation;
  int device[XMAX]; // each rank's device + 1 (a stand-in for its PCI bus id)
};

struct ncclComm {
  clique *c; // in one process (ncclCommInitAll), else NULL
  int rank, device;
  xproc *x; // across processes, else NULL
  size_t map_bytes;
};

namespace {

struct op {
  int bcast, root;
  const float *send;
  float *recv;
  size_t count;
  ncclComm_t comm;
};
int group_depth;
std::vector<op> pending;

ncclResult_t run_ops(std::vector<op> &ops) {
  // on the devices' legacy streams: what their streams hold runs first
  for (const op &o : ops) flush_device(o.comm->device);
  // every clique's ranks together: rank order sum, or the root's values
  while (!ops.empty()) {
    clique *c = ops[0].comm->c;
    std::vector<const op *> byrank((size_t)c->n, nullptr);
    for (const op &o : ops)
      if (o.comm->c == c) {
        if (byrank[(size_t)o.comm->rank]) return ncclInvalidUsage;
        byrank[(size_t)o.comm->rank] = &o;
      }
    for (const op *o : byrank)
      if (!o || o->count != byrank[0]->count || o->bcast != byrank[0]->bcast) {
        fprintf(stderr, "[cuda-emu] NCCL: a collective without all its ranks (group them)\n");
        return ncclInvalidUsage;
      }
    size_t count = byrank[0]->count;
    std::vector<float> sum(count);
    if (byrank[0]->bcast) {
      memcpy(sum.data(), byrank[(size_t)byrank[0]->root]->send, count * sizeof(float));
    } else {
      memcpy(sum.data(), byrank[0]->send, count * sizeof(float));
      for (int r = 1; r < c->n; r++)
        for (size_t i = 0; i < count; i++) sum[i] += byrank[(size_t)r]->send[i];
    }
    for (const op *o : byrank) memcpy(o->recv, sum.data(), count * sizeof(float));
    std::vector<op> rest;
    for (const op &o : ops)
      if (o.comm->c != c) rest.push_back(o);
    ops.swap(rest);
  }
  return ncclSuccess;
}

char *xslot(xproc *x, int r) { return (char *)(x + 1) + (size_t)r * XSLOT; }

// Every rank of x arrives before any leaves; a rank that never comes (it
// died) ends the wait after 120 s with an error rather than a hang.
ncclResult_t xbarrier(xproc *x) {
  unsigned gen = __atomic_load_n(&x->generation, __ATOMIC_ACQUIRE);
  if (__atomic_add_fetch(&x->arrived, 1, __ATOMIC_ACQ_REL) == x->nranks) {
    __atomic_store_n(&x->arrived, 0, __ATOMIC_RELAXED);
    __atomic_add_fetch(&x->generation, 1, __ATOMIC_RELEASE);
    return ncclSuccess;
  }
  time_t start = time(nullptr);
  while (__atomic_load_n(&x->generation, __ATOMIC_ACQUIRE) == gen) {
    if (time(nullptr) - start > 120) {
      fprintf(stderr, "[cuda-emu] NCCL: a rank did not arrive within 120 s\n");
      return ncclSystemError;
    }
    sched_yield();
  }
  return ncclSuccess;
}

ncclResult_t run_xproc(const op &o) {
  xproc *x = o.comm->x;
  int me = o.comm->rank, n = (int)x->nranks;
  flush_device(o.comm->device); // on the legacy stream
  size_t chunk = XSLOT / sizeof(float);
  for (size_t off = 0; off < o.count || off == 0; off += chunk) {
    size_t cnt = o.count - off < chunk ? o.count - off : chunk;
    if (!o.bcast || me == o.root) memcpy(xslot(x, me), o.send + off, cnt * sizeof(float));
    ncclResult_t r = xbarrier(x);
    if (r != ncclSuccess) return r;
    if (o.bcast) {
      memcpy(o.recv + off, xslot(x, o.root), cnt * sizeof(float));
    } else {
      std::vector<float> sum(cnt);
      memcpy(sum.data(), xslot(x, 0), cnt * sizeof(float));
      for (int k = 1; k < n; k++) {
        const float *s = (const float *)xslot(x, k);
        for (size_t i = 0; i < cnt; i++) sum[i] += s[i];
      }
      memcpy(o.recv + off, sum.data(), cnt * sizeof(float));
    }
    r = xbarrier(x); // the slots are free again
    if (r != ncclSuccess) return r;
    if (o.count == 0) break;
  }
  return ncclSuccess;
}

ncclResult_t enqueue(op o) {
  size_t bytes = o.count * sizeof(float);
  if ((!o.bcast || o.comm->rank == o.root) && where(o.send, bytes) != o.comm->device)
    return ncclInvalidArgument;
  if (where(o.recv, bytes) != o.comm->device) return ncclInvalidArgument;
  if (o.comm->x) return run_xproc(o); // across processes: at once, group or not
  pending.push_back(o);
  if (group_depth > 0) return ncclSuccess;
  std::vector<op> ops;
  ops.swap(pending);
  return run_ops(ops);
}

} // namespace

extern "C" {

ncclResult_t ncclGetUniqueId(ncclUniqueId *id) {
  static unsigned counter;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  memset(id, 0, sizeof *id);
  snprintf(id->internal, sizeof id->internal, "/mt_emu_nccl_%d_%u_%lx", (int)getpid(), counter++,
           (unsigned long)ts.tv_nsec);
  return ncclSuccess;
}

ncclResult_t ncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId id, int rank) {
  if (nranks < 1 || nranks > XMAX || rank < 0 || rank >= nranks || !id.internal[0])
    return ncclInvalidArgument;
  size_t bytes = sizeof(xproc) + (size_t)nranks * XSLOT;
  int fd = shm_open(id.internal, O_CREAT | O_RDWR, 0600);
  if (fd < 0) return ncclSystemError;
  void *m = ftruncate(fd, (off_t)bytes) == 0
                ? mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
                : MAP_FAILED;
  close(fd);
  if (m == MAP_FAILED) return ncclSystemError;
  xproc *x = (xproc *)m;
  __atomic_store_n(&x->nranks, (unsigned)nranks, __ATOMIC_RELEASE);
  x->device[rank] = current_device + 1;
  ncclResult_t r = xbarrier(x); // everyone has the segment mapped
  if (rank == 0) shm_unlink(id.internal);
  int dup = 0;
  for (int i = 0; i < nranks; i++)
    for (int j = 0; j < i; j++) dup |= x->device[i] == x->device[j];
  if (r == ncclSuccess) r = xbarrier(x); // everyone has read the devices
  if (r != ncclSuccess || dup) {
    munmap(m, bytes);
    if (dup) fprintf(stderr, "[cuda-emu] ncclCommInitRank: two ranks on one device\n");
    return dup ? ncclInvalidUsage : r;
  }
  *comm = new ncclComm{nullptr, rank, current_device, x, bytes};
  return ncclSuccess;
}

ncclResult_t ncclCommInitAll(ncclComm_t *comms, int ndev, const int *devlist) {
  if (ndev < 1) return ncclInvalidArgument;
  for (int i = 0; i < ndev; i++) {
    if (devlist[i] < 0 || devlist[i] >= device_count()) return ncclInvalidArgument;
    for (int j = 0; j < i; j++)
      if (devlist[j] == devlist[i]) return ncclInvalidUsage; // as NCCL: one rank per device
  }
  clique *c = new clique{ndev, ndev};
  for (int i = 0; i < ndev; i++) comms[i] = new ncclComm{c, i, devlist[i], nullptr, 0};
  return ncclSuccess;
}

ncclResult_t ncclCommDestroy(ncclComm_t comm) {
  if (!comm) return ncclInvalidArgument;
  if (comm->x) munmap(comm->x, comm->map_bytes);
  else if (--comm->c->live == 0) delete comm->c;
  delete comm;
  return ncclSuccess;
}

ncclResult_t ncclAllReduce(const void *sendbuff, void *recvbuff, size_t count,
                           ncclDataType_t datatype, ncclRedOp_t op_, ncclComm_t comm,
                           cudaStream_t stream) {
  if (datatype != ncclFloat || op_ != ncclSum || !comm) return ncclInvalidArgument;
  return enqueue(op{0, 0, (const float *)sendbuff, (float *)recvbuff, count, comm});
}

ncclResult_t ncclBroadcast(const void *sendbuff, void *recvbuff, size_t count,
                           ncclDataType_t datatype, int root, ncclComm_t comm,
                           cudaStream_t stream) {
  int n = !comm ? 0 : comm->x ? (int)comm->x->nranks : comm->c->n;
  if (datatype != ncclFloat || !comm || root < 0 || root >= n) return ncclInvalidArgument;
  return enqueue(op{1, root, (const float *)sendbuff, (float *)recvbuff, count, comm});
}

ncclResult_t ncclGroupStart(void) {
  group_depth++;
  return ncclSuccess;
}

ncclResult_t ncclGroupEnd(void) {
  if (group_depth == 0) return ncclInvalidUsage;
  if (--group_depth > 0) return ncclSuccess;
  std::vector<op> ops;
  ops.swap(pending);
  return run_ops(ops);
}

const char *ncclGetErrorString(ncclResult_t result) {
  switch (result) {
  case ncclSuccess: return "no error";
  case ncclUnhandledCudaError: return "unhandled cuda error";
  case ncclSystemError: return "unhandled system error";
  case ncclInternalError: return "internal error";
  case ncclInvalidArgument: return "invalid argument";
  case ncclInvalidUsage: return "invalid usage";
  }
  return "unknown result";
}

} // extern "C"

/* ------------------------------------------------------------- launches */

int mtk_emu_launch_ok(dim3 grid, dim3 block, cudaStream_t stream) {
  if (stream && stream->device != current_device) {
    fail(cudaErrorInvalidResourceHandle, "launch on a stream of another device");
    return 0;
  }
  unsigned long long threads = (unsigned long long)block.x * block.y * block.z;
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || threads == 0 || threads > 1024 ||
      grid.x > 2147483647u || grid.y > 65535u || grid.z > 65535u) {
    fail(cudaErrorInvalidConfiguration, "launch with an invalid grid or block");
    return 0;
  }
  return 1;
}

namespace {

enum { STACK = 64 * 1024 };
struct fiber {
  ucontext_t ctx;
  char *stack;
  int done, at_barrier;
};
ucontext_t scheduler;
std::vector<fiber> fibers;
fiber *running;
void (*fiber_body)(void *);
void *fiber_arg;

void fiber_main() {
  fiber_body(fiber_arg);
  running->done = 1; // uc_link returns to the scheduler
}

} // namespace

void mtk_emu_run_block(unsigned nthreads, void (*body)(void *), void *arg) {
  if (blockDim.y != 1 || blockDim.z != 1 || gridDim.y != 1 || gridDim.z != 1) {
    fprintf(stderr, "[cuda-emu] __syncthreads kernels: 1-d grids and blocks only\n");
    abort();
  }
  if (fibers.size() < nthreads) {
    size_t old = fibers.size();
    fibers.resize(nthreads);
    for (size_t i = old; i < nthreads; i++) fibers[i].stack = (char *)malloc(STACK);
  }
  fiber_body = body;
  fiber_arg = arg;
  for (unsigned t = 0; t < nthreads; t++) {
    fiber &f = fibers[t];
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = f.stack;
    f.ctx.uc_stack.ss_size = STACK;
    f.ctx.uc_link = &scheduler;
    makecontext(&f.ctx, fiber_main, 0);
    f.done = f.at_barrier = 0;
  }
  for (;;) { // one round: every live thread runs to its next barrier or its end
    unsigned live = 0, waiting = 0;
    for (unsigned t = 0; t < nthreads; t++) {
      fiber &f = fibers[t];
      if (f.done) continue;
      f.at_barrier = 0;
      running = &f;
      threadIdx = uint3{t, 0, 0};
      swapcontext(&scheduler, &f.ctx);
      if (!f.done) waiting++;
      live++;
    }
    if (live == 0) break;
    if (waiting != 0 && waiting != live) {
      fprintf(stderr,
              "[cuda-emu] __syncthreads reached by %u of the block's %u live threads "
              "(the others ended): undefined on a GPU\n",
              waiting, live);
      abort();
    }
    if (waiting == 0) break;
  }
}

void __syncthreads(void) {
  fiber *f = running;
  f->at_barrier = 1;
  swapcontext(&f->ctx, &scheduler);
}

/* ----------------------------------------- for the other emulated libraries */

// cudnn.cpp checks its operands and streams as cuBLAS's calls here do.
int mtk_emu_where(const void *p, size_t bytes) { return where(p, bytes); }
int mtk_emu_current_device(void) { return current_device; }
int mtk_emu_stream_device(cudaStream_t stream) { return stream ? stream->device : -1; }
