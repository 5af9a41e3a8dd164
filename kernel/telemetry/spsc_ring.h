// A bounded single-producer single-consumer ring of pointers: the producer
// (one worker) pushes with one release store, the consumer (the sink thread)
// pops with one. No lock, no allocation after construction.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace sluice::telemetry {

template <typename T>
class SpscRing {
 public:
  // Capacity is rounded up to a power of two.
  explicit SpscRing(size_t capacity) {
    size_t n = 2;
    while (n < capacity) n <<= 1;
    mask_ = n - 1;
    slots_ = std::make_unique<T*[]>(n);
  }

  // Producer. False when the ring is full (the item is not taken).
  bool push(T* item) {
    size_t tail = tail_.load(std::memory_order_relaxed);
    if (tail - head_cache_ > mask_) {
      head_cache_ = head_.load(std::memory_order_acquire);
      if (tail - head_cache_ > mask_) return false;
    }
    slots_[tail & mask_] = item;
    tail_.store(tail + 1, std::memory_order_release);
    return true;
  }

  // Consumer. nullptr when empty.
  T* pop() {
    size_t head = head_.load(std::memory_order_relaxed);
    if (head == tail_cache_) {
      tail_cache_ = tail_.load(std::memory_order_acquire);
      if (head == tail_cache_) return nullptr;
    }
    T* item = slots_[head & mask_];
    head_.store(head + 1, std::memory_order_release);
    return item;
  }

  // Either side; a snapshot.
  size_t size() const {
    return tail_.load(std::memory_order_acquire) - head_.load(std::memory_order_acquire);
  }
  size_t capacity() const { return mask_ + 1; }

 private:
  std::unique_ptr<T*[]> slots_;
  size_t mask_ = 0;
  // Each side's index and its cached copy of the other's sit on their own
  // cache line, so the two threads do not bounce one line between them.
  alignas(64) std::atomic<size_t> head_{0};
  size_t tail_cache_ = 0;
  alignas(64) std::atomic<size_t> tail_{0};
  size_t head_cache_ = 0;
};

}  // namespace sluice::telemetry
