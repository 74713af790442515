// Intrusive doubly-linked list of element indices, for the flow table's and the
// translator's lists of flow records and of queued frame slots. The elements live in
// storage the owner keeps (a table of records, parallel arrays); each has a prev and a
// next index that only this list touches. Append, unlink and membership are O(1);
// nothing allocates or throws.
//
// `Links` is a small copyable accessor to that storage:
//   std::uint32_t& prev(std::uint32_t i) const;  // element i's link fields
//   std::uint32_t& next(std::uint32_t i) const;
// Both links of an element not in the list must be kNoIndex (initialise them so; erase
// resets them): membership is read from them, no separate flag is kept.
// Not thread-safe: one owner thread.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ftproxy::tcp {

inline constexpr std::uint32_t kNoIndex = 0xFFFFFFFFu;  // "no element"

template <class Links>
class IndexList {
 public:
  explicit IndexList(Links links) noexcept : links_(links) {}

  std::uint32_t head() const noexcept { return head_; }  // kNoIndex when empty
  std::uint32_t tail() const noexcept { return tail_; }  // kNoIndex when empty
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return head_ == kNoIndex; }
  // The element after `i` (kNoIndex after the tail); `i` must be in the list.
  std::uint32_t next(std::uint32_t i) const noexcept { return links_.next(i); }

  bool contains(std::uint32_t i) const noexcept { return links_.prev(i) != kNoIndex || head_ == i; }

  // Appends `i` at the tail; a no-op when it is already in the list (it keeps its place).
  void push_back(std::uint32_t i) noexcept {
    if (contains(i)) return;
    links_.prev(i) = tail_;
    links_.next(i) = kNoIndex;
    if (tail_ != kNoIndex) {
      links_.next(tail_) = i;
    } else {
      head_ = i;
    }
    tail_ = i;
    ++size_;
  }

  // Unlinks `i` and resets its links; a no-op when it is not in the list.
  void erase(std::uint32_t i) noexcept {
    if (!contains(i)) return;
    const std::uint32_t prev = links_.prev(i);
    const std::uint32_t next = links_.next(i);
    if (prev != kNoIndex) {
      links_.next(prev) = next;
    } else {
      head_ = next;
    }
    if (next != kNoIndex) {
      links_.prev(next) = prev;
    } else {
      tail_ = prev;
    }
    links_.prev(i) = kNoIndex;
    links_.next(i) = kNoIndex;
    --size_;
  }

 private:
  Links links_;
  std::uint32_t head_ = kNoIndex;
  std::uint32_t tail_ = kNoIndex;
  std::size_t size_ = 0;
};

}  // namespace ftproxy::tcp
