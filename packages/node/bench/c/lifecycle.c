/*
 * C reference for the lifecycle benchmark. Built as a shared object that is NOT linked
 * against libssl: loaded into Node, its OpenSSL symbols resolve to the copy Node exports,
 * so C, raw koffi and the library all measure the very same OpenSSL. Each function times
 * its own loop with CLOCK_MONOTONIC and returns nanoseconds per iteration.
 */
#include <openssl/ssl.h>
#include <time.h>

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

double c_new_free(SSL_CTX *ctx, long n) {
  double start = now_ns();
  for (long i = 0; i < n; i++) SSL_free(SSL_new(ctx));
  return (now_ns() - start) / (double)n;
}

double c_up_ref_free(SSL *ssl, long n) {
  double start = now_ns();
  for (long i = 0; i < n; i++) {
    SSL_up_ref(ssl);
    SSL_free(ssl);
  }
  return (now_ns() - start) / (double)n;
}

/* SSL_dup of a handle whose handshake has not started: a new object each time. */
double c_dup_free(SSL *ssl, long n) {
  double start = now_ns();
  for (long i = 0; i < n; i++) SSL_free(SSL_dup(ssl));
  return (now_ns() - start) / (double)n;
}
