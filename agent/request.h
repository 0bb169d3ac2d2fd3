/*
 * request.h - the body of POST /v1/captures (API.md), parsed and checked strictly.
 *
 * Every key is known or refused, every value has its type and range checked, and an error
 * names the offending field, so a client learns exactly what to fix from one 400 sentence.
 */
#ifndef AGENT_REQUEST_H
#define AGENT_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#define REQ_MAX_TARGETS 16

enum capture_direction { DIRECTION_BOTH, DIRECTION_IN, DIRECTION_OUT };

struct target_spec {
    char *namespace_;
    char *pod;
    char *interface; /* "eth0" unless given */
};

struct capture_spec {
    struct target_spec *targets;
    size_t n_targets;
    char *filter; /* "" = everything */
    uint32_t snaplen;
    uint64_t max_packets, max_seconds, max_bytes; /* 0 = no limit */
    enum capture_direction direction;
    uint32_t sample; /* keep 1 of N */
};

/* 0, or -1 with err naming the field. */
int capture_spec_parse(const char *json, size_t len, struct capture_spec *out, char *err);
void capture_spec_free(struct capture_spec *s);

const char *capture_direction_name(enum capture_direction d);

#endif
