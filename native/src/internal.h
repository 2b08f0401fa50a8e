/*
 * Private helpers of libhcsspawn. Everything here is safe to call in a child created by
 * clone() from a multi-threaded parent: no allocation, no stdio, no locks, only syscalls and
 * plain memory work on buffers the caller owns.
 */
#ifndef HCS_INTERNAL_H
#define HCS_INTERNAL_H

#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hcs_spawn.h"

#define HCS_HIDDEN __attribute__((visibility("hidden")))
#define HCS_NORETURN __attribute__((noreturn))

/* The running child: the plan plus the few fds it accumulates. */
struct child {
    const struct hcs_spawn_plan *plan;
    int sync_fd;
    int rootfd;          /* O_PATH fd of the rootfs (after it was bound onto itself) */
    int node_dir;        /* the directory of the last node step (mknod, symlink, mkdir), kept
                            for the next one in the same place (/dev: a dozen); -1 when none */
    char node_dir_path[4096]; /* its path in the root */
    int oldroot;         /* O_PATH fd of the old root, stacked on the new one after pivot_root
                            until rootfs_detach_old_root; -1 when there is none */
    int parent_fd;       /* the parent's end of the sync pair: closed at once in the child, or
                            the child would never see EOF when the parent goes away */
    int order_r, order_w;/* intermediate -> process: "my PID message is out, you may talk" */
    int console_slave;   /* the pty slave once created, -1 before */
    uint32_t state_len;  /* bytes of the first state JSON received with HCS_MSG_GO ("creating") */
    uint32_t state2_at;  /* offset of the second one ("created", for startContainer), 0 if none */
    uint32_t state2_len;
    char *stack2;        /* stack for the process cloned by the intermediate */
    int paths_done;      /* read-only and masked paths made already (HCS_PLAN_EARLY_PATHS) */
    int errors_to_stderr;/* after READY with an exec fifo: the parent may not read the socket again */
    int32_t area;        /* what the child is working on (enum hcs_area), for errors */
    int32_t index;
    char exe[4096];      /* argv[0] resolved against PATH inside the container */
};

/* ---- strings (bounded, never allocate) ---- */
HCS_HIDDEN size_t str_len(const char *s);
HCS_HIDDEN size_t str_copy(char *dst, size_t cap, const char *src);
HCS_HIDDEN size_t str_append(char *dst, size_t cap, const char *src);
HCS_HIDDEN void str_uint(char *dst, size_t cap, unsigned long long v);
HCS_HIDDEN int str_eq(const char *a, const char *b);
HCS_HIDDEN int str_has_prefix(const char *s, const char *prefix);
/* "/proc/self/fd/<fd>" into buf */
HCS_HIDDEN const char *proc_fd_path(char *buf, size_t cap, int fd);

/* ---- errors ---- */
HCS_HIDDEN void err_set(struct hcs_error *e, int err, const char *step, const char *d1, const char *d2);
/* Marks what the child works on; a failure reports it (see enum hcs_area). */
static inline void child_at(struct child *c, int32_t area, int32_t index)
{
    c->area = area;
    c->index = index;
}
/* Reports the failure to the parent on the sync socket and exits the child. */
HCS_HIDDEN HCS_NORETURN void child_fail(struct child *c, const char *step, const char *d1, const char *d2);
HCS_HIDDEN HCS_NORETURN void child_fail_errno(struct child *c, int err, const char *step, const char *d1, const char *d2);

/* ---- sync socket ---- */
HCS_HIDDEN int sync_send(int fd, uint32_t type, int32_t pid, const struct hcs_error *err);
/* Waits for a message of this type (any other is a protocol error); payload (may be NULL)
 * receives the bytes that follow the header. */
HCS_HIDDEN int sync_wait(int fd, uint32_t type, char *payload, uint32_t cap, uint32_t *len);
static inline int sync_wait_go(int fd, char *payload, uint32_t cap, uint32_t *len)
{
    return sync_wait(fd, HCS_MSG_GO, payload, cap, len);
}

/* ---- syscalls glibc 2.36 does not wrap ---- */
HCS_HIDDEN int sys_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve);
HCS_HIDDEN int sys_open_tree(int dirfd, const char *path, unsigned int flags);
HCS_HIDDEN int sys_move_mount(int from_dirfd, const char *from, int to_dirfd, const char *to, unsigned int flags);
HCS_HIDDEN int sys_mount_setattr(int dirfd, const char *path, unsigned int flags, uint64_t attr_set,
                                 uint64_t attr_clr, uint64_t propagation, int userns_fd);
HCS_HIDDEN int sys_pivot_root(const char *new_root, const char *put_old);
HCS_HIDDEN int sys_pidfd_open(pid_t pid);
HCS_HIDDEN int sys_close_range(unsigned int first, unsigned int last, unsigned int flags);
/* Credentials by raw syscall: glibc's setresuid()/setgroups() run __nptl_setxid, which
 * signals every thread glibc believes exists. In a child cloned from a multi-threaded parent
 * those threads are not there, and the call waits for them forever. */
HCS_HIDDEN int sys_setresuid(uid_t r, uid_t e, uid_t s);
HCS_HIDDEN int sys_setresgid(gid_t r, gid_t e, gid_t s);
HCS_HIDDEN int sys_setgroups(size_t n, const gid_t *groups);
HCS_HIDDEN int write_file(const char *path, const char *data, size_t len);

/* ---- paths inside a root (rootfs.c) ---- */
/* Opens path (inside the root at rootfd) as O_PATH, or returns -1 with errno. */
HCS_HIDDEN int open_in_root(int rootfd, const char *path, uint64_t extra);
/* Creates the missing directories of path inside the root, then the last component as a
 * directory or an empty file (enum hcs_target_kind), and returns an O_PATH fd of it. Each
 * step resolves the prefix so far under the root, so a symlink component stays confined. */
HCS_HIDDEN int ensure_in_root(int rootfd, const char *path, uint32_t kind, mode_t mode);

/* ---- the child's life after clone (spawn.c) ---- */
/* The checks every plan passes before a child gets it (ABI, argv, stdio fds). 0 or -1 + err. */
HCS_HIDDEN int plan_check(const struct hcs_spawn_plan *p, struct hcs_error *err);
/* Resets every signal handler the parent had, ignores SIGPIPE, unblocks all signals. */
HCS_HIDDEN void reset_signals(void);
/* The zygote's loop (hcs-zygote's main, native/zygote/): serves hcs_zygote_fork requests on
 * ctl until EOF or the death of parent. */
HCS_HIDDEN HCS_NORETURN void hcs_zygote_main(int ctl, pid_t parent);
/* The rest of the child once it is in its namespaces, signals reset, parent's fds closed:
 * stdio, SETUP, GO, mounts, READY, start, execve. Used by hcs_spawn and the zygote's waiting
 * children alike. Never returns on success (execve). */
HCS_HIDDEN int child_run(struct child *c);

/* ---- the pieces of the child ---- */
/* mount steps [from, to); the first call first sets propagation, binds the root and opens it */
HCS_HIDDEN void rootfs_steps(struct child *c, uint32_t from, uint32_t to);
HCS_HIDDEN void rootfs_pivot(struct child *c);         /* pivot_root or move+chroot */
HCS_HIDDEN void rootfs_detach_old_root(struct child *c); /* after READY: the old root goes */
HCS_HIDDEN void rootfs_paths(struct child *c);         /* read-only and masked paths */
HCS_HIDDEN void rootfs_finish(struct child *c);        /* those paths (unless done), ro root */
HCS_HIDDEN void rootfs_make_cwd(struct child *c);      /* create the cwd inside the root if missing */
HCS_HIDDEN void process_console(struct child *c);      /* pty, /dev/console, controlling tty */
HCS_HIDDEN void process_lookup(struct child *c);       /* resolve argv[0] */
HCS_HIDDEN void process_limits(struct child *c);       /* rlimits, personality, keyring */
HCS_HIDDEN void process_identity(struct child *c);     /* groups, uid/gid, capabilities, umask, nnp */
HCS_HIDDEN void process_seccomp(struct child *c);
HCS_HIDDEN void process_drop_privileges(struct child *c); /* seccomp (unless nnp or notify), then identity */
HCS_HIDDEN void process_seccomp_notify(struct child *c); /* load now, hand the listener to the parent */
HCS_HIDDEN HCS_NORETURN void process_exec(struct child *c);
HCS_HIDDEN void run_child_hooks(struct child *c, const struct hcs_hook *hooks, uint32_t n, int32_t area);

#endif
