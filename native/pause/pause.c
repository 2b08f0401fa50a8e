/*
 * hcs-pause: the init of a container that has no process of its own (a pod sandbox, or an
 * HCS compute system created before anything is started in it). Run from the host through
 * the spawn plan's exec_fd, so images need not contain it.
 *
 * As PID 1 of a pid namespace it inherits every orphan (the children of exec'd processes
 * that exit first), so it reaps every child that ends. It exits 0 on SIGTERM, SIGINT or
 * SIGHUP. The kernel drops signals to a namespace's init that have no handler; blocked
 * signals are queued instead, so all of them are blocked and taken with sigwaitinfo: no
 * handlers, no busy loop, one sleeping syscall. Built static (-static -Os): no loader, no
 * shared libraries to map, a few pages of memory.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/wait.h>

int main(void)
{
    sigset_t wanted;
    sigemptyset(&wanted);
    sigaddset(&wanted, SIGCHLD);
    sigaddset(&wanted, SIGTERM);
    sigaddset(&wanted, SIGINT);
    sigaddset(&wanted, SIGHUP);
    sigprocmask(SIG_BLOCK, &wanted, 0);

    for (;;) {
        /* children that ended before we blocked SIGCHLD, or while we were reaping */
        while (waitpid(-1, 0, WNOHANG) > 0)
            ;
        int sig = sigwaitinfo(&wanted, 0);
        if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP)
            return 0;
        /* SIGCHLD (several ends may merge into one signal: the loop above takes them all) or
         * EINTR: reap and wait again */
    }
}
