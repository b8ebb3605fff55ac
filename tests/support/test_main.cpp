// main() of every test binary: the per-binary store root and the child-role dispatch.
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>

#include "test_support.hpp"

namespace bpfmap::test {
std::map<std::string, ChildMain>& child_roles();
void set_test_root(std::string root);
}  // namespace bpfmap::test

namespace {

// Removes the store root when the binary exits (normally or after failed checks). A crash
// cannot run this; tests/run-tests.sh removes the whole $BPFMAP_TEST_TMP afterwards.
struct RootRemover {
    std::string root;
    bool owner = false;
    ~RootRemover() {
        if (owner && !root.empty()) {
            std::error_code ec;
            std::filesystem::remove_all(root, ec);
        }
    }
};
RootRemover g_root;

bool init_unit_test() {
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace bpfmap::test;
    // A child inherits BPFMAP_ROOT from its parent and never removes it.
    if (argc >= 3 && std::strcmp(argv[1], "--bpfmap-child") == 0) {
        const char* root = std::getenv("BPFMAP_ROOT");
        set_test_root(root ? root : "");
        auto it = child_roles().find(argv[2]);
        if (it == child_roles().end()) {
            std::fprintf(stderr, "unknown child role %s\n", argv[2]);
            return 99;
        }
        std::vector<std::string> args(argv + 3, argv + argc);
        return it->second(args);
    }
    if (kernel_required() && !kernel_bpf_available()) {
        std::printf(
            "SKIPPED: this test compares with the kernel and bpf() is not permitted here\n");
        return 77;
    }
    const char* base = std::getenv("BPFMAP_TEST_TMP");
    std::string tmpl = std::string(base && *base ? base : "/dev/shm") + "/bpfmap-test-XXXXXX";
    std::filesystem::create_directories(std::filesystem::path(tmpl).parent_path());
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data())) {
        std::perror("mkdtemp");
        return 98;
    }
    g_root.root = buf.data();
    g_root.owner = true;
    setenv("BPFMAP_ROOT", g_root.root.c_str(), 1);
    set_test_root(g_root.root);
    return boost::unit_test::unit_test_main(&init_unit_test, argc, argv);
}
