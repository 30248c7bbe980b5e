
/*
 * zt-inference: usage limits on model tokens (zt_usage_limit,
 * zt_usage_limit_store).  The configuration of a location, the state of a
 * request's reservation, and the interfaces between the limits
 * (ngx_http_zt_usage.c), their two stores (ngx_http_zt_usage_shm.c,
 * ngx_http_zt_usage_redis.c) and the reading of the answer's usage
 * (ngx_http_zt_usage_read.c).
 */


#ifndef _NGX_HTTP_ZT_USAGE_H_INCLUDED_
#define _NGX_HTTP_ZT_USAGE_H_INCLUDED_


#define NGX_HTTP_ZT_USAGE_PERIODS    4          /* s, m, h, d */
#define NGX_HTTP_ZT_USAGE_KEY_MAX    512        /* bytes of a key */

#define NGX_HTTP_ZT_USAGE_SHM        1
#define NGX_HTTP_ZT_USAGE_REDIS      2


/* a zone: a namespace of budgets, in shared memory or in Redis */
typedef struct {
    ngx_str_t                       name;
    ssize_t                         size;       /* 0: no size given */
    ngx_shm_zone_t                 *shm_zone;
    ngx_uint_t                      stores;     /* SHM | REDIS */
} ngx_http_zt_usage_zone_t;


/* one zt_usage_limit directive */
typedef struct {
    ngx_http_zt_usage_zone_t       *zone;
    ngx_http_complex_value_t        key;
    int64_t                         tokens[NGX_HTTP_ZT_USAGE_PERIODS];
    int64_t                         max_tokens_default;
} ngx_http_zt_usage_limit_t;


typedef struct {
    ngx_array_t                    *limits;     /* of ngx_..._limit_t */
    ngx_uint_t                      store;
    ngx_flag_t                      off;        /* zt_usage_limit off */
} ngx_http_zt_usage_conf_t;


/* one window of a key, as a store saw it */
typedef struct {
    ngx_uint_t                      period;     /* index: s, m, h, d */
    int64_t                         limit;      /* -1: not known */
    int64_t                         start;      /* Unix seconds */
    int64_t                         used;
    int64_t                         reset;      /* ms until it ends */
} ngx_http_zt_usage_win_t;


/* a request's reservation against one limit */
typedef struct {
    ngx_http_zt_usage_limit_t      *limit;
    ngx_str_t                       key;
    int64_t                         cost;
    ngx_uint_t                      nwin;
    ngx_http_zt_usage_win_t         win[NGX_HTTP_ZT_USAGE_PERIODS];
} ngx_http_zt_usage_res_t;


typedef enum {
    NGX_HTTP_ZT_USAGE_NONE = 0,
    NGX_HTTP_ZT_USAGE_RESERVED,     /* every window had room */
    NGX_HTTP_ZT_USAGE_REFUSED,      /* a window is full: 429 */
    NGX_HTTP_ZT_USAGE_TOO_LARGE,    /* never fits a window: 429, no retry */
    NGX_HTTP_ZT_USAGE_UNAVAILABLE,  /* the store failed: 503 */
    NGX_HTTP_ZT_USAGE_FULL          /* no room in the zone: 503 */
} ngx_http_zt_usage_outcome_e;


typedef struct ngx_http_zt_usage_read_s  ngx_http_zt_usage_read_t;


/* ctx->usage: the usage concern's state of a request */
struct ngx_http_zt_usage_s {
    ngx_http_zt_usage_res_t        *res;
    ngx_uint_t                      nres;
    ngx_uint_t                      store;
    ngx_http_zt_redis_state_e       state;
    ngx_http_zt_usage_outcome_e     outcome;
    ngx_http_zt_usage_res_t        *blocking;   /* refused by this one */
    time_t                          full_for;   /* FULL: Retry-After */

    int64_t                         prompt;     /* the estimate */
    int64_t                         input;      /* -1: not read */
    int64_t                         output;
    int64_t                         charged;

    ngx_http_zt_usage_read_t       *read;

    unsigned                        reserved:1;
    unsigned                        headers:1;      /* x-ratelimit-* out */
    unsigned                        complete:1;     /* last buffer seen */
    unsigned                        answer_ok:1;    /* a 2xx answer */
    unsigned                        from_answer:1;
    unsigned                        decided:1;
    unsigned                        settled:1;
};


/* ngx_http_zt_usage.c */
char *ngx_http_zt_usage_limit_set(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_http_zt_usage_init_conf(ngx_http_zt_usage_conf_t *ucf);
char *ngx_http_zt_usage_merge_conf(ngx_conf_t *cf,
    ngx_http_zt_usage_conf_t *prev, ngx_http_zt_usage_conf_t *conf);
ngx_int_t ngx_http_zt_usage_init(ngx_conf_t *cf);
ngx_int_t ngx_http_zt_usage_reserve(ngx_http_request_t *r,
    ngx_http_zt_loc_conf_t *lcf, ngx_http_zt_ctx_t *ctx);
void ngx_http_zt_usage_audit(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx,
    ngx_http_zt_json_out_t *out);
ngx_int_t ngx_http_zt_usage_variables_add(ngx_conf_t *cf);
ngx_int_t ngx_http_zt_usage_api(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx, ngx_str_t *key, ngx_uint_t reset,
    ngx_http_zt_redis_handler_pt handler, void *data);
ngx_int_t ngx_http_zt_usage_api_answer(ngx_http_request_t *r,
    ngx_str_t *key, ngx_http_zt_usage_win_t *redis);
extern const time_t ngx_http_zt_usage_seconds[];
extern const u_char ngx_http_zt_usage_names[];
extern ngx_conf_enum_t ngx_http_zt_usage_stores[];

/* ngx_http_zt_usage_shm.c */
ngx_int_t ngx_http_zt_usage_shm_add(ngx_conf_t *cf,
    ngx_http_zt_usage_zone_t *zone);
ngx_int_t ngx_http_zt_usage_shm_reserve(ngx_http_request_t *r,
    ngx_http_zt_usage_t *u);
void ngx_http_zt_usage_shm_settle(ngx_log_t *log, ngx_http_zt_usage_res_t *res,
    int64_t charge);
ngx_int_t ngx_http_zt_usage_shm_read(ngx_http_zt_usage_zone_t *zone,
    ngx_str_t *key, ngx_http_zt_usage_win_t *win, ngx_uint_t *nwin);
ngx_int_t ngx_http_zt_usage_shm_reset(ngx_http_zt_usage_zone_t *zone,
    ngx_str_t *key);

/* ngx_http_zt_usage_redis.c */
ngx_int_t ngx_http_zt_usage_redis_reserve(ngx_http_request_t *r,
    ngx_http_zt_usage_t *u);
void ngx_http_zt_usage_redis_settle(ngx_http_request_t *r,
    ngx_http_zt_usage_t *u);
ngx_int_t ngx_http_zt_usage_redis_api(ngx_http_request_t *r,
    ngx_str_t *key, ngx_uint_t reset, ngx_http_zt_redis_handler_pt handler,
    void *data);
ngx_int_t ngx_http_zt_usage_api_shown(ngx_http_request_t *r, ngx_str_t *key,
    struct redisReply *reply);

/* ngx_http_zt_usage_read.c */
ngx_http_zt_usage_read_t *ngx_http_zt_usage_read_create(
    ngx_http_request_t *r, ngx_uint_t sse);
ngx_int_t ngx_http_zt_usage_read_feed(ngx_http_zt_usage_read_t *rd,
    u_char *p, u_char *last, ngx_uint_t eof);
ngx_int_t ngx_http_zt_usage_read_result(ngx_http_zt_usage_read_t *rd,
    int64_t *input, int64_t *output);


#endif /* _NGX_HTTP_ZT_USAGE_H_INCLUDED_ */
