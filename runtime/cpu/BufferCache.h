//===- BufferCache.h - The runtime's reusable heap blocks -------*- C++ -*-===//
//
// The heap blocks compiled code's buffers come from (BufferCache.cpp), for
// the kernels' own scratch: large blocks are kept on free and handed out
// again, so a scratch buffer of every call does not page-fault anew.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_CPU_BUFFERCACHE_H
#define MOE_RUNTIME_CPU_BUFFERCACHE_H

#include <cstddef>

namespace moe::runtime {

/// `bytes` of heap memory (max_align_t-aligned); null when out of memory.
void *cachedAlloc(size_t bytes);
/// Returns a block of cachedAlloc (null: nothing).
void cachedFree(void *block);

} // namespace moe::runtime

#endif // MOE_RUNTIME_CPU_BUFFERCACHE_H
