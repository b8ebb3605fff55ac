// Process-management helpers shared by the multi-process tests; see process_helpers.hpp.
#include "process_helpers.hpp"

#include <bpfmap/bpf.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cerrno>
#include <cstring>
#include <sstream>
#include <stdexcept>

namespace bpfmap::test::proc {

namespace bt = bpfmap::test;

std::string errname(int e) {
    const char* n = strerrorname_np(e);
    return std::string(n ? n : "?") + "(" + std::to_string(e) + ")";
}

int64_t now_ms() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

Proc start(const std::string& name, const std::string& role, std::vector<std::string> args,
           std::vector<int> keep) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
    args.insert(args.begin(), std::to_string(p[1]));
    keep.push_back(p[1]);
    Proc pr;
    pr.name = name;
    try {
        pr.child = bt::spawn_child(role, args, keep);
    } catch (...) {
        ::close(p[0]);
        ::close(p[1]);
        throw;
    }
    ::close(p[1]);
    pr.out = Fd(p[0]);
    return pr;
}

void finish(std::vector<Proc>& ps, int timeout_ms) {
    const int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        std::vector<struct pollfd> pfds;
        std::vector<Proc*> who;
        for (Proc& p : ps)
            if (p.out.get() >= 0) {
                pfds.push_back({p.out.get(), POLLIN, 0});
                who.push_back(&p);
            }
        if (pfds.empty()) break;
        const int64_t left = deadline - now_ms();
        if (left <= 0) break;
        int n = poll(pfds.data(), pfds.size(), static_cast<int>(left));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        for (size_t i = 0; i < pfds.size(); ++i) {
            if (!pfds[i].revents) continue;
            char buf[65536];
            ssize_t r = ::read(pfds[i].fd, buf, sizeof buf);
            if (r > 0)
                who[i]->text.append(buf, static_cast<size_t>(r));
            else if (r == 0 || errno != EINTR)
                who[i]->out.reset();
        }
    }
    for (Proc& p : ps) {
        if (p.child.pid() <= 0) continue;
        bool exited = false;
        if (p.out.get() < 0) {
            int pfd = static_cast<int>(syscall(SYS_pidfd_open, p.child.pid(), 0));
            if (pfd >= 0) {
                struct pollfd q = {pfd, POLLIN, 0};
                const int64_t left = deadline - now_ms();
                int n;
                while ((n = poll(&q, 1, static_cast<int>(left > 0 ? left : 0))) < 0 &&
                       errno == EINTR) {
                }
                exited = n == 1;
                ::close(pfd);
            }
        }
        if (!exited) {
            p.timed_out = true;
            p.child.kill(SIGKILL);
        }
        p.status = p.child.wait();
        p.out.reset();
    }
}

bool check_ok(const Proc& p) {
    bool ok = true;
    std::istringstream in(p.text);
    for (std::string line; std::getline(in, line);)
        if (line.rfind("ERR", 0) == 0) {
            BOOST_ERROR(p.name << ": " << line);
            ok = false;
        }
    BOOST_CHECK_MESSAGE(!p.timed_out,
                        p.name << ": did not finish within " << kTimeoutMs << " ms (hang): killed");
    BOOST_CHECK_MESSAGE(p.status == 0, p.name << ": exit status " << p.status);
    return ok && !p.timed_out && p.status == 0;
}

std::vector<std::string> lines(const Proc& p, const std::string& tag) {
    std::vector<std::string> v;
    std::istringstream in(p.text);
    for (std::string line; std::getline(in, line);)
        if (line.rfind(tag + " ", 0) == 0) v.push_back(line.substr(tag.size() + 1));
    return v;
}

Gate::Gate() {
    int a[2], b[2];
    if (pipe2(a, O_CLOEXEC) != 0 || pipe2(b, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    ready_rd = Fd(a[0]);
    ready_wr = Fd(a[1]);
    go_rd = Fd(b[0]);
    go_wr = Fd(b[1]);
}

bool Gate::open(int n) {
    ready_wr.reset();
    go_rd.reset();
    const int64_t deadline = now_ms() + kTimeoutMs;
    int got = 0;
    while (got < n) {
        struct pollfd q = {ready_rd.get(), POLLIN, 0};
        const int64_t left = deadline - now_ms();
        if (left <= 0) break;
        int r = poll(&q, 1, static_cast<int>(left));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        char buf[64];
        ssize_t k = ::read(ready_rd.get(), buf, sizeof buf);
        if (k <= 0) break;  // EOF: a child died before it was ready
        got += static_cast<int>(k);
    }
    go_wr.reset();
    BOOST_CHECK_MESSAGE(got == n, "only " << got << " of " << n << " children became ready");
    return got == n;
}

void pass_gate(int ready_wr, int go_rd) {
    char c = 1;
    while (::write(ready_wr, &c, 1) < 0 && errno == EINTR) {
    }
    ::close(ready_wr);
    ssize_t r;
    while ((r = ::read(go_rd, &c, 1)) < 0 && errno == EINTR) {
    }
    ::close(go_rd);
}

void Out::line(const std::string& s) const {
    std::string l = s + "\n";
    const char* p = l.data();
    size_t left = l.size();
    while (left) {
        ssize_t w = ::write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            return;
        }
        p += w;
        left -= static_cast<size_t>(w);
    }
}

unsigned long long num(const std::vector<std::string>& args, size_t i) {
    return std::stoull(args.at(i));
}
int ifd(const std::vector<std::string>& args, size_t i) {
    return static_cast<int>(num(args, i));
}

std::vector<uint32_t> walk(int fd, size_t cap, int& err) {
    std::vector<uint32_t> keys;
    uint32_t cur = 0, next = 0;
    const void* prev = nullptr;
    err = 0;
    for (;;) {
        if (keys.size() >= cap) {
            err = -1;
            break;
        }
        if (bt::map_get_next_key(fd, prev, &next) != 0) {
            if (errno != ENOENT) err = errno;
            break;
        }
        keys.push_back(next);
        cur = next;
        prev = &cur;
    }
    return keys;
}

uint32_t map_id_of(int fd) {
    return bt::map_id(fd);
}

int open_map_ref(const std::string& ref) {
    if (ref.rfind("fd:", 0) == 0) return std::stoi(ref.substr(3));
    if (ref.rfind("pin:", 0) == 0) return bt::obj_get(ref.substr(4));
    return -1;
}

int open_map_ref(const std::string& ref, const Out& out) {
    const int fd = open_map_ref(ref);
    if (fd < 0) out.line("ERR open map: " + errname(errno));
    return fd;
}

int lookup_and_delete(int fd, const void* key, void* value) {
    return bt::map_elem(BPF_MAP_LOOKUP_AND_DELETE_ELEM, fd, key, value, 0);
}

bool all_flags_set(int ctl, uint32_t n) {
    for (uint32_t i = 0; i < n; ++i) {
        uint32_t v = 0;
        if (bt::map_lookup(ctl, &i, &v) != 0 || v == 0) return false;
    }
    return true;
}

bool readers_done(int ctl, uint32_t n_readers, const Out& out, bool& failed) {
    uint32_t done = 0;
    for (uint32_t r = 0; r < n_readers; ++r) {
        uint32_t f = 0;
        if (bt::map_lookup(ctl, &r, &f) != 0) {
            out.line("ERR ctl lookup: " + errname(errno));
            failed = true;
            return true;
        }
        done += f;
    }
    return done == n_readers;
}

void fill_words(std::vector<unsigned char>& v, uint64_t x) {
    for (size_t i = 0; i + 8 <= v.size(); i += 8) std::memcpy(&v[i], &x, 8);
}

bool words_uniform(const std::vector<unsigned char>& v) {
    for (size_t i = 8; i + 8 <= v.size(); i += 8)
        if (std::memcmp(&v[i], &v[0], 8) != 0) return false;
    return true;
}

}  // namespace bpfmap::test::proc
