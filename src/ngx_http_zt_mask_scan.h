
/*
 * zt-inference: the interfaces between the masking files.  The filter
 * (ngx_http_zt_mask.c) feeds the server-sent events parser
 * (ngx_http_zt_mask_sse.c) or the streaming JSON scanner
 * (ngx_http_zt_mask_json.c), which calls the detectors
 * (ngx_http_zt_mask_detect.c); calls only go down that list, and what
 * comes back up (masked bytes, watched values) goes through the function
 * pointers the caller hands down.  Included by those files, and by the
 * reader of an answer's usage (ngx_http_zt_usage_read.c), which feeds the
 * parser and the scanner without rules, for their watched values only.
 */


#ifndef _NGX_HTTP_ZT_MASK_SCAN_H_INCLUDED_
#define _NGX_HTTP_ZT_MASK_SCAN_H_INCLUDED_


#define NGX_HTTP_ZT_MASK_MAX_DEPTH   1024   /* JSON nesting, fails closed */


/* a growable byte buffer in a pool, capped */
typedef struct {
    u_char                        *data;
    size_t                         len;
    size_t                         size;
} ngx_http_zt_mask_buf_t;


/*
 * Where masked output goes.  ref() may keep a pointer to the bytes (they
 * stay valid until the output is sent: the current input buffer or the
 * configuration), copy() must copy them.
 */
typedef struct {
    ngx_int_t                    (*ref)(void *data, u_char *p, size_t len);
    ngx_int_t                    (*copy)(void *data, u_char *p, size_t len);
    void                          *data;
} ngx_http_zt_mask_emit_t;


/* a JSON path the scanner follows: a zt_mask rule, or one the SSE parser
 * watches (rule == NULL, track != 0) */
typedef struct {
    ngx_http_zt_jsonpath_t        *path;
    ngx_http_zt_mask_rule_t       *rule;
    ngx_uint_t                     track;
    ngx_uint_t                     bit;        /* first position bit */
} ngx_http_zt_mask_jpath_t;


/* a detector match in an unescaped string: bytes [start, end) */
typedef struct {
    size_t                         start;
    size_t                         end;
    ngx_http_zt_mask_rule_t       *rule;
} ngx_http_zt_mask_range_t;


/* the rules that apply to one response, and scratch space they share */
typedef struct {
    ngx_http_request_t            *r;
    ngx_pool_t                    *pool;
    size_t                         max;        /* zt_mask_buffer */

    ngx_http_zt_mask_rule_t      **paths;
    ngx_uint_t                     npaths;
    ngx_http_zt_mask_rule_t      **patterns;
    ngx_uint_t                     npatterns;

    ngx_array_t                    ranges;     /* detector matches */
    ngx_http_zt_mask_buf_t         scratch;    /* unescaped strings */

    ngx_uint_t                    *masked;     /* ctx->masked: $zt_masked */
    off_t                          base;       /* bytes before the chunk */
    off_t                          error_at;   /* invalid JSON here, or -1 */
    const char                    *err;        /* why it failed closed */
} ngx_http_zt_mask_req_t;


typedef struct ngx_http_zt_mask_json_s  ngx_http_zt_mask_json_t;
typedef struct ngx_http_zt_mask_sse_s   ngx_http_zt_mask_sse_t;

/* a watched value: id, position in choices[], raw JSON text */
typedef ngx_int_t (*ngx_http_zt_mask_track_pt)(void *data, ngx_uint_t id,
    u_char *raw, size_t len);

/* an event's data lines, joined */
typedef ngx_int_t (*ngx_http_zt_mask_sse_data_pt)(void *data, u_char *p,
    size_t len);


/* ngx_http_zt_mask_sse.c */
ngx_http_zt_mask_sse_t *ngx_http_zt_mask_sse_create(
    ngx_http_zt_mask_req_t *mr, ngx_http_zt_mask_emit_t *emit);
ngx_int_t ngx_http_zt_mask_sse_feed(ngx_http_zt_mask_sse_t *sse, u_char *p,
    u_char *last, ngx_uint_t eof);
void ngx_http_zt_mask_sse_set_data_hook(ngx_http_zt_mask_sse_t *sse,
    ngx_http_zt_mask_sse_data_pt hook, void *data);

/* ngx_http_zt_mask_json.c */
ngx_http_zt_mask_json_t *ngx_http_zt_mask_json_create(
    ngx_http_zt_mask_req_t *mr, ngx_http_zt_mask_emit_t *emit,
    ngx_http_zt_mask_jpath_t *track, ngx_uint_t ntrack);
void ngx_http_zt_mask_json_reset(ngx_http_zt_mask_json_t *js);
ngx_int_t ngx_http_zt_mask_json_feed(ngx_http_zt_mask_json_t *js,
    u_char *p, u_char *last, ngx_uint_t eof);
void ngx_http_zt_mask_json_set_hook(ngx_http_zt_mask_json_t *js,
    ngx_http_zt_mask_track_pt hook, void *data);
ngx_int_t ngx_http_zt_mask_json_index(ngx_http_zt_mask_json_t *js,
    ngx_uint_t level);
ngx_uint_t ngx_http_zt_mask_json_changes(ngx_http_zt_mask_json_t *js);
size_t ngx_http_zt_mask_json_unescape(u_char *dst, u_char *src, size_t len);
ngx_int_t ngx_http_zt_mask_buf_add(ngx_http_zt_mask_req_t *mr,
    ngx_http_zt_mask_buf_t *b, u_char *p, size_t n, size_t max);
ngx_int_t ngx_http_zt_mask_buf_reserve(ngx_http_zt_mask_req_t *mr,
    ngx_http_zt_mask_buf_t *b, size_t n, size_t max);

/* ngx_http_zt_mask_detect.c */
char *ngx_http_zt_mask_detector(ngx_conf_t *cf, ngx_http_zt_mask_rule_t *rule,
    ngx_str_t *value, ngx_uint_t nvalues, ngx_uint_t *n);
ngx_int_t ngx_http_zt_mask_detect(ngx_http_zt_mask_req_t *mr, u_char *s,
    size_t len, size_t from, ngx_uint_t partial, size_t *hold);


#endif /* _NGX_HTTP_ZT_MASK_SCAN_H_INCLUDED_ */
