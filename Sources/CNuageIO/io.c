#define _GNU_SOURCE
#include "nuage_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#if defined(__linux__) && defined(SYS_openat2)
/// struct open_how and RESOLVE_CACHED of <linux/openat2.h>, which older headers lack.
struct nuage_open_how {
    uint64_t flags;
    uint64_t mode;
    uint64_t resolve;
};
#define NUAGE_RESOLVE_CACHED 0x20
#endif

int nuage_open_cached(const char *path) {
#if defined(__linux__) && defined(SYS_openat2)
    struct nuage_open_how how = {.flags = O_RDONLY | O_CLOEXEC, .mode = 0, .resolve = NUAGE_RESOLVE_CACHED};
    return (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how);
#else
    (void)path;
    errno = ENOSYS;
    return -1;
#endif
}

ssize_t nuage_pread_nowait(int fd, void *buffer, size_t count, off_t offset) {
#if defined(__linux__) && defined(RWF_NOWAIT)
    struct iovec vector = {.iov_base = buffer, .iov_len = count};
    return preadv2(fd, &vector, 1, offset, RWF_NOWAIT);
#else
    (void)fd;
    (void)buffer;
    (void)count;
    (void)offset;
    errno = ENOSYS;
    return -1;
#endif
}
