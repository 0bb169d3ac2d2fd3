/* test_meta.c - pod metadata: if_description JSON round trip and Kubernetes PodList mapping. */
#include <glib.h>
#include <string.h>

#include "meta.h"

static const char podlist[] =
    "{\"apiVersion\":\"v1\",\"kind\":\"PodList\",\"items\":["
    "{\"metadata\":{\"name\":\"frontend-7d9f5b8c4-x2x9z\",\"namespace\":\"shop\",\"uid\":\"u-1\","
    "\"labels\":{\"app\":\"frontend\",\"pod-template-hash\":\"7d9f5b8c4\"},"
    "\"ownerReferences\":[{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\","
    "\"name\":\"frontend-7d9f5b8c4\",\"controller\":true}]},"
    "\"spec\":{\"nodeName\":\"node1\",\"containers\":[{\"name\":\"app\"},{\"name\":\"sidecar\"}]},"
    "\"status\":{\"podIP\":\"10.1.0.5\",\"podIPs\":[{\"ip\":\"10.1.0.5\"},{\"ip\":\"fd00::5\"}]}},"
    "{\"metadata\":{\"name\":\"db-0\",\"namespace\":\"shop\",\"ownerReferences\":[{\"kind\":"
    "\"StatefulSet\",\"name\":\"db\",\"controller\":true}]},\"spec\":{\"nodeName\":\"node2\"},"
    "\"status\":{\"podIP\":\"10.1.0.6\"}},"
    "{\"metadata\":{\"name\":\"lonely\"}}]}";

static void test_podlist(void)
{
    struct ncap_pod_meta *pods;
    size_t n;
    char err[NCAP_ERRBUF_SIZE];
    g_assert_cmpint(ncap_podlist_parse(podlist, strlen(podlist), &pods, &n, err), ==, 0);
    g_assert_cmpuint(n, ==, 3);
    g_assert_cmpstr(pods[0].pod, ==, "frontend-7d9f5b8c4-x2x9z");
    g_assert_cmpstr(pods[0].workload_kind, ==, "Deployment");
    g_assert_cmpstr(pods[0].workload_name, ==, "frontend");
    g_assert_cmpstr(pods[0].container, ==, "app");
    g_assert_cmpstr(pods[0].node, ==, "node1");
    g_assert_cmpuint(pods[0].n_ips, ==, 2);
    g_assert_cmpstr(pods[0].ips[1], ==, "fd00::5");
    g_assert_cmpstr(ncap_meta_label(&pods[0], "app"), ==, "frontend");
    g_assert_cmpstr(pods[1].workload_kind, ==, "StatefulSet");
    g_assert_cmpstr(pods[1].workload_name, ==, "db");
    g_assert_cmpstr(pods[2].namespace_, ==, "default");
    g_assert_null(pods[2].workload_kind);
    g_assert_cmpuint(pods[2].n_ips, ==, 0);
    ncap_podlist_free(pods, n);
}

static void test_podlist_errors(void)
{
    struct ncap_pod_meta *pods;
    size_t n;
    char err[NCAP_ERRBUF_SIZE];
    g_assert_cmpint(ncap_podlist_parse("{", 1, &pods, &n, err), ==, -1);
    g_assert_nonnull(strstr(err, "not valid JSON"));
    const char *noitems = "{\"kind\":\"PodList\"}";
    g_assert_cmpint(ncap_podlist_parse(noitems, strlen(noitems), &pods, &n, err), ==, -1);
    const char *badname = "{\"items\":[{\"metadata\":{\"name\":5}}]}";
    g_assert_cmpint(ncap_podlist_parse(badname, strlen(badname), &pods, &n, err), ==, -1);
    g_assert_nonnull(strstr(err, "\"name\" must be a string"));
    g_assert_null(pods);
}

static void test_json_roundtrip(void)
{
    struct ncap_pod_meta *pods, back;
    size_t n;
    char err[NCAP_ERRBUF_SIZE];
    g_assert_cmpint(ncap_podlist_parse(podlist, strlen(podlist), &pods, &n, err), ==, 0);
    pods[0].interface = g_strdup("eth0");
    char *json = ncap_meta_to_json(&pods[0], err);
    g_assert_nonnull(json);
    g_assert_true(g_str_has_prefix(json, "{\"v\":1,\"namespace\":\"shop\""));
    g_assert_cmpint(ncap_meta_from_json(json, strlen(json), &back, err), ==, 0);
    g_assert_cmpstr(back.pod, ==, pods[0].pod);
    g_assert_cmpstr(back.interface, ==, "eth0");
    g_assert_cmpstr(back.workload_kind, ==, "Deployment");
    g_assert_cmpuint(back.n_labels, ==, 2);
    g_assert_cmpuint(back.n_ips, ==, 2);
    struct ncap_pod_meta copy;
    g_assert_cmpint(ncap_meta_copy(&copy, &back, err), ==, 0);
    g_assert_cmpstr(copy.ips[0], ==, "10.1.0.5");
    ncap_meta_free(&copy);
    ncap_meta_free(&back);
    free(json);
    ncap_podlist_free(pods, n);
}

static void test_json_rejects(void)
{
    struct ncap_pod_meta m;
    char err[NCAP_ERRBUF_SIZE];
    const char *v2 = "{\"v\":2,\"pod\":\"x\"}";
    g_assert_cmpint(ncap_meta_from_json(v2, strlen(v2), &m, err), ==, -1);
    g_assert_nonnull(strstr(err, "version 2"));
    const char *nov = "{\"pod\":\"x\"}";
    g_assert_cmpint(ncap_meta_from_json(nov, strlen(nov), &m, err), ==, -1);
    const char *badlabels = "{\"v\":1,\"labels\":{\"a\":1}}";
    g_assert_cmpint(ncap_meta_from_json(badlabels, strlen(badlabels), &m, err), ==, -1);
    /* Length-bounded: the parser must not read past len even without a terminator. */
    const char *ok = "{\"v\":1,\"pod\":\"x\"}GARBAGE";
    g_assert_cmpint(ncap_meta_from_json(ok, 17, &m, err), ==, 0);
    g_assert_cmpstr(m.pod, ==, "x");
    ncap_meta_free(&m);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/meta/podlist", test_podlist);
    g_test_add_func("/meta/podlist_errors", test_podlist_errors);
    g_test_add_func("/meta/json_roundtrip", test_json_roundtrip);
    g_test_add_func("/meta/json_rejects", test_json_rejects);
    return g_test_run();
}
