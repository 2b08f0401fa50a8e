/*
 * hcs-zygote: hcs-monitor's maker of containers' first processes (native/src/zygote.c says
 * why it is an executable of its own). Started only by hcs_zygote_start, as
 *   hcs-zygote MONITOR-PID      with its control socket as fd 3.
 */
#include "../src/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "hcs-zygote: started by hcs-monitor only\n");
        return 2;
    }
    pid_t parent = (pid_t)strtol(argv[1], NULL, 10);
    if (parent <= 0 || getppid() != parent)
        return 0; /* the monitor is gone already */
    hcs_zygote_main(3, parent);
}
