/*
 * request.h - the body of POST /v1/captures and a PodCapture's spec (API.md), parsed strictly.
 *
 * Every key is known or refused, every value has its type and range checked, and an error
 * names the offending field, so a client learns exactly what to fix from one 400 sentence.
 */
#ifndef AGENT_REQUEST_H
#define AGENT_REQUEST_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REQ_MAX_TARGETS 16

enum capture_direction { DIRECTION_BOTH, DIRECTION_IN, DIRECTION_OUT };

struct target_spec {
    char *namespace_;
    char *pod;
    char *interface; /* "eth0" unless given */
};

/* "bufferMiB": the kernel ring of each pod's capture socket, like dumpcap -B. */
#define REQUEST_BUFFER_DEFAULT_MIB 32
#define REQUEST_BUFFER_MAX_MIB 256

struct capture_spec {
    struct target_spec *targets;
    size_t n_targets;
    char *filter; /* "" = everything */
    uint32_t snaplen;
    uint64_t max_packets, max_seconds, max_bytes; /* 0 = no limit */
    enum capture_direction direction;
    uint32_t sample; /* keep 1 of N */
    uint32_t buffer_mib; /* each target's kernel ring, MiB ("bufferMiB"; 0 = the default) */
    bool name_records; /* send NRBs naming pod and service IPs (default true) */
};

void capture_spec_free(struct capture_spec *s);

/* Cluster mode: the PodCapture that authorizes the stream, and the key whose hash it holds. */
#define STREAM_KEY_HEX 64
struct podcapture_ref {
    char *namespace_; /* a valid RFC 1123 label */
    char *name;       /* a valid RFC 1123 subdomain */
    char key[STREAM_KEY_HEX + 1];
};

enum request_kind { REQUEST_TARGETS, REQUEST_PODCAPTURE };

/* The body of POST /v1/captures: targets and options (direct mode), or
 * {"podCapture":{"namespace","name"},"streamKey"} (cluster mode: nothing else may be given). */
struct capture_request {
    enum request_kind kind;
    struct capture_spec spec; /* REQUEST_TARGETS */
    struct podcapture_ref pc; /* REQUEST_PODCAPTURE */
};

/* 0, or -1 with err naming the field (never quoting the stream key). */
int capture_request_parse(const char *json, size_t len, struct capture_request *out, char *err);
/* Frees and wipes (the key too). */
void capture_request_free(struct capture_request *r);

struct selector;

/* A PodCapture's spec: which pods (names or a selector) and the same options as a request. */
struct podcapture_spec {
    char **pods;
    size_t n_pods;
    struct selector *selector;
    char *selector_text;
    char *interface;
    struct capture_spec opts; /* no targets: the agent fills them from the matching pods */
};

/* spec is the object's "spec"; unknown keys are refused (a newer extcap's restriction must not
 * be ignored). 0, or -1 with err naming the field as spec.<field>. */
int podcapture_spec_parse(const cJSON *spec, struct podcapture_spec *out, char *err);
void podcapture_spec_free(struct podcapture_spec *s);

const char *capture_direction_name(enum capture_direction d);

#endif
