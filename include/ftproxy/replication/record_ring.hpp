// A FIFO of variable-length byte records in fixed storage: one byte array plus a ring
// of slots, both sized at construction. Each record is contiguous; when the tail
// end of the array is too short the record wraps to offset 0 (the tail bytes are
// skipped until the ring drains past them). Used by UnackedLog and OutputGate.
//
// Pure, no allocation after construction, no exceptions. Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace ftproxy::replication {

template <class Meta>
class RecordRing {
 public:
  RecordRing(std::size_t capacity_bytes, std::size_t capacity_records)
      : data_(capacity_bytes), slots_(capacity_records == 0 ? 1 : capacity_records) {}

  // Appends a record of `len` bytes and returns where the caller writes them, or
  // nullptr when the slots or the contiguous free bytes are exhausted.
  std::uint8_t* push(std::size_t len, const Meta& meta) noexcept {
    if (count_ == slots_.size()) return nullptr;
    std::size_t off = 0;
    if (count_ == 0) {
      write_ = 0;
      wrapped_ = false;
      if (len > data_.size()) return nullptr;
    } else if (!wrapped_) {
      if (write_ + len <= data_.size()) {
        off = write_;
      } else if (len <= head_offset()) {
        wrapped_ = true;
      } else {
        return nullptr;
      }
    } else {
      if (write_ + len > head_offset()) return nullptr;
      off = write_;
    }
    Slot& s = slots_[physical(count_)];
    s.offset = off;
    s.len = len;
    s.meta = meta;
    write_ = off + len;
    ++count_;
    bytes_ += len;
    return data_.data() + off;
  }

  // Frees the `n` oldest records (n <= size()).
  void pop_front(std::size_t n = 1) noexcept {
    for (; n > 0 && count_ > 0; --n) {
      const std::size_t old_off = slots_[head_].offset;
      bytes_ -= slots_[head_].len;
      head_ = (head_ + 1) % slots_.size();
      --count_;
      if (count_ == 0) {
        write_ = 0;
        wrapped_ = false;
      } else if (wrapped_ && slots_[head_].offset < old_off) {
        wrapped_ = false;  // the head crossed to the records placed at offset 0
      }
    }
  }

  // The i-th oldest record (0 = front), i < size().
  std::span<const std::uint8_t> bytes_at(std::size_t i) const noexcept {
    const Slot& s = slots_[physical(i)];
    return {data_.data() + s.offset, s.len};
  }
  const Meta& meta_at(std::size_t i) const noexcept { return slots_[physical(i)].meta; }
  Meta& meta_at(std::size_t i) noexcept { return slots_[physical(i)].meta; }

  // How many more records of `len` bytes each would fit right now.
  std::size_t fits_count(std::size_t len) const noexcept {
    const std::size_t free_slots = slots_.size() - count_;
    if (len == 0) return free_slots;
    std::size_t n = 0;
    if (count_ == 0) {
      n = data_.size() / len;
    } else if (!wrapped_) {
      n = (data_.size() - write_) / len + head_offset() / len;
    } else {
      n = (head_offset() - write_) / len;
    }
    return n < free_slots ? n : free_slots;
  }

  std::size_t size() const noexcept { return count_; }
  bool empty() const noexcept { return count_ == 0; }
  std::size_t bytes() const noexcept { return bytes_; }  // sum of record lengths
  std::size_t capacity_bytes() const noexcept { return data_.size(); }
  std::size_t capacity_records() const noexcept { return slots_.size(); }
  void clear() noexcept { pop_front(count_); }

 private:
  struct Slot {
    std::size_t offset = 0;
    std::size_t len = 0;
    Meta meta{};
  };
  std::size_t physical(std::size_t i) const noexcept { return (head_ + i) % slots_.size(); }
  std::size_t head_offset() const noexcept { return slots_[head_].offset; }

  std::vector<std::uint8_t> data_;
  std::vector<Slot> slots_;
  std::size_t head_ = 0;
  std::size_t count_ = 0;
  std::size_t bytes_ = 0;
  std::size_t write_ = 0;  // end of the newest record
  bool wrapped_ = false;   // newest records sit before the oldest in data_
};

}  // namespace ftproxy::replication
