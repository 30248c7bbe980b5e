
/*
 * zt-inference: response masking (zt_mask, zt_mask_pattern, zt_mask_types,
 * zt_mask_buffer).  The configuration of a location, the per-request state
 * the header and body filters share, and the interfaces between the filter
 * (ngx_http_zt_mask.c), the streaming JSON scanner (ngx_http_zt_mask_json.c),
 * the detectors (ngx_http_zt_mask_detect.c) and the server-sent events
 * parser (ngx_http_zt_mask_sse.c).
 */


#ifndef _NGX_HTTP_ZT_MASK_H_INCLUDED_
#define _NGX_HTTP_ZT_MASK_H_INCLUDED_


#define NGX_HTTP_ZT_MASK_PATH        1      /* zt_mask */
#define NGX_HTTP_ZT_MASK_PATTERN     2      /* zt_mask_pattern */

#define NGX_HTTP_ZT_MASK_MAX_DEPTH   1024   /* JSON nesting, fails closed */


typedef ngx_int_t (*ngx_http_zt_mask_validate_pt)(u_char *p, size_t len);

/* 0 when no match can lie in [p, last): saves a PCRE2 call */
typedef ngx_uint_t (*ngx_http_zt_mask_maybe_pt)(u_char *p, u_char *last);

/*
 * The first match in s[off, len), as PCRE2 would find it with the pattern
 * of the detector (bytes before off are context): 1 and [*ms, *me), or 0.
 */
typedef ngx_uint_t (*ngx_http_zt_mask_find_pt)(u_char *s, size_t len,
    size_t off, size_t *ms, size_t *me);


typedef struct {
    ngx_uint_t                     type;
    ngx_str_t                      name;       /* as written, for logs */

    ngx_http_zt_jsonpath_t         path;       /* zt_mask */

    ngx_http_zt_regex_t            re;         /* zt_mask_pattern */
    ngx_http_zt_mask_validate_pt   validate;   /* Luhn, mod-97, ... */
    ngx_http_zt_mask_maybe_pt      maybe;      /* a cheap pre-filter */
    ngx_http_zt_mask_find_pt       find;       /* PCRE2 in C, not partial */
    size_t                         min_len;    /* shortest match, bytes */

    ngx_str_t                      with;       /* replacement text */
    ngx_str_t                      with_esc;   /* JSON-escaped, no quotes */
    ngx_str_t                      with_json;  /* a JSON string: "..." */
    ngx_str_t                      with_line;  /* without CR and LF */

    ngx_http_zt_cond_t            *unless;
} ngx_http_zt_mask_rule_t;


typedef struct {
    ngx_array_t                   *rules;      /* of ngx_http_zt_mask_rule_t */
    ngx_array_t                   *types_keys;
    ngx_hash_t                     types;
    size_t                         buffer;
    ngx_flag_t                     off;        /* zt_mask off */
} ngx_http_zt_mask_conf_t;


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


extern ngx_http_output_header_filter_pt  ngx_http_zt_next_header_filter;
extern ngx_http_output_body_filter_pt    ngx_http_zt_next_body_filter;


/* ngx_http_zt_mask.c */
void ngx_http_zt_mask_init_conf(ngx_http_zt_mask_conf_t *mcf);
char *ngx_http_zt_mask_merge_conf(ngx_conf_t *cf,
    ngx_http_zt_mask_conf_t *prev, ngx_http_zt_mask_conf_t *conf);
char *ngx_http_zt_mask_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_zt_mask_pattern_set(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_zt_mask_types_set(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_zt_mask_header_filter(ngx_http_request_t *r);
ngx_int_t ngx_http_zt_mask_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
ngx_int_t ngx_http_zt_mask_preaccess_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_zt_mask_buf_add(ngx_http_zt_mask_req_t *mr,
    ngx_http_zt_mask_buf_t *b, u_char *p, size_t n, size_t max);
ngx_int_t ngx_http_zt_mask_buf_reserve(ngx_http_zt_mask_req_t *mr,
    ngx_http_zt_mask_buf_t *b, size_t n, size_t max);

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

/* ngx_http_zt_mask_detect.c */
char *ngx_http_zt_mask_detector(ngx_conf_t *cf, ngx_http_zt_mask_rule_t *rule,
    ngx_str_t *name);
ngx_int_t ngx_http_zt_mask_detect(ngx_http_zt_mask_req_t *mr, u_char *s,
    size_t len, size_t from, ngx_uint_t partial, size_t *hold);

/* ngx_http_zt_mask_sse.c */
ngx_http_zt_mask_sse_t *ngx_http_zt_mask_sse_create(
    ngx_http_zt_mask_req_t *mr, ngx_http_zt_mask_emit_t *emit);
ngx_int_t ngx_http_zt_mask_sse_feed(ngx_http_zt_mask_sse_t *sse, u_char *p,
    u_char *last, ngx_uint_t eof);


#endif /* _NGX_HTTP_ZT_MASK_H_INCLUDED_ */
