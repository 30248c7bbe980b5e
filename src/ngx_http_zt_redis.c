
/*
 * Redis on nginx's event loop: hiredis's async API driven by an
 * ngx_connection_t of the worker, the zt_redis directive, and what the
 * approval and grant concerns build on: Lua scripts run with a deadline
 * (ngx_http_zt_redis_eval()), key names, the 503 answer.
 *
 * One connection per worker, opened on first use and kept.  A worker never
 * waits for Redis: every command has an nginx timer, and a command that
 * outlives it tears the connection down, which answers every command still
 * in flight with a failure (503 for the requests behind them).  After a
 * failure new commands fail at once until a backoff delay (100ms doubling
 * up to 2s) has passed, then the next command reconnects.  A request that
 * goes away while its command is in flight is detached from it: the reply,
 * when it comes, is dropped.
 *
 * A command Redis runs after the gateway gave up on it must change
 * nothing, so every script gets a deadline in Redis's own clock: the
 * moment its timer fires, plus the offset of Redis's clock to nginx's.
 * Each connection measures that offset with TIME when it opens, before
 * any command goes out, and again every 30 seconds.  The offset is taken
 * at its lowest bound (Redis read its clock before the reply was in), so
 * a command may be refused as late a little early, never late.
 */


#include "ngx_http_zt_inference.h"

#include <hiredis/hiredis.h>
#include <hiredis/async.h>


#define NGX_HTTP_ZT_REDIS_PORT         6379
#define NGX_HTTP_ZT_REDIS_TIMEOUT      200
#define NGX_HTTP_ZT_REDIS_BACKOFF_MIN  100
#define NGX_HTTP_ZT_REDIS_BACKOFF_MAX  2000
#define NGX_HTTP_ZT_REDIS_ARGS         32
#define NGX_HTTP_ZT_REDIS_CLOCK        30000


typedef struct {
    ngx_queue_t                    queue;      /* free or waiting list */
    ngx_http_request_t            *request;    /* NULL: request went away */
    ngx_http_zt_redis_handler_pt   handler;
    ngx_http_zt_redis_done_pt      done;       /* a detached command's */
    void                          *data;
    ngx_http_cleanup_t            *cleanup;
    ngx_event_t                    timer;
    ngx_msec_t                     timeout;
    ngx_str_t                     *argv;       /* the last one: deadline */
    ngx_uint_t                     argc;
    unsigned                       watch:1;    /* watches the client */
    unsigned                       waiting:1;  /* for the clock offset */
} ngx_http_zt_redis_cmd_t;


typedef struct {
    redisAsyncContext             *ac;
    ngx_queue_t                    free;       /* of ngx_http_zt_redis_cmd_t */
    ngx_queue_t                    waiting;    /* ... until the clock is in */
    ngx_uint_t                     failures;   /* in a row */
    ngx_msec_t                     retry_at;
    int64_t                        offset;     /* Redis us - nginx ms * 1000 */
    ngx_msec_t                     measured;   /* when, in nginx ms */
    unsigned                       clock:1;    /* offset measured */
    unsigned                       asked:1;    /* TIME in flight */
    unsigned                       lost:1;     /* commands were in flight */
    unsigned                       initialized:1;
    u_char                         name[NGX_SOCKADDR_STRLEN + 8];
} ngx_http_zt_redis_peer_t;


static ngx_int_t ngx_http_zt_redis_send(ngx_http_zt_redis_cmd_t *cmd);
static ngx_int_t ngx_http_zt_redis_ask_time(void);
static void ngx_http_zt_redis_time_reply(redisAsyncContext *ac, void *reply,
    void *privdata);
static void ngx_http_zt_redis_fail_waiting(void);
static ngx_int_t ngx_http_zt_redis_eval_any(ngx_http_request_t *r,
    ngx_http_zt_redis_script_t *script, ngx_str_t *args, ngx_uint_t n,
    ngx_http_zt_redis_handler_pt handler, ngx_http_zt_redis_done_pt done,
    void *data);
static ngx_http_zt_redis_cmd_t *ngx_http_zt_redis_prepare(
    ngx_http_request_t *r, ngx_http_zt_redis_handler_pt handler, void *data);
static void ngx_http_zt_redis_arm(ngx_http_zt_redis_cmd_t *cmd);
static void ngx_http_zt_redis_release(ngx_http_zt_redis_cmd_t *cmd);
static ngx_int_t ngx_http_zt_redis_connect(ngx_http_zt_redis_conf_t *rcf,
    ngx_log_t *log);
static void ngx_http_zt_redis_failed(void);
static void ngx_http_zt_redis_drop(ngx_uint_t failed);
static void ngx_http_zt_redis_reply(redisAsyncContext *ac, void *reply,
    void *privdata);
static void ngx_http_zt_redis_setup_reply(redisAsyncContext *ac,
    void *reply, void *privdata);
static void ngx_http_zt_redis_connected(const redisAsyncContext *ac,
    int status);
static void ngx_http_zt_redis_timeout(ngx_event_t *ev);
static void ngx_http_zt_redis_detach(void *data);
static void ngx_http_zt_redis_read_handler(ngx_event_t *rev);
static void ngx_http_zt_redis_write_handler(ngx_event_t *wev);
static void ngx_http_zt_redis_add_read(void *data);
static void ngx_http_zt_redis_del_read(void *data);
static void ngx_http_zt_redis_add_write(void *data);
static void ngx_http_zt_redis_del_write(void *data);
static void ngx_http_zt_redis_cleanup(void *data);


/* a worker is one process with one connection: its state is static */
static ngx_http_zt_redis_peer_t  ngx_http_zt_redis_peer;


char *
ngx_http_zt_redis_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_zt_main_conf_t *zmcf = conf;

    u_char                    *p;
    size_t                     len;
    ngx_int_t                  n;
    ngx_str_t                 *value, s;
    ngx_url_t                  u;
    ngx_uint_t                 i;
    ngx_http_zt_redis_conf_t  *rcf;
    u_char                     text[NGX_SOCKADDR_STRLEN];

    rcf = &zmcf->redis;

    if (rcf->configured) {
        return "is duplicate";
    }

    value = cf->args->elts;

    rcf->db = 0;
    rcf->timeout = NGX_HTTP_ZT_REDIS_TIMEOUT;
    ngx_str_set(&rcf->prefix, "zt:");

    if (value[1].len > 5 && ngx_strncmp(value[1].data, "unix:", 5) == 0) {

        /* hiredis wants C strings */
        len = value[1].len - 5;
        p = ngx_pnalloc(cf->pool, len + 1);
        if (p == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memcpy(p, value[1].data + 5, len);
        p[len] = '\0';

        rcf->host.data = p;
        rcf->host.len = len;
        rcf->unix_socket = 1;

    } else {

        /*
         * Resolved here, once: hiredis would resolve a name with a
         * blocking getaddrinfo() on every connect, in the worker.
         */

        ngx_memzero(&u, sizeof(ngx_url_t));

        u.url = value[1];
        u.default_port = NGX_HTTP_ZT_REDIS_PORT;

        if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid address \"%V\" in \"zt_redis\"%s%s",
                               &value[1], u.err ? ": " : "",
                               u.err ? u.err : "");
            return NGX_CONF_ERROR;
        }

        len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen, text,
                            NGX_SOCKADDR_STRLEN, 0);

        p = ngx_pnalloc(cf->pool, len + 1);
        if (p == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memcpy(p, text, len);
        p[len] = '\0';

        rcf->host.data = p;
        rcf->host.len = len;
        rcf->port = ngx_inet_get_port(u.addrs[0].sockaddr);
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "db=", 3) == 0) {
            n = ngx_atoi(value[i].data + 3, value[i].len - 3);

            if (n == NGX_ERROR) {
                goto invalid;
            }

            rcf->db = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "password=", 9) == 0) {
            rcf->password.data = value[i].data + 9;
            rcf->password.len = value[i].len - 9;

            if (rcf->password.len == 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "prefix=", 7) == 0) {
            rcf->prefix.data = value[i].data + 7;
            rcf->prefix.len = value[i].len - 7;
            continue;
        }

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

            rcf->timeout = ngx_parse_time(&s, 0);

            if (rcf->timeout == (ngx_msec_t) NGX_ERROR || rcf->timeout == 0) {
                goto invalid;
            }

            continue;
        }

        goto invalid;
    }

    rcf->configured = 1;

    return NGX_CONF_OK;

invalid:

    /* never echo a password back into the log */

    if (ngx_strncmp(value[i].data, "password=", 9) == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "empty \"password=\" in \"zt_redis\"");

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"zt_redis\"",
                           &value[i]);
    }

    return NGX_CONF_ERROR;
}


/*
 * EVAL of a script with its keys and arguments, and the deadline as the
 * last argument.  NGX_DONE: the handler gets the reply; NGX_DECLINED:
 * Redis cannot be asked now (the caller answers 503); NGX_ERROR: a local
 * failure.
 */

ngx_int_t
ngx_http_zt_redis_eval(ngx_http_request_t *r,
    ngx_http_zt_redis_script_t *script, ngx_str_t *args, ngx_uint_t n,
    ngx_http_zt_redis_handler_pt handler, void *data)
{
    return ngx_http_zt_redis_eval_any(r, script, args, n, handler, NULL,
                                      data);
}


/*
 * The same for a script that outlives the request sending it (a
 * settlement after the answer): r is used while it is sent, done(reply,
 * data) runs whenever the reply or the failure comes, with data that must
 * live until then, and is not called unless NGX_DONE is returned.  It is
 * sent at once or not at all: it cannot wait for the clock offset, whose
 * wait keeps the arguments in the request's pool.
 */

ngx_int_t
ngx_http_zt_redis_eval_detached(ngx_http_request_t *r,
    ngx_http_zt_redis_script_t *script, ngx_str_t *args, ngx_uint_t n,
    ngx_http_zt_redis_done_pt done, void *data)
{
    return ngx_http_zt_redis_eval_any(r, script, args, n, NULL, done, data);
}


static ngx_int_t
ngx_http_zt_redis_eval_any(ngx_http_request_t *r,
    ngx_http_zt_redis_script_t *script, ngx_str_t *args, ngx_uint_t n,
    ngx_http_zt_redis_handler_pt handler, ngx_http_zt_redis_done_pt done,
    void *data)
{
    u_char                    *p;
    size_t                     len;
    ngx_str_t                 *argv;
    ngx_uint_t                 i, argc;
    ngx_http_zt_redis_cmd_t   *cmd;
    ngx_http_zt_redis_peer_t  *peer;

    peer = &ngx_http_zt_redis_peer;

    argc = n + 4;

    argv = ngx_palloc(r->pool, argc * sizeof(ngx_str_t));
    if (argv == NULL) {
        return NGX_ERROR;
    }

    ngx_str_set(&argv[0], "EVAL");
    argv[1] = script->lua;

    if (ngx_http_zt_redis_number(r, &argv[2], script->keys) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_memcpy(&argv[3], args, n * sizeof(ngx_str_t));
    ngx_str_null(&argv[argc - 1]);

    cmd = ngx_http_zt_redis_prepare(r, handler, data);
    if (cmd == NULL) {
        return NGX_DECLINED;
    }

    cmd->argv = argv;
    cmd->argc = argc;

    if (done) {
        if (!peer->clock) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "zt: redis %s: the clock offset is not measured "
                          "yet, a detached command is not sent", peer->name);
            ngx_http_zt_redis_release(cmd);
            return NGX_DECLINED;
        }

        /* bound to the worker's connection only */
        cmd->cleanup->handler = NULL;
        cmd->request = NULL;
        cmd->done = done;
    }

    /* the deadline follows the timer, which starts now */
    ngx_http_zt_redis_arm(cmd);

    if (peer->clock) {

        if (ngx_current_msec - peer->measured >= NGX_HTTP_ZT_REDIS_CLOCK
            && !peer->asked)
        {
            (void) ngx_http_zt_redis_ask_time();
        }

        if (ngx_http_zt_redis_send(cmd) != NGX_OK) {
            ngx_http_zt_redis_release(cmd);
            return NGX_DECLINED;
        }

        return NGX_DONE;
    }

    /* it waits for the clock: its arguments must outlive the caller's */

    len = 0;

    for (i = 3; i < argc - 1; i++) {
        len += argv[i].len;
    }

    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        ngx_http_zt_redis_release(cmd);
        return NGX_ERROR;
    }

    for (i = 3; i < argc - 1; i++) {
        if (argv[i].len) {
            ngx_memcpy(p, argv[i].data, argv[i].len);
        }

        argv[i].data = p;
        p += argv[i].len;
    }

    cmd->waiting = 1;
    ngx_queue_insert_tail(&peer->waiting, &cmd->queue);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "zt: redis %s: a command waits for the clock offset",
                   peer->name);

    return NGX_DONE;
}


/*
 * Hands a command to hiredis, which copies its arguments; the deadline,
 * in Redis's microseconds, is when the command's timer fires.
 */

static ngx_int_t
ngx_http_zt_redis_send(ngx_http_zt_redis_cmd_t *cmd)
{
    int                        rc;
    size_t                    *lens;
    ngx_uint_t                 i;
    const char               **argv;
    ngx_http_zt_redis_peer_t  *peer;
    size_t                     lens_buf[NGX_HTTP_ZT_REDIS_ARGS];
    const char                *argv_buf[NGX_HTTP_ZT_REDIS_ARGS];
    u_char                     deadline[NGX_INT64_LEN];

    peer = &ngx_http_zt_redis_peer;

    if (cmd->argc <= NGX_HTTP_ZT_REDIS_ARGS) {
        argv = argv_buf;
        lens = lens_buf;

    } else if (cmd->request) {
        argv = ngx_palloc(cmd->request->pool, cmd->argc * sizeof(char *));
        lens = ngx_palloc(cmd->request->pool, cmd->argc * sizeof(size_t));

        if (argv == NULL || lens == NULL) {
            return NGX_ERROR;
        }

    } else {
        /* a detached command has no pool: its scripts take few arguments */
        return NGX_ERROR;
    }

    for (i = 0; i < cmd->argc - 1; i++) {
        argv[i] = cmd->argv[i].data ? (const char *) cmd->argv[i].data : "";
        lens[i] = cmd->argv[i].len;
    }

    argv[i] = (const char *) deadline;
    lens[i] = ngx_sprintf(deadline, "%L",
                          (int64_t) cmd->timer.timer.key * 1000
                          + peer->offset)
              - deadline;

    rc = redisAsyncCommandArgv(peer->ac, ngx_http_zt_redis_reply, cmd,
                               (int) cmd->argc, argv, lens);

    if (rc != REDIS_OK) {
        ngx_log_error(NGX_LOG_ERR,
                      cmd->request ? cmd->request->connection->log
                                   : ngx_cycle->log, 0,
                      "zt: redis refused a command: connection closing");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the clock offset: measured on connect, refreshed as it ages */

static ngx_int_t
ngx_http_zt_redis_ask_time(void)
{
    ngx_http_zt_redis_peer_t  *peer;

    peer = &ngx_http_zt_redis_peer;

    if (redisAsyncCommand(peer->ac, ngx_http_zt_redis_time_reply, NULL,
                          "TIME")
        != REDIS_OK)
    {
        return NGX_ERROR;
    }

    peer->asked = 1;

    return NGX_OK;
}


static void
ngx_http_zt_redis_time_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    redisReply                    *rr = reply;

    void                          *data;
    int64_t                        sec, usec;
    ngx_queue_t                   *q;
    ngx_connection_t              *c;
    ngx_http_request_t            *r;
    ngx_http_zt_redis_cmd_t       *cmd;
    ngx_http_zt_redis_peer_t      *peer;
    ngx_http_zt_redis_handler_pt   handler;

    peer = &ngx_http_zt_redis_peer;

    if (peer->ac != ac) {
        return;
    }

    peer->asked = 0;

    if (rr == NULL) {
        peer->lost = 1;
        return;
    }

    if (rr->type != REDIS_REPLY_ARRAY || rr->elements != 2
        || rr->element[0]->type != REDIS_REPLY_STRING
        || rr->element[1]->type != REDIS_REPLY_STRING
        || (sec = ngx_atoof((u_char *) rr->element[0]->str,
                            rr->element[0]->len)) == NGX_ERROR
        || (usec = ngx_atoof((u_char *) rr->element[1]->str,
                             rr->element[1]->len)) == NGX_ERROR)
    {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "zt: redis %s: TIME failed: \"%*s\"", peer->name,
                      rr->type == REDIS_REPLY_ERROR ? rr->len : 0,
                      rr->type == REDIS_REPLY_ERROR ? rr->str : "");

        /* inside a hiredis callback: the free happens once it returns */
        ngx_http_zt_redis_drop(1);
        return;
    }

    /*
     * Redis read its clock before its reply was read here, and nginx's
     * clock (in whole milliseconds) is behind by less than one: the offset
     * is at least this.
     */

    ngx_time_update();

    peer->offset = sec * 1000000 + usec
                   - ((int64_t) ngx_current_msec + 1) * 1000;
    peer->measured = ngx_current_msec;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "zt: redis %s: clock offset %L us", peer->name,
                   peer->offset);

    if (peer->clock) {
        return;
    }

    peer->clock = 1;

    while (!ngx_queue_empty(&peer->waiting)) {
        q = ngx_queue_head(&peer->waiting);
        ngx_queue_remove(q);

        cmd = ngx_queue_data(q, ngx_http_zt_redis_cmd_t, queue);
        cmd->waiting = 0;

        if (ngx_http_zt_redis_send(cmd) == NGX_OK) {
            continue;
        }

        r = cmd->request;
        c = r->connection;
        handler = cmd->handler;
        data = cmd->data;

        ngx_http_zt_redis_release(cmd);

        handler(r, NULL, data);
        ngx_http_run_posted_requests(c);
    }
}


/* the connection is gone before the clock was in: the waiting fail */

static void
ngx_http_zt_redis_fail_waiting(void)
{
    void                          *data;
    ngx_queue_t                   *q;
    ngx_connection_t              *c;
    ngx_http_request_t            *r;
    ngx_http_zt_redis_cmd_t       *cmd;
    ngx_http_zt_redis_peer_t      *peer;
    ngx_http_zt_redis_handler_pt   handler;

    peer = &ngx_http_zt_redis_peer;

    while (peer->initialized && !ngx_queue_empty(&peer->waiting)) {
        q = ngx_queue_head(&peer->waiting);
        ngx_queue_remove(q);

        cmd = ngx_queue_data(q, ngx_http_zt_redis_cmd_t, queue);
        cmd->waiting = 0;

        r = cmd->request;
        c = r->connection;
        handler = cmd->handler;
        data = cmd->data;

        ngx_http_zt_redis_release(cmd);

        handler(r, NULL, data);
        ngx_http_run_posted_requests(c);
    }
}


/* <prefix><kind><name> */

ngx_int_t
ngx_http_zt_redis_key(ngx_http_request_t *r, ngx_str_t *key, char *kind,
    ngx_str_t *name)
{
    u_char                   *p;
    size_t                    len;
    ngx_http_zt_main_conf_t  *zmcf;

    zmcf = ngx_http_get_module_main_conf(r, ngx_http_zt_inference_module);

    len = zmcf->redis.prefix.len + ngx_strlen(kind) + (name ? name->len : 0);

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    key->data = p;
    p = ngx_cpymem(p, zmcf->redis.prefix.data, zmcf->redis.prefix.len);
    p = ngx_cpymem(p, kind, ngx_strlen(kind));

    if (name) {
        p = ngx_cpymem(p, name->data, name->len);
    }

    key->len = p - key->data;

    return NGX_OK;
}


ngx_int_t
ngx_http_zt_redis_number(ngx_http_request_t *r, ngx_str_t *s, int64_t n)
{
    s->data = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (s->data == NULL) {
        return NGX_ERROR;
    }

    s->len = ngx_sprintf(s->data, "%L", n) - s->data;

    return NGX_OK;
}


/* seconds until the next connection attempt, at least 1 */

ngx_str_t *
ngx_http_zt_redis_retry_after(ngx_http_request_t *r)
{
    ngx_str_t                 *s;
    ngx_msec_int_t             left;
    ngx_http_zt_redis_peer_t  *peer;

    peer = &ngx_http_zt_redis_peer;

    s = ngx_palloc(r->pool, sizeof(ngx_str_t));
    if (s == NULL) {
        return NULL;
    }

    s->data = ngx_pnalloc(r->pool, NGX_INT_T_LEN + 1);
    if (s->data == NULL) {
        return NULL;
    }

    left = peer->failures ? (ngx_msec_int_t) (peer->retry_at - ngx_current_msec)
                          : 0;

    if (left < 1000) {
        left = 1000;
    }

    s->len = ngx_sprintf(s->data, "%i%Z", (ngx_int_t) (left + 999) / 1000)
             - s->data - 1;

    return s;
}


/*
 * The answer of every approval and grant path when Redis cannot be asked:
 * 503 with Retry-After, never an allow.
 */

ngx_int_t
ngx_http_zt_redis_unavailable(ngx_http_request_t *r)
{
    ngx_str_t  *retry, type, code, message;

    retry = ngx_http_zt_redis_retry_after(r);
    if (retry == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_zt_answer_header(r, "Retry-After", (char *) retry->data)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_str_set(&type, "service_unavailable");
    ngx_str_set(&code, "approval_unavailable");
    ngx_str_set(&message, "the approval store is unavailable, retry later");

    return ngx_http_zt_answer(r, NGX_HTTP_SERVICE_UNAVAILABLE, &type, &code,
                              &message);
}


void
ngx_http_zt_redis_exit_process(ngx_cycle_t *cycle)
{
    /*
     * Closes the socket before nginx looks for sockets left open; as a
     * failure, so that nothing answered on the way reconnects.
     */
    ngx_http_zt_redis_drop(1);
}


static ngx_http_zt_redis_cmd_t *
ngx_http_zt_redis_prepare(ngx_http_request_t *r,
    ngx_http_zt_redis_handler_pt handler, void *data)
{
    ngx_queue_t               *q;
    ngx_msec_int_t             left;
    ngx_http_cleanup_t        *cln;
    ngx_http_zt_redis_cmd_t   *cmd;
    ngx_http_zt_main_conf_t   *zmcf;
    ngx_http_zt_redis_peer_t  *peer;

    peer = &ngx_http_zt_redis_peer;
    zmcf = ngx_http_get_module_main_conf(r, ngx_http_zt_inference_module);

    if (!zmcf->redis.configured) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "zt: no \"zt_redis\" configured");
        return NULL;
    }

    if (!peer->initialized) {
        ngx_queue_init(&peer->free);
        ngx_queue_init(&peer->waiting);
        peer->initialized = 1;
    }

    if (peer->ac == NULL) {

        left = (ngx_msec_int_t) (peer->retry_at - ngx_current_msec);

        if (peer->failures && left > 0) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "zt: redis unavailable, next attempt in %M ms",
                          (ngx_msec_t) left);
            return NULL;
        }

        if (ngx_http_zt_redis_connect(&zmcf->redis, r->connection->log)
            != NGX_OK)
        {
            return NULL;
        }
    }

    cln = ngx_http_cleanup_add(r, 0);
    if (cln == NULL) {
        return NULL;
    }

    if (!ngx_queue_empty(&peer->free)) {
        q = ngx_queue_head(&peer->free);
        ngx_queue_remove(q);
        cmd = ngx_queue_data(q, ngx_http_zt_redis_cmd_t, queue);
        ngx_memzero(cmd, sizeof(ngx_http_zt_redis_cmd_t));

    } else {
        /* outlives requests: reused through the free list, never freed */
        cmd = ngx_pcalloc(ngx_cycle->pool, sizeof(ngx_http_zt_redis_cmd_t));
        if (cmd == NULL) {
            return NULL;
        }
    }

    cmd->request = r;
    cmd->handler = handler;
    cmd->data = data;
    cmd->cleanup = cln;
    cmd->timeout = zmcf->redis.timeout;

    cmd->timer.handler = ngx_http_zt_redis_timeout;
    cmd->timer.data = cmd;
    cmd->timer.log = ngx_cycle->log;

    cln->handler = ngx_http_zt_redis_detach;
    cln->data = cmd;

    return cmd;
}


static void
ngx_http_zt_redis_arm(ngx_http_zt_redis_cmd_t *cmd)
{
    ngx_http_request_t  *r;

    ngx_add_timer(&cmd->timer, cmd->timeout);

    /*
     * A client that goes away while its request waits is noticed, as the
     * upstream module does: the request is finalized, which detaches it.
     */

    r = cmd->request;

    if (r && r == r->main
        && r->read_event_handler == ngx_http_block_reading)
    {
        r->read_event_handler = ngx_http_test_reading;
        cmd->watch = 1;
    }
}


static void
ngx_http_zt_redis_release(ngx_http_zt_redis_cmd_t *cmd)
{
    ngx_http_request_t  *r;

    if (cmd->timer.timer_set) {
        ngx_del_timer(&cmd->timer);
    }

    r = cmd->request;

    if (r) {
        cmd->cleanup->handler = NULL;
        cmd->request = NULL;

        if (cmd->watch && r->read_event_handler == ngx_http_test_reading) {
            r->read_event_handler = ngx_http_block_reading;
        }
    }

    ngx_queue_insert_head(&ngx_http_zt_redis_peer.free, &cmd->queue);
}


static ngx_int_t
ngx_http_zt_redis_connect(ngx_http_zt_redis_conf_t *rcf, ngx_log_t *log)
{
    redisAsyncContext         *ac;
    ngx_connection_t          *c;
    ngx_http_zt_redis_peer_t  *peer;

    peer = &ngx_http_zt_redis_peer;

    if (rcf->unix_socket) {
        ngx_snprintf(peer->name, sizeof(peer->name) - 1, "unix:%V%Z",
                     &rcf->host);
        ac = redisAsyncConnectUnix((const char *) rcf->host.data);

    } else {
        ngx_snprintf(peer->name, sizeof(peer->name) - 1, "%V:%d%Z",
                     &rcf->host, (int) rcf->port);
        ac = redisAsyncConnect((const char *) rcf->host.data, rcf->port);
    }

    if (ac == NULL) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "zt: redis %s: cannot allocate a context", peer->name);
        ngx_http_zt_redis_failed();
        return NGX_ERROR;
    }

    if (ac->err) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "zt: redis %s: connect failed: %s",
                      peer->name, ac->errstr);
        redisAsyncFree(ac);
        ngx_http_zt_redis_failed();
        return NGX_ERROR;
    }

    c = ngx_get_connection(ac->c.fd, ngx_cycle->log);
    if (c == NULL) {
        redisAsyncFree(ac);
        ngx_http_zt_redis_failed();
        return NGX_ERROR;
    }

    c->data = ac;
    c->read->handler = ngx_http_zt_redis_read_handler;
    c->write->handler = ngx_http_zt_redis_write_handler;
    c->read->log = c->log;
    c->write->log = c->log;

    ac->ev.addRead = ngx_http_zt_redis_add_read;
    ac->ev.delRead = ngx_http_zt_redis_del_read;
    ac->ev.addWrite = ngx_http_zt_redis_add_write;
    ac->ev.delWrite = ngx_http_zt_redis_del_write;
    ac->ev.cleanup = ngx_http_zt_redis_cleanup;
    ac->ev.data = c;

    peer->ac = ac;
    peer->lost = 0;
    peer->clock = 0;
    peer->asked = 0;

    /* the first write event tells whether connect() succeeded */
    (void) redisAsyncSetConnectCallback(ac, ngx_http_zt_redis_connected);

    ngx_http_zt_redis_add_read(c);

    /*
     * AUTH and SELECT go first on the wire: hiredis keeps order, so every
     * command queued after them runs authenticated and in the right db.
     */

    if (rcf->password.len
        && redisAsyncCommand(ac, ngx_http_zt_redis_setup_reply, "AUTH",
                             "AUTH %b", rcf->password.data,
                             rcf->password.len)
           != REDIS_OK)
    {
        ngx_http_zt_redis_drop(1);
        return NGX_ERROR;
    }

    if (rcf->db
        && redisAsyncCommand(ac, ngx_http_zt_redis_setup_reply, "SELECT",
                             "SELECT %d", (int) rcf->db)
           != REDIS_OK)
    {
        ngx_http_zt_redis_drop(1);
        return NGX_ERROR;
    }

    /* and the clock offset before any command: they wait for it */

    if (ngx_http_zt_redis_ask_time() != NGX_OK) {
        ngx_http_zt_redis_drop(1);
        return NGX_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, 0,
                   "zt: redis connecting to %s", peer->name);

    return NGX_OK;
}


static void
ngx_http_zt_redis_failed(void)
{
    ngx_uint_t                 shift;
    ngx_msec_t                 delay;
    ngx_http_zt_redis_peer_t  *peer;

    peer = &ngx_http_zt_redis_peer;

    shift = ngx_min(peer->failures, 5);
    delay = ngx_min((ngx_msec_t) NGX_HTTP_ZT_REDIS_BACKOFF_MIN << shift,
                    (ngx_msec_t) NGX_HTTP_ZT_REDIS_BACKOFF_MAX);

    peer->failures++;
    peer->retry_at = ngx_current_msec + delay;
}


/*
 * Tears the connection down on purpose: hiredis then answers every command
 * still in flight with a NULL reply, and calls the cleanup hook.
 */

static void
ngx_http_zt_redis_drop(ngx_uint_t failed)
{
    redisAsyncContext         *ac;
    ngx_http_zt_redis_peer_t  *peer;

    peer = &ngx_http_zt_redis_peer;

    ac = peer->ac;
    if (ac == NULL) {
        return;
    }

    peer->ac = NULL;

    if (failed) {
        ngx_http_zt_redis_failed();
    }

    redisAsyncFree(ac);

    ngx_http_zt_redis_fail_waiting();
}


static void
ngx_http_zt_redis_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    redisReply                    *rr = reply;
    ngx_http_zt_redis_cmd_t       *cmd = privdata;

    void                          *data;
    ngx_connection_t              *c;
    ngx_http_request_t            *r;
    ngx_http_zt_redis_peer_t      *peer;
    ngx_http_zt_redis_done_pt      done;
    ngx_http_zt_redis_handler_pt   handler;

    peer = &ngx_http_zt_redis_peer;

    if (rr == NULL) {
        if (peer->ac == ac) {
            peer->lost = 1;
        }

    } else if (rr->type != REDIS_REPLY_ERROR) {
        peer->failures = 0;
    }

    r = cmd->request;
    handler = cmd->handler;
    done = cmd->done;
    data = cmd->data;

    ngx_http_zt_redis_release(cmd);

    if (done) {
        done(rr, data);
        return;
    }

    if (r == NULL) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "zt: redis %s for a request that went away, dropped",
                       rr ? "reply" : "failure");
        return;
    }

    if (rr && rr->type == REDIS_REPLY_ERROR) {

        if (rr->len >= 6 && ngx_strncmp(rr->str, "ZTLATE", 6) == 0) {
            /* in time, yet late to Redis: a clock moved since measured */
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "zt: redis %s refused a command as late though it "
                          "ran in time: a clock moved; measuring the offset "
                          "again", peer->name);

            peer->measured = ngx_current_msec - NGX_HTTP_ZT_REDIS_CLOCK;

        } else {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "zt: redis %s: error reply: \"%*s\"", peer->name,
                          rr->len, rr->str);
        }
    }

    c = r->connection;

    handler(r, rr, data);

    ngx_http_run_posted_requests(c);
}


static void
ngx_http_zt_redis_setup_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    redisReply                *rr = reply;
    ngx_http_zt_redis_peer_t  *peer;

    peer = &ngx_http_zt_redis_peer;

    if (rr == NULL) {
        if (peer->ac == ac) {
            peer->lost = 1;
        }

        return;
    }

    if (rr->type != REDIS_REPLY_ERROR) {
        return;
    }

    /* the reply names the problem, never the password */
    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "zt: redis %s: %s failed: \"%*s\"", peer->name,
                  (char *) privdata, rr->len, rr->str);

    if (peer->ac == ac) {
        /* inside a hiredis callback: the free happens once it returns */
        ngx_http_zt_redis_drop(1);
    }
}


static void
ngx_http_zt_redis_connected(const redisAsyncContext *ac, int status)
{
    if (status != REDIS_OK) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "zt: redis %s: connect failed: %s",
                      ngx_http_zt_redis_peer.name,
                      ac->errstr ? ac->errstr : "unknown error");
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "zt: redis connected to %s", ngx_http_zt_redis_peer.name);
}


static void
ngx_http_zt_redis_timeout(ngx_event_t *ev)
{
    ngx_http_zt_redis_cmd_t  *cmd = ev->data;

    ngx_log_error(NGX_LOG_ERR,
                  cmd->request ? cmd->request->connection->log : ev->log, 0,
                  "zt: redis %s did not answer within %M ms",
                  ngx_http_zt_redis_peer.name, cmd->timeout);

    /* order is kept on a connection: every later reply is late too */
    ngx_http_zt_redis_drop(1);
}


static void
ngx_http_zt_redis_detach(void *data)
{
    ngx_http_zt_redis_cmd_t  *cmd = data;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "zt: redis command detached from its request");

    if (cmd->timer.timer_set) {
        ngx_del_timer(&cmd->timer);
    }

    cmd->request = NULL;

    if (cmd->waiting) {
        /* never sent: no reply will come to release it */
        cmd->waiting = 0;
        ngx_queue_remove(&cmd->queue);
        ngx_queue_insert_head(&ngx_http_zt_redis_peer.free, &cmd->queue);
    }
}


static void
ngx_http_zt_redis_read_handler(ngx_event_t *rev)
{
    ngx_connection_t  *c = rev->data;

    redisAsyncHandleRead(c->data);
}


static void
ngx_http_zt_redis_write_handler(ngx_event_t *wev)
{
    ngx_connection_t  *c = wev->data;

    redisAsyncHandleWrite(c->data);
}


/*
 * hiredis reads once per call and expects to be called again while data
 * is left: its events are level-triggered, whatever the event method's
 * default.  The hooks must be idempotent.
 */

static void
ngx_http_zt_redis_add_read(void *data)
{
    ngx_connection_t  *c = data;

    if (!c->read->active
        && ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                      "zt: redis: cannot add a read event");
    }
}


static void
ngx_http_zt_redis_del_read(void *data)
{
    ngx_connection_t  *c = data;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }
}


static void
ngx_http_zt_redis_add_write(void *data)
{
    ngx_connection_t  *c = data;

    if (!c->write->active
        && ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT)
           != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                      "zt: redis: cannot add a write event");
    }
}


static void
ngx_http_zt_redis_del_write(void *data)
{
    ngx_connection_t  *c = data;

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }
}


/*
 * hiredis is freeing its context: the pending callbacks have run, the
 * socket is still open and hiredis closes it right after, so the
 * connection is released without closing it.
 */

static void
ngx_http_zt_redis_cleanup(void *data)
{
    ngx_connection_t  *c = data;

    redisAsyncContext         *ac;
    ngx_http_zt_redis_peer_t  *peer;

    peer = &ngx_http_zt_redis_peer;
    ac = c->data;

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    c->read->closed = 1;
    c->write->closed = 1;

    ngx_free_connection(c);

    c->fd = (ngx_socket_t) -1;

    if (peer->ac != ac) {
        /* dropped on purpose, already accounted for */
        return;
    }

    peer->ac = NULL;

    if (!(ac->c.flags & REDIS_CONNECTED)) {
        /* the connect callback logged why */
        ngx_http_zt_redis_failed();

    } else if (peer->lost) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "zt: redis %s: connection lost: %s", peer->name,
                      ac->errstr ? ac->errstr : "closed");
        ngx_http_zt_redis_failed();

    } else {
        /* an idle connection closed (server timeout, restart): reconnect */
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "zt: redis %s: idle connection closed: %s", peer->name,
                      ac->errstr ? ac->errstr : "closed");
    }

    ngx_http_zt_redis_fail_waiting();
}
