#ifndef NUAGE_IO_H
#define NUAGE_IO_H

#include <sys/types.h>

/// Opens `path` read-only (close-on-exec) only if every step of its lookup is in the kernel's
/// caches (openat2 with RESOLVE_CACHED, Linux 5.12 and later): otherwise -1 with errno EAGAIN,
/// or ENOSYS where the kernel has no openat2. Never waits for a disk.
int nuage_open_cached(const char *path);

/// Reads what of `count` bytes at `offset` is in the page cache (preadv2 with RWF_NOWAIT):
/// -1 with errno EAGAIN when the first byte would wait for a disk, EOPNOTSUPP or ENOSYS where
/// the file system or kernel cannot say; fewer bytes than asked when only those are cached.
ssize_t nuage_pread_nowait(int fd, void *buffer, size_t count, off_t offset);

#endif
