#include "upload/http.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* per thread: the live-upload thread and a foreground upload keep their own */
static _Thread_local long timeout_ms = 30000;
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

void hn_http_set_timeout_ms(long ms) { timeout_ms = ms > 0 ? ms : 30000; }

typedef struct buffer {
    char *data;
    size_t len, cap;
    int oom;
} buffer;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *user) {
    buffer *b = user;
    size_t n = size * nmemb;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *d = realloc(b->data, cap);
        if (!d) {
            b->oom = 1;
            return 0;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = 0;
    return n;
}

int hn_http_perform(const hn_http_request *req, hn_http_response *resp, hn_error *err) {
    memset(resp, 0, sizeof *resp);
    pthread_once(&curl_once, curl_init_once);
    CURL *c = curl_easy_init();
    if (!c) return hn_fail(err, "HTTP: cannot start libcurl");
    buffer b = {0};
    struct curl_slist *headers = NULL;
    for (int i = 0; i < req->n_headers; i++) headers = curl_slist_append(headers, req->headers[i]);
    if (req->body) headers = curl_slist_append(headers, "Expect:"); /* no 100-continue wait */
    char errbuf[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
    if (req->body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    } else if (!strcmp(req->method, "GET")) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    if (req->basic_user) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, req->basic_user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, req->basic_password ? req->basic_password : "");
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* safe in the live-upload thread */
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "hnet-upload/1");
    CURLcode rc = curl_easy_perform(c);
    int out = HN_OK;
    if (rc != CURLE_OK) {
        /* The URL is ours; libcurl's message never contains the headers or the body. */
        hn_fail(err, "%s %s: %s", req->method, req->url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
        out = HN_SINK_RETRY;
        free(b.data);
    } else if (b.oom) {
        out = hn_fail(err, "%s %s: out of memory reading the response", req->method, req->url);
        free(b.data);
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
        resp->body = b.data ? b.data : calloc(1, 1);
        resp->len = b.len;
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    return out;
}

void hn_http_free_response(hn_http_response *resp) {
    if (!resp) return;
    free(resp->body);
    resp->body = NULL;
    resp->len = 0;
}
