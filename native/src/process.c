/*
 * The process side of the child: terminal, executable lookup, limits, identity and
 * capabilities, seccomp, execve.
 */
#include "internal.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/keyctl.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>
#include <grp.h>

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

void process_console(struct child *c)
{
    const struct hcs_spawn_plan *p = c->plan;
    int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0)
        child_fail(c, "open pty", "/dev/ptmx", NULL);
    int unlock = 0;
    if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
        child_fail(c, "unlock pty", NULL, NULL);
    unsigned int n;
    if (ioctl(master, TIOCGPTN, &n) < 0)
        child_fail(c, "get pty number", NULL, NULL);
    char name[64], num[16];
    str_uint(num, sizeof num, n);
    str_copy(name, sizeof name, "/dev/pts/");
    str_append(name, sizeof name, num);
    /* TIOCGPTPEER opens the slave through the master: no path lookup that could be raced */
    int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0)
        child_fail(c, "open pty slave", name, NULL);
    if (p->console_rows || p->console_cols) {
        struct winsize ws = {.ws_row = p->console_rows, .ws_col = p->console_cols};
        if (ioctl(master, TIOCSWINSZ, &ws) < 0)
            child_fail(c, "set console size", name, NULL);
    }
    if (p->flags & HCS_PLAN_CONSOLE_MOUNT) {
        char fdp[64];
        int tfd = open("/dev/console", O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (tfd < 0 && errno == ENOENT) {
            int f = open("/dev/console", O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
            if (f >= 0)
                close(f);
            tfd = open("/dev/console", O_PATH | O_NOFOLLOW | O_CLOEXEC);
        }
        if (tfd < 0 || mount(proc_fd_path(fdp, sizeof fdp, slave), "/dev/console", NULL, MS_BIND, NULL) < 0)
            child_fail(c, "bind console", name, "/dev/console");
        close(tfd);
    }
    if (hcs_send_fd(p->console_fd, master, name, (uint32_t)str_len(name)) < 0)
        child_fail(c, "send console to socket", name, NULL);
    close(master);
    close(p->console_fd);
    c->console_slave = slave;
}

/* Becomes a session leader; with a terminal, makes the pty our controlling tty and stdio. */
static void become_session(struct child *c)
{
    if (setsid() < 0 && errno != EPERM)
        child_fail(c, "setsid", NULL, NULL);
    if (c->console_slave < 0)
        return;
    if (ioctl(c->console_slave, TIOCSCTTY, 0) < 0)
        child_fail(c, "set controlling terminal", NULL, NULL);
    for (int fd = 0; fd < 3; fd++)
        if (dup3(c->console_slave, fd, 0) < 0)
            child_fail(c, "dup console", NULL, NULL);
    if (c->console_slave > 2)
        close(c->console_slave);
}

static const char *env_get(const char *const *envp, const char *name)
{
    size_t n = str_len(name);
    for (; envp && *envp; envp++) {
        const char *e = *envp;
        if (str_has_prefix(e, name) && e[n] == '=')
            return e + n + 1;
    }
    return NULL;
}

/* errno afterwards: ENOENT (missing), EACCES (not executable), 0 (not a regular file) */
static int is_executable(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return 0;
    if (!S_ISREG(st.st_mode)) {
        errno = 0;
        return 0;
    }
    return access(path, X_OK) == 0;
}

/* Fails the way runc words it; podman maps "executable file not found" and "no such file or
 * directory" to exit code 127 and "permission denied" to 126 from exactly these phrases. */
static HCS_NORETURN void lookup_fail(struct child *c, const char *name, const char *why)
{
    char quoted[512];
    str_copy(quoted, sizeof quoted, "\"");
    str_append(quoted, sizeof quoted, name);
    str_append(quoted, sizeof quoted, "\":");
    child_fail_errno(c, 0, "exec:", quoted, why);
}

void process_lookup(struct child *c)
{
    const char *name = c->plan->argv[0];
    if (!name || !*name)
        child_fail_errno(c, EINVAL, "exec", "empty argv[0]", NULL);
    for (const char *q = name; *q; q++) {
        if (*q == '/') {
            str_copy(c->exe, sizeof c->exe, name);
            if (!is_executable(c->exe)) {
                char why[600];
                if (errno == EACCES || errno == 0) {
                    lookup_fail(c, name, "permission denied");
                }
                str_copy(why, sizeof why, "stat ");
                str_append(why, sizeof why, name);
                str_append(why, sizeof why, ": no such file or directory");
                lookup_fail(c, name, why);
            }
            return;
        }
    }
    const char *path = env_get(c->plan->envp, "PATH");
    if (!path)
        path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    int saw_eacces = 0;
    while (*path) {
        char dir[4096];
        size_t n = 0;
        while (path[n] && path[n] != ':' && n + 1 < sizeof dir) {
            dir[n] = path[n];
            n++;
        }
        dir[n] = 0;
        path += n;
        if (*path == ':')
            path++;
        if (n == 0)
            str_copy(dir, sizeof dir, ".");
        str_copy(c->exe, sizeof c->exe, dir);
        str_append(c->exe, sizeof c->exe, "/");
        str_append(c->exe, sizeof c->exe, name);
        if (is_executable(c->exe))
            return;
        if (errno == EACCES || errno == 0)
            saw_eacces = 1;
    }
    lookup_fail(c, name, saw_eacces ? "permission denied" : "executable file not found in $PATH");
}

void process_limits(struct child *c)
{
    const struct hcs_spawn_plan *p = c->plan;
    for (uint32_t i = 0; i < p->n_rlimits; i++) {
        child_at(c, HCS_AREA_RLIMIT, (int32_t)i);
        struct rlimit l = {.rlim_cur = p->rlimits[i].soft, .rlim_max = p->rlimits[i].hard};
        if (setrlimit(p->rlimits[i].resource, &l) < 0) {
            char num[16];
            str_uint(num, sizeof num, (unsigned)p->rlimits[i].resource);
            child_fail(c, "setrlimit", "resource", num);
        }
    }
    child_at(c, HCS_AREA_NONE, -1);
    if ((p->flags & HCS_PLAN_PERSONALITY) && personality(p->personality) < 0)
        child_fail(c, "personality", NULL, NULL);
    if (p->flags & HCS_PLAN_NEW_KEYRING) {
        /* A fresh session keyring, so the container does not share the host's keys. */
        if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, p->keyring_name) < 0 && errno != ENOSYS)
            child_fail(c, "join session keyring", p->keyring_name, NULL);
    }
}

static int capset_all(uint64_t eff, uint64_t perm, uint64_t inh)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2] = {
        {.effective = (uint32_t)eff, .permitted = (uint32_t)perm, .inheritable = (uint32_t)inh},
        {.effective = (uint32_t)(eff >> 32), .permitted = (uint32_t)(perm >> 32), .inheritable = (uint32_t)(inh >> 32)},
    };
    return (int)syscall(SYS_capset, &h, d);
}

void process_identity(struct child *c)
{
    const struct hcs_spawn_plan *p = c->plan;
    if (p->has_caps) {
        /* The bounding set can only shrink, and only while we still hold CAP_SETPCAP. */
        for (int cap = 0; cap < 64; cap++) {
            if (p->cap_bounding & (1ull << cap))
                continue;
            if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
                if (errno == EINVAL)
                    break; /* past the kernel's last capability */
                child_fail(c, "drop bounding capability", NULL, NULL);
            }
        }
        if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
            child_fail(c, "keep capabilities", NULL, NULL);
    }
    if (sys_setgroups(p->n_groups, (const gid_t *)p->groups) < 0 && !(errno == EPERM && p->n_groups == 0))
        child_fail(c, "setgroups", NULL, NULL);
    if (sys_setresgid(p->gid, p->gid, p->gid) < 0)
        child_fail(c, "setgid", NULL, NULL);
    if (sys_setresuid(p->uid, p->uid, p->uid) < 0)
        child_fail(c, "setuid", NULL, NULL);
    if (p->has_caps) {
        if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
            child_fail(c, "clear keep capabilities", NULL, NULL);
        if (capset_all(p->cap_effective, p->cap_permitted, p->cap_inheritable) < 0)
            child_fail(c, "capset", NULL, NULL);
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
        /* As runc: an ambient capability that is not also permitted and inheritable is
         * silently skipped (the kernel refuses it), so stock configs keep working. */
        for (int cap = 0; cap < 64; cap++)
            if (p->cap_ambient & (1ull << cap))
                prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0);
    }
    if (p->flags & HCS_PLAN_SET_UMASK)
        umask(p->umask);
    else
        umask(022);
    if ((p->flags & HCS_PLAN_NO_NEW_PRIVS) && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        child_fail(c, "no_new_privs", NULL, NULL);
}

/* Returns the listener fd with SECCOMP_FILTER_FLAG_NEW_LISTENER, else 0. */
static int load_seccomp(struct child *c)
{
    const struct hcs_spawn_plan *p = c->plan;
    struct sock_fprog prog = {.len = (unsigned short)p->seccomp_len, .filter = (struct sock_filter *)p->seccomp_filter};
    int r = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, p->seccomp_flags, &prog);
    if (r < 0)
        child_fail(c, "load seccomp filter", NULL, NULL);
    return r;
}

void process_seccomp(struct child *c)
{
    if (c->plan->seccomp_len) {
        child_at(c, HCS_AREA_SECCOMP, -1);
        load_seccomp(c);
    }
}

/* The seccomp filter (unless no_new_privs puts it right before execve, or it went in before
 * READY for a seccomp agent), then the user, groups and capabilities: the filter first, since
 * without no_new_privs loading it needs CAP_SYS_ADMIN. */
void process_drop_privileges(struct child *c)
{
    const struct hcs_spawn_plan *p = c->plan;
    child_at(c, HCS_AREA_SECCOMP, -1);
    if (p->seccomp_len && !(p->flags & (HCS_PLAN_NO_NEW_PRIVS | HCS_PLAN_SECCOMP_NOTIFY)))
        process_seccomp(c);
    child_at(c, HCS_AREA_USER, -1);
    process_identity(c);
    child_at(c, HCS_AREA_NONE, -1);
}

/* Loaded before the start wait when a seccomp agent must receive the listener fd. */
HCS_HIDDEN void process_seccomp_notify(struct child *c)
{
    int fd = load_seccomp(c);
    struct hcs_msg m = {.type = HCS_MSG_SECCOMP_FD};
    if (hcs_send_fd(c->sync_fd, fd, &m, sizeof m) < 0)
        child_fail(c, "send seccomp listener", NULL, NULL);
    close(fd);
    if (sync_wait_go(c->sync_fd, NULL, 0, NULL) < 0)
        child_fail(c, "wait for seccomp agent", NULL, NULL);
}

void process_exec(struct child *c)
{
    become_session(c);
    /* Handlers do not survive execve, but ignored signals and the mask do. Every disposition
     * was reset to default when the child started (reset_signals), except SIGPIPE, which the
     * child itself ignores while it works: give the program a clean slate. */
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigaction(SIGPIPE, &dfl, NULL);
    sigset_t none;
    sigemptyset(&none);
    if (c->plan->flags & HCS_PLAN_NO_NEW_PRIVS) {
        sigprocmask(SIG_SETMASK, &none, NULL);
        process_seccomp(c);
    } else {
        /* Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: that was done earlier. */
        sigprocmask(SIG_SETMASK, &none, NULL);
    }
    if (c->plan->exec_fd >= 0) {
        /* a file opened in the host before pivot_root: no lookup inside the container */
        syscall(SYS_execveat, c->plan->exec_fd, "", (char *const *)c->plan->argv, (char *const *)c->plan->envp,
                AT_EMPTY_PATH);
        child_fail(c, "execveat", c->exe, NULL);
    }
    execve(c->exe, (char *const *)c->plan->argv, (char *const *)c->plan->envp);
    child_fail(c, "exec", c->exe, NULL);
}
