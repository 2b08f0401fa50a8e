/*
 * The zygote: containers' first processes made ahead of time, from a small process.
 *
 * Why: hcs_spawn clones the caller. In hcs-monitor (a NativeAOT process of ~16 MiB resident)
 * that clone copies the page tables of all of it, and the child's execve tears that copy down
 * again: about a millisecond of every container start, plus the new network and pid namespaces
 * (another half). The zygote is a small executable of its own (hcs-zygote: native/zygote/,
 * this code linked statically), started by the monitor once; it runs only the loop below. A
 * clone of the monitor itself, even while it is small, still carries its runtime's ~1.5 MiB and
 * 60 mappings into every child: 0.18 ms more on each container's execve (measured, design
 * 0007). On request it clones a "waiting child" into the new namespaces (with CLONE_PARENT, so
 * the monitor is its parent, as with hcs_spawn), which blocks until the monitor hands it a
 * plan. hcs-monitor keeps a few such children ready, so a container's create starts with its
 * namespaces already made.
 *
 * How the plan reaches a child made before the plan existed: each waiting child is given a
 * shared memory region (a memfd) mapped at the same address in the monitor, the zygote and
 * (inherited) the child. The monitor builds the plan inside that region, as it would in its
 * own memory, so every pointer in it is valid in the child; then hcs_send_plan passes the fds
 * the plan names over the sync socket (SCM_RIGHTS) with the plan's address. The child patches
 * those fds into a copy of the plan, enters a new mount namespace (a copy of the host's as it
 * is at that moment, with the container's root just mounted), and goes on exactly as a child
 * of hcs_spawn does: SETUP, GO, mounts, READY, start, execve.
 *
 *   monitor                         zygote                          waiting child
 *   hcs_zygote_start ── fork, exec hcs-zygote ──────────► hello: its ABI version
 *   hcs_zygote_fork ── flags, region memfd, child's sync fd ──► map region at the same
 *                                                               address, clone ─────► closes every
 *                   ◄────────────────────────── pid ──────────  unmap, close            other fd, waits
 *   (later) hcs_send_plan ── plan address + stdio/exec/start/console fds ─────────────► unshare mount
 *                                                                                        ns, child_run
 *
 * A waiting child exits at EOF on its sync socket, the zygote at EOF on its control socket,
 * and both with the monitor (die_with). A child the monitor does not need is killed.
 */
#include "internal.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define ZYGOTE_STACK (64 * 1024)
#define CHILD_STACK (256 * 1024)

enum { MSG_PLAN = 100 }; /* private: monitor -> waiting child */

/* The fields of a plan that hold fds, in the order of plan_msg.slot. */
enum { FD_STDIN, FD_STDOUT, FD_STDERR, FD_EXEC, FD_START, FD_CONSOLE, FD_FIELDS };
#define SLOT_NONE (-1)
#define SLOT_SYNC (-2) /* start_fd is the sync socket itself */

struct zygote_request {
    uint64_t clone_flags;
    uint64_t region;
    uint64_t region_len;
    uint32_t urgent; /* someone waits for this child: clone at normal priority */
    uint32_t pad;
};

struct zygote_reply {
    int32_t pid;
    struct hcs_error error;
};

struct plan_msg {
    uint32_t type; /* MSG_PLAN */
    uint32_t n_fds;
    uint64_t plan; /* address of the plan in the shared region */
    int32_t slot[FD_FIELDS];
};

/* ---- fds over a unix socket --------------------------------------------------------- */

static int send_with_fds(int sock, const void *data, size_t len, const int *fds, uint32_t n)
{
    union {
        char buf[CMSG_SPACE(FD_FIELDS * sizeof(int))];
        struct cmsghdr align;
    } u;
    memset(&u, 0, sizeof u);
    struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    if (n > 0) {
        m.msg_control = u.buf;
        m.msg_controllen = CMSG_SPACE(n * sizeof(int));
        struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(n * sizeof(int));
        memcpy(CMSG_DATA(cm), fds, n * sizeof(int));
    }
    ssize_t r;
    do
        r = sendmsg(sock, &m, MSG_NOSIGNAL);
    while (r < 0 && errno == EINTR);
    return r == (ssize_t)len ? 0 : -1;
}

/* Receives one message and up to FD_FIELDS fds (close-on-exec). Bytes received, 0 on EOF. */
static ssize_t recv_with_fds(int sock, void *data, size_t len, int *fds, uint32_t *n_fds)
{
    union {
        char buf[CMSG_SPACE(FD_FIELDS * sizeof(int))];
        struct cmsghdr align;
    } u;
    struct iovec iov = {.iov_base = data, .iov_len = len};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    ssize_t r;
    do
        r = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
    while (r < 0 && errno == EINTR);
    *n_fds = 0;
    if (r < 0)
        return r;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        uint32_t n = (uint32_t)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (uint32_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof fd);
            if (*n_fds < FD_FIELDS)
                fds[(*n_fds)++] = fd;
            else
                close(fd);
        }
    }
    return r;
}

/* Closes every fd but 0-2, a and b (-1: none). */
static void close_all_but(int a, int b)
{
    int lo = a < b ? a : b, hi = a < b ? b : a;
    unsigned next = 3;
    if (lo >= 3) {
        if ((unsigned)lo > next)
            sys_close_range(next, (unsigned)lo - 1, 0);
        next = (unsigned)lo + 1;
    }
    if (hi >= 3) {
        if ((unsigned)hi > next)
            sys_close_range(next, (unsigned)hi - 1, 0);
        next = (unsigned)hi + 1;
    }
    sys_close_range(next, ~0u, 0);
}

/* ---- the waiting child ---------------------------------------------------------------- */

struct waiting {
    int sync_fd;
    int parent_pidfd; /* the caller of hcs_zygote_start, our parent through CLONE_PARENT */
};

/* Exits with the parent: EOF on the sync socket is not enough, since a child the parent
 * clones meanwhile (hcs_spawn) holds copies of the parent's fds until its execve. The signal
 * follows the parent thread that made the zygote (hcs-monitor's main thread); a parent gone
 * before it was asked for is seen on its pidfd (a waiting child is in a new pid namespace,
 * where getppid() says 0 whatever happened). */
static void die_with(int parent_pidfd)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    struct pollfd p = {.fd = parent_pidfd, .events = POLLIN};
    if (parent_pidfd < 0 || poll(&p, 1, 0) != 0)
        _exit(0);
}

static int waiting_main(void *arg)
{
    const struct waiting *w = arg;
    int sync_fd = w->sync_fd;
    die_with(w->parent_pidfd);
    close_all_but(sync_fd, -1);
    prctl(PR_SET_NAME, "hcs-waiting", 0, 0, 0);

    struct plan_msg m;
    int fds[FD_FIELDS];
    uint32_t n_fds;
    ssize_t r = recv_with_fds(sync_fd, &m, sizeof m, fds, &n_fds);
    if (r <= 0 || r != (ssize_t)sizeof m || m.type != MSG_PLAN || !m.plan)
        _exit(0); /* EOF: not needed after all (or the monitor is gone) */

    /* A copy of the plan with the fds as numbered here; its pointers stay in the region. */
    struct hcs_spawn_plan plan = *(const struct hcs_spawn_plan *)(uintptr_t)m.plan;
    int32_t *fields[FD_FIELDS] = {&plan.stdio_fds[0], &plan.stdio_fds[1], &plan.stdio_fds[2],
                                  &plan.exec_fd, &plan.start_fd, &plan.console_fd};
    for (int i = 0; i < FD_FIELDS; i++) {
        int32_t s = m.slot[i];
        *fields[i] = s == SLOT_SYNC ? sync_fd : (s >= 0 && (uint32_t)s < n_fds) ? fds[s] : -1;
    }
    plan.sync_fd = sync_fd;

    struct child c = {.plan = &plan, .sync_fd = sync_fd, .rootfd = -1, .node_dir = -1, .oldroot = -1, .console_slave = -1, .index = -1,
                      .parent_fd = -1, .order_r = -1, .order_w = -1};
    /* The mount namespace is made now, not at the clone: a copy of the host's as it is when the
     * container is created (its root was mounted a moment ago). */
    if ((plan.clone_flags & CLONE_NEWNS) && unshare(CLONE_NEWNS) < 0)
        child_fail(&c, "unshare mount namespace", NULL, NULL);
    return child_run(&c);
}

/* ---- the zygote ----------------------------------------------------------------------- */

/* Whether this process may leave SCHED_IDLE again (CAP_SYS_NICE, or RLIMIT_NICE allowing
 * nice 0): without that, the idle class would be a one-way door for the zygote and its
 * children (e.g. hcs-monitor in a container without CAP_SYS_NICE). */
static int can_leave_idle(void)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) == 0 && (d[CAP_SYS_NICE / 32].effective & (1u << (CAP_SYS_NICE % 32))))
        return 1;
    struct rlimit r;
    return getrlimit(RLIMIT_NICE, &r) == 0 && r.rlim_cur >= 20;
}

static void zygote_fork(const struct zygote_request *q, int sync_fd, int region_fd, int idle_ok, int parent_pidfd,
                        struct zygote_reply *rep)
{
    rep->pid = -1;
    /* Children made ahead of time are made when a CPU has nothing else to do (SCHED_IDLE), not
     * while a container's create runs; one a create waits for is made at once. The zygote
     * itself waits for requests in the ordinary class, so an urgent one is read at once. */
    void *region = mmap((void *)(uintptr_t)q->region, q->region_len, PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_FIXED_NOREPLACE, region_fd, 0);
    if (region == MAP_FAILED) {
        err_set(&rep->error, errno, "zygote: map the plan region", NULL, NULL);
        return;
    }
    if ((uintptr_t)region != q->region) { /* an old kernel ignoring MAP_FIXED_NOREPLACE */
        munmap(region, q->region_len);
        err_set(&rep->error, EEXIST, "zygote: map the plan region", "address taken", NULL);
        return;
    }
    char *stack = mmap(NULL, CHILD_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) {
        err_set(&rep->error, errno, "zygote: allocate a stack", NULL, NULL);
    } else {
        struct waiting w = {.sync_fd = sync_fd, .parent_pidfd = parent_pidfd};
        /* Only the namespaces a clone must make: the mount namespace is made when the plan
         * comes, the cgroup namespace once the child is in its cgroup (as in hcs_spawn). */
        unsigned long flags = (q->clone_flags & (CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS)) |
                              CLONE_PARENT | SIGCHLD;
        /* the class brackets the clone only: the child is made in it, the zygote leaves it */
        struct sched_param none = {.sched_priority = 0};
        int idle = !q->urgent && idle_ok && sched_setscheduler(0, SCHED_IDLE, &none) == 0;
        pid_t pid = clone(waiting_main, stack + CHILD_STACK, (int)flags, &w);
        int clone_errno = errno;
        if (idle)
            sched_setscheduler(0, SCHED_OTHER, &none);
        errno = clone_errno;
        if (pid < 0)
            err_set(&rep->error, errno, "clone", "creating the namespaces", NULL);
        else
            rep->pid = pid;
        munmap(stack, CHILD_STACK); /* the child has its own copy */
    }
    munmap(region, q->region_len);
}

void hcs_zygote_main(int ctl, pid_t parent)
{
    reset_signals();
    /* EOF on the control socket (the caller closed it) ends the loop below; the caller's death
     * ends us even while a child it cloned still holds a copy of that socket. */
    int parent_pidfd = sys_pidfd_open(parent);
    die_with(parent_pidfd);
    close_all_but(ctl, parent_pidfd);
    /* hello: the build this is, so that a monitor never hands plans to a zygote of another
     * (the plan's layout is shared) */
    uint32_t abi = HCS_SPAWN_ABI;
    if (send_with_fds(ctl, &abi, sizeof abi, NULL, 0) < 0)
        _exit(0);
    int idle_ok = can_leave_idle();
    for (;;) {
        struct zygote_request q;
        int fds[FD_FIELDS];
        uint32_t n_fds;
        ssize_t r = recv_with_fds(ctl, &q, sizeof q, fds, &n_fds);
        if (r == 0 || (r < 0 && errno != EINTR))
            _exit(0);
        struct zygote_reply rep;
        memset(&rep, 0, sizeof rep);
        if (r != (ssize_t)sizeof q || n_fds != 2) {
            rep.pid = -1;
            err_set(&rep.error, EPROTO, "zygote: malformed request", NULL, NULL);
        } else {
            zygote_fork(&q, fds[0], fds[1], idle_ok, parent_pidfd, &rep);
        }
        for (uint32_t i = 0; i < n_fds; i++)
            close(fds[i]);
        if (send_with_fds(ctl, &rep, sizeof rep, NULL, 0) < 0)
            _exit(0);
    }
}

struct zygote_exec {
    const char *path;
    int control_fd;
    char parent[16];
};

/* In the clone of hcs_zygote_start, until execve: async-signal-safe calls only. */
static int zygote_exec_main(void *arg)
{
    const struct zygote_exec *x = arg;
    /* the control socket as fd 3, without close-on-exec; every other fd is close-on-exec or
     * closed by the zygote as it starts */
    if (x->control_fd == 3 ? fcntl(3, F_SETFD, 0) < 0 : dup2(x->control_fd, 3) < 0)
        _exit(126);
    char *const argv[] = {(char *)x->path, (char *)x->parent, NULL};
    char *const envp[] = {NULL};
    execve(x->path, argv, envp);
    _exit(127);
}

int hcs_zygote_start(const char *zygote_path, int *control_fd, pid_t *pid_out, struct hcs_error *err)
{
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) {
        err_set(err, errno, "zygote: socketpair", NULL, NULL);
        return -1;
    }
    char *stack = mmap(NULL, ZYGOTE_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) {
        err_set(err, errno, "zygote: allocate a stack", NULL, NULL);
        close(pair[0]);
        close(pair[1]);
        return -1;
    }
    struct zygote_exec x = {.path = zygote_path, .control_fd = pair[1]};
    str_uint(x.parent, sizeof x.parent, (unsigned long long)getpid());
    /* blocked until the zygote has reset its signals; CLONE_VFORK: back here once it has
     * exec'd (or failed to) */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = clone(zygote_exec_main, stack + ZYGOTE_STACK, CLONE_VFORK | SIGCHLD, &x);
    int clone_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    munmap(stack, ZYGOTE_STACK);
    close(pair[1]);
    if (pid < 0) {
        err_set(err, clone_errno, "zygote: clone", NULL, NULL);
        close(pair[0]);
        return -1;
    }
    /* its hello; EOF: the exec failed (127: not there, 126) or it quit. A zygote that says
     * nothing within 10 s is as good as none. */
    struct timeval limit = {.tv_sec = 10}, none = {0};
    setsockopt(pair[0], SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    uint32_t abi = 0;
    ssize_t r;
    do
        r = recv(pair[0], &abi, sizeof abi, 0);
    while (r < 0 && errno == EINTR);
    setsockopt(pair[0], SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
    if (r != (ssize_t)sizeof abi || abi != HCS_SPAWN_ABI) {
        int status = 0;
        if (r != 0) /* a hello of another build, or none in time: end it (EOF: it is ending) */
            kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        if (r == (ssize_t)sizeof abi)
            err_set(err, EPROTO, "zygote: another build's hcs-zygote (spawn ABI differs)", zygote_path, NULL);
        else if (r < 0)
            err_set(err, ETIMEDOUT, "zygote: start (no hello)", zygote_path, NULL);
        else
            err_set(err, WIFEXITED(status) && WEXITSTATUS(status) == 127 ? ENOENT : EPIPE, "zygote: start", zygote_path, NULL);
        close(pair[0]);
        return -1;
    }
    *control_fd = pair[0];
    *pid_out = pid;
    return 0;
}

/* One request to the zygote: a new region and socket pair; *region_out stays mapped on failure
 * (so that a retry gets another address) unless it is MAP_FAILED. */
static int zygote_fork_once(int control_fd, uint64_t clone_flags, uint64_t region_len, int urgent,
                            struct hcs_waiting *out, void **region_out, struct hcs_error *err)
{
    int pair[2] = {-1, -1};
    *region_out = MAP_FAILED;
    int region_fd = (int)syscall(SYS_memfd_create, "hcs-plan", 1u /* MFD_CLOEXEC */);
    if (region_fd < 0) {
        err_set(err, errno, "zygote: memfd_create", NULL, NULL);
        return -1;
    }
    void *region = MAP_FAILED;
    if (ftruncate(region_fd, (off_t)region_len) < 0) {
        err_set(err, errno, "zygote: size the plan region", NULL, NULL);
        goto fail;
    }
    region = mmap(NULL, region_len, PROT_READ | PROT_WRITE, MAP_SHARED, region_fd, 0);
    if (region == MAP_FAILED) {
        err_set(err, errno, "zygote: map the plan region", NULL, NULL);
        goto fail;
    }
    *region_out = region;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) {
        err_set(err, errno, "zygote: socketpair", NULL, NULL);
        goto fail;
    }
    struct zygote_request q = {.clone_flags = clone_flags, .region = (uint64_t)(uintptr_t)region, .region_len = region_len,
                               .urgent = urgent ? 1u : 0u};
    int fds[2] = {pair[1], region_fd};
    if (send_with_fds(control_fd, &q, sizeof q, fds, 2) < 0) {
        err_set(err, errno, "zygote: send request", NULL, NULL);
        goto fail;
    }
    struct zygote_reply rep;
    ssize_t r;
    do
        r = recv(control_fd, &rep, sizeof rep, 0);
    while (r < 0 && errno == EINTR);
    if (r != (ssize_t)sizeof rep) {
        err_set(err, r < 0 ? errno : EPIPE, "zygote: read reply", NULL, NULL);
        goto fail;
    }
    if (rep.pid < 0) {
        *err = rep.error;
        goto fail;
    }
    close(pair[1]);
    close(region_fd);
    out->pid = rep.pid;
    out->sync_fd = pair[0];
    out->region = region;
    out->region_len = region_len;
    return 0;
fail:
    if (pair[0] >= 0) {
        close(pair[0]);
        close(pair[1]);
    }
    close(region_fd);
    return -1;
}

int hcs_zygote_fork(int control_fd, uint64_t clone_flags, uint64_t region_len, int urgent, struct hcs_waiting *out,
                    struct hcs_error *err)
{
    out->pid = -1;
    out->sync_fd = -1;
    out->region = NULL;
    out->region_len = 0;
    /* The zygote's address space is the caller's as it was at its start: an address the caller
     * freed since may still be taken there (EEXIST). A failed region stays mapped here until the
     * end, so the next attempt gets another address. */
    void *failed[4];
    int n_failed = 0, rc = -1;
    while (n_failed < 4) {
        void *region;
        rc = zygote_fork_once(control_fd, clone_flags, region_len, urgent, out, &region, err);
        if (rc == 0 || region == MAP_FAILED)
            break;
        failed[n_failed++] = region;
        if (err->err != EEXIST)
            break;
    }
    for (int i = 0; i < n_failed; i++)
        munmap(failed[i], region_len);
    return rc;
}

int hcs_send_plan(const struct hcs_waiting *w, const struct hcs_spawn_plan *plan, struct hcs_error *err)
{
    if (plan_check(plan, err) < 0)
        return -1;
    if ((uintptr_t)plan < (uintptr_t)w->region || (uintptr_t)plan >= (uintptr_t)w->region + w->region_len) {
        err_set(err, EINVAL, "check plan", "not in the waiting child's region", NULL);
        return -1;
    }
    /* A child made ahead of time is in the idle scheduling class: it must not wait for an idle
     * CPU to run its container's setup (on a busy host that is seconds), so it leaves the class
     * before it is woken. */
    struct sched_param normal = {.sched_priority = 0};
    if (sched_getscheduler(w->pid) == SCHED_IDLE && sched_setscheduler(w->pid, SCHED_OTHER, &normal) < 0) {
        err_set(err, errno, "move the waiting child to the ordinary scheduling class", NULL, NULL);
        return -1;
    }
    struct plan_msg m = {.type = MSG_PLAN, .plan = (uint64_t)(uintptr_t)plan};
    const int32_t values[FD_FIELDS] = {plan->stdio_fds[0], plan->stdio_fds[1], plan->stdio_fds[2],
                                       plan->exec_fd, plan->start_fd, plan->console_fd};
    int fds[FD_FIELDS];
    for (int i = 0; i < FD_FIELDS; i++) {
        if (i == FD_START && values[i] == plan->sync_fd)
            m.slot[i] = SLOT_SYNC;
        else if (values[i] < 0)
            m.slot[i] = SLOT_NONE;
        else {
            m.slot[i] = (int32_t)m.n_fds;
            fds[m.n_fds++] = values[i];
        }
    }
    if (send_with_fds(w->sync_fd, &m, sizeof m, fds, m.n_fds) < 0) {
        err_set(err, errno, "hand the plan to the waiting child", NULL, NULL);
        return -1;
    }
    return 0;
}

void hcs_waiting_discard(struct hcs_waiting *w)
{
    /* out of the idle class first: its exit must not wait for an idle CPU either */
    struct sched_param normal = {.sched_priority = 0};
    if (sched_getscheduler(w->pid) == SCHED_IDLE)
        sched_setscheduler(w->pid, SCHED_OTHER, &normal);
    /* SIGKILL, not only EOF: a child of ours cloned meanwhile may hold a copy of the socket */
    kill(w->pid, SIGKILL);
    if (w->sync_fd >= 0)
        close(w->sync_fd);
    w->sync_fd = -1;
    hcs_waiting_release(w);
}

void hcs_waiting_release(struct hcs_waiting *w)
{
    if (w->region)
        munmap(w->region, w->region_len);
    w->region = NULL;
    w->region_len = 0;
}
