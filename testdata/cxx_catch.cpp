// Catches, in this object, exceptions thrown in cxx_throw.cpp.
#include "cxx_error.hpp"
#include <cstdio>
#include <exception>

extern "C" void chainlink_test() {
    try {
        throw_chain_error(7);
    } catch (const chain_error &e) {
        std::printf("caught chain_error: %s (code %d)\n", e.what(), e.code);
    }
    try {
        std::printf("index 1: %d\n", checked_index(1));
        std::printf("index 5: %d\n", checked_index(5));
    } catch (const std::out_of_range &) {
        std::printf("caught out_of_range\n");
    }
    try {
        call_through_guard(throw_chain_error, 3);
    } catch (const std::exception &e) {
        std::printf("caught as std::exception: %s\n", e.what());
    }
    try {
        try {
            throw_int(42);
        } catch (int value) {
            std::printf("caught int %d, rethrowing\n", value);
            throw;
        }
    } catch (...) {
        std::printf("caught rethrown\n");
    }
    std::printf("uncaught exceptions: %d\n", std::uncaught_exceptions());
}
