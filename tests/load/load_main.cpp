// colo_test_load: small, deterministic workloads for the privileged tests.
//   hog SECONDS                 spin on the CPU; prints the CPU time it got
//   waker PERIOD_US WORK_US SECONDS   sleep PERIOD_US, then spin WORK_US, repeatedly
//   udp PORT COUNT SIZE         send COUNT datagrams of SIZE bytes to 127.0.0.1:PORT
//                               (a socket of this process receives them)
//   pagecache FILE MB           write MB of file data through the page cache, then read it
//   anon MB [SECONDS]           touch MB of anonymous memory and hold it
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
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
