/*
 * bench_mock_upstream: a small, fast OpenAI-compatible upstream for load tests.
 *
 *   POST .../chat/completions   a fixed chat.completion (~300 bytes, with usage),
 *                               or, when the body has "stream": true, an SSE
 *                               stream of --chunks content chunks, a usage chunk
 *                               and [DONE], --delay-ms apart
 *   GET  .../models             a one-model list
 *
 * One libuv loop, HTTP/1.1 keep-alive, pipelining-safe (responses leave in
 * request order; a delayed stream holds the requests queued behind it). Every
 * response is built once at start-up, so serving one is a write of static
 * bytes.
 */
#include <errno.h>
#include <getopt.h>
#include <llhttp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define QUEUE_CAP 64        /* pipelined requests waiting per connection */
#define MAX_BODY (8u << 20) /* larger request bodies get 413 */
#define URL_CAP 512

enum resp_kind { R_CHAT, R_STREAM, R_MODELS, R_NOT_FOUND, R_TOO_LARGE, R_BAD_REQUEST };

typedef struct {
  char* data;
  size_t len;
} blob;

/* Prebuilt bytes, index [kind][close] where close=1 adds "Connection: close". */
static blob g_static[R_BAD_REQUEST + 1][2];
static blob g_stream_head[2]; /* status line and headers of an SSE response */
static blob* g_events;        /* chunked-framed SSE events, in order */
static size_t g_event_count;
static blob g_stream_whole[2]; /* head + all events + last chunk, for --delay-ms 0 */
static const char kLastChunk[] = "0\r\n\r\n";

static struct {
  const char* host;
  int port;
  const char* port_file;
  int chunks;
  int delay_ms;
} g_opt = {"127.0.0.1", 0, NULL, 20, 0};

static uv_loop_t* g_loop;
static llhttp_settings_t g_settings;

typedef struct conn {
  uv_tcp_t tcp;
  uv_timer_t timer;
  llhttp_t parser;
  int handles_open;
  int closing;
  /* the request being parsed */
  char url[URL_CAP];
  size_t url_len;
  char* body;
  size_t body_len, body_cap;
  int too_large;
  int keep_alive;
  /* responses waiting to be written, in request order */
  unsigned char queue[QUEUE_CAP];
  unsigned char queue_close[QUEUE_CAP];
  size_t q_head, q_len;
  /* a delayed stream in progress */
  int streaming;
  int stream_close;
  size_t next_event;
} conn;

typedef struct {
  uv_write_t req;
  conn* c;
  int close_after;
} write_req;

/* ------------------------------------------------------------------------ */
/* Response bytes */

static blob blob_printf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
static blob blob_printf(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  blob b = {malloc((size_t)n + 1), (size_t)n};
  if (!b.data) abort();
  va_start(ap, fmt);
  vsnprintf(b.data, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return b;
}

static blob make_response(const char* status, const char* body, int close) {
  return blob_printf(
      "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n%s", status,
      strlen(body), close ? "Connection: close\r\n" : "", body);
}

/* One SSE event framed as one HTTP chunk. */
static blob make_event(const char* data) {
  size_t n = strlen("data: ") + strlen(data) + 2;
  return blob_printf("%zx\r\ndata: %s\n\n\r\n", n, data);
}

#define CHUNK_HEAD                                                                          \
  "{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000," \
  "\"model\":\"gpt-4o-mini\",\"system_fingerprint\":\"fp_bench\","

static void build_responses(void) {
  static const char chat[] =
      "{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion\",\"created\":1700000000,"
      "\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
      "\"content\":\"Hello from the bench upstream.\"},"
      "\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":250,"
      "\"completion_tokens\":8,\"total_tokens\":258},\"system_fingerprint\":\"fp_bench\"}";
  static const char models[] =
      "{\"object\":\"list\",\"data\":[{\"id\":\"gpt-4o-mini\",\"object\":\"model\","
      "\"created\":1700000000,\"owned_by\":\"bench\"}]}";
  static const char not_found[] =
      "{\"error\":{\"message\":\"Unknown path\",\"type\":\"invalid_request_error\","
      "\"code\":\"not_found\",\"param\":null}}";
  static const char too_large[] =
      "{\"error\":{\"message\":\"Request body too large\",\"type\":\"invalid_request_error\","
      "\"code\":\"body_too_large\",\"param\":null}}";
  static const char bad[] =
      "{\"error\":{\"message\":\"Malformed HTTP request\",\"type\":\"invalid_request_error\","
      "\"code\":\"bad_request\",\"param\":null}}";

  for (int close = 0; close < 2; close++) {
    g_static[R_CHAT][close] = make_response("200 OK", chat, close);
    g_static[R_MODELS][close] = make_response("200 OK", models, close);
    g_static[R_NOT_FOUND][close] = make_response("404 Not Found", not_found, close);
    g_static[R_TOO_LARGE][close] = make_response("413 Payload Too Large", too_large, close);
    g_static[R_BAD_REQUEST][close] = make_response("400 Bad Request", bad, 1);
    g_stream_head[close] = blob_printf(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
        "Transfer-Encoding: chunked\r\n%s\r\n",
        close ? "Connection: close\r\n" : "");
  }

  /* role chunk, content chunks, finish chunk, usage chunk, [DONE] */
  g_event_count = (size_t)g_opt.chunks + 4;
  g_events = calloc(g_event_count, sizeof(blob));
  if (!g_events) abort();
  size_t i = 0;
  g_events[i++] = make_event(CHUNK_HEAD
                             "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
                             "\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}");
  for (int k = 0; k < g_opt.chunks; k++) {
    g_events[i++] = make_event(CHUNK_HEAD
                               "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"token \"},"
                               "\"logprobs\":null,\"finish_reason\":null}]}");
  }
  g_events[i++] = make_event(CHUNK_HEAD
                             "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,"
                             "\"finish_reason\":\"stop\"}]}");
  char usage[512];
  snprintf(usage, sizeof usage,
           CHUNK_HEAD
           "\"choices\":[],\"usage\":{\"prompt_tokens\":250,\"completion_tokens\":%d,"
           "\"total_tokens\":%d}}",
           g_opt.chunks, 250 + g_opt.chunks);
  g_events[i++] = make_event(usage);
  g_events[i++] = make_event("[DONE]");

  for (int close = 0; close < 2; close++) {
    size_t total = g_stream_head[close].len + strlen(kLastChunk);
    for (size_t k = 0; k < g_event_count; k++) total += g_events[k].len;
    blob w = {malloc(total), total};
    if (!w.data) abort();
    char* p = w.data;
    memcpy(p, g_stream_head[close].data, g_stream_head[close].len);
    p += g_stream_head[close].len;
    for (size_t k = 0; k < g_event_count; k++) {
      memcpy(p, g_events[k].data, g_events[k].len);
      p += g_events[k].len;
    }
    memcpy(p, kLastChunk, strlen(kLastChunk));
    g_stream_whole[close] = w;
  }
}

/* ------------------------------------------------------------------------ */
/* Connections */

static void on_handle_closed(uv_handle_t* h) {
  conn* c = h->data;
  if (--c->handles_open == 0) {
    free(c->body);
    free(c);
  }
}

static void conn_close(conn* c) {
  if (c->closing) return;
  c->closing = 1;
  uv_close((uv_handle_t*)&c->timer, on_handle_closed);
  uv_close((uv_handle_t*)&c->tcp, on_handle_closed);
}

static void on_write(uv_write_t* req, int status) {
  write_req* w = (write_req*)req;
  if (status < 0 || w->close_after) conn_close(w->c);
  free(w);
}

/* Writes static bytes in order: straight to the socket when nothing is queued,
 * else behind what is. */
static void conn_write(conn* c, const blob* b, int close_after) {
  if (c->closing) return;
  size_t done = 0;
  if (c->tcp.write_queue_size == 0) {
    uv_buf_t buf = uv_buf_init(b->data, (unsigned)b->len);
    int n = uv_try_write((uv_stream_t*)&c->tcp, &buf, 1);
    if (n < 0 && n != UV_EAGAIN) {
      conn_close(c);
      return;
    }
    if (n > 0) done = (size_t)n;
  }
  if (done == b->len) {
    if (close_after) conn_close(c);
    return;
  }
  write_req* w = malloc(sizeof *w);
  if (!w) abort();
  w->c = c;
  w->close_after = close_after;
  uv_buf_t rest = uv_buf_init(b->data + done, (unsigned)(b->len - done));
  if (uv_write(&w->req, (uv_stream_t*)&c->tcp, &rest, 1, on_write) < 0) {
    free(w);
    conn_close(c);
  }
}

static void drain(conn* c);

static void on_stream_tick(uv_timer_t* t) {
  conn* c = t->data;
  if (c->closing || !c->streaming) return;
  conn_write(c, &g_events[c->next_event++], 0);
  if (c->next_event < g_event_count) return;
  uv_timer_stop(&c->timer);
  static const blob last = {(char*)kLastChunk, sizeof kLastChunk - 1};
  c->streaming = 0;
  conn_write(c, &last, c->stream_close);
  drain(c);
}

/* Sends queued responses until the queue is empty or a delayed stream starts. */
static void drain(conn* c) {
  while (c->q_len > 0 && !c->streaming && !c->closing) {
    enum resp_kind kind = c->queue[c->q_head];
    int close = c->queue_close[c->q_head];
    c->q_head = (c->q_head + 1) % QUEUE_CAP;
    c->q_len--;
    if (kind == R_STREAM && g_opt.delay_ms > 0) {
      c->streaming = 1;
      c->stream_close = close;
      c->next_event = 1;
      conn_write(c, &g_stream_head[close], 0);
      conn_write(c, &g_events[0], 0);
      uv_timer_start(&c->timer, on_stream_tick, (uint64_t)g_opt.delay_ms, (uint64_t)g_opt.delay_ms);
    } else if (kind == R_STREAM) {
      conn_write(c, &g_stream_whole[close], close);
    } else {
      conn_write(c, &g_static[kind][close], close || kind == R_BAD_REQUEST);
    }
    if (close) c->q_len = 0; /* nothing after a closing response is answered */
  }
}

static void enqueue(conn* c, enum resp_kind kind, int close) {
  if (c->q_len == QUEUE_CAP) { /* a client pipelining without reading */
    conn_close(c);
    return;
  }
  size_t at = (c->q_head + c->q_len) % QUEUE_CAP;
  c->queue[at] = (unsigned char)kind;
  c->queue_close[at] = (unsigned char)close;
  c->q_len++;
}

/* True when the JSON body sets "stream" to true (tolerates whitespace). */
static int wants_stream(const char* body, size_t len) {
  static const char key[] = "\"stream\"";
  const size_t klen = sizeof key - 1;
  for (size_t i = 0; i + klen <= len; i++) {
    if (body[i] != '"' || memcmp(body + i, key, klen) != 0) continue;
    size_t j = i + klen;
    while (j < len && (body[j] == ' ' || body[j] == '\t' || body[j] == '\r' || body[j] == '\n'))
      j++;
    if (j >= len || body[j] != ':') continue;
    j++;
    while (j < len && (body[j] == ' ' || body[j] == '\t' || body[j] == '\r' || body[j] == '\n'))
      j++;
    if (len - j >= 4 && memcmp(body + j, "true", 4) == 0) return 1;
  }
  return 0;
}

static int ends_with(const char* s, size_t len, const char* suffix) {
  size_t n = strlen(suffix);
  return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

static int on_message_begin(llhttp_t* p) {
  conn* c = p->data;
  c->url_len = 0;
  c->body_len = 0;
  c->too_large = 0;
  return 0;
}

static int on_url(llhttp_t* p, const char* at, size_t len) {
  conn* c = p->data;
  size_t room = URL_CAP - 1 - c->url_len;
  if (len > room) len = room;
  memcpy(c->url + c->url_len, at, len);
  c->url_len += len;
  return 0;
}

static int on_headers_complete(llhttp_t* p) {
  conn* c = p->data;
  c->keep_alive = llhttp_should_keep_alive(p);
  return 0;
}

static int on_body(llhttp_t* p, const char* at, size_t len) {
  conn* c = p->data;
  if (c->too_large) return 0;
  if (c->body_len + len > MAX_BODY) {
    c->too_large = 1;
    return 0;
  }
  if (c->body_len + len > c->body_cap) {
    size_t cap = c->body_cap ? c->body_cap : 4096;
    while (cap < c->body_len + len) cap *= 2;
    char* grown = realloc(c->body, cap);
    if (!grown) abort();
    c->body = grown;
    c->body_cap = cap;
  }
  memcpy(c->body + c->body_len, at, len);
  c->body_len += len;
  return 0;
}

static int on_message_complete(llhttp_t* p) {
  conn* c = p->data;
  size_t path_len = c->url_len;
  const char* q = memchr(c->url, '?', c->url_len);
  if (q) path_len = (size_t)(q - c->url);
  int method = llhttp_get_method(p);
  enum resp_kind kind = R_NOT_FOUND;
  if (method == HTTP_POST && ends_with(c->url, path_len, "/chat/completions")) {
    if (c->too_large)
      kind = R_TOO_LARGE;
    else
      kind = wants_stream(c->body, c->body_len) ? R_STREAM : R_CHAT;
  } else if (method == HTTP_GET && ends_with(c->url, path_len, "/models")) {
    kind = R_MODELS;
  }
  enqueue(c, kind, !c->keep_alive);
  return 0;
}

static void alloc_cb(uv_handle_t* h, size_t suggested, uv_buf_t* buf) {
  static char slab[64 * 1024]; /* one loop, and read_cb consumes it at once */
  (void)h;
  (void)suggested;
  *buf = uv_buf_init(slab, sizeof slab);
}

static void read_cb(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  conn* c = s->data;
  if (n < 0) {
    conn_close(c);
    return;
  }
  if (n == 0 || c->closing) return;
  llhttp_errno_t err = llhttp_execute(&c->parser, buf->base, (size_t)n);
  if (err != HPE_OK) {
    enqueue(c, R_BAD_REQUEST, 1);
    uv_read_stop(s);
  }
  drain(c);
}

static void on_connection(uv_stream_t* server, int status) {
  if (status < 0) return;
  conn* c = calloc(1, sizeof *c);
  if (!c) abort();
  uv_tcp_init(g_loop, &c->tcp);
  uv_timer_init(g_loop, &c->timer);
  c->handles_open = 2;
  c->tcp.data = c;
  c->timer.data = c;
  if (uv_accept(server, (uv_stream_t*)&c->tcp) != 0) {
    conn_close(c);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  llhttp_init(&c->parser, HTTP_REQUEST, &g_settings);
  c->parser.data = c;
  uv_read_start((uv_stream_t*)&c->tcp, alloc_cb, read_cb);
}

/* ------------------------------------------------------------------------ */

static void usage(FILE* f) {
  fprintf(f,
          "usage: bench_mock_upstream [--host H] [--port N] [--port-file F] [--chunks N]\n"
          "                           [--delay-ms D]\n"
          "  --port 0 (the default) picks a free port; --port-file writes it to F.\n"
          "  --chunks: content chunks per SSE stream (default 20).\n"
          "  --delay-ms: pause between SSE events (default 0: the stream goes out at once).\n");
}

static int parse_int(const char* s, int lo, int hi, int* out) {
  char* end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || v < lo || v > hi) return -1;
  *out = (int)v;
  return 0;
}

static int write_port_file(const char* path, int port) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE* f = fopen(tmp, "w");
  if (!f) return -1;
  fprintf(f, "%d\n", port);
  if (fclose(f) != 0) return -1;
  return rename(tmp, path);
}

int main(int argc, char** argv) {
  static const struct option opts[] = {{"host", required_argument, NULL, 'H'},
                                       {"port", required_argument, NULL, 'p'},
                                       {"port-file", required_argument, NULL, 'f'},
                                       {"chunks", required_argument, NULL, 'n'},
                                       {"delay-ms", required_argument, NULL, 'd'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  int ch;
  while ((ch = getopt_long(argc, argv, "H:p:f:n:d:h", opts, NULL)) != -1) {
    int bad = 0;
    switch (ch) {
      case 'H':
        g_opt.host = optarg;
        break;
      case 'p':
        bad = parse_int(optarg, 0, 65535, &g_opt.port);
        break;
      case 'f':
        g_opt.port_file = optarg;
        break;
      case 'n':
        bad = parse_int(optarg, 0, 100000, &g_opt.chunks);
        break;
      case 'd':
        bad = parse_int(optarg, 0, 3600000, &g_opt.delay_ms);
        break;
      case 'h':
        usage(stdout);
        return 0;
      default:
        usage(stderr);
        return 2;
    }
    if (bad) {
      const char* name = "?";
      for (const struct option* o = opts; o->name; o++)
        if (o->val == ch) name = o->name;
      fprintf(stderr, "bench_mock_upstream: bad value for --%s: %s\n", name, optarg);
      return 2;
    }
  }

  build_responses();
  llhttp_settings_init(&g_settings);
  g_settings.on_message_begin = on_message_begin;
  g_settings.on_url = on_url;
  g_settings.on_headers_complete = on_headers_complete;
  g_settings.on_body = on_body;
  g_settings.on_message_complete = on_message_complete;

  signal(SIGPIPE, SIG_IGN);
  g_loop = uv_default_loop();
  uv_tcp_t server;
  uv_tcp_init(g_loop, &server);
  struct sockaddr_storage addr;
  if (uv_ip4_addr(g_opt.host, g_opt.port, (struct sockaddr_in*)&addr) != 0 &&
      uv_ip6_addr(g_opt.host, g_opt.port, (struct sockaddr_in6*)&addr) != 0) {
    fprintf(stderr, "bench_mock_upstream: bad host %s\n", g_opt.host);
    return 2;
  }
  int rc = uv_tcp_bind(&server, (const struct sockaddr*)&addr, 0);
  if (rc == 0) rc = uv_listen((uv_stream_t*)&server, 4096, on_connection);
  if (rc != 0) {
    fprintf(stderr, "bench_mock_upstream: listen on %s:%d: %s\n", g_opt.host, g_opt.port,
            uv_strerror(rc));
    return 1;
  }
  struct sockaddr_storage bound;
  int blen = sizeof bound;
  uv_tcp_getsockname(&server, (struct sockaddr*)&bound, &blen);
  int port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6*)&bound)->sin6_port
                                               : ((struct sockaddr_in*)&bound)->sin_port);
  if (g_opt.port_file && write_port_file(g_opt.port_file, port) != 0) {
    fprintf(stderr, "bench_mock_upstream: cannot write %s: %s\n", g_opt.port_file, strerror(errno));
    return 1;
  }
  printf("bench_mock_upstream listening on %s:%d (stream: %d chunks, %d ms apart)\n", g_opt.host,
         port, g_opt.chunks, g_opt.delay_ms);
  fflush(stdout);
  return uv_run(g_loop, UV_RUN_DEFAULT);
}
