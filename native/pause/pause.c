/*
 * hcs-pause: the init of a container that has no process of its own (a pod sandbox, or an
 * HCS compute system created before anything is started in it). Run from the host through
 * the spawn plan's exec_fd, so images need not contain it.
 *
 * As PID 1 of a pid namespace it inherits every orphan (the children of exec'd processes
 * that exit first), so it reaps every child that ends. It exits 0 on SIGTERM, SIGINT or
 * SIGHUP. The kernel drops signals to a namespace's init that have no handler; blocked
 * signals are queued instead, so all of them are blocked and taken with sigtimedwait: no
 * handlers, no busy loop, one sleeping syscall.
 *
 * No libc at all (-nostdlib, raw system calls): one of these runs in every idle container,
 * and a static glibc costs ~45 KiB of private memory and ~36 KiB of page tables per process
 * (TLS, stdio, malloc arenas set up at start); this costs a stack page or two.
 */
#if defined(__x86_64__)
#define NR_rt_sigprocmask 14
#define NR_wait4 61
#define NR_rt_sigtimedwait 128
#define NR_exit_group 231
static long sys4(long n, long a, long b, long c, long d)
{
    register long r10 __asm__("r10") = d;
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
    return ret;
}
#elif defined(__aarch64__)
#define NR_rt_sigprocmask 135
#define NR_wait4 260
#define NR_rt_sigtimedwait 137
#define NR_exit_group 94
static long sys4(long n, long a, long b, long c, long d)
{
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
    return x0;
}
#else
#error "hcs-pause: add the system call numbers of this architecture"
#endif

#define SIGHUP 1
#define SIGINT 2
#define SIGTERM 15
#define SIGCHLD 17
#define SIG_BLOCK 0
#define WNOHANG 1
#define BIT(sig) (1UL << ((sig) - 1))

__attribute__((noreturn, used, force_align_arg_pointer)) void _start(void)
{
    unsigned long wanted = BIT(SIGCHLD) | BIT(SIGTERM) | BIT(SIGINT) | BIT(SIGHUP);
    sys4(NR_rt_sigprocmask, SIG_BLOCK, (long)&wanted, 0, sizeof wanted);
    for (;;) {
        /* children that ended before we blocked SIGCHLD, or while we were reaping */
        while (sys4(NR_wait4, -1, 0, WNOHANG, 0) > 0)
            ;
        long sig = sys4(NR_rt_sigtimedwait, (long)&wanted, 0, 0, sizeof wanted);
        if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP)
            sys4(NR_exit_group, 0, 0, 0, 0);
        /* SIGCHLD (several ends may merge into one signal: the loop above takes them all) or
         * EINTR: reap and wait again */
    }
}
