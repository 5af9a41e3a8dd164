// The lock-free queue between a worker and the sink thread.
#include "telemetry/spsc_ring.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace sluice::telemetry {
namespace {

TEST(SpscRing, FifoAndFullAtCapacity) {
  SpscRing<int> ring(3);  // rounded up to 4
  EXPECT_EQ(ring.capacity(), 4u);
  int v[5] = {0, 1, 2, 3, 4};
  for (int i = 0; i < 4; i++) EXPECT_TRUE(ring.push(&v[i]));
  EXPECT_FALSE(ring.push(&v[4]));
  EXPECT_EQ(ring.size(), 4u);
  for (int i = 0; i < 4; i++) EXPECT_EQ(ring.pop(), &v[i]);
  EXPECT_EQ(ring.pop(), nullptr);
  EXPECT_TRUE(ring.push(&v[4]));  // room again, across the wrap
  EXPECT_EQ(ring.pop(), &v[4]);
}

TEST(SpscRing, TwoThreadsLoseAndReorderNothing) {
  constexpr size_t kItems = 50000;
  std::vector<size_t> items(kItems);
  for (size_t i = 0; i < kItems; i++) items[i] = i;
  SpscRing<size_t> ring(256);
  std::thread producer([&] {
    for (size_t i = 0; i < kItems; i++) {
      while (!ring.push(&items[i])) std::this_thread::yield();
    }
  });
  size_t next = 0;
  while (next < kItems) {
    if (size_t* p = ring.pop()) {
      ASSERT_EQ(*p, next);
      next++;
    } else {
      std::this_thread::yield();
    }
  }
  producer.join();
  EXPECT_EQ(ring.pop(), nullptr);
}

}  // namespace
}  // namespace sluice::telemetry
