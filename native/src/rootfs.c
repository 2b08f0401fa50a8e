/*
 * The container's root filesystem: executes the mount plan inside the new mount namespace,
 * then pivots into it and applies the finishing touches (masks, read-only paths, sysctls).
 *
 * Every target is resolved with openat2(RESOLVE_IN_ROOT) against an fd of the rootfs, so a
 * symlink planted in an image ("/proc -> /etc" or "../../host") resolves inside the rootfs
 * and never reaches the host. Mounts are made onto that resolved fd (move_mount onto the fd,
 * or mount(2) onto its /proc/self/fd magic link), so nothing can swap the path in between.
 */
#include "internal.h"

#include <sys/sysmacros.h>

#include <fcntl.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define RESOLVE_SCOPED (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)

int open_in_root(int rootfd, const char *path, uint64_t extra)
{
    int fd;
    do
        fd = sys_openat2(rootfd, path, O_PATH | O_CLOEXEC | extra, 0, RESOLVE_SCOPED);
    while (fd < 0 && errno == EAGAIN);
    return fd;
}

/* Splits "/a/b/name" (trailing slashes ignored) into "/a/b" and "name"; -1 (EINVAL) when
 * there is no last component, ENAMETOOLONG when a buffer is too small. */
static int split_last(const char *path, char *dir, size_t dcap, char *name, size_t ncap)
{
    size_t len = str_len(path);
    while (len > 1 && path[len - 1] == '/')
        len--;
    size_t slash = len;
    while (slash > 0 && path[slash - 1] != '/')
        slash--;
    if (slash == len) {
        errno = EINVAL;
        return -1;
    }
    if (len - slash >= ncap || slash >= dcap) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (size_t k = slash; k < len; k++)
        name[k - slash] = path[k];
    name[len - slash] = 0;
    for (size_t k = 0; k < slash; k++)
        dir[k] = path[k];
    dir[slash] = 0;
    if (slash == 0)
        str_copy(dir, dcap, "/");
    return 0;
}

static int make_node(int parent, const char *name, uint32_t kind, mode_t mode)
{
    int r;
    if (kind == HCS_TARGET_FILE) {
        r = openat(parent, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (r >= 0)
            close(r);
    } else {
        r = mkdirat(parent, name, mode);
    }
    return r < 0 && errno != EEXIST ? -1 : 0;
}

int ensure_in_root(int rootfd, const char *path, uint32_t kind, mode_t mode)
{
    int fd = open_in_root(rootfd, path, 0);
    if (fd >= 0 || errno != ENOENT)
        return fd;

    /* Usually only the last component is missing (a mount point under one made just before):
     * make it in its parent, one lookup instead of a walk from the root. */
    {
        char dir[4096], name[256];
        if (split_last(path, dir, sizeof dir, name, sizeof name) < 0)
            return -1;
        int parent = open_in_root(rootfd, dir, 0);
        if (parent >= 0) {
            int r = make_node(parent, name, kind, mode);
            close(parent);
            return r < 0 ? -1 : open_in_root(rootfd, path, 0);
        }
        if (errno != ENOENT)
            return -1;
    }

    char prefix[4096];
    size_t len = str_len(path);
    if (len >= sizeof prefix) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int parent = open_in_root(rootfd, "/", O_DIRECTORY);
    if (parent < 0)
        return -1;
    size_t i = 0;
    while (i < len) {
        while (i < len && path[i] == '/')
            i++;
        size_t start = i;
        while (i < len && path[i] != '/')
            i++;
        if (i == start)
            break;
        /* the last component is the one followed by nothing but slashes */
        size_t j = i;
        while (j < len && path[j] == '/')
            j++;
        int last = j >= len;

        char name[256];
        size_t nlen = i - start;
        if (nlen >= sizeof name) {
            close(parent);
            errno = ENAMETOOLONG;
            return -1;
        }
        for (size_t k = 0; k < nlen; k++)
            name[k] = path[start + k];
        name[nlen] = 0;
        for (size_t k = 0; k < i; k++)
            prefix[k] = path[k];
        prefix[i] = 0;

        int next = open_in_root(rootfd, prefix, 0);
        if (next < 0 && errno == ENOENT) {
            if (make_node(parent, name, last ? kind : HCS_TARGET_DIR, last ? mode : 0755) < 0) {
                close(parent);
                return -1;
            }
            next = open_in_root(rootfd, prefix, 0);
        }
        close(parent);
        if (next < 0)
            return -1;
        parent = next;
    }
    return parent;
}

/* Closes the directory kept by node steps: before any other step (a mount may cover it) and
 * when a run of steps ends. */
static void forget_node_dir(struct child *c)
{
    if (c->node_dir >= 0)
        close(c->node_dir);
    c->node_dir = -1;
}

/* Splits "/a/b/name" into a directory fd of "/a/b" (created if needed) and "name". The fd is
 * kept (c->node_dir) for the next node step in the same directory: the default container
 * makes a dozen in /dev, each an openat2, a reopen through /proc and two closes without it. */
static int parent_in_root(struct child *c, const char *path, char *name, size_t cap)
{
    char dir[4096];
    if (split_last(path, dir, sizeof dir, name, cap) < 0)
        return -1;
    if (c->node_dir >= 0 && str_eq(dir, c->node_dir_path))
        return c->node_dir;
    forget_node_dir(c);
    int o = ensure_in_root(c->rootfd, dir, HCS_TARGET_DIR, 0755);
    if (o < 0)
        return -1;
    /* ensure_in_root returns an O_PATH fd; *at() calls need a real directory fd */
    char p[64];
    int d = open(proc_fd_path(p, sizeof p, o), O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    close(o);
    if (d < 0)
        return -1;
    c->node_dir = d;
    str_copy(c->node_dir_path, sizeof c->node_dir_path, dir);
    return d;
}

static void step_mount(struct child *c, const struct hcs_mount_step *s)
{
    int tfd = ensure_in_root(c->rootfd, s->target, s->target_kind, 0755);
    if (tfd < 0)
        child_fail(c, "create mount target", s->target, NULL);
    char p[64];
    if (mount(s->source, proc_fd_path(p, sizeof p, tfd), s->fstype, (unsigned long)s->flags, s->data) < 0)
        child_fail(c, "mount", s->fstype, s->target);
    close(tfd);
    if (s->propagation) {
        /* reopen: the fd above names the directory under the new mount, not its root */
        tfd = open_in_root(c->rootfd, s->target, 0);
        if (tfd < 0 || sys_mount_setattr(tfd, "", AT_EMPTY_PATH | (s->recursive ? AT_RECURSIVE : 0), 0, 0,
                                         s->propagation, -1) < 0)
            child_fail(c, "set mount propagation", s->target, NULL);
        close(tfd);
    }
}

static void step_bind(struct child *c, const struct hcs_mount_step *s)
{
    unsigned int rec = s->recursive ? AT_RECURSIVE : 0;
    int src = sys_open_tree(AT_FDCWD, s->source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | rec);
    if (src < 0) {
        if (errno == ENOENT && s->optional)
            return;
        child_fail(c, "open bind source", s->source, NULL);
    }
    if ((s->attr_set || s->attr_clr || s->propagation || s->userns_fd >= 0) &&
        sys_mount_setattr(src, "", AT_EMPTY_PATH | rec, s->attr_set | (s->userns_fd >= 0 ? MOUNT_ATTR_IDMAP : 0),
                          s->attr_clr, s->propagation, s->userns_fd) < 0)
        child_fail(c, "set bind mount options", s->source, s->target);
    int tfd = ensure_in_root(c->rootfd, s->target, s->target_kind, 0755);
    if (tfd < 0)
        child_fail(c, "create mount target", s->target, NULL);
    if (sys_move_mount(src, "", tfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        child_fail(c, "bind mount", s->source, s->target);
    close(tfd);
    close(src);
}

static void step_node(struct child *c, const struct hcs_mount_step *s)
{
    char name[256];
    int d = parent_in_root(c, s->target, name, sizeof name);
    if (d < 0)
        child_fail(c, "create parent directory", s->target, NULL);
    int r;
    const char *what;
    switch (s->kind) {
    case HCS_STEP_MKNOD:
        what = "mknod";
        r = mknodat(d, name, s->mode, s->dev);
        break;
    case HCS_STEP_SYMLINK:
        what = "symlink";
        r = symlinkat(s->source, d, name);
        break;
    default:
        what = "mkdir";
        r = mkdirat(d, name, s->mode & 07777);
        break;
    }
    if (r < 0 && errno != EEXIST)
        child_fail(c, what, s->target, NULL);
    if (r == 0 && (s->uid >= 0 || s->gid >= 0) &&
        fchownat(d, name, (uid_t)s->uid, (gid_t)s->gid, AT_SYMLINK_NOFOLLOW) < 0)
        child_fail(c, "chown", s->target, NULL);
}

static void step_setattr(struct child *c, const struct hcs_mount_step *s)
{
    int tfd = open_in_root(c->rootfd, s->target, 0);
    if (tfd < 0) {
        if (errno == ENOENT && s->optional)
            return;
        child_fail(c, "open mount", s->target, NULL);
    }
    if (sys_mount_setattr(tfd, "", AT_EMPTY_PATH | (s->recursive ? AT_RECURSIVE : 0), s->attr_set, s->attr_clr,
                          s->propagation, -1) < 0)
        child_fail(c, "set mount attributes", s->target, NULL);
    close(tfd);
}

static void rootfs_begin(struct child *c)
{
    const struct hcs_spawn_plan *p = c->plan;
    child_at(c, HCS_AREA_ROOTFS, -1);
    /* nodes and directories get exactly the modes the plan gives, not the runtime's umask */
    umask(0);
    /* Stop mount events from flowing back to the host before we touch anything. */
    if (mount(NULL, "/", NULL, (unsigned long)(p->root_propagation ? p->root_propagation : MS_SLAVE | MS_REC),
              NULL) < 0)
        child_fail(c, "set root propagation", "/", NULL);
    if (p->rootfs_parent_mount && mount(NULL, p->rootfs_parent_mount, NULL, MS_PRIVATE, NULL) < 0)
        child_fail(c, "make rootfs parent private", p->rootfs_parent_mount, NULL);
    if (mount(p->rootfs, p->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
        child_fail(c, "bind rootfs", p->rootfs, NULL);
    c->rootfd = open(p->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (c->rootfd < 0)
        child_fail(c, "open rootfs", p->rootfs, NULL);
    child_at(c, HCS_AREA_NONE, -1);
}

void rootfs_steps(struct child *c, uint32_t from, uint32_t to)
{
    const struct hcs_spawn_plan *p = c->plan;
    if (c->rootfd < 0) /* the first call, wherever it falls (before SETUP, after MADE or GO) */
        rootfs_begin(c);
    for (uint32_t i = from; i < to; i++) {
        const struct hcs_mount_step *s = &p->steps[i];
        child_at(c, HCS_AREA_STEP, (int32_t)i);
        if (s->kind != HCS_STEP_MKNOD && s->kind != HCS_STEP_SYMLINK && s->kind != HCS_STEP_MKDIR)
            forget_node_dir(c);
        switch (s->kind) {
        case HCS_STEP_MOUNT:
            step_mount(c, s);
            break;
        case HCS_STEP_BIND:
            step_bind(c, s);
            break;
        case HCS_STEP_MKNOD:
        case HCS_STEP_SYMLINK:
        case HCS_STEP_MKDIR:
            step_node(c, s);
            break;
        case HCS_STEP_SETATTR:
            step_setattr(c, s);
            break;
        default:
            child_fail_errno(c, EINVAL, "unknown mount step", s->target, NULL);
        }
    }
    forget_node_dir(c);
    child_at(c, HCS_AREA_NONE, -1);
}

void rootfs_pivot(struct child *c)
{
    const struct hcs_spawn_plan *p = c->plan;
    child_at(c, HCS_AREA_ROOTFS, -1);
    if (p->flags & HCS_PLAN_NO_PIVOT) {
        /* For roots that cannot pivot (e.g. a ramfs root): move the rootfs over / and chroot. */
        if (fchdir(c->rootfd) < 0)
            child_fail(c, "chdir", p->rootfs, NULL);
        if (mount(p->rootfs, "/", NULL, MS_MOVE, NULL) < 0)
            child_fail(c, "move rootfs", p->rootfs, NULL);
        if (chroot(".") < 0)
            child_fail(c, "chroot", p->rootfs, NULL);
    } else {
        /* pivot_root(".", "."): the old root ends up stacked on the new one, so no directory
         * for it is needed inside the rootfs. Paths resolve in the new root from here on (a
         * lookup does not enter a mount stacked on its starting point); the old root is
         * detached once READY is sent (rootfs_detach_old_root), not here: its unmount waits
         * for an RCU grace period, 0.15 ms on a 2-vCPU VM, which create would wait for too. */
        int oldroot = open("/", O_DIRECTORY | O_PATH | O_CLOEXEC);
        if (oldroot < 0)
            child_fail(c, "open old root", "/", NULL);
        if (fchdir(c->rootfd) < 0)
            child_fail(c, "chdir", p->rootfs, NULL);
        if (sys_pivot_root(".", ".") < 0)
            child_fail(c, "pivot_root", p->rootfs, NULL);
        if (fchdir(oldroot) < 0)
            child_fail(c, "chdir old root", NULL, NULL);
        /* before anything else: no mount or unmount below it may reach the host */
        if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
            child_fail(c, "make old root slave", NULL, NULL);
        c->oldroot = oldroot;
    }
    if (chdir("/") < 0)
        child_fail(c, "chdir", "/", NULL);
    close(c->rootfd);
    c->rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (c->rootfd < 0)
        child_fail(c, "open new root", "/", NULL);
}

/* Called right after READY, before the identity is dropped and before any program of the
 * container (hook or process) runs: they never see the host's mounts. The working directory
 * is kept: the old root is unmounted from itself (MNT_DETACH, as it is the cwd meanwhile). */
void rootfs_detach_old_root(struct child *c)
{
    if (c->oldroot < 0)
        return;
    child_at(c, HCS_AREA_ROOTFS, -1);
    int cwd = open(".", O_DIRECTORY | O_PATH | O_CLOEXEC);
    if (cwd < 0)
        child_fail(c, "open cwd", NULL, NULL);
    if (fchdir(c->oldroot) < 0)
        child_fail(c, "chdir old root", NULL, NULL);
    if (umount2(".", MNT_DETACH) < 0)
        child_fail(c, "detach old root", NULL, NULL);
    if (fchdir(cwd) < 0)
        child_fail(c, "chdir back to cwd", NULL, NULL);
    close(cwd);
    close(c->oldroot);
    c->oldroot = -1;
    child_at(c, HCS_AREA_NONE, -1);
}

static void mask_path(struct child *c, const char *path)
{
    int fd = open_in_root(c->rootfd, path, 0);
    if (fd < 0) {
        if (errno == ENOENT)
            return;
        child_fail(c, "open masked path", path, NULL);
    }
    struct stat st;
    if (fstat(fd, &st) < 0)
        child_fail(c, "stat masked path", path, NULL);
    if (S_ISDIR(st.st_mode)) {
        /* an empty read-only tmpfs, built with the new mount API: needs no /proc */
        int fs = (int)syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC);
        if (fs < 0 || syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
            child_fail(c, "create mask tmpfs", path, NULL);
        int m = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY);
        if (m < 0 || sys_move_mount(m, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
            child_fail(c, "mask directory", path, NULL);
        close(m);
        close(fs);
    } else {
        /* The container's own /dev/null when it is the device (made with /dev before this, also
         * when this runs before pivot_root); else what /dev/null names here, as before. */
        int null = -1;
        int own = open_in_root(c->rootfd, "/dev/null", 0);
        if (own >= 0) {
            struct stat ns;
            if (fstat(own, &ns) == 0 && S_ISCHR(ns.st_mode) && ns.st_rdev == makedev(1, 3))
                null = sys_open_tree(own, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
            close(own);
        }
        if (null < 0)
            null = sys_open_tree(AT_FDCWD, "/dev/null", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if (null < 0)
            child_fail(c, "open /dev/null to mask", path, NULL);
        /* private (nothing propagates to or from where it came from), nosuid, noexec */
        if (sys_mount_setattr(null, "", AT_EMPTY_PATH, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, 0, MS_PRIVATE, -1) < 0)
            child_fail(c, "set mask flags", path, NULL);
        if (sys_move_mount(null, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
            child_fail(c, "mask file", path, NULL);
        close(null);
    }
    close(fd);
}

static void readonly_path(struct child *c, const char *path)
{
    int fd = open_in_root(c->rootfd, path, 0);
    if (fd < 0) {
        if (errno == ENOENT)
            return;
        child_fail(c, "open read-only path", path, NULL);
    }
    int tree = sys_open_tree(fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH);
    if (tree < 0)
        child_fail(c, "clone read-only path", path, NULL);
    if (sys_mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE,
                          MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, 0, 0,
                          -1) < 0)
        child_fail(c, "make path read-only", path, NULL);
    if (sys_move_mount(tree, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        child_fail(c, "mount read-only path", path, NULL);
    close(tree);
    close(fd);
}

void rootfs_make_cwd(struct child *c)
{
    /* as runc: a working directory the image lacks is created (images rely on it) */
    const char *cwd = c->plan->cwd;
    if (!cwd || !*cwd)
        return;
    int fd = ensure_in_root(c->rootfd, cwd, HCS_TARGET_DIR, 0755);
    if (fd < 0)
        child_fail(c, "create cwd", cwd, NULL);
    close(fd);
}

/* Resolved in c->rootfd, so before pivot_root as well as after it; a masking /dev/null is then
 * the host's, the same device node as the container's. */
void rootfs_paths(struct child *c)
{
    const struct hcs_spawn_plan *p = c->plan;
    for (uint32_t i = 0; i < p->n_readonly_paths; i++) {
        child_at(c, HCS_AREA_READONLY, (int32_t)i);
        readonly_path(c, p->readonly_paths[i]);
    }
    for (uint32_t i = 0; i < p->n_masked_paths; i++) {
        child_at(c, HCS_AREA_MASKED, (int32_t)i);
        mask_path(c, p->masked_paths[i]);
    }
    child_at(c, HCS_AREA_NONE, -1);
    c->paths_done = 1;
}

void rootfs_finish(struct child *c)
{
    const struct hcs_spawn_plan *p = c->plan;
    if (!c->paths_done)
        rootfs_paths(c);
    child_at(c, HCS_AREA_ROOTFS, -1);
    /* last: an unbindable tree could not be cloned for the read-only paths above */
    if (p->rootfs_propagation && mount(NULL, "/", NULL, (unsigned long)p->rootfs_propagation, NULL) < 0)
        child_fail(c, "set rootfs propagation", "/", NULL);
    if (p->flags & HCS_PLAN_ROOT_READONLY) {
        if (sys_mount_setattr(c->rootfd, "", AT_EMPTY_PATH, MOUNT_ATTR_RDONLY, 0, 0, -1) < 0)
            child_fail(c, "make root read-only", "/", NULL);
    }
}
