/*
 * Live mounts: attach a host directory or file to a running container, or detach one (HCS
 * modify: add or remove a mapped directory).
 *
 * The tree is cloned in the caller (open_tree), where the source path means what the host
 * means by it. Only the attaching needs the container's view, so a forked child enters the
 * container's user and mount namespaces and move_mount()s the detached tree onto a target
 * it resolved there. The caller is a multi-threaded .NET process: the child only makes
 * system calls, and its error comes back whole through a pipe.
 */
#include "internal.h"

#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef UMOUNT_NOFOLLOW
#define UMOUNT_NOFOLLOW 0x00000008
#endif

/* The namespaces of the target process, opened by the caller. */
struct target_ns {
    int user; /* -1 when the process is in our user namespace (setns would fail with EINVAL) */
    int mnt;
};

static void ns_path(char *buf, size_t cap, int pid, const char *ns)
{
    char num[16];
    str_uint(num, sizeof num, (unsigned)pid);
    str_copy(buf, cap, "/proc/");
    str_append(buf, cap, num);
    str_append(buf, cap, "/ns/");
    str_append(buf, cap, ns);
}

/* Whether fd is the same namespace as ours (compared by device and inode, as the kernel
 * identifies namespaces). */
static int is_ours(int fd, const char *self)
{
    struct stat a, b;
    return fstat(fd, &a) == 0 && stat(self, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static void close_ns(struct target_ns *ns)
{
    if (ns->user >= 0)
        close(ns->user);
    if (ns->mnt >= 0)
        close(ns->mnt);
    ns->user = ns->mnt = -1;
}

static int open_ns(int pid, struct target_ns *ns, struct hcs_error *err)
{
    char path[64];
    ns->user = ns->mnt = -1;
    if (pid <= 0) {
        char num[16];
        str_uint(num, sizeof num, (unsigned)pid);
        err_set(err, ESRCH, "find container process", "pid", pid < 0 ? "(negative)" : num);
        return -1;
    }
    ns_path(path, sizeof path, pid, "mnt");
    ns->mnt = open(path, O_RDONLY | O_CLOEXEC);
    if (ns->mnt < 0) {
        /* a pid that is gone (or a zombie: its namespaces are released) */
        err_set(err, errno == ENOENT ? ESRCH : errno, "open mount namespace", path, NULL);
        return -1;
    }
    if (is_ours(ns->mnt, "/proc/thread-self/ns/mnt")) {
        err_set(err, EINVAL, "open mount namespace", path, "(the process shares the host's mount namespace)");
        close_ns(ns);
        return -1;
    }
    ns_path(path, sizeof path, pid, "user");
    ns->user = open(path, O_RDONLY | O_CLOEXEC);
    if (ns->user < 0) {
        err_set(err, errno == ENOENT ? ESRCH : errno, "open user namespace", path, NULL);
        close_ns(ns);
        return -1;
    }
    if (is_ours(ns->user, "/proc/thread-self/ns/user")) {
        close(ns->user);
        ns->user = -1;
    }
    return 0;
}

/* What the child does once inside; fills e and returns -1 on failure. */
typedef int (*inside_fn)(const void *arg, struct hcs_error *e);

static int enter(const struct target_ns *ns, struct hcs_error *e)
{
    if (ns->user >= 0) {
        if (setns(ns->user, CLONE_NEWUSER) < 0) {
            err_set(e, errno, "enter user namespace", NULL, NULL);
            return -1;
        }
        /* Act as the container's root, so what we create is owned by someone the container
         * knows (our host uid may not be mapped there: creating would fail with EOVERFLOW).
         * Raw syscalls: glibc's would wait for threads that do not exist in this child. If 0
         * is not mapped, carry on: a target that exists needs no creating. */
        sys_setresgid(0, 0, 0);
        sys_setresuid(0, 0, 0);
    }
    /* also moves our root and cwd to the root of the container's mount namespace */
    if (setns(ns->mnt, CLONE_NEWNS) < 0) {
        err_set(e, errno, "enter mount namespace", NULL, NULL);
        return -1;
    }
    return 0;
}

/* Runs fn in a forked child inside the namespaces; 0, or -1 with err filled. */
static int run_inside(const struct target_ns *ns, inside_fn fn, const void *arg, struct hcs_error *err)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        err_set(err, errno, "pipe", NULL, NULL);
        return -1;
    }
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    /* fork() without atfork handlers; not CLONE_FS: setns(user) needs a private fs struct */
    pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) {
        close(p[0]);
        struct hcs_error e = {.index = -1};
        int r = enter(ns, &e);
        if (r == 0) {
            umask(022);
            r = fn(arg, &e);
        }
        if (r < 0) {
            ssize_t n;
            do
                n = write(p[1], &e, sizeof e);
            while (n < 0 && errno == EINTR);
        }
        _exit(r < 0 ? 1 : 0);
    }
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(p[1]);
    if (pid < 0) {
        close(p[0]);
        err_set(err, fork_errno, "fork", NULL, NULL);
        return -1;
    }
    struct hcs_error e;
    size_t got = 0;
    while (got < sizeof e) {
        ssize_t n = read(p[0], (char *)&e + got, sizeof e - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(p[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (got == sizeof e) {
        *err = e;
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        err_set(err, ECHILD, "mount helper process died", NULL, NULL);
        return -1;
    }
    return 0;
}

struct attach {
    int tree;
    const char *target;
    uint32_t kind; /* enum hcs_target_kind */
};

static int attach_inside(const void *arg, struct hcs_error *e)
{
    const struct attach *a = arg;
    int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) {
        err_set(e, errno, "open container root", "/", NULL);
        return -1;
    }
    /* resolved under the container's root: a symlink in it cannot lead the mount elsewhere */
    int tfd = ensure_in_root(root, a->target, a->kind, 0755);
    if (tfd < 0) {
        err_set(e, errno, "create mount target", a->target, NULL);
        return -1;
    }
    if (sys_move_mount(a->tree, "", tfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) {
        err_set(e, errno, "move mount onto", a->target, NULL);
        return -1;
    }
    return 0;
}

static int check_target(const char *target, struct hcs_error *err)
{
    if (!target || target[0] != '/') {
        err_set(err, EINVAL, "check target", target, "(must be an absolute path)");
        return -1;
    }
    return 0;
}

int hcs_mount_into(int pid, const char *source, const char *target, uint32_t flags, struct hcs_error *err)
{
    if (check_target(target, err) < 0)
        return -1;
    if (!source || source[0] != '/') {
        err_set(err, EINVAL, "check source", source, "(must be an absolute path)");
        return -1;
    }
    int tree = sys_open_tree(AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    if (tree < 0) {
        err_set(err, errno, "open mount source", source, NULL);
        return -1;
    }
    int result = -1;
    struct target_ns ns = {-1, -1};
    struct stat st;
    /* private: nothing mounted later on either side shows up on the other */
    uint64_t attr = (flags & HCS_MOUNT_READONLY) ? MOUNT_ATTR_RDONLY : 0;
    if (sys_mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, attr, 0, MS_PRIVATE, -1) < 0) {
        err_set(err, errno, (flags & HCS_MOUNT_READONLY) ? "make mount read-only" : "make mount private", source,
                NULL);
    } else if (fstat(tree, &st) < 0) {
        err_set(err, errno, "stat mount source", source, NULL);
    } else if (open_ns(pid, &ns, err) == 0) {
        struct attach a = {.tree = tree, .target = target,
                           .kind = S_ISDIR(st.st_mode) ? HCS_TARGET_DIR : HCS_TARGET_FILE};
        result = run_inside(&ns, attach_inside, &a, err);
    }
    close_ns(&ns);
    close(tree);
    return result;
}

static int detach_inside(const void *arg, struct hcs_error *e)
{
    const char *target = arg;
    /* our root is the container's: the walk cannot leave it; the last component is not followed */
    if (umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) < 0) {
        int saved = errno;
        err_set(e, saved, "unmount", target, saved == EINVAL ? "(not a mount point)" : NULL);
        return -1;
    }
    return 0;
}

int hcs_unmount_in(int pid, const char *target, struct hcs_error *err)
{
    if (check_target(target, err) < 0)
        return -1;
    struct target_ns ns;
    if (open_ns(pid, &ns, err) < 0)
        return -1;
    int result = run_inside(&ns, detach_inside, target, err);
    close_ns(&ns);
    return result;
}
