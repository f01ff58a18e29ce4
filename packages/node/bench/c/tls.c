/*
 * C reference for the TLS benchmark: both ends of TLS 1.3 connections in one thread, each end
 * on its own pair of memory BIOs, with bytes moved between them through a buffer (BIO_read
 * from one end, BIO_write into the other), which is what a memory-BIO engine in any language
 * does with a transport. Built like lifecycle.c: not linked against libssl, so loaded into
 * Node it runs on the OpenSSL Node exports.
 *
 * Each benchmark function times its own loop with CLOCK_MONOTONIC and returns its metric, or
 * -1 on failure with the reason in c_tls_error().
 */
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define HOST "localhost"
#define CIPHER "TLS_AES_256_GCM_SHA384"
#define RECORD 16384
/* Larger than anything one end writes between two pumps (a handshake flight, a 16 KiB record). */
#define WIRE 65536

static char error_text[512];

/* Record the failure with the first queued OpenSSL error, and leave the queue empty. */
static int fail(const char *format, ...) {
  char reason[256] = "";
  unsigned long code = ERR_get_error();
  if (code != 0) ERR_error_string_n(code, reason, sizeof reason);
  ERR_clear_error();
  va_list args;
  va_start(args, format);
  int used = vsnprintf(error_text, sizeof error_text, format, args);
  va_end(args);
  if (code != 0 && used >= 0 && (size_t)used < sizeof error_text)
    snprintf(error_text + used, sizeof error_text - (size_t)used, ": %s", reason);
  return 0;
}

const char *c_tls_error(void) { return error_text; }

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

typedef struct {
  SSL_CTX *client;
  SSL_CTX *server;
} Bench;

/* TLS 1.3 only, one cipher suite: what every column of the benchmark negotiates. */
static SSL_CTX *new_context(const SSL_METHOD *method) {
  SSL_CTX *ctx = SSL_CTX_new(method);
  if (ctx == NULL) return NULL;
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 || SSL_CTX_set_ciphersuites(ctx, CIPHER) != 1) {
    SSL_CTX_free(ctx);
    return NULL;
  }
  return ctx;
}

static X509 *read_certificate(const char *pem) {
  BIO *bio = BIO_new_mem_buf(pem, -1);
  if (bio == NULL) return NULL;
  X509 *x509 = PEM_read_bio_X509(bio, NULL, NULL, NULL);
  BIO_free(bio);
  return x509;
}

static EVP_PKEY *read_key(const char *pem) {
  BIO *bio = BIO_new_mem_buf(pem, -1);
  if (bio == NULL) return NULL;
  EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
  BIO_free(bio);
  return key;
}

void c_tls_free(Bench *bench) {
  if (bench == NULL) return;
  SSL_CTX_free(bench->client);
  SSL_CTX_free(bench->server);
  OPENSSL_free(bench);
}

/*
 * One context per side: the server presents cert_pem/key_pem; the client trusts ca_pem and
 * verifies the chain (the host name is checked per connection). NULL on failure.
 */
Bench *c_tls_new(const char *cert_pem, const char *key_pem, const char *ca_pem) {
  ERR_clear_error();
  Bench *bench = OPENSSL_zalloc(sizeof *bench);
  if (bench == NULL) {
    fail("OPENSSL_zalloc");
    return NULL;
  }
  X509 *cert = read_certificate(cert_pem);
  EVP_PKEY *key = read_key(key_pem);
  X509 *ca = read_certificate(ca_pem);
  int ok = 0;
  if (cert == NULL || key == NULL || ca == NULL) {
    fail("cannot parse the PEM certificate, key or CA");
  } else if ((bench->server = new_context(TLS_server_method())) == NULL ||
             (bench->client = new_context(TLS_client_method())) == NULL) {
    fail("cannot create a TLS 1.3 context with %s", CIPHER);
  } else if (SSL_CTX_use_certificate(bench->server, cert) != 1 || SSL_CTX_use_PrivateKey(bench->server, key) != 1 ||
             SSL_CTX_check_private_key(bench->server) != 1) {
    fail("cannot install the server certificate");
  } else if (X509_STORE_add_cert(SSL_CTX_get_cert_store(bench->client), ca) != 1) {
    fail("cannot add the CA to the client's store");
  } else {
    SSL_CTX_set_verify(bench->client, SSL_VERIFY_PEER, NULL);
    ok = 1;
  }
  /* The contexts and the store hold their own references. */
  X509_free(cert);
  EVP_PKEY_free(key);
  X509_free(ca);
  if (!ok) {
    c_tls_free(bench);
    return NULL;
  }
  return bench;
}

/* One end of a connection: `in` carries bytes from the network to SSL, `out` the reverse. */
typedef struct {
  SSL *ssl;
  BIO *in;
  BIO *out;
} End;

static int end_new(End *end, SSL_CTX *ctx, int server) {
  end->ssl = SSL_new(ctx);
  end->in = BIO_new(BIO_s_mem());
  end->out = BIO_new(BIO_s_mem());
  /* An empty input BIO means "no bytes yet" (WANT_READ), not end of stream. */
  if (end->ssl == NULL || end->in == NULL || end->out == NULL || BIO_set_mem_eof_return(end->in, -1) != 1) {
    SSL_free(end->ssl);
    BIO_free(end->in);
    BIO_free(end->out);
    return fail("SSL_new/BIO_new");
  }
  SSL_set_bio(end->ssl, end->in, end->out); /* the SSL owns both BIOs from here */
  if (server) SSL_set_accept_state(end->ssl);
  else SSL_set_connect_state(end->ssl);
  return 1;
}

/* Move everything `from` has written into `to`'s input. */
static int pump(End *from, End *to) {
  unsigned char wire[WIRE];
  for (;;) {
    int n = BIO_read(from->out, wire, sizeof wire);
    if (n <= 0) return 1;
    if (BIO_write(to->in, wire, n) != n) return fail("BIO_write");
  }
}

/* Drive both ends until both handshakes completed and the server's last flight is delivered. */
static int handshake(End *client, End *server) {
  int client_done = 0, server_done = 0;
  /* TLS 1.3 needs two round trips at most; more means a stuck handshake. */
  for (int round = 0; round < 8 && !(client_done && server_done); round++) {
    if (!client_done) {
      int r = SSL_do_handshake(client->ssl);
      if (r == 1) client_done = 1;
      else if (SSL_get_error(client->ssl, r) != SSL_ERROR_WANT_READ) return fail("client handshake");
    }
    if (!pump(client, server)) return 0;
    if (!server_done) {
      int r = SSL_do_handshake(server->ssl);
      if (r == 1) server_done = 1;
      else if (SSL_get_error(server->ssl, r) != SSL_ERROR_WANT_READ) return fail("server handshake");
    }
    if (!pump(server, client)) return 0;
  }
  if (!(client_done && server_done)) return fail("handshake did not finish");
  return 1;
}

/*
 * Let the client process what the server sent after the handshake (the NewSessionTickets):
 * SSL_read handles post-handshake messages and stops with WANT_READ when the input is empty.
 */
static int read_tickets(End *client) {
  unsigned char byte;
  int r = SSL_read(client->ssl, &byte, 1);
  if (r > 0) return fail("unexpected application data");
  if (SSL_get_error(client->ssl, r) != SSL_ERROR_WANT_READ) return fail("client read after handshake");
  return 1;
}

/*
 * A clean close from the client (SSL_free after close_notify keeps the session resumable), then
 * both ends freed, whatever SSL_shutdown returned.
 */
static int close_connection(End *client, End *server) {
  int r = SSL_shutdown(client->ssl); /* 0: close_notify sent, the peer's not read yet */
  if (r < 0) fail("SSL_shutdown");
  SSL_free(client->ssl);
  SSL_free(server->ssl);
  return r >= 0;
}

/*
 * A connection with the handshake done and the tickets read, checked: TLS 1.3, the cipher,
 * resumed exactly when a session was offered.
 */
static int open_connection(Bench *bench, SSL_SESSION *session, End *client, End *server) {
  if (!end_new(client, bench->client, 0)) return 0;
  if (!end_new(server, bench->server, 1)) {
    SSL_free(client->ssl);
    return 0;
  }
  int ok = SSL_set_tlsext_host_name(client->ssl, HOST) == 1 && SSL_set1_host(client->ssl, HOST) == 1 &&
           (session == NULL || SSL_set_session(client->ssl, session) == 1);
  if (!ok) fail("cannot set the host name or session");
  else ok = handshake(client, server) && read_tickets(client);
  if (ok) {
    const char *cipher = SSL_CIPHER_get_name(SSL_get_current_cipher(client->ssl));
    if (SSL_version(client->ssl) != TLS1_3_VERSION || strcmp(cipher, CIPHER) != 0)
      ok = fail("negotiated %s with %s", SSL_get_version(client->ssl), cipher);
    else if (SSL_session_reused(client->ssl) != (session != NULL))
      ok = fail(session == NULL ? "a full handshake was resumed" : "the session was not resumed");
  }
  if (!ok) {
    SSL_free(client->ssl);
    SSL_free(server->ssl);
  }
  return ok;
}

/* Full handshakes per second: fresh SSL objects (and BIOs) for each connection. */
double c_tls_full(Bench *bench, long n) {
  ERR_clear_error();
  double start = now_ns();
  for (long i = 0; i < n; i++) {
    End client, server;
    if (!open_connection(bench, NULL, &client, &server) || !close_connection(&client, &server)) return -1;
  }
  return (double)n / ((now_ns() - start) / 1e9);
}

/* Resumed handshakes per second, all offering the ticket of one earlier full handshake. */
double c_tls_resumed(Bench *bench, long n) {
  ERR_clear_error();
  End client, server;
  if (!open_connection(bench, NULL, &client, &server)) return -1;
  /* Taken after read_tickets: the session that carries a ticket. */
  SSL_SESSION *session = SSL_get1_session(client.ssl);
  if (!close_connection(&client, &server)) {
    SSL_SESSION_free(session);
    return -1;
  }
  if (session == NULL || !SSL_SESSION_is_resumable(session)) {
    SSL_SESSION_free(session);
    fail("no resumable session after the handshake");
    return -1;
  }
  double start = now_ns();
  for (long i = 0; i < n; i++) {
    if (!open_connection(bench, session, &client, &server) || !close_connection(&client, &server)) {
      SSL_SESSION_free(session);
      return -1;
    }
  }
  double elapsed = now_ns() - start;
  SSL_SESSION_free(session);
  return (double)n / (elapsed / 1e9);
}

/* MB/s (10^6 bytes) of application data, client to server, over one connection, in 16 KiB writes. */
double c_tls_bulk(Bench *bench, long bytes) {
  ERR_clear_error();
  End client, server;
  if (!open_connection(bench, NULL, &client, &server)) return -1;
  unsigned char plain[RECORD], sink[RECORD];
  memset(plain, 'x', sizeof plain);
  long received = 0;
  int ok = 1;
  double start = now_ns();
  while (ok && received < bytes) {
    if (SSL_write(client.ssl, plain, RECORD) != RECORD) {
      ok = fail("SSL_write");
      break;
    }
    ok = pump(&client, &server);
    while (ok) {
      int r = SSL_read(server.ssl, sink, RECORD);
      if (r > 0) received += r;
      else if (SSL_get_error(server.ssl, r) == SSL_ERROR_WANT_READ) break;
      else ok = fail("server SSL_read");
    }
  }
  double elapsed = now_ns() - start;
  if (!close_connection(&client, &server)) ok = 0;
  return ok ? (double)received / 1e6 / (elapsed / 1e9) : -1;
}

/*
 * The key exchange group a full handshake negotiates (the library's default list, which
 * differs between OpenSSL lines), written into `out`; 0 on failure.
 */
int c_tls_group(Bench *bench, char *out, int size) {
  ERR_clear_error();
  End client, server;
  if (!open_connection(bench, NULL, &client, &server)) return 0;
#if OPENSSL_VERSION_NUMBER >= 0x30200000L
  const char *name = SSL_get0_group_name(client.ssl);
#else
  const char *name = OBJ_nid2sn(SSL_get_negotiated_group(client.ssl));
#endif
  snprintf(out, (size_t)size, "%s", name == NULL ? "unknown" : name);
  return close_connection(&client, &server);
}
