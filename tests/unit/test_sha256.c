/* test_sha256.c - SHA-256 against the FIPS 180-4 example vectors (NIST CSRC examples). */
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "sha256.h"

static void check(const void *data, size_t len, const char *hex)
{
    char out[72];
    ncap_sha256_tagged_hex(data, len, out);
    g_assert_true(g_str_has_prefix(out, "sha256:"));
    g_assert_cmpstr(out + 7, ==, hex);
    g_assert_cmpuint(strlen(out), ==, 71);
}

static void test_empty(void)
{
    check("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_abc(void)
{
    check("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_448_bits(void)
{
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    check(m, strlen(m), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_896_bits(void)
{
    const char *m =
        "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
        "klmnopqrlmnopqrsmnopqrstnopqrstu";
    check(m, strlen(m), "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

static void test_million_a(void)
{
    size_t n = 1000000;
    char *m = malloc(n);
    memset(m, 'a', n);
    check(m, n, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(m);
}

/* Tails of 55, 56 and 64 bytes: one or two padding blocks. */
static void test_padding_edges(void)
{
    char m[64];
    memset(m, 'a', sizeof(m));
    check(m, 55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
    check(m, 56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
    check(m, 64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
    uint8_t raw[NCAP_SHA256_LEN];
    ncap_sha256("abc", 3, raw);
    g_assert_cmpuint(raw[0], ==, 0xba);
    g_assert_cmpuint(raw[31], ==, 0xad);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/sha256/empty", test_empty);
    g_test_add_func("/sha256/abc", test_abc);
    g_test_add_func("/sha256/448-bits", test_448_bits);
    g_test_add_func("/sha256/896-bits", test_896_bits);
    g_test_add_func("/sha256/million-a", test_million_a);
    g_test_add_func("/sha256/padding-edges", test_padding_edges);
    return g_test_run();
}
