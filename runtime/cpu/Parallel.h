//===- Parallel.h - oneTBB helpers of the CPU runtime -----------*- C++ -*-===//

#ifndef MOE_RUNTIME_CPU_PARALLEL_H
#define MOE_RUNTIME_CPU_PARALLEL_H

#include "moe_runtime.h"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <cstdint>

namespace moe::runtime {

/// Runs body(i) for i in [0, n) on at most config->num_threads threads;
/// with 0, in the caller's oneTBB arena (a compiled model instance's arena,
/// whose size moe_model_create chose, or all cores).
template <typename Body>
void parallelFor(const moe_exec_config *config, int64_t n, const Body &body) {
  if (n <= 0)
    return;
  int threads = config ? config->num_threads : 0;
  if (threads == 1 || n == 1) {
    for (int64_t i = 0; i < n; ++i)
      body(i);
    return;
  }
  auto loop = [&] {
    tbb::parallel_for(tbb::blocked_range<int64_t>(0, n),
                      [&](const tbb::blocked_range<int64_t> &range) {
                        for (int64_t i = range.begin(); i < range.end(); ++i)
                          body(i);
                      });
  };
  if (threads <= 0)
    return loop();
  tbb::task_arena arena(threads);
  arena.execute(loop);
}

inline bool validConfig(const moe_exec_config *config) {
  return !config || config->num_threads >= 0;
}

} // namespace moe::runtime

#endif // MOE_RUNTIME_CPU_PARALLEL_H
