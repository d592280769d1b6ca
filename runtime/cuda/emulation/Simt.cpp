//===- Simt.cpp - Blocks of fibers: the SIMT emulator's scheduler ---------===//
//
// A launch runs its blocks one after another; a block's threads are
// fibers on the launching thread, resumed from a ready queue until they
// end or wait at a barrier (the last to arrive releases the others).
// Launches are serialized process-wide: `__shared__` variables are
// statics. A fiber starts through ucontext (its own stack) and switches
// with _setjmp/_longjmp after that: swapcontext saves the signal mask, a
// system call per switch, most of the emulation's time.
//
//===----------------------------------------------------------------------===//

#include "Simt.h"

#include "EmulatedDevice.h"
#include "TensorCore.h"

#include <setjmp.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <unordered_map>

#include <csignal>
#include <cstdio>
#include <cstdlib>

#include <array>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

// AddressSanitizer must be told of every switch between stacks (else it
// takes a fiber's frames for the scheduler's and reports nonsense).
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MOE_SIMT_ASAN 1
#include <sanitizer/common_interface_defs.h>
#endif
#endif

uint3 threadIdx, blockIdx;
dim3 blockDim, gridDim;

namespace moe::cuda_emulation {
namespace {

constexpr size_t kStackBytes = 256 * 1024;
constexpr size_t kGuardBytes = 4096;

/// A stack with a guard page below it (an overflow faults, not corrupts).
struct Stack {
  void *base = nullptr;
  Stack() {
    base = mmap(nullptr, kStackBytes + kGuardBytes, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED)
      base = nullptr;
    else
      mprotect(base, kGuardBytes, PROT_NONE);
  }
  ~Stack() {
    if (base)
      munmap(base, kStackBytes + kGuardBytes);
  }
  Stack(const Stack &) = delete;
  Stack &operator=(const Stack &) = delete;
  /// The lowest address of the usable stack.
  void *start() const { return static_cast<char *>(base) + kGuardBytes; }
};

struct Copy {
  void *dst;
  const void *src;
  int srcBytes, bytes;
};

/// An issued wgmma: its accumulators and operand descriptors.
struct Wgmma {
  float *d;
  uint64_t a, b;
  bool half;
};

/// An mbarrier's state: arrivals still expected in the current phase,
/// transaction bytes still expected, the phases completed so far.
struct Mbarrier {
  uint32_t arrivals = 0, pendingArrivals = 0;
  int64_t pendingBytes = 0;
  uint32_t phase = 0;
};

/// A thread's asynchronous operations of one kind (cp.async copies,
/// wgmmas): issued ones join a group at commit; waiting retires the oldest
/// groups until at most `pending` are left.
template <typename Op> struct AsyncGroups {
  std::vector<Op> issued;
  std::deque<std::vector<Op>> committed;
  void commit() {
    committed.push_back(std::move(issued));
    issued.clear();
  }
  template <typename Retire> void wait(int pending, Retire &&retire) {
    while (int(committed.size()) > pending) {
      for (const Op &op : committed.front())
        retire(op);
      committed.pop_front();
    }
  }
  bool empty() const { return issued.empty() && committed.empty(); }
};

struct Fiber {
  ucontext_t context; // to start it
  jmp_buf jump;       // where it waits, once started
  bool started = false;
  void *fakeStack = nullptr; // ASan's, while switched away
  uint3 index;
  int warp = 0, lane = 0;
  bool done = false;
  AsyncGroups<Copy> copies;  // landed when retired
  AsyncGroups<Wgmma> wgmmas; // computed when retired
  bool spinning = false; // yielded from a failed mbarrier wait
};

/// One block being run: its fibers, the ready queue, the barriers' waiters
/// and the warps' exchange slots; `error` ends it (a failing fiber jumps
/// back to the scheduler, never to resume).
struct BlockRun {
  const std::function<void()> *body = nullptr;
  std::vector<Fiber> fibers;
  jmp_buf scheduler;
  int current = -1;
  int alive = 0;
  std::deque<int> ready;
  std::vector<int> blockWaiters;
  std::vector<std::vector<int>> warpWaiters;
  std::vector<uint32_t> warpLive;
  std::vector<uint32_t> warpGeneration; // warp barriers released so far
  // Two sets of slots per warp, by the generation's parity: a lane cannot
  // write a set again before every lane has read it (that takes the next
  // barrier), so a collective needs one barrier, not two.
  std::vector<std::array<unsigned char, 2 * kWarpSize * kSlotBytes>> slots;
  std::unordered_map<uint32_t, Mbarrier> mbarriers; // by shared address
  int idleSpins = 0; // failed mbarrier waits since anything else happened
  std::string error;
};

std::mutex launchMutex;
int64_t launches = 0;
/// Launches by kernel name (the launch's text up to its template
/// arguments: "attentionMma").
std::map<std::string, int64_t> launchesByName;
std::atomic<int64_t> stagedBytes{0};
BlockRun *run = nullptr;

/// The stack switches, announced to ASan where it runs: the scheduler's
/// stack (where fibers return to) and the fibers' own.
#ifdef MOE_SIMT_ASAN
const void *schedulerBottom = nullptr;
size_t schedulerSize = 0;
#endif

void toFiber(Fiber &f, void *stackBottom) {
#ifdef MOE_SIMT_ASAN
  void *fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, stackBottom, kStackBytes);
#else
  (void)stackBottom;
#endif
  if (_setjmp(run->scheduler) == 0) {
    if (f.started)
      _longjmp(f.jump, 1);
    f.started = true;
    setcontext(&f.context);
  }
#ifdef MOE_SIMT_ASAN
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
}

/// Called first thing on a fiber's stack after every switch to it.
void arrived(Fiber &f) {
#ifdef MOE_SIMT_ASAN
  __sanitizer_finish_switch_fiber(f.fakeStack, &schedulerBottom,
                                  &schedulerSize);
#else
  (void)f;
#endif
}

/// From a fiber to the scheduler: `ending`, for good.
void announceLeaving(Fiber &f, bool ending) {
#ifdef MOE_SIMT_ASAN
  __sanitizer_start_switch_fiber(ending ? nullptr : &f.fakeStack,
                                 schedulerBottom, schedulerSize);
#else
  (void)f;
  (void)ending;
#endif
}
std::vector<std::unique_ptr<Stack>> stacks;
std::vector<unsigned char> sharedBytes;
unsigned char *sharedBase = nullptr;
size_t sharedSize = 0; // the launch's dynamic shared memory

Fiber &self() { return run->fibers[run->current]; }

/// MOE_CUDA_EMULATION_ORDER=reverse runs a block's threads from the last
/// to the first, and releases a barrier's waiters last-come first: a read
/// of shared memory that no barrier orders after its write sees the old
/// value in one of the two orders (the kernel tests run both).
bool reversedOrder() {
  static const bool reversed = [] {
    const char *order = std::getenv("MOE_CUDA_EMULATION_ORDER");
    return order && std::string(order) == "reverse";
  }();
  return reversed;
}

/// Queues threads released together, in the order asked for.
void release(const std::vector<int> &threads, int except) {
  if (reversedOrder()) {
    for (auto t = threads.rbegin(); t != threads.rend(); ++t)
      if (*t != except)
        run->ready.push_back(*t);
    return;
  }
  for (int t : threads)
    if (t != except)
      run->ready.push_back(t);
}

const char *runningKernel = nullptr;

/// A kernel touching memory it must not (past a device buffer, into
/// host memory): says where, as compute-sanitizer would, then dies.
void memoryFault(int signal, siginfo_t *info, void *) {
  char text[512];
  int n = std::snprintf(
      text, sizeof(text),
      "CUDA emulation: invalid access to %p by kernel %s, block (%u, %u, %u), "
      "thread (%u, %u, %u)\n",
      info->si_addr, runningKernel ? runningKernel : "?", blockIdx.x,
      blockIdx.y, blockIdx.z, threadIdx.x, threadIdx.y, threadIdx.z);
  if (n > 0)
    (void)!write(STDERR_FILENO, text, size_t(std::min(n, int(sizeof(text)))));
  std::signal(signal, SIG_DFL);
  std::raise(signal);
}

/// The fault report above while a launch runs (the process's own
/// handlers are back after it).
struct FaultReport {
  struct sigaction previousSegv, previousBus;
  explicit FaultReport(const char *kernel) {
    runningKernel = kernel;
    struct sigaction action = {};
    action.sa_sigaction = memoryFault;
    action.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &action, &previousSegv);
    sigaction(SIGBUS, &action, &previousBus);
  }
  ~FaultReport() {
    sigaction(SIGSEGV, &previousSegv, nullptr);
    sigaction(SIGBUS, &previousBus, nullptr);
    runningKernel = nullptr;
  }
};

void yield() {
  Fiber &f = self();
  announceLeaving(f, /*ending=*/false);
  if (_setjmp(f.jump) == 0)
    _longjmp(run->scheduler, 1);
  arrived(self());
}

void land(const Copy &c) {
  std::memcpy(c.dst, c.src, c.srcBytes);
  std::memset(static_cast<char *>(c.dst) + c.srcBytes, 0, c.bytes - c.srcBytes);
}

void fiberMain() {
  arrived(self());
  (*run->body)();
  Fiber &f = self();
  if (!f.wgmmas.empty())
    fail("a thread ended with wgmmas it did not wait for");
  f.done = true;
  --run->alive;
  run->warpLive[f.warp] &= ~(1u << f.lane);
  // Threads still waiting for one that has ended would wait forever.
  if (!run->blockWaiters.empty() && int(run->blockWaiters.size()) == run->alive)
    fail("a thread ended while others wait at __syncthreads");
  if (!run->warpWaiters[f.warp].empty())
    fail("a lane ended while others wait at a warp collective naming it");
  announceLeaving(f, /*ending=*/true);
  _longjmp(run->scheduler, 1); // never returns: its context has no link
}

/// Runs one block to its end; false (run->error set) on a failure.
bool runBlock(const dim3 &block) {
  int threads = int(block.x * block.y * block.z);
  int warps = (threads + kWarpSize - 1) / kWarpSize;
  while (int(stacks.size()) < threads) {
    stacks.push_back(std::make_unique<Stack>());
    if (!stacks.back()->base) {
      run->error = "no memory for the fibers' stacks";
      return false;
    }
  }
  run->fibers.assign(threads, Fiber{});
  run->alive = threads;
  run->ready.clear();
  run->mbarriers.clear();
  run->idleSpins = 0;
  run->blockWaiters.clear();
  run->warpWaiters.assign(warps, {});
  run->warpLive.assign(warps, 0);
  run->slots.resize(warps);
  run->warpGeneration.assign(warps, 0);
  for (int t = 0; t < threads; ++t) {
    Fiber &f = run->fibers[t];
    f.index = uint3{unsigned(t % block.x), unsigned(t / block.x % block.y),
                    unsigned(t / (block.x * block.y))};
    f.warp = t / kWarpSize;
    f.lane = t % kWarpSize;
    run->warpLive[f.warp] |= 1u << f.lane;
    getcontext(&f.context);
    f.context.uc_stack.ss_sp = stacks[t]->start();
    f.context.uc_stack.ss_size = kStackBytes;
    f.context.uc_link = nullptr;
    makecontext(&f.context, fiberMain, 0);
  }
  std::vector<int> all(threads);
  for (int t = 0; t < threads; ++t)
    all[t] = t;
  release(all, /*except=*/-1);
  while (!run->ready.empty() && run->error.empty()) {
    run->current = run->ready.front();
    run->ready.pop_front();
    Fiber &f = run->fibers[run->current];
    threadIdx = f.index;
    toFiber(f, stacks[run->current]->start());
    // Spinners requeue themselves: once every queued thread has failed
    // its wait with nothing changed in between, none ever will succeed.
    if (!f.spinning)
      run->idleSpins = 0;
    else if (++run->idleSpins > int(run->ready.size()) + 1 &&
             run->error.empty())
      run->error = "deadlock: threads wait on mbarrier phases that never "
                   "complete";
    f.spinning = false;
  }
  if (run->error.empty() && run->alive > 0)
    run->error = "deadlock: threads wait at a barrier (__syncthreads or a "
                 "warp collective) that others of the block never reach";
  // Bytes expected of TMA loads that never came, or loads no phase
  // expected (a wrong expect_tx count: a hang, or a phase completing
  // before its data, on a GPU).
  for (auto &[address, barrier] : run->mbarriers)
    if (run->error.empty() && barrier.pendingBytes != 0)
      run->error = "an mbarrier's expected transaction bytes and the bytes "
                   "its asynchronous copies signalled differ";
  return run->error.empty();
}

} // namespace

/// Whether MOE_CUDA_EMULATION_TRACE asks for each launch on stderr (which
/// calls a count of launches is made of).
bool traceLaunches() {
  static const bool trace = std::getenv("MOE_CUDA_EMULATION_TRACE") != nullptr;
  return trace;
}

void launch(const char *kernel, const void *address, dim3 grid, dim3 block,
            size_t dynamicSharedBytes, const std::function<void()> &body) {
  std::lock_guard<std::mutex> lock(launchMutex);
  ++launches;
  std::string name(kernel);
  ++launchesByName[name.substr(0, name.find_first_of("<( "))];
  if (traceLaunches())
    std::fprintf(stderr, "launch %s\n", kernel);
  std::string problem =
      device::checkLaunch(address, grid, block, dynamicSharedBytes);
  if (!problem.empty()) {
    device::launchFailed(kernel, problem, /*configuration=*/true);
    return;
  }
  device::DeviceAccess access;
  FaultReport report(kernel);
  BlockRun state;
  state.body = &body;
  run = &state;
  sharedBytes.assign(dynamicSharedBytes + 128, 0);
  sharedSize = dynamicSharedBytes;
  sharedBase = reinterpret_cast<unsigned char *>(
      (reinterpret_cast<uintptr_t>(sharedBytes.data()) + 127) &
      ~uintptr_t(127));
  gridDim = grid;
  blockDim = block;
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) {
        blockIdx = uint3{x, y, z};
        // A block's shared memory starts as garbage on a GPU, not zeros nor
        // what the block before left: all bits set (NaN) here.
        std::memset(sharedBase, 0xFF, sharedSize);
        if (!runBlock(block)) {
          device::launchFailed(
              kernel,
              "block (" + std::to_string(x) + ", " + std::to_string(y) + ", " +
                  std::to_string(z) + "), thread " +
                  std::to_string(state.current) + ": " + state.error,
              /*configuration=*/false);
          run = nullptr;
          return;
        }
      }
  run = nullptr;
}

unsigned char *dynamicShared() { return sharedBase; }

void fail(const char *what) {
  if (!run) { // device code called outside a launch
    std::fprintf(stderr, "CUDA emulation: %s (outside any kernel)\n", what);
    std::abort();
  }
  run->error = what;
  // Back to the scheduler for good: this fiber is not resumed.
  announceLeaving(self(), /*ending=*/true);
  _longjmp(run->scheduler, 1);
  __builtin_unreachable();
}

void blockBarrier() {
  run->blockWaiters.push_back(run->current);
  if (int(run->blockWaiters.size()) < run->alive)
    return yield();
  release(run->blockWaiters, run->current);
  run->blockWaiters.clear();
}

void warpBarrier(unsigned mask) {
  Fiber &f = self();
  uint32_t live = run->warpLive[f.warp];
  if (!(mask >> f.lane & 1u))
    fail("a warp collective's mask leaves out the calling lane");
  if ((mask & ~live) != 0)
    fail("a warp collective's mask names a lane that has ended or does not "
         "exist");
  std::vector<int> &waiters = run->warpWaiters[f.warp];
  waiters.push_back(run->current);
  if (int(waiters.size()) < __builtin_popcount(mask))
    return yield();
  release(waiters, run->current);
  waiters.clear();
  ++run->warpGeneration[f.warp];
}

int laneId() { return self().lane; }

unsigned char *warpSlots() {
  int warp = self().warp;
  return run->slots[warp].data() +
         (run->warpGeneration[warp] & 1) * kWarpSize * kSlotBytes;
}

void checkAligned(const void *p, size_t bytes) {
  if (reinterpret_cast<uintptr_t>(p) % bytes != 0)
    fail("vector access not aligned to its size");
}

void copyAsync(void *dst, const void *src, int srcBytes, int bytes) {
  if (reinterpret_cast<uintptr_t>(dst) % bytes != 0 ||
      reinterpret_cast<uintptr_t>(src) % bytes != 0)
    fail("cp.async address not aligned to its size");
  self().copies.issued.push_back({dst, src, srcBytes, bytes});
  device::addStagedBytes(srcBytes);
}

void commitCopies() { self().copies.commit(); }

void waitCopies(int pending) { self().copies.wait(pending, land); }

uint32_t sharedAddress(const void *pointer) {
  return kSharedBase +
         uint32_t(static_cast<const unsigned char *>(pointer) - sharedBase);
}

unsigned char *sharedPointer(uint32_t address) {
  if (address < kSharedBase || address - kSharedBase >= sharedSize)
    fail("shared-memory address outside the block's dynamic shared memory");
  return sharedBase + (address - kSharedBase);
}

void wgmma64x128(float (&d)[64], uint64_t aDescriptor, uint64_t bDescriptor,
                 bool half) {
  checkWgmmaDescriptor(aDescriptor); // refused when issued
  checkWgmmaDescriptor(bDescriptor);
  self().wgmmas.issued.push_back({d, aDescriptor, bDescriptor, half});
}

void wgmmaCommit() { self().wgmmas.commit(); }

void wgmmaWait(int pending) {
  self().wgmmas.wait(pending, [](const Wgmma &op) {
    computeWgmma(op.d, op.a, op.b, op.half);
  });
}

namespace {
Mbarrier &mbarrierAt(uint32_t bar) {
  if (bar % 8 != 0)
    fail("mbarrier address not 8-byte aligned");
  (void)sharedPointer(bar); // inside the block's shared memory
  auto it = run->mbarriers.find(bar);
  if (it == run->mbarriers.end())
    fail("mbarrier used before mbarrier.init");
  return it->second;
}

/// Completes the current phase once nothing more is expected in it.
void settle(Mbarrier &m) {
  run->idleSpins = 0;
  if (m.pendingArrivals == 0 && m.pendingBytes == 0) {
    ++m.phase;
    m.pendingArrivals = m.arrivals;
  }
}
} // namespace

void mbarrierInit(uint32_t bar, uint32_t arrivals) {
  if (bar % 8 != 0)
    fail("mbarrier address not 8-byte aligned");
  if (arrivals == 0 || arrivals >= (1u << 20))
    fail("mbarrier.init with an arrival count outside [1, 2^20 - 1]");
  (void)sharedPointer(bar);
  run->mbarriers[bar] = Mbarrier{arrivals, arrivals, 0, 0};
}

void mbarrierArrive(uint32_t bar, uint32_t txBytes) {
  Mbarrier &m = mbarrierAt(bar);
  if (m.pendingArrivals == 0)
    fail("mbarrier arrival beyond the phase's expected count");
  m.pendingBytes += txBytes;
  --m.pendingArrivals;
  settle(m);
}

void mbarrierCompleteTx(uint32_t bar, uint32_t bytes) {
  Mbarrier &m = mbarrierAt(bar);
  m.pendingBytes -= bytes;
  settle(m);
}

bool mbarrierTryWait(uint32_t bar, uint32_t parity) {
  return (mbarrierAt(bar).phase & 1) != (parity & 1);
}

void mbarrierWait(uint32_t bar, uint32_t parity) {
  while (!mbarrierTryWait(bar, parity)) {
    run->ready.push_back(run->current);
    self().spinning = true;
    yield();
  }
}

} // namespace moe::cuda_emulation

void moe::cuda_emulation::device::addStagedBytes(int64_t bytes) {
  moe::cuda_emulation::stagedBytes += bytes;
}

void moe::cuda_emulation::device::countLibraryLaunch() {
  std::lock_guard<std::mutex> lock(moe::cuda_emulation::launchMutex);
  ++moe::cuda_emulation::launches;
  if (moe::cuda_emulation::traceLaunches())
    std::fprintf(stderr, "launch (cuBLAS)\n");
}

/// Bytes the kernels staged from device memory into shared memory so far
/// (cp.async and TMA; zero-filled parts not counted): the kernel tests
/// check with it that decode reads each touched weight once.
extern "C" int64_t moe_model_test_staged_bytes(void) {
  return moe::cuda_emulation::stagedBytes;
}

/// Kernel launches so far: tests count a call's launches with it (named
/// moe_model_* so that models, which export only those, export it too).
extern "C" int64_t moe_model_test_kernel_launches(void) {
  std::lock_guard<std::mutex> lock(moe::cuda_emulation::launchMutex);
  return moe::cuda_emulation::launches;
}

/// Launches of the kernel named `name` so far (without template
/// arguments): tests check with it which kernel a call ran.
extern "C" int64_t moe_model_test_kernel_launches_of(const char *name) {
  std::lock_guard<std::mutex> lock(moe::cuda_emulation::launchMutex);
  auto found = moe::cuda_emulation::launchesByName.find(name);
  return found == moe::cuda_emulation::launchesByName.end() ? 0 : found->second;
}
