/* deadline.h - absolute times for pthread_cond_timedwait(), one way everywhere in the agent. */
#ifndef AGENT_DEADLINE_H
#define AGENT_DEADLINE_H

#include <time.h>

/* The absolute time ms milliseconds from now on clock clk, for pthread_cond_timedwait(). */
static inline struct timespec agent_deadline(clockid_t clk, unsigned long ms)
{
    struct timespec t;
    clock_gettime(clk, &t);
    t.tv_sec += (time_t)(ms / 1000);
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

#endif
