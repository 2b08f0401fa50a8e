/* Passing fds over unix sockets (console masters, seccomp listeners) and user namespaces
 * for idmapped mounts. */
#include "internal.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

int hcs_sync_recv(int sock, struct hcs_msg *msg, int *fd_out)
{
    struct iovec iov = {.iov_base = msg, .iov_len = sizeof *msg};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    *fd_out = -1;
    ssize_t n;
    do
        n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -1;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm))
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
            memcpy(fd_out, CMSG_DATA(cm), sizeof(int));
    if (n > 0 && n != (ssize_t)sizeof *msg) {
        errno = EPROTO;
        return -1;
    }
    return (int)n;
}

int hcs_send_fd(int sock, int fd, const void *payload, uint32_t payload_len)
{
    char dummy = 0;
    struct iovec iov = {.iov_base = payload_len ? (void *)payload : &dummy, .iov_len = payload_len ? payload_len : 1};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    memset(&u, 0, sizeof u);
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof fd);
    ssize_t n;
    do
        n = sendmsg(sock, &m, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -1 : 0;
}

int hcs_recv_fd(int sock, void *payload, uint32_t payload_cap, uint32_t *payload_len)
{
    char dummy;
    struct iovec iov = {.iov_base = payload_cap ? payload : &dummy, .iov_len = payload_cap ? payload_cap : 1};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    ssize_t n;
    do
        n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -1;
    if (payload_len)
        *payload_len = payload_cap ? (uint32_t)n : 0;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm)) {
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
            int fd;
            memcpy(&fd, CMSG_DATA(cm), sizeof fd);
            return fd;
        }
    }
    errno = n == 0 ? EPIPE : EBADMSG;
    return -1;
}

static int userns_holder(void *arg)
{
    /* Lives only until the parent has opened our namespace: blocks on the pipe until the
     * parent closes its write end (ours must go first, or EOF never comes). */
    int *p = arg;
    close(p[1]);
    char b;
    (void)!read(p[0], &b, 1);
    _exit(0);
}

int hcs_make_userns(const char *uid_map, const char *gid_map, struct hcs_error *err)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        err_set(err, errno, "make user namespace", "pipe", NULL);
        return -1;
    }
    const size_t size = 64 * 1024;
    char *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) {
        err_set(err, errno, "make user namespace", "stack", NULL);
        close(p[0]);
        close(p[1]);
        return -1;
    }
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = clone(userns_holder, stack + size, CLONE_NEWUSER | SIGCHLD, p);
    int clone_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    int result = -1;
    if (pid < 0) {
        err_set(err, clone_errno, "make user namespace", "clone", NULL);
    } else {
        char path[64], num[16];
        str_uint(num, sizeof num, (unsigned)pid);
        const char *files[3] = {"/uid_map", "/gid_map", "/ns/user"};
        const char *maps[2] = {uid_map, gid_map};
        int ok = 1;
        for (int i = 0; i < 2 && ok; i++) {
            str_copy(path, sizeof path, "/proc/");
            str_append(path, sizeof path, num);
            str_append(path, sizeof path, files[i]);
            if (write_file(path, maps[i], str_len(maps[i])) < 0) {
                err_set(err, errno, "write id map", path, maps[i]);
                ok = 0;
            }
        }
        if (ok) {
            str_copy(path, sizeof path, "/proc/");
            str_append(path, sizeof path, num);
            str_append(path, sizeof path, files[2]);
            result = open(path, O_RDONLY | O_CLOEXEC);
            if (result < 0)
                err_set(err, errno, "open user namespace", path, NULL);
        }
        close(p[1]);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    if (pid < 0)
        close(p[1]);
    close(p[0]);
    munmap(stack, size);
    return result;
}
