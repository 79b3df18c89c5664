// Static constructors in two objects register names in a registry; std::string and
// std::vector are used on both sides (template instances in COMDAT groups in both objects).
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

std::vector<std::string> &registry() {
    static std::vector<std::string> names; // guarded function-local static
    return names;
}

namespace {
struct Registrar {
    explicit Registrar(const char *name) { registry().push_back(std::string("a:") + name); }
};
Registrar first("first");
Registrar second("second");
} // namespace

std::string global_label = "global label"; // non-trivial constructor of a global object

extern "C" void chainlink_test() {
    std::vector<std::string> &names = registry();
    std::printf("registered %zu\n", names.size());
    std::string joined;
    for (const std::string &name : names) joined += name + ";";
    std::printf("in order: %s\n", joined.c_str());
    std::vector<std::string> sorted(names);
    std::sort(sorted.begin(), sorted.end(), [](const std::string &x, const std::string &y) {
        return x.size() != y.size() ? x.size() < y.size() : x < y;
    });
    joined.clear();
    for (const std::string &name : sorted) joined += name + ";";
    std::printf("sorted: %s\n", joined.c_str());
    std::printf("label: %s (%zu)\n", global_label.c_str(), global_label.size());
    std::vector<int> squares;
    for (int i = 1; i <= 5; i++) squares.push_back(i * i);
    int sum = 0;
    for (int square : squares) sum += square;
    std::printf("squares sum: %d\n", sum);
}
