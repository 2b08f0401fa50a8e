/* Bounded string helpers, error reporting, the sync socket and raw syscalls. */
#include "internal.h"

#include <fcntl.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

size_t str_len(const char *s)
{
    size_t n = 0;
    if (s)
        while (s[n])
            n++;
    return n;
}

size_t str_copy(char *dst, size_t cap, const char *src)
{
    if (cap == 0)
        return 0;
    dst[0] = 0;
    return str_append(dst, cap, src);
}

size_t str_append(char *dst, size_t cap, const char *src)
{
    size_t n = str_len(dst);
    if (src)
        while (*src && n + 1 < cap)
            dst[n++] = *src++;
    if (n < cap)
        dst[n] = 0;
    return n;
}

void str_uint(char *dst, size_t cap, unsigned long long v)
{
    char tmp[24];
    int i = 0;
    do {
        tmp[i++] = (char)('0' + v % 10);
        v /= 10;
    } while (v && i < (int)sizeof tmp);
    size_t n = 0;
    while (i > 0 && n + 1 < cap)
        dst[n++] = tmp[--i];
    if (cap)
        dst[n] = 0;
}

int str_eq(const char *a, const char *b)
{
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return *a == *b;
}

int str_has_prefix(const char *s, const char *prefix)
{
    while (*prefix)
        if (*s++ != *prefix++)
            return 0;
    return 1;
}

const char *proc_fd_path(char *buf, size_t cap, int fd)
{
    char num[24];
    str_uint(num, sizeof num, (unsigned)fd);
    str_copy(buf, cap, "/proc/self/fd/");
    str_append(buf, cap, num);
    return buf;
}

void err_set(struct hcs_error *e, int err, const char *step, const char *d1, const char *d2)
{
    if (!e)
        return;
    e->err = err;
    e->area = HCS_AREA_NONE;
    e->index = -1;
    str_copy(e->step, sizeof e->step, step);
    str_copy(e->detail, sizeof e->detail, d1);
    if (d2 && *d2) {
        if (d1 && *d1)
            str_append(e->detail, sizeof e->detail, " ");
        str_append(e->detail, sizeof e->detail, d2);
    }
}

void child_fail_errno(struct child *c, int err, const char *step, const char *d1, const char *d2)
{
    struct hcs_error e;
    err_set(&e, err, step, d1, d2);
    e.area = c->area;
    e.index = c->index;
    if (sync_send(c->sync_fd, HCS_MSG_ERROR, 0, &e) < 0 || c->errors_to_stderr) {
        /* Nobody may listen any more (after create, the parent of a container started through
         * its exec fifo lets the socket go): say it on the process's stderr, its log, too. */
        char line[sizeof e.step + sizeof e.detail + 48];
        char num[24];
        str_copy(line, sizeof line, "hcs: ");
        str_append(line, sizeof line, e.step);
        if (e.detail[0]) {
            str_append(line, sizeof line, " ");
            str_append(line, sizeof line, e.detail);
        }
        str_append(line, sizeof line, ": errno ");
        str_uint(num, sizeof num, (unsigned)err);
        str_append(line, sizeof line, num);
        str_append(line, sizeof line, "\n");
        ssize_t ignored = write(2, line, str_len(line));
        (void)ignored;
    }
    _exit(1);
}

void child_fail(struct child *c, const char *step, const char *d1, const char *d2)
{
    child_fail_errno(c, errno, step, d1, d2);
}

int sync_send(int fd, uint32_t type, int32_t pid, const struct hcs_error *err)
{
    struct hcs_msg m = {.type = type, .pid = pid};
    if (err)
        m.error = *err;
    ssize_t n;
    do
        n = send(fd, &m, sizeof m, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof m ? 0 : -1;
}

int sync_wait(int fd, uint32_t type, char *payload, uint32_t cap, uint32_t *len)
{
    struct hcs_msg m;
    struct iovec iov[2] = {{&m, sizeof m}, {payload, payload ? cap : 0}};
    struct msghdr h = {.msg_iov = iov, .msg_iovlen = payload ? 2 : 1};
    ssize_t n;
    do
        n = recvmsg(fd, &h, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -1;
    /* a payload is only an error when we asked for it and it did not fit */
    if (n < (ssize_t)sizeof m || m.type != type || (payload && (h.msg_flags & MSG_TRUNC))) {
        errno = n == 0 ? EPIPE : EPROTO;
        return -1;
    }
    if (len)
        *len = (uint32_t)(n - (ssize_t)sizeof m);
    return 0;
}

int sys_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve)
{
    struct open_how how = {.flags = flags, .mode = mode, .resolve = resolve};
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

int sys_open_tree(int dirfd, const char *path, unsigned int flags)
{
    return (int)syscall(SYS_open_tree, dirfd, path, flags);
}

int sys_move_mount(int from_dirfd, const char *from, int to_dirfd, const char *to, unsigned int flags)
{
    return (int)syscall(SYS_move_mount, from_dirfd, from, to_dirfd, to, flags);
}

int sys_mount_setattr(int dirfd, const char *path, unsigned int flags, uint64_t attr_set,
                      uint64_t attr_clr, uint64_t propagation, int userns_fd)
{
    struct mount_attr a = {
        .attr_set = attr_set,
        .attr_clr = attr_clr,
        .propagation = propagation,
        .userns_fd = userns_fd >= 0 ? (uint64_t)userns_fd : 0,
    };
    return (int)syscall(SYS_mount_setattr, dirfd, path, flags, &a, sizeof a);
}

int sys_pivot_root(const char *new_root, const char *put_old)
{
    return (int)syscall(SYS_pivot_root, new_root, put_old);
}

int sys_pidfd_open(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

int sys_close_range(unsigned int first, unsigned int last, unsigned int flags)
{
    return (int)syscall(SYS_close_range, first, last, flags);
}

int sys_setresuid(uid_t r, uid_t e, uid_t s)
{
    return (int)syscall(SYS_setresuid, r, e, s);
}

int sys_setresgid(gid_t r, gid_t e, gid_t s)
{
    return (int)syscall(SYS_setresgid, r, e, s);
}

int sys_setgroups(size_t n, const gid_t *groups)
{
    return (int)syscall(SYS_setgroups, n, groups);
}

int write_file(const char *path, const char *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, data, len);
    int saved = errno;
    close(fd);
    if (n != (ssize_t)len) {
        errno = n < 0 ? saved : EIO;
        return -1;
    }
    return 0;
}
