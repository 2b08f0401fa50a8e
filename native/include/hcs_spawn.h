/*
 * hcs_spawn.h - the frozen ABI between the managed engine (Hcs.Linux) and the only code
 * that must run between clone() and execve(): libhcsspawn.
 *
 * Why C at all: the .NET runtime is multi-threaded. After clone() only the calling thread
 * exists in the child, and any lock another thread held (the GC's, malloc's) stays held
 * forever. So the child must not allocate, must not run managed code, and may only make
 * system calls. Everything that is a *decision* (which namespaces, which mounts in which
 * order, which capabilities, the seccomp BPF program) is computed in C# and handed over as
 * a plan; this library only executes it, in order, and reports the first failure.
 *
 * Conventions
 *  - All pointers in a plan stay valid until hcs_spawn returns; the child gets its own copy
 *    of the address space, so it may read them after the parent freed them.
 *  - Every string is NUL-terminated UTF-8. Every list is a pointer + count.
 *  - Every fd handed over is inherited by the child. The child closes, as it starts, every fd
 *    but 0-2, the preserved range [3, 3 + preserve_fds) and those the plan names (sync,
 *    start, console, exec, stdio, joins, steps' userns): a fd passed any other way (a path
 *    "/proc/self/fd/N") is not there. Those kept are close-on-exec, but for 0-2 and the
 *    preserved range.
 *  - ABI 3 added stdio_fds and exec_fd to the plan, and hcs_mount_into/hcs_unmount_in.
 *  - ABI 4 added the zygote (hcs_zygote_start, hcs_zygote_fork, hcs_send_plan) and
 *    struct hcs_waiting. A plan sent to a waiting child lives in that child's shared region
 *    and is read by the child after hcs_send_plan returns, until its execve.
 *  - ABI 6 added n_made_steps to the plan, HCS_MSG_CGROUP_MADE and HCS_AREA_TERMINAL.
 *  - ABI 7: the zygote is an executable of its own, hcs-zygote (hcs_zygote_start takes its
 *    path); it says its ABI first, and is refused when that is not the caller's.
 *  - Failures: a function returns -1 and fills struct hcs_error: errno + the name of the step
 *    that failed + a detail (usually a path). Failures inside the child travel back to the
 *    parent as an HCS_MSG_ERROR message on the sync socket.
 *  - Requires Linux >= 5.12 (openat2, open_tree, move_mount, mount_setattr, close_range).
 *
 * Changing any struct layout means bumping HCS_SPAWN_ABI; Hcs.Linux checks it at startup.
 */
#ifndef HCS_SPAWN_H
#define HCS_SPAWN_H

#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HCS_SPAWN_ABI 7

#define HCS_API __attribute__((visibility("default")))

/* Which part of the plan a failure belongs to, so the runtime can name the config value
 * (JSON path) behind it: the item's index in its list travels with it. */
enum hcs_area {
    HCS_AREA_NONE = 0,
    HCS_AREA_STEP = 1,              /* plan->steps[index] */
    HCS_AREA_MASKED = 2,            /* plan->masked_paths[index] */
    HCS_AREA_READONLY = 3,          /* plan->readonly_paths[index] */
    HCS_AREA_SYSCTL = 4,            /* sysctl pair number index */
    HCS_AREA_CREATE_CONTAINER = 5,  /* plan->create_container_hooks[index] */
    HCS_AREA_START_CONTAINER = 6,   /* plan->start_container_hooks[index] */
    HCS_AREA_RLIMIT = 7,            /* plan->rlimits[index] */
    HCS_AREA_JOIN = 8,              /* plan->joins[index] */
    HCS_AREA_HOSTNAME = 9,
    HCS_AREA_DOMAINNAME = 10,
    HCS_AREA_CWD = 11,
    HCS_AREA_EXEC = 12,             /* argv[0] */
    HCS_AREA_ROOTFS = 13,
    HCS_AREA_USER = 14,             /* uid, gid, groups */
    HCS_AREA_SECCOMP = 15,
    HCS_AREA_TERMINAL = 16,         /* the pty (process.terminal) */
};

struct hcs_error {
    int32_t err;        /* errno value, 0 if the failure has no errno */
    int32_t area;       /* enum hcs_area */
    int32_t index;      /* position in that area's list, -1 if none */
    char step[64];      /* what was being done: "mount", "pivot_root", "execve", ... */
    char detail[512];   /* usually the path or name involved */
};

/* ---- mounts and the root filesystem ------------------------------------------------ */

enum hcs_step_kind {
    HCS_STEP_MOUNT = 1,     /* mount(source, target, fstype, flags, data): a new filesystem */
    HCS_STEP_BIND = 2,      /* clone the host tree at source onto target (open_tree+move_mount) */
    HCS_STEP_MKNOD = 3,     /* create a device node at target (mode holds S_IFCHR/S_IFBLK/...) */
    HCS_STEP_SYMLINK = 4,   /* symlink target -> source (source is the link's content) */
    HCS_STEP_MKDIR = 5,     /* create directory target (and its parents) */
    HCS_STEP_SETATTR = 6,   /* change attributes of the mount at target (e.g. make it read-only) */
};

enum hcs_target_kind {
    HCS_TARGET_DIR = 0,     /* create target as a directory if missing */
    HCS_TARGET_FILE = 1,    /* create target as an empty regular file if missing */
};

/*
 * One step of the root filesystem plan. Targets are paths inside the container's root and
 * are resolved with openat2(RESOLVE_IN_ROOT): a symlink in the rootfs can never lead a
 * mount, a mknod or a mkdir outside it. Missing parents are created as directories (0755).
 */
struct hcs_mount_step {
    uint32_t kind;          /* enum hcs_step_kind */
    uint32_t target_kind;   /* enum hcs_target_kind */
    const char *source;     /* MOUNT: source name; BIND: host path; SYMLINK: link content */
    const char *target;     /* path inside the rootfs, absolute ("/dev/pts") */
    const char *fstype;     /* MOUNT only */
    const char *data;       /* MOUNT only: fs-specific options, may be NULL */
    uint64_t flags;         /* MOUNT: MS_* flags for mount(2) */
    uint64_t attr_set;      /* BIND/SETATTR: MOUNT_ATTR_* to set (mount_setattr) */
    uint64_t attr_clr;      /* BIND/SETATTR: MOUNT_ATTR_* to clear */
    uint64_t propagation;   /* MS_SHARED/MS_SLAVE/MS_PRIVATE/MS_UNBINDABLE, 0 = leave */
    uint32_t recursive;     /* BIND: rbind; SETATTR/propagation: apply to the whole subtree */
    uint32_t mode;          /* MKNOD: full st_mode; MKDIR: permission bits */
    uint64_t dev;           /* MKNOD: makedev(major, minor) */
    int64_t uid;            /* MKNOD/MKDIR: owner after creation, -1 = leave */
    int64_t gid;
    int32_t userns_fd;      /* BIND: idmap the mount through this user namespace; -1 none */
    uint32_t optional;      /* 1: a missing source is not an error (the step is skipped) */
};

/* ---- the process --------------------------------------------------------------------- */

struct hcs_ns_join {
    int32_t fd;             /* an open /proc/<pid>/ns/<type> or bind-mounted namespace file */
    int32_t type;           /* CLONE_NEWUSER, CLONE_NEWNET, ... */
};

struct hcs_rlimit {
    int32_t resource;       /* RLIMIT_* */
    uint32_t pad;
    uint64_t soft;
    uint64_t hard;
};

struct hcs_hook {
    const char *path;
    const char *const *argv;   /* NULL-terminated */
    const char *const *envp;   /* NULL-terminated */
    int32_t timeout_ms;        /* <= 0: no timeout */
    uint32_t pad;
};

enum hcs_plan_flags {
    HCS_PLAN_EXEC            = 1u << 0,  /* join an existing container (exec); no rootfs setup */
    HCS_PLAN_NO_PIVOT        = 1u << 1,  /* MS_MOVE + chroot instead of pivot_root */
    HCS_PLAN_ROOT_READONLY   = 1u << 2,
    HCS_PLAN_NEW_KEYRING     = 1u << 3,  /* join a fresh session keyring */
    HCS_PLAN_TERMINAL        = 1u << 4,  /* allocate a pty, send its master over console_fd */
    HCS_PLAN_NO_NEW_PRIVS    = 1u << 5,
    HCS_PLAN_SET_UMASK       = 1u << 6,
    HCS_PLAN_PERSONALITY     = 1u << 7,
    HCS_PLAN_SETUP_ROOTFS    = 1u << 8,  /* a new mount namespace: build the root filesystem */
    HCS_PLAN_HOOK_SYNC       = 1u << 9,  /* stop after mounts for prestart/createRuntime hooks */
    HCS_PLAN_SECCOMP_NOTIFY  = 1u << 10, /* seccomp gives a listener fd: send it to the parent */
    HCS_PLAN_CONSOLE_MOUNT   = 1u << 11, /* bind the pty slave onto /dev/console */
    HCS_PLAN_EARLY_PATHS     = 1u << 12, /* with early steps: read-only and masked paths right
                                            after SETUP (while the parent joins the child to its
                                            cgroup), not after pivot_root; the planner sets it
                                            only when no later step, cwd, sysctl or hook meets
                                            those paths */
};

struct hcs_spawn_plan {
    uint32_t abi;                       /* HCS_SPAWN_ABI */
    uint32_t flags;                     /* enum hcs_plan_flags */
    uint64_t clone_flags;               /* CLONE_NEW* to create (CLONE_NEWCGROUP and time are
                                           unshared later, see hcs_spawn) */
    const struct hcs_ns_join *joins;    /* namespaces to enter, in this order */
    uint32_t n_joins;

    int32_t sync_fd;                    /* the child's end of the SOCK_SEQPACKET sync pair */
    int32_t start_fd;                   /* read one byte from it before execve; -1 = none */
    int32_t console_fd;                 /* HCS_PLAN_TERMINAL: socket to send the pty master to */
    int32_t preserve_fds;               /* keep fds 3 .. 3+preserve_fds-1 open across execve */
    /* The program's stdin, stdout, stderr: each fd >= 0 is dup'ed onto 0, 1, 2 in the child
     * before it does anything that could print; -1 inherits the caller's. Each must be > 2
     * (dup'ing one onto 0 must not clobber another still to be dup'ed; hcs_spawn refuses
     * 0-2 with EINVAL) and outside the preserved range (the original is left to close at
     * execve). A terminal (HCS_PLAN_TERMINAL) replaces all three with the pty. Exec and
     * create alike: a host serving many containers gives each its own pipes. */
    int32_t stdio_fds[3];
    /* >= 0: run this file instead of looking argv[0] up: execveat(exec_fd, "", argv, envp,
     * AT_EMPTY_PATH). Opened by the caller in the host before pivot_root (O_PATH|O_CLOEXEC),
     * so a program that is not in the container's root (hcs's own pause init) can be its
     * process. Being close-on-exec, it must be an ELF binary: a "#!" script would find its
     * /dev/fd path gone. Failures are reported as for execve (HCS_AREA_EXEC). -1 = lookup. */
    int32_t exec_fd;
    uint16_t console_rows, console_cols;

    const char *timens_offsets;         /* text for /proc/self/timens_offsets, NULL = none */
    const char *uid_map;                /* with CLONE_NEWUSER: text for /proc/<pid>/uid_map, */
    const char *gid_map;                /* written by hcs_spawn in the parent */
    const char *keyring_name;           /* HCS_PLAN_NEW_KEYRING: session keyring name */

    /* root filesystem (HCS_PLAN_SETUP_ROOTFS) */
    const char *rootfs;                 /* absolute host path of the root */
    uint64_t root_propagation;          /* applied to "/" first (default MS_SLAVE|MS_REC) */
    const char *rootfs_parent_mount;    /* made MS_PRIVATE so pivot_root works; NULL = skip */
    uint64_t rootfs_propagation;        /* applied to "/" after pivot_root; 0 = leave */
    const struct hcs_mount_step *steps;
    uint32_t n_steps;
    /* Steps 0 .. n_early_steps-1 may run before SETUP, while the parent makes the cgroup: the
     * planner puts there none that needs the container's cgroup directories, its membership or
     * its cgroup namespace (the "cgroup" mount, cgroup2 mounts, the spec's devices, what is
     * nested with them). Steps n_early_steps .. n_made_steps-1 need only the directories (the
     * binds of a "cgroup" mount): they run once HCS_MSG_CGROUP_MADE says those exist, while the
     * parent joins the child to them. Honoured only for a plan that makes no user namespace and
     * joins none (those come first); otherwise all steps follow GO. */
    uint32_t n_early_steps;
    uint32_t n_made_steps;              /* >= n_early_steps; == it when no step waits for MADE */
    const char *const *masked_paths;    /* after pivot: /dev/null or a read-only tmpfs on top */
    uint32_t n_masked_paths;
    const char *const *readonly_paths;  /* after pivot: read-only bind on themselves */
    uint32_t n_readonly_paths;
    const char *const *sysctls;         /* pairs: "net/ipv4/ip_forward", "1", ... */
    uint32_t n_sysctls;                 /* number of pairs */
    const char *hostname;               /* NULL = leave */
    const char *domainname;             /* NULL = leave */

    /* the process */
    const char *const *argv;            /* NULL-terminated; argv[0] is looked up in PATH
                                           (unless exec_fd is given) */
    const char *const *envp;            /* NULL-terminated */
    const char *cwd;
    uint32_t uid, gid;
    const uint32_t *groups;
    uint32_t n_groups;
    uint32_t umask;                     /* with HCS_PLAN_SET_UMASK */
    uint32_t personality;               /* with HCS_PLAN_PERSONALITY */
    const struct hcs_rlimit *rlimits;
    uint32_t n_rlimits;
    uint64_t cap_bounding, cap_effective, cap_permitted, cap_inheritable, cap_ambient;
    uint32_t has_caps;                  /* 0: keep the capabilities we have */

    /* seccomp: a ready BPF program (computed by libseccomp in the parent), loaded last */
    const void *seccomp_filter;         /* struct sock_filter[] */
    uint32_t seccomp_len;               /* number of instructions; 0 = no filter */
    uint32_t seccomp_flags;             /* SECCOMP_FILTER_FLAG_* */

    /* hooks the child runs itself */
    const struct hcs_hook *create_container_hooks;  /* in the container's namespaces, before pivot */
    uint32_t n_create_container_hooks;
    const struct hcs_hook *start_container_hooks;   /* after start, before execve */
    uint32_t n_start_container_hooks;

    /* Scratch the child uses to receive the state JSON for its hooks (no malloc in the child). */
    char *state_buf;
    uint32_t state_buf_len;
};

/* ---- the sync protocol ---------------------------------------------------------------
 *
 *   parent (C#)                                        child (this library)
 *   hcs_spawn ──clone──────────────────────────────────► [intermediate: setns user/pid,
 *                                                          unshare user, time; clone init]
 *   (writes uid/gid maps of a new user namespace itself)
 *             ◄── HCS_MSG_PID (only via intermediate) ───
 *   (creates the cgroup meanwhile)                       mount steps 0 .. n_early_steps-1
 *             ◄── HCS_MSG_SETUP ─────────────────────── [HCS_PLAN_EARLY_PATHS: read-only
 *                                                          and masked paths]
 *   [n_made_steps > n_early_steps: once the cgroup is made, before reading SETUP]
 *             ─── HCS_MSG_CGROUP_MADE ─────────────────► mount steps n_early_steps ..
 *   (writes the limits meanwhile)                          n_made_steps-1, then waits
 *   join cgroups, oom_score_adj
 *             ─── HCS_MSG_GO + state JSON ─────────────► unshare cgroupns, setns others,
 *                                                          the other mount steps
 *             ◄── HCS_MSG_HOOKS (HCS_PLAN_HOOK_SYNC) ─── waits
 *   prestart + createRuntime hooks
 *             ─── HCS_MSG_GO ──────────────────────────► createContainer hooks, pivot_root,
 *                                                          masks, sysctl, console, setsid
 *             ◄── HCS_MSG_SECCOMP_FD (+fd) ───────────── (HCS_PLAN_SECCOMP_NOTIFY)
 *             ─── HCS_MSG_GO ──────────────────────────►
 *             ◄── HCS_MSG_READY ─────────────────────── seccomp (without nnp), user and
 *                                                          capabilities, then waits on start_fd
 *                                                          (with startContainer hooks: waits,
 *                                                          hooks, then those), execve
 *   any time: ◄── HCS_MSG_ERROR (hcs_error) ─────────── exits 1
 */
enum hcs_msg_type {
    HCS_MSG_PID = 1,
    HCS_MSG_SETUP = 2,
    HCS_MSG_GO = 3,
    HCS_MSG_HOOKS = 4,
    HCS_MSG_SECCOMP_FD = 5,
    HCS_MSG_READY = 6,
    HCS_MSG_ERROR = 7,
    HCS_MSG_CGROUP_MADE = 8,
};

struct hcs_msg {
    uint32_t type;          /* enum hcs_msg_type */
    int32_t pid;            /* HCS_MSG_PID */
    struct hcs_error error; /* HCS_MSG_ERROR */
};

/* Returns HCS_SPAWN_ABI; the managed side refuses to run against another ABI. */
HCS_API int hcs_abi_version(void);

/* sizeof the ABI structs, so a test can prove the managed mirrors match:
 * 0 plan, 1 mount step, 2 ns join, 3 rlimit, 4 hook, 5 error, 6 msg, 7 waiting. */
HCS_API uint32_t hcs_sizeof(int which);

/*
 * Starts the process described by plan. parent_sync_fd is the parent's end of the sync pair
 * (plan->sync_fd is the child's). On success stores the pid of the new process (in the
 * caller's pid namespace) and returns 0; the child then waits for HCS_MSG_GO. If an
 * intermediate process was needed (joining a pid or user namespace, a time namespace) it
 * has already been reaped.
 */
HCS_API int hcs_spawn(const struct hcs_spawn_plan *plan, int parent_sync_fd, pid_t *pid_out,
              struct hcs_error *err);

/*
 * Runs one OCI hook: state JSON on stdin, waits up to hook->timeout_ms, kills it on timeout.
 * Returns 0 if it exited 0; -1 with err filled otherwise. Safe in a multi-threaded process.
 */
HCS_API int hcs_run_hook(const struct hcs_hook *hook, const char *state, uint32_t state_len,
                 struct hcs_error *err);

/*
 * Receives one message of the sync protocol on the parent's end. If the message carries an
 * fd (HCS_MSG_SECCOMP_FD) it is stored in *fd_out, else *fd_out = -1. Returns the number of
 * bytes received (0 on EOF: the child exited or execve'd) or -1/errno.
 */
HCS_API int hcs_sync_recv(int sock, struct hcs_msg *msg, int *fd_out);

/* Sends fd over a unix socket with SCM_RIGHTS, with payload as the data. 0 or -1/errno. */
HCS_API int hcs_send_fd(int sock, int fd, const void *payload, uint32_t payload_len);

/* Receives one fd sent with SCM_RIGHTS; stores up to payload_cap bytes of data. fd or -1/errno. */
HCS_API int hcs_recv_fd(int sock, void *payload, uint32_t payload_cap, uint32_t *payload_len);

/*
 * Creates a user namespace with the given mappings (text as in /proc/pid/uid_map) and
 * returns an fd to it, for idmapped mounts. -1/errno on failure.
 */
HCS_API int hcs_make_userns(const char *uid_map, const char *gid_map, struct hcs_error *err);

/* ---- the zygote: waiting children made ahead of time (zygote.c) --------------------------
 *
 * hcs_spawn clones its caller; from a large process (hcs-monitor) that costs a copy of its page
 * tables at the clone and their teardown at execve. The zygote, a small executable the caller
 * starts once (hcs-zygote), clones "waiting children" on request: already in new pid, network,
 * ipc and uts namespaces (whichever of those clone_flags names), children of the caller
 * (CLONE_PARENT), blocked until they get a plan. A waiting child's plan must be built inside
 * its region (shared memory mapped at the same address in the caller and the child);
 * hcs_send_plan then passes the fds the plan names. From there the child follows the same
 * protocol as one made by hcs_spawn (HCS_MSG_SETUP first). It makes its mount namespace when
 * the plan comes (a copy of the caller's at that moment) and its cgroup namespace after GO.
 * Plans that join namespaces, make a user or time namespace, preserve fds or run hooks in the
 * child are not for waiting children (the caller checks; see Hcs.Linux SpawnPool).
 */
struct hcs_waiting {
    int32_t pid;            /* the waiting child, the caller's child */
    int32_t sync_fd;        /* the caller's end of its sync socket */
    void *region;           /* where its plan must be built, mapped in the caller */
    uint64_t region_len;
};

/* Starts the zygote, the executable at zygote_path (hcs-zygote, built with this library), as
 * the caller's child; it exits when *control_fd closes (EOF), or when the calling thread does
 * (PR_SET_PDEATHSIG, as do the waiting children): call it from a thread that lives as long as
 * the pool, a process's main thread. 0, or -1 with err filled (ENOENT: no such executable;
 * EPROTO: one of another ABI). */
HCS_API int hcs_zygote_start(const char *zygote_path, int *control_fd, pid_t *pid_out, struct hcs_error *err);

/* Asks the zygote for a waiting child in the namespaces of clone_flags, with a plan region of
 * region_len bytes. urgent = 0: made in the idle scheduling class (ahead of time, when a CPU
 * is free) if the zygote can leave that class again (CAP_SYS_NICE); 1: at once. Not
 * thread-safe per control_fd. 0, or -1 with err filled (EPIPE: the zygote is gone). */
HCS_API int hcs_zygote_fork(int control_fd, uint64_t clone_flags, uint64_t region_len, int urgent,
                    struct hcs_waiting *out, struct hcs_error *err);

/* Hands the waiting child its plan (inside w->region) and the fds it names: stdio_fds,
 * exec_fd, console_fd, and start_fd unless it equals plan->sync_fd, which then means "the sync
 * socket" (plan->sync_fd is otherwise unused: the child has its own end). 0 or -1 with err. */
HCS_API int hcs_send_plan(const struct hcs_waiting *w, const struct hcs_spawn_plan *plan, struct hcs_error *err);

/* Unmaps the caller's view of the region (the child keeps its own until execve). */
HCS_API void hcs_waiting_release(struct hcs_waiting *w);

/* Ends a waiting child that is not needed (out of the idle class first, then SIGKILL) and
 * releases the region. The caller reaps it. */
HCS_API void hcs_waiting_discard(struct hcs_waiting *w);

/* ---- live mounts into a running container -------------------------------------------- */

enum hcs_mount_flags {
    HCS_MOUNT_READONLY = 1u << 0,   /* recursively read-only */
};

/*
 * Attaches the host tree at source (a directory or a file, with everything mounted below it)
 * at target inside the mount namespace of process pid (a path from that namespace's root, the
 * container's root after pivot_root). The target and its missing parents are created: a
 * directory, or an empty file when source is a file. The copy is private (no propagation
 * either way) and read-only with HCS_MOUNT_READONLY.
 *
 * How: open_tree(OPEN_TREE_CLONE|AT_RECURSIVE) in the caller, then a forked child (it only
 * makes system calls: safe in a multi-threaded caller) enters the process's user namespace
 * (when it is not ours) and mount namespace, creates the target (openat2 RESOLVE_IN_ROOT) and
 * move_mount()s the tree there. Its failure comes back through a pipe. Refuses a process that
 * shares the caller's mount namespace (the target would be on the host). 0 or -1 with err.
 */
HCS_API int hcs_mount_into(int pid, const char *source, const char *target, uint32_t flags,
                   struct hcs_error *err);

/* Detaches (umount2 MNT_DETACH, the last component not followed) the mount at target in the
 * mount namespace of process pid, entered as for hcs_mount_into. 0 or -1 with err filled. */
HCS_API int hcs_unmount_in(int pid, const char *target, struct hcs_error *err);

#ifdef __cplusplus
}
#endif
#endif
