// An exception type shared by cxx_throw.cpp and cxx_catch.cpp. Its typeinfo and vtable
// have vague linkage (COMDAT groups emitted in both objects).
#pragma once
#include <stdexcept>
#include <string>

struct chain_error : std::runtime_error {
    int code;
    chain_error(const std::string &what, int code) : std::runtime_error(what), code(code) {}
};

void throw_chain_error(int code);
int checked_index(int index);
void throw_int(int value);
void call_through_guard(void (*fn)(int), int arg);
