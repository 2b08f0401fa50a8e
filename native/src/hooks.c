/*
 * OCI hooks: run a program with the container state on stdin, bounded by a timeout, and
 * report a failure with the first bytes it printed. Used both by the parent (prestart,
 * createRuntime, poststart, poststop) and inside the child (createContainer,
 * startContainer), so it forks with a raw clone and the forked side only makes syscalls.
 */
#include "internal.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int hcs_run_hook(const struct hcs_hook *h, const char *state, uint32_t state_len, struct hcs_error *err)
{
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) < 0) {
        err_set(err, errno, "hook", "pipe", NULL);
        return -1;
    }
    if (pipe2(out, O_CLOEXEC) < 0) {
        err_set(err, errno, "hook", "pipe", NULL);
        close(in[0]);
        close(in[1]);
        return -1;
    }
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    /* fork() without atfork handlers: the parent may be a multi-threaded .NET process */
    pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) {
        for (int sig = 1; sig < _NSIG; sig++) {
            struct sigaction sa = {.sa_handler = SIG_DFL};
            sigaction(sig, &sa, NULL);
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (dup3(in[0], 0, 0) < 0 || dup3(out[1], 1, 0) < 0 || dup3(out[1], 2, 0) < 0)
            _exit(126);
        sys_close_range(3, ~0u, CLOSE_RANGE_CLOEXEC);
        static const char *empty[] = {NULL};
        execve(h->path, (char *const *)(h->argv ? h->argv : empty), (char *const *)(h->envp ? h->envp : empty));
        _exit(127);
    }
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(in[0]);
    close(out[1]);
    if (pid < 0) {
        close(in[1]);
        close(out[0]);
        err_set(err, fork_errno, "hook", "fork", h->path);
        return -1;
    }
    fcntl(in[1], F_SETFL, O_NONBLOCK);
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    int pidfd = sys_pidfd_open(pid);

    char output[256];
    size_t got = 0;
    uint32_t sent = 0;
    int wfd = state_len ? in[1] : -1, rfd = out[0], exited = 0, timed_out = 0;
    if (wfd < 0)
        close(in[1]);
    long long deadline = h->timeout_ms > 0 ? now_ms() + h->timeout_ms : -1;
    while (!exited || rfd >= 0) {
        struct pollfd fds[3] = {{.fd = wfd, .events = POLLOUT}, {.fd = rfd, .events = POLLIN},
                                {.fd = exited ? -1 : pidfd, .events = POLLIN}};
        int wait = -1;
        if (deadline >= 0) {
            long long left = deadline - now_ms();
            if (left <= 0) {
                timed_out = !exited;
                break;
            }
            wait = (int)left;
        }
        if (exited)
            wait = 0; /* the hook is gone: take what is buffered, don't wait for its children */
        int n = poll(fds, 3, wait);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 && !exited) {
            /* the deadline passed while the hook still runs */
            timed_out = 1;
            break;
        }
        if (n <= 0)
            break;
        if (wfd >= 0 && (fds[0].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t w = write(wfd, state + sent, state_len - sent);
            if (w > 0)
                sent += (uint32_t)w;
            if (w < 0 || sent == state_len) {
                close(wfd);
                wfd = -1;
            }
        }
        if (rfd >= 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            char buf[512];
            ssize_t r = read(rfd, buf, sizeof buf);
            if (r <= 0) {
                close(rfd);
                rfd = -1;
            } else {
                for (ssize_t i = 0; i < r && got + 1 < sizeof output; i++)
                    output[got++] = buf[i] == '\n' ? ' ' : buf[i];
            }
        }
        if (pidfd >= 0 && !exited && (fds[2].revents & POLLIN))
            exited = 1;
        if (pidfd < 0)
            exited = 1; /* no pidfd: fall back to waitpid below */
    }
    output[got] = 0;
    if (wfd >= 0)
        close(wfd);
    if (rfd >= 0)
        close(rfd);
    if (pidfd >= 0)
        close(pidfd);
    if (timed_out)
        kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (timed_out) {
        err_set(err, ETIMEDOUT, "hook timed out", h->path, output);
        return -1;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    char why[48];
    if (WIFEXITED(status)) {
        str_copy(why, sizeof why, "(exit status ");
        str_uint(why + str_len(why), sizeof why - str_len(why), (unsigned)WEXITSTATUS(status));
    } else {
        str_copy(why, sizeof why, "(killed by signal ");
        str_uint(why + str_len(why), sizeof why - str_len(why), (unsigned)WTERMSIG(status));
    }
    str_append(why, sizeof why, ")");
    err_set(err, 0, "hook failed", h->path, why);
    if (got) {
        str_append(err->detail, sizeof err->detail, ": ");
        str_append(err->detail, sizeof err->detail, output);
    }
    return -1;
}

void run_child_hooks(struct child *c, const struct hcs_hook *hooks, uint32_t n, int32_t area)
{
    const char *state = c->plan->state_buf;
    uint32_t len = c->state_len;
    if (area == HCS_AREA_START_CONTAINER && c->state2_at) {
        state += c->state2_at;
        len = c->state2_len;
    }
    for (uint32_t i = 0; i < n; i++) {
        struct hcs_error e;
        if (hcs_run_hook(&hooks[i], state, len, &e) < 0) {
            e.area = area;
            e.index = (int32_t)i;
            sync_send(c->sync_fd, HCS_MSG_ERROR, 0, &e);
            _exit(1);
        }
    }
}
