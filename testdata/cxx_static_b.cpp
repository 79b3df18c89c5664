#include <string>
#include <vector>

std::vector<std::string> &registry();

namespace {
struct Registrar {
    explicit Registrar(const std::string &name) { registry().push_back("b:" + name); }
};
Registrar third("third");
} // namespace

[[maybe_unused]] static int computed = [] {
    registry().push_back(std::string("b:lambda"));
    return 1;
}();
