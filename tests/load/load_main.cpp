// colo_test_load: small, deterministic workloads for the privileged tests.
//   hog SECONDS                 spin on the CPU; prints the CPU time it got
//   waker PERIOD_US WORK_US SECONDS   sleep PERIOD_US, then spin WORK_US, repeatedly
//   udp PORT COUNT SIZE         send COUNT datagrams of SIZE bytes to 127.0.0.1:PORT
//                               (a socket of this process receives them)
//   pagecache FILE MB           write MB of file data through the page cache, then read it
//   anon MB [SECONDS]           touch MB of anonymous memory and hold it
//   tcp-sink PORT SECONDS       accept TCP on 127.0.0.1:PORT, read everything; every
//                               10 ms print "MONOTONIC_NS BYTES_SO_FAR"
//   tcp-send PORT SECONDS [BYTES_PER_SECOND]   bulk TCP to 127.0.0.1:PORT (paced if given)
//   rr-server PORT              TCP echo of SIZE-byte requests, one thread per client
//   rr-client PORT SECONDS SIZE request/response over one connection; prints
//                               "requests N p50_us X p99_us Y max_us Z"
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <string>
#include <vector>

static double now_s() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void spin_for(double s) {
  double end = now_s() + s;
  volatile unsigned long x = 0;
  while (now_s() < end)
    for (int i = 0; i < 1000; i++) x = x + i;
}


static sockaddr_in loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

static int tcp_listen(int port) {
  int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in a = loopback(port);
  if (bind(l, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(l, 64) != 0) {
    perror("bind/listen");
    exit(1);
  }
  return l;
}

// Connects, retrying for up to 5 s while the server starts.
static int tcp_connect(int port) {
  sockaddr_in a = loopback(port);
  for (int i = 0; i < 500; i++) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) return s;
    close(s);
    usleep(10000);
  }
  perror("connect");
  exit(1);
}

static bool full_io(int fd, char* buf, size_t n, bool write_it) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = write_it ? write(fd, buf + done, n - done) : read(fd, buf + done, n - done);
    if (r <= 0) return false;
    done += r;
  }
  return true;
}

static void* rr_serve(void* arg) {
  int c = static_cast<int>(reinterpret_cast<intptr_t>(arg)), one = 1;
  setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  char buf[65536];
  while (true) {
    ssize_t r = read(c, buf, sizeof(buf));
    if (r <= 0 || !full_io(c, buf, r, true)) break;
  }
  close(c);
  return nullptr;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: colo_test_load hog|waker|udp|pagecache ...\n");
    return 2;
  }
  std::string mode = argv[1];
  if (mode == "hog" && argc == 3) {
    double start = now_s();
    spin_for(atof(argv[2]));
    double wall = now_s() - start;
    // The CPU time it got: the ground truth for overlap measurements.
    timespec cpu;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
    printf("cpu_seconds %.6f wall_seconds %.6f\n", cpu.tv_sec + cpu.tv_nsec * 1e-9, wall);
    return 0;
  }
  if (mode == "waker" && argc == 5) {
    long period_us = atol(argv[2]), work_us = atol(argv[3]);
    double end = now_s() + atof(argv[4]);
    while (now_s() < end) {
      timespec ts{period_us / 1000000, (period_us % 1000000) * 1000};
      nanosleep(&ts, nullptr);
      spin_for(work_us * 1e-6);
    }
    return 0;
  }
  if (mode == "udp" && argc == 5) {
    int port = atoi(argv[2]);
    long count = atol(argv[3]);
    size_t size = atol(argv[4]);
    int rx = socket(AF_INET, SOCK_DGRAM, 0), tx = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int big = 8 << 20;
    setsockopt(rx, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
    if (bind(rx, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
      perror("bind");
      return 1;
    }
    std::vector<char> buf(size, 'x'), in(65536);
    long sent = 0;
    for (long i = 0; i < count; i++) {
      if (sendto(tx, buf.data(), size, 0, reinterpret_cast<sockaddr*>(&a), sizeof(a)) ==
          static_cast<ssize_t>(size))
        sent++;
      while (recv(rx, in.data(), in.size(), MSG_DONTWAIT) > 0) {
      }
    }
    printf("sent %ld datagrams of %zu bytes\n", sent, size);
    return sent == count ? 0 : 1;
  }
  if (mode == "tcp-sink" && argc == 4) {
    int l = tcp_listen(atoi(argv[2]));
    double end = now_s() + atof(argv[3]), next = now_s();
    std::vector<pollfd> fds = {{l, POLLIN, 0}};
    std::vector<char> buf(1 << 20);
    unsigned long long total = 0;
    std::string out;
    while (now_s() < end) {
      poll(fds.data(), fds.size(), 2);
      for (size_t i = 0; i < fds.size(); i++) {
        if (!(fds[i].revents & (POLLIN | POLLHUP))) continue;
        if (i == 0) {
          int c = accept(l, nullptr, nullptr);
          if (c >= 0) fds.push_back({c, POLLIN, 0});
          continue;
        }
        ssize_t r = read(fds[i].fd, buf.data(), buf.size());
        if (r > 0) total += r;
        else fds[i].events = 0;  // closed: stop polling it
      }
      if (now_s() >= next) {
        timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        char line[64];
        snprintf(line, sizeof(line), "%lld %llu\n", ts.tv_sec * 1000000000ll + ts.tv_nsec, total);
        out += line;
        next += 0.01;
      }
    }
    fputs(out.c_str(), stdout);
    return 0;
  }
  if (mode == "tcp-send" && (argc == 4 || argc == 5)) {
    int s = tcp_connect(atoi(argv[2]));
    double rate = argc == 5 ? atof(argv[4]) : 0, start = now_s(), end = start + atof(argv[3]);
    size_t chunk = rate > 0 ? std::max<size_t>(1024, std::min<double>(65536, rate / 1000)) : 65536;
    std::vector<char> buf(chunk, 'b');
    double sent = 0;
    while (now_s() < end) {
      if (rate > 0) {
        double due = start + sent / rate;  // paced: never ahead of the rate
        double wait = due - now_s();
        if (wait > 0) usleep(static_cast<useconds_t>(wait * 1e6));
      }
      ssize_t r = write(s, buf.data(), buf.size());
      if (r <= 0) return 1;
      sent += r;
    }
    printf("sent %.0f bytes in %.3f s\n", sent, now_s() - start);
    return 0;
  }
  if (mode == "rr-server" && argc == 3) {
    int l = tcp_listen(atoi(argv[2]));
    while (true) {
      int c = accept(l, nullptr, nullptr);
      if (c < 0) continue;
      pthread_t t;
      pthread_create(&t, nullptr, rr_serve, reinterpret_cast<void*>(static_cast<intptr_t>(c)));
      pthread_detach(t);
    }
  }
  if (mode == "rr-client" && argc == 5) {
    int s = tcp_connect(atoi(argv[2])), one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    double end = now_s() + atof(argv[3]);
    std::vector<char> buf(atol(argv[4]), 'r');
    std::vector<double> lat;
    while (now_s() < end) {
      double t0 = now_s();
      if (!full_io(s, buf.data(), buf.size(), true) || !full_io(s, buf.data(), buf.size(), false))
        return 1;
      lat.push_back((now_s() - t0) * 1e6);
    }
    std::sort(lat.begin(), lat.end());
    if (lat.empty()) return 1;
    printf("requests %zu p50_us %.1f p99_us %.1f max_us %.1f\n", lat.size(),
           lat[lat.size() / 2], lat[lat.size() * 99 / 100], lat.back());
    return 0;
  }
  if (mode == "anon" && (argc == 3 || argc == 4)) {
    // Touch MB of anonymous memory, then hold it (1 s, or SECONDS).
    long mb = atol(argv[2]);
    std::vector<char*> blocks;
    for (long i = 0; i < mb; i++) {
      char* b = static_cast<char*>(malloc(1 << 20));
      if (!b) return 1;
      memset(b, 1, 1 << 20);
      blocks.push_back(b);
    }
    sleep(argc == 4 ? atoi(argv[3]) : 1);
    return 0;
  }
  if (mode == "pagecache" && argc == 4) {
    long mb = atol(argv[3]);
    int fd = open(argv[2], O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
      perror("open");
      return 1;
    }
    std::vector<char> chunk(1 << 20, 'p');
    for (long i = 0; i < mb; i++)
      if (write(fd, chunk.data(), chunk.size()) != static_cast<ssize_t>(chunk.size())) return 1;
    fdatasync(fd);
    lseek(fd, 0, SEEK_SET);
    while (read(fd, chunk.data(), chunk.size()) > 0) {
    }
    close(fd);
    unlink(argv[2]);
    return 0;
  }
  fprintf(stderr, "colo_test_load: bad arguments\n");
  return 2;
}
