/*
 * hcs_spawn: clone the container's process into its namespaces and walk it through the
 * plan. See hcs_spawn.h for the protocol with the parent.
 *
 * Two shapes:
 *  - direct: one clone() with every CLONE_NEW* flag. Used when nothing has to be entered
 *    before the namespaces are created (the common `run` case: fastest).
 *  - via an intermediate: a first child enters the namespaces that only apply to children
 *    (pid, time) or that must own the new ones (user), creates a new user namespace or time
 *    namespace if asked, then clones the real process with CLONE_PARENT (so it is our child,
 *    not the intermediate's) and exits. Used for exec and for joining namespaces by path.
 */
#include "internal.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define STACK_SIZE (256 * 1024)

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

enum { HCS_MSG_USERNS = 100 }; /* private: intermediate asks the parent to write its id maps */

int hcs_abi_version(void)
{
    return HCS_SPAWN_ABI;
}

uint32_t hcs_sizeof(int which)
{
    switch (which) {
    case 0: return sizeof(struct hcs_spawn_plan);
    case 1: return sizeof(struct hcs_mount_step);
    case 2: return sizeof(struct hcs_ns_join);
    case 3: return sizeof(struct hcs_rlimit);
    case 4: return sizeof(struct hcs_hook);
    case 5: return sizeof(struct hcs_error);
    case 6: return sizeof(struct hcs_msg);
    case 7: return sizeof(struct hcs_waiting);
    default: return 0;
    }
}

/* Handlers of the .NET parent must never run in the child: reset them all, ignore SIGPIPE
 * (the sync socket uses MSG_NOSIGNAL, hooks' pipes may close early), then unblock. */
void reset_signals(void)
{
    for (int sig = 1; sig < _NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP)
            continue;
        struct sigaction sa = {.sa_handler = sig == SIGPIPE ? SIG_IGN : SIG_DFL};
        sigaction(sig, &sa, NULL);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

static int joins_include(const struct hcs_spawn_plan *p, int type)
{
    for (uint32_t i = 0; i < p->n_joins; i++)
        if (p->joins[i].type == type)
            return 1;
    return 0;
}

static int needs_intermediate(const struct hcs_spawn_plan *p)
{
    return joins_include(p, CLONE_NEWPID) || joins_include(p, CLONE_NEWUSER) || p->timens_offsets ||
           (p->n_joins && (p->clone_flags & CLONE_NEWUSER));
}

static const char *ns_name(int type)
{
    switch (type) {
    case CLONE_NEWUSER: return "user";
    case CLONE_NEWPID: return "pid";
    case CLONE_NEWNET: return "network";
    case CLONE_NEWNS: return "mount";
    case CLONE_NEWIPC: return "ipc";
    case CLONE_NEWUTS: return "uts";
    case CLONE_NEWCGROUP: return "cgroup";
    case CLONE_NEWTIME: return "time";
    default: return "unknown";
    }
}

static void join_namespaces(struct child *c)
{
    const struct hcs_spawn_plan *p = c->plan;
    for (uint32_t i = 0; i < p->n_joins; i++) {
        child_at(c, HCS_AREA_JOIN, (int32_t)i);
        if (setns(p->joins[i].fd, p->joins[i].type) < 0)
            child_fail(c, "setns", ns_name(p->joins[i].type), "namespace");
    }
    child_at(c, HCS_AREA_NONE, -1);
}

static void become_root_in_userns(struct child *c)
{
    if (sys_setresgid(0, 0, 0) < 0 || sys_setresuid(0, 0, 0) < 0)
        child_fail(c, "become root in user namespace", "(is container uid/gid 0 mapped?)", NULL);
}

/* Keeps 0-2 and the preserved range for the program; everything else closes at execve. */
static void prepare_fds(struct child *c)
{
    int keep = c->plan->preserve_fds > 0 ? c->plan->preserve_fds : 0;
    for (int fd = 3; fd < 3 + keep; fd++) {
        int fl = fcntl(fd, F_GETFD);
        if (fl >= 0 && (fl & FD_CLOEXEC))
            fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
    }
    if (sys_close_range((unsigned)(3 + keep), ~0u, CLOSE_RANGE_CLOEXEC) < 0)
        child_fail(c, "mark fds close-on-exec", NULL, NULL);
}

/* Gives the program the caller's stdio pipes (see stdio_fds in hcs_spawn.h). The originals
 * are > 2 and close at execve with everything else above the preserved range. */
static void set_stdio(struct child *c)
{
    for (int i = 0; i < 3; i++) {
        int fd = c->plan->stdio_fds[i];
        if (fd >= 0 && dup3(fd, i, 0) < 0) {
            char num[16];
            str_uint(num, sizeof num, (unsigned)i);
            child_fail(c, "dup stdio fd onto", num, NULL);
        }
    }
}

static void write_sysctls(struct child *c)
{
    const struct hcs_spawn_plan *p = c->plan;
    for (uint32_t i = 0; i < p->n_sysctls; i++) {
        const char *key = p->sysctls[2 * i], *value = p->sysctls[2 * i + 1];
        child_at(c, HCS_AREA_SYSCTL, (int32_t)i);
        char path[512];
        str_copy(path, sizeof path, "/proc/sys/");
        str_append(path, sizeof path, key);
        if (write_file(path, value, str_len(value)) < 0)
            child_fail(c, "write sysctl", key, value);
    }
    child_at(c, HCS_AREA_NONE, -1);
}

static void wait_for_start(struct child *c)
{
    int fd = c->plan->start_fd;
    if (fd < 0)
        return;
    if (fd == c->sync_fd) {
        if (sync_wait_go(fd, NULL, 0, NULL) < 0)
            child_fail(c, "wait for start", NULL, NULL);
        return;
    }
    char b;
    ssize_t n;
    do
        n = read(fd, &b, 1);
    while (n < 0 && errno == EINTR);
    if (n != 1)
        child_fail(c, "wait for start", "exec fifo", NULL);
    /* kept open (close-on-exec): `start` waits for the last reader to go, i.e. for execve,
     * before it runs the poststart hooks */
}

/* Whether child_run may make mount steps before GO (see n_early_steps): not when a user
 * namespace or a joined namespace must come first. */
static int steps_before_go(const struct hcs_spawn_plan *p)
{
    return (p->flags & HCS_PLAN_SETUP_ROOTFS) && p->n_joins == 0 && !(p->clone_flags & CLONE_NEWUSER) &&
           !needs_intermediate(p);
}

/* How many mount steps child_run makes before SETUP. */
static uint32_t early_steps(const struct hcs_spawn_plan *p)
{
    if (!steps_before_go(p))
        return 0;
    return p->n_early_steps < p->n_steps ? p->n_early_steps : p->n_steps;
}

/* Where the steps made after HCS_MSG_CGROUP_MADE (and before GO) end: early_steps when none are. */
static uint32_t made_steps(const struct hcs_spawn_plan *p)
{
    uint32_t early = early_steps(p);
    if (!steps_before_go(p) || p->n_made_steps <= early)
        return early;
    return p->n_made_steps < p->n_steps ? p->n_made_steps : p->n_steps;
}

/* The smallest fd above `after` that the child needs, or INT_MAX. A scan per kept fd: they
 * are few, and the child may not allocate. */
static int next_needed(const struct child *c, int after)
{
    const struct hcs_spawn_plan *p = c->plan;
    int cands[9] = {c->sync_fd, c->order_r, c->order_w, p->start_fd, p->console_fd, p->exec_fd,
                    p->stdio_fds[0], p->stdio_fds[1], p->stdio_fds[2]};
    int best = INT_MAX;
    for (int i = 0; i < 9; i++)
        if (cands[i] > after && cands[i] < best)
            best = cands[i];
    for (uint32_t i = 0; i < p->n_joins; i++)
        if (p->joins[i].fd > after && p->joins[i].fd < best)
            best = p->joins[i].fd;
    for (uint32_t i = 0; i < p->n_steps; i++)
        if (p->steps[i].userns_fd > after && p->steps[i].userns_fd < best)
            best = p->steps[i].userns_fd;
    return best;
}

/* A clone of the caller has a copy of all its fds: hcs-monitor's, hundreds with many
 * containers. Marked close-on-exec they would still fill the table until execve, so a
 * container whose RLIMIT_NOFILE is below the caller's fd count (1024, with a monitor holding
 * more) could open nothing once its limits are set. They are closed at once instead, all but
 * 0-2, the preserved range and what the child needs: the child then holds what runc's fresh
 * init would, and nothing of the host's past this point. */
static void close_unneeded_fds(struct child *c)
{
    int keep = c->plan->preserve_fds > 0 ? c->plan->preserve_fds : 0;
    int from = 3 + keep;
    for (;;) {
        int next = next_needed(c, from - 1);
        if (next == INT_MAX) {
            sys_close_range((unsigned)from, ~0u, 0);
            break;
        }
        if (next > from)
            sys_close_range((unsigned)from, (unsigned)next - 1, 0);
        from = next + 1;
    }
}

static int init_main(void *arg)
{
    struct child *c = arg;
    reset_signals();
    close(c->parent_fd);
    close_unneeded_fds(c);
    return child_run(c);
}

int child_run(struct child *c)
{
    const struct hcs_spawn_plan *p = c->plan;
    if (c->order_r >= 0) {
        /* via an intermediate: its PID message must reach the parent before our SETUP, since
         * both travel on the same socket. It closes the write end once that is sent. */
        close(c->order_w);
        char b;
        while (read(c->order_r, &b, 1) < 0 && errno == EINTR)
            ;
        close(c->order_r);
    }
    /* before anything that could write to 0-2 (failures travel on the sync socket) */
    set_stdio(c);

    /* The mounts that need neither the cgroup nor a namespace still to come are made before
     * SETUP, while the parent creates the cgroup: the two would otherwise take turns. */
    uint32_t early = early_steps(p), made = made_steps(p);
    if (early > 0)
        rootfs_steps(c, 0, early);

    if (sync_send(c->sync_fd, HCS_MSG_SETUP, 0, NULL) < 0)
        _exit(1);
    /* the parent is busy with SETUP (cgroup join) now: work that needs neither meanwhile */
    if (early > 0 && (p->flags & HCS_PLAN_EARLY_PATHS))
        rootfs_paths(c);
    /* and what needs only the cgroup's directories (the binds of a "cgroup" mount), once the
     * parent has made them: it sends MADE before it joins us to them */
    if (made > early) {
        if (sync_wait(c->sync_fd, HCS_MSG_CGROUP_MADE, NULL, 0, NULL) < 0)
            child_fail(c, "wait for cgroup", NULL, NULL);
        rootfs_steps(c, early, made);
    }
    if (sync_wait_go(c->sync_fd, p->state_buf, p->state_buf_len, &c->state_len) < 0)
        child_fail(c, "wait for parent", NULL, NULL);
    /* the payload may hold two state documents separated by a NUL: one for createContainer
     * hooks (status "creating"), one for startContainer hooks (status "created") */
    for (uint32_t i = 0; i < c->state_len; i++) {
        if (p->state_buf[i] == 0) {
            c->state2_at = i + 1;
            c->state2_len = c->state_len - i - 1;
            c->state_len = i;
            break;
        }
    }

    if (p->clone_flags & CLONE_NEWUSER || joins_include(p, CLONE_NEWUSER))
        become_root_in_userns(c);
    if ((p->clone_flags & CLONE_NEWCGROUP) && unshare(CLONE_NEWCGROUP) < 0)
        child_fail(c, "unshare cgroup namespace", NULL, NULL);
    if (!needs_intermediate(p))
        join_namespaces(c);
    prepare_fds(c);

    if (p->flags & HCS_PLAN_SETUP_ROOTFS)
        rootfs_steps(c, made, p->n_steps);
    if (p->flags & HCS_PLAN_HOOK_SYNC) {
        if (sync_send(c->sync_fd, HCS_MSG_HOOKS, 0, NULL) < 0 || sync_wait_go(c->sync_fd, NULL, 0, NULL) < 0)
            child_fail(c, "wait for prestart hooks", NULL, NULL);
    }
    run_child_hooks(c, p->create_container_hooks, p->n_create_container_hooks, HCS_AREA_CREATE_CONTAINER);
    if (p->flags & HCS_PLAN_SETUP_ROOTFS) {
        rootfs_pivot(c);
        child_at(c, HCS_AREA_CWD, -1);
        rootfs_make_cwd(c); /* before the root may turn read-only */
    }
    if (p->flags & HCS_PLAN_TERMINAL) {
        child_at(c, HCS_AREA_TERMINAL, -1);
        process_console(c);
        child_at(c, HCS_AREA_NONE, -1);
    }
    /* sysctls go in before /proc/sys turns read-only (it is in the usual readonlyPaths) */
    write_sysctls(c);
    if (p->flags & HCS_PLAN_SETUP_ROOTFS)
        rootfs_finish(c);
    child_at(c, HCS_AREA_HOSTNAME, -1);
    if (p->hostname && sethostname(p->hostname, str_len(p->hostname)) < 0)
        child_fail(c, "sethostname", p->hostname, NULL);
    child_at(c, HCS_AREA_DOMAINNAME, -1);
    if (p->domainname && setdomainname(p->domainname, str_len(p->domainname)) < 0)
        child_fail(c, "setdomainname", p->domainname, NULL);
    child_at(c, HCS_AREA_CWD, -1);
    if (p->cwd && *p->cwd && chdir(p->cwd) < 0)
        child_fail(c, "chdir to cwd", p->cwd, NULL);
    child_at(c, HCS_AREA_EXEC, -1);
    if (p->exec_fd >= 0)
        str_copy(c->exe, sizeof c->exe, p->argv[0]); /* only names the program in errors */
    else
        process_lookup(c);
    child_at(c, HCS_AREA_NONE, -1);
    process_limits(c);
    if (p->flags & HCS_PLAN_SECCOMP_NOTIFY)
        process_seccomp_notify(c);

    if (sync_send(c->sync_fd, HCS_MSG_READY, 0, NULL) < 0 && p->start_fd == c->sync_fd)
        _exit(1);
    /* The filter and the identity go in while the parent answers create and the caller asks
     * for start (0.2-0.3 ms off every start), as runc does them before its start wait. Not
     * with startContainer hooks, which run before them (with the runtime's privileges). A
     * failure shows at start: from this socket when start comes through it (runhcs run);
     * through the exec fifo, start finds the init gone, and the error is on its stderr. */
    c->errors_to_stderr = p->start_fd >= 0 && p->start_fd != c->sync_fd;
    rootfs_detach_old_root(c);
    int before_start = p->n_start_container_hooks == 0;
    if (before_start)
        process_drop_privileges(c);
    wait_for_start(c);
    if (!before_start) {
        run_child_hooks(c, p->start_container_hooks, p->n_start_container_hooks, HCS_AREA_START_CONTAINER);
        process_drop_privileges(c);
    }
    child_at(c, HCS_AREA_EXEC, -1);
    process_exec(c);
}

static int intermediate_main(void *arg)
{
    struct child *c = arg;
    const struct hcs_spawn_plan *p = c->plan;
    reset_signals();
    close(c->parent_fd);
    c->parent_fd = -1;
    close_unneeded_fds(c); /* before it enters the container's namespaces */
    join_namespaces(c);
    if (p->clone_flags & CLONE_NEWUSER) {
        if (unshare(CLONE_NEWUSER) < 0)
            child_fail(c, "unshare user namespace", NULL, NULL);
        if (sync_send(c->sync_fd, HCS_MSG_USERNS, 0, NULL) < 0 || sync_wait_go(c->sync_fd, NULL, 0, NULL) < 0)
            child_fail(c, "wait for id maps", NULL, NULL);
        become_root_in_userns(c);
    }
    if (p->timens_offsets) {
        if (unshare(CLONE_NEWTIME) < 0)
            child_fail(c, "unshare time namespace", NULL, NULL);
        size_t n = str_len(p->timens_offsets);
        if (n && write_file("/proc/self/timens_offsets", p->timens_offsets, n) < 0)
            child_fail(c, "write time offsets", p->timens_offsets, NULL);
    }
    /* The new user namespace (if any) exists now and owns everything cloned below. */
    unsigned long flags = (p->clone_flags & ~(unsigned long)(CLONE_NEWUSER | CLONE_NEWCGROUP)) | CLONE_PARENT;
    int order[2];
    if (pipe2(order, O_CLOEXEC) < 0)
        child_fail(c, "pipe", NULL, NULL);
    c->order_r = order[0];
    c->order_w = order[1];
    pid_t pid = clone(init_main, c->stack2 + STACK_SIZE, (int)flags, c);
    if (pid < 0)
        child_fail(c, "clone", NULL, NULL);
    sync_send(c->sync_fd, HCS_MSG_PID, pid, NULL);
    _exit(0); /* closes order_w: the process may now speak */
}

static int write_id_maps(pid_t pid, const struct hcs_spawn_plan *p, struct hcs_error *err)
{
    char path[64], num[16];
    str_uint(num, sizeof num, (unsigned)pid);
    const char *names[2] = {"/uid_map", "/gid_map"};
    const char *maps[2] = {p->uid_map, p->gid_map};
    for (int i = 0; i < 2; i++) {
        if (!maps[i] || !*maps[i])
            continue;
        str_copy(path, sizeof path, "/proc/");
        str_append(path, sizeof path, num);
        str_append(path, sizeof path, names[i]);
        if (write_file(path, maps[i], str_len(maps[i])) < 0) {
            err_set(err, errno, "write id map", path, maps[i]);
            return -1;
        }
    }
    return 0;
}

static void kill_and_reap(pid_t pid)
{
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, __WALL) < 0 && errno == EINTR)
        ;
}

/* Talks to the intermediate until it reports the real process's pid. */
static pid_t follow_intermediate(pid_t ipid, int parent_fd, const struct hcs_spawn_plan *p, struct hcs_error *err)
{
    int pidfd = sys_pidfd_open(ipid);
    pid_t result = -1;
    for (;;) {
        struct pollfd fds[2] = {{.fd = parent_fd, .events = POLLIN}, {.fd = pidfd, .events = POLLIN}};
        int n = poll(fds, pidfd >= 0 ? 2 : 1, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err_set(err, errno, "poll intermediate", NULL, NULL);
            break;
        }
        if (fds[0].revents & POLLIN) {
            struct hcs_msg m;
            ssize_t r = recv(parent_fd, &m, sizeof m, 0);
            if (r != (ssize_t)sizeof m) {
                err_set(err, r < 0 ? errno : EPROTO, "read from intermediate", NULL, NULL);
                break;
            }
            if (m.type == HCS_MSG_USERNS) {
                if (write_id_maps(ipid, p, err) < 0)
                    break;
                if (sync_send(parent_fd, HCS_MSG_GO, 0, NULL) < 0) {
                    err_set(err, errno, "resume intermediate", NULL, NULL);
                    break;
                }
                continue;
            }
            if (m.type == HCS_MSG_PID) {
                result = m.pid;
                break;
            }
            if (m.type == HCS_MSG_ERROR) {
                *err = m.error;
                break;
            }
            err_set(err, EPROTO, "unexpected message from intermediate", NULL, NULL);
            break;
        }
        if (pidfd >= 0 && (fds[1].revents & POLLIN)) {
            /* exited without a word: only possible if it crashed */
            err_set(err, ECHILD, "intermediate process died", NULL, NULL);
            break;
        }
    }
    if (pidfd >= 0)
        close(pidfd);
    if (result < 0)
        kill_and_reap(ipid);
    else
        while (waitpid(ipid, NULL, __WALL) < 0 && errno == EINTR)
            ;
    return result;
}

int plan_check(const struct hcs_spawn_plan *p, struct hcs_error *err)
{
    if (!p || p->abi != HCS_SPAWN_ABI) {
        err_set(err, EINVAL, "check plan", "ABI version mismatch", NULL);
        return -1;
    }
    if (!p->argv || !p->argv[0]) {
        err_set(err, EINVAL, "check plan", "argv is empty", NULL);
        return -1;
    }
    for (int i = 0; i < 3; i++) {
        if (p->stdio_fds[i] >= 0 && p->stdio_fds[i] <= 2) {
            err_set(err, EINVAL, "check plan", "stdio fds must be above 2", NULL);
            return -1;
        }
    }
    return 0;
}

int hcs_spawn(const struct hcs_spawn_plan *p, int parent_fd, pid_t *pid_out, struct hcs_error *err)
{
    if (plan_check(p, err) < 0)
        return -1;
    /* The child struct and the stacks travel to the child as part of its copy of memory. */
    struct child c = {.plan = p, .sync_fd = p->sync_fd, .rootfd = -1, .node_dir = -1, .oldroot = -1, .console_slave = -1, .index = -1,
                      .parent_fd = parent_fd, .order_r = -1, .order_w = -1};
    char *stacks = mmap(NULL, 2 * STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stacks == MAP_FAILED) {
        err_set(err, errno, "allocate stacks", NULL, NULL);
        return -1;
    }
    c.stack2 = stacks + STACK_SIZE;

    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int via = needs_intermediate(p);
    pid_t pid;
    if (via)
        pid = clone(intermediate_main, stacks + STACK_SIZE, SIGCHLD, &c);
    else
        pid = clone(init_main, stacks + STACK_SIZE, (int)((p->clone_flags & ~(uint64_t)CLONE_NEWCGROUP) | SIGCHLD),
                    &c);
    int clone_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        err_set(err, clone_errno, "clone", "creating the namespaces", NULL);
        munmap(stacks, 2 * STACK_SIZE);
        return -1;
    }
    if (via) {
        pid = follow_intermediate(pid, parent_fd, p, err);
    } else if ((p->clone_flags & CLONE_NEWUSER) && write_id_maps(pid, p, err) < 0) {
        kill_and_reap(pid);
        pid = -1;
    }
    munmap(stacks, 2 * STACK_SIZE);
    if (pid < 0)
        return -1;
    *pid_out = pid;
    return 0;
}
