// SPDX-License-Identifier: Apache-2.0
// fsync-probe: an LD_PRELOAD library that records every fsync(2) and fdatasync(2) a process completes.
// After the real call returns, it appends one line "<call> <rc> <size> <path>\n" to the file named by
// HERALD_FSYNC_LOG (one write(2) on an O_APPEND descriptor, so lines from several threads never mix).
// A test reads the log between requests: a line that is there when a 202 arrives was synced before it.
// <size> is the file's size when the sync returned (-1 for anything but a regular file): how much of a
// file one sync covered at most.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

typedef int (*sync_fn)(int);

static int log_fd = -1;
static pthread_once_t log_once = PTHREAD_ONCE_INIT;

static void open_log(void) {
  const char *file = getenv("HERALD_FSYNC_LOG");
  if (file != NULL && file[0] != '\0') log_fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

static void record(const char *call, int fd, int rc) {
  pthread_once(&log_once, open_log);
  if (log_fd < 0) return;
  char link[64];
  char target[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, target, sizeof target - 1);
  if (n < 0) n = 0;
  target[n] = '\0';
  struct stat st;
  long long size = (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) ? (long long)st.st_size : -1;
  char line[PATH_MAX + 96];
  int len = snprintf(line, sizeof line, "%s %d %lld %s\n", call, rc, size, target);
  if (len > 0) {
    ssize_t ignored = write(log_fd, line, (size_t)(len < (int)sizeof line ? len : (int)sizeof line - 1));
    (void)ignored;
  }
}

int fsync(int fd) {
  static sync_fn real = NULL;
  if (real == NULL) real = (sync_fn)dlsym(RTLD_NEXT, "fsync");
  int rc = real(fd);
  record("fsync", fd, rc);
  return rc;
}

int fdatasync(int fd) {
  static sync_fn real = NULL;
  if (real == NULL) real = (sync_fn)dlsym(RTLD_NEXT, "fdatasync");
  int rc = real(fd);
  record("fdatasync", fd, rc);
  return rc;
}
