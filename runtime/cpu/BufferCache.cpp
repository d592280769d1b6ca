//===- BufferCache.cpp - Heap buffers of compiled code, reused across runs ===//
//
// Compiled code allocates its intermediates (memref.alloc) through
// _mlir_memref_to_llvm_alloc / _free (finalize-memref-to-llvm with
// use-generic-functions). Large buffers come from the kernel's mmap in
// glibc and go back on free, so every run of a model page-faults and
// zeroes its intermediates again (a few percent of a prefill). Here large
// blocks are kept on free and handed out again to the next allocation of
// the same size class: the second run of a model reuses the first run's
// memory. Small blocks go to malloc as before.
//
// A block carries a header in front of the pointer returned (its size
// class and the address malloc gave), so free needs no lookup. The cache
// holds at most MOE_RUNTIME_BUFFER_CACHE bytes (default 1 GiB; 0 turns
// caching off). Sanitizer builds do not cache, so that use-after-free in
// compiled code stays visible.
//
//===----------------------------------------------------------------------===//

#include "BufferCache.h"
#include "moe_runtime.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>
#include <new>
#include <unordered_set>
#include <vector>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MOE_NO_BUFFER_CACHE 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define MOE_NO_BUFFER_CACHE 1
#endif

namespace {

/// Blocks below this size are not cached (malloc serves them from its
/// arenas without page faults anyway).
constexpr size_t kCachedMin = 256 << 10;
/// Payloads are at least 64-byte aligned (cache lines, AVX-512 loads).
constexpr size_t kAlign = 64;

struct Header {
  void *base;      // what malloc returned
  size_t capacity; // payload bytes (the size class), 0 when not cached
};

/// Size classes: eight steps per power of two (at most 12.5% unused).
size_t sizeClass(size_t bytes) {
  size_t power = 1;
  while (power < bytes)
    power <<= 1;
  size_t step = power / 16 ? power / 16 : 1;
  return (bytes + step - 1) / step * step;
}

class BufferCache {
public:
  BufferCache() {
#ifndef MOE_NO_BUFFER_CACHE
    limit = size_t(1) << 30;
    if (const char *env = std::getenv("MOE_RUNTIME_BUFFER_CACHE")) {
      char *end = nullptr;
      unsigned long long value = std::strtoull(env, &end, 10);
      if (end != env && *end == '\0')
        limit = static_cast<size_t>(value);
    }
#endif
  }

  void *allocate(size_t bytes, size_t alignment) {
    size_t capacity = bytes >= kCachedMin && limit ? sizeClass(bytes) : bytes;
    if (capacity >= kCachedMin && alignment <= kAlign) {
      std::lock_guard<std::mutex> lock(mutex);
      auto it = free.find(capacity);
      if (it != free.end() && !it->second.empty()) {
        void *payload = it->second.back();
        it->second.pop_back();
        cached -= capacity;
        return payload;
      }
    }
    // Room for the header in front and for aligning the payload.
    size_t align = alignment > kAlign ? alignment : kAlign;
    void *base = std::malloc(capacity + sizeof(Header) + align);
    if (!base)
      return nullptr;
    uintptr_t start = reinterpret_cast<uintptr_t>(base) + sizeof(Header);
    start = (start + align - 1) / align * align;
    auto *header = reinterpret_cast<Header *>(start - sizeof(Header));
    header->base = base;
    header->capacity =
        capacity >= kCachedMin && alignment <= kAlign ? capacity : 0;
    return reinterpret_cast<void *>(start);
  }

  size_t cacheLimit() const { return limit; }

  void release(void *payload) {
    if (!payload)
      return;
    auto *header = reinterpret_cast<Header *>(static_cast<char *>(payload) -
                                              sizeof(Header));
    size_t capacity = header->capacity;
    if (capacity) {
      std::lock_guard<std::mutex> lock(mutex);
      if (cached + capacity <= limit) {
        free[capacity].push_back(payload);
        cached += capacity;
        return;
      }
    }
    std::free(header->base);
  }

private:
  std::mutex mutex;
  std::map<size_t, std::vector<void *>> free;
  size_t cached = 0;
  size_t limit = 0;
};

BufferCache &cache() {
  // Never destroyed: compiled code may free buffers during static
  // destruction of the caller's objects.
  static BufferCache *instance = new BufferCache();
  return *instance;
}

} // namespace

/// The calling thread's allocator for the buffers moe-mark-device-io
/// tagged for device memory (allocated with alignment
/// MOE_DEVICE_BUFFER_ALIGNMENT) while one is installed
/// (moe_runtime_set_thread_allocator), with the blocks it gave out, which
/// free sends back to it.
struct ThreadAllocator {
  moe_alloc_fn allocate = nullptr;
  moe_free_fn release = nullptr;
  std::unordered_set<void *> blocks;
};
thread_local ThreadAllocator threadAllocator;

void *moe::runtime::cachedAlloc(size_t bytes) {
  return cache().allocate(bytes, alignof(std::max_align_t));
}

void moe::runtime::cachedFree(void *block) {
  if (block)
    cache().release(block);
}

extern "C" {

void *_mlir_memref_to_llvm_alloc(size_t size) {
  return cache().allocate(size, alignof(std::max_align_t));
}

void *_mlir_memref_to_llvm_aligned_alloc(size_t alignment, size_t size) {
  if (alignment == MOE_DEVICE_BUFFER_ALIGNMENT && threadAllocator.allocate) {
    void *block = threadAllocator.allocate(size);
    if (block)
      threadAllocator.blocks.insert(block);
    return block;
  }
  return cache().allocate(size, alignment);
}

void _mlir_memref_to_llvm_free(void *ptr) {
  if (!threadAllocator.blocks.empty() && threadAllocator.blocks.erase(ptr)) {
    if (threadAllocator.release)
      threadAllocator.release(ptr);
    return;
  }
  cache().release(ptr);
}

void moe_runtime_set_thread_allocator(moe_alloc_fn allocate,
                                      moe_free_fn release) {
  threadAllocator.allocate = allocate;
  threadAllocator.release = release;
}

int64_t moe_runtime_buffer_cache_limit(void) {
  return static_cast<int64_t>(cache().cacheLimit());
}

} // extern "C"
