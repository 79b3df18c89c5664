// Throws exceptions for cxx_catch.cpp to catch.
#include "cxx_error.hpp"
#include <cstdio>
#include <vector>

void throw_chain_error(int code) { throw chain_error("chain error " + std::to_string(code), code); }

int checked_index(int index) {
    std::vector<int> values{10, 20, 30};
    return values.at(index); // throws std::out_of_range for index >= 3
}

void throw_int(int value) { throw value; }

namespace {
struct Guard {
    int id;
    ~Guard() { std::printf("unwind guard %d\n", id); }
};
} // namespace

// An exception passing through this frame runs the guard's destructor (a cleanup landing pad).
void call_through_guard(void (*fn)(int), int arg) {
    Guard guard{arg};
    fn(arg);
    std::printf("not reached\n");
}
