
/*
 * zt-inference: the interfaces between the masking files.  The filter
 * (ngx_http_zt_mask.c) feeds the server-sent events parser
 * (ngx_http_zt_mask_sse.c) or the streaming JSON scanner
 * (ngx_http_zt_mask_json.c), which calls the detectors
 * (ngx_http_zt_mask_detect.c); calls only go down that list, and what
 * comes back up (masked bytes, watched values) goes through the function
 * pointers the caller hands down.  Included by those files, and by the
 * reader of an answer's usage (ngx_http_zt_usage_read.c), which feeds the
 * parser and the scanner without rules and watches their values.
 */


#ifndef _NGX_HTTP_ZT_MASK_SCAN_H_INCLUDED_
#define _NGX_HTTP_ZT_MASK_SCAN_H_INCLUDED_


#define NGX_HTTP_ZT_MASK_MAX_DEPTH   1024   /* JSON nesting, fails closed */


/*
 * The scanners look for a few bytes eight at a time: a byte of a word w is
 * zero exactly when (w - ONES) & ~w has its HIGH bit set, and below n
 * (n <= 128) when (w - n * ONES) & ~w has.  A borrow only runs upwards from
 * a byte that matched, so the lowest bit set marks the first match exactly
 * (bits above it may be false).
 */

#define NGX_HTTP_ZT_ONES  0x0101010101010101ULL
#define NGX_HTTP_ZT_HIGH  0x8080808080808080ULL

#define ngx_http_zt_swar_zero(w)                                              \
    (((w) - NGX_HTTP_ZT_ONES) & ~(w) & NGX_HTTP_ZT_HIGH)
#define ngx_http_zt_swar_below(w, n)                                          \
    (((w) - (n) * NGX_HTTP_ZT_ONES) & ~(w) & NGX_HTTP_ZT_HIGH)


/*
 * Of a word loaded from memory, how many bytes come before the first one
 * that matched (m: the bits above, not 0).  Where the byte order or the
 * compiler does not tell, 0: the caller's byte loop finds it.
 */

static ngx_inline size_t
ngx_http_zt_swar_skip(uint64_t m)
{
#if (NGX_HAVE_LITTLE_ENDIAN && defined __GNUC__)
    return (size_t) __builtin_ctzll(m) >> 3;
#else
    return 0;
#endif
}


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


/* a JSON path the scanner follows: a zt_mask rule */
typedef struct {
    ngx_http_zt_jsonpath_t        *path;
    ngx_http_zt_mask_rule_t       *rule;
    ngx_uint_t                     bit;        /* first position bit */
} ngx_http_zt_mask_jpath_t;


/*
 * A value request masking replaced with a placeholder: the answer gets it
 * back.  Lives in the request's pool only.
 */
typedef struct {
    ngx_str_t                      placeholder;  /* [EMAIL_1] */
    ngx_str_t                      value;        /* unescaped */
    ngx_str_t                      value_esc;    /* JSON-escaped */
    ngx_http_zt_mask_rule_t       *rule;
    ngx_uint_t                     number;       /* the 1 of [EMAIL_1] */
} ngx_http_zt_mask_restore_t;


/*
 * A match in an unescaped string: bytes [start, end), masked by a rule, or
 * a placeholder to restore (rule NULL).
 */
typedef struct {
    size_t                         start;
    size_t                         end;
    ngx_http_zt_mask_rule_t       *rule;
    ngx_http_zt_mask_restore_t    *restore;
} ngx_http_zt_mask_range_t;


typedef struct ngx_http_zt_mask_req_s  ngx_http_zt_mask_req_t;

/*
 * The placeholder for a value a "restore" rule masks in a request: raw is
 * JSON text (a whole value), else unescaped text (a match in a string).
 */
typedef ngx_int_t (*ngx_http_zt_mask_placeholder_pt)(
    ngx_http_zt_mask_req_t *mr, ngx_http_zt_mask_rule_t *rule, u_char *p,
    size_t len, ngx_uint_t raw, ngx_str_t *placeholder);


/* the rules that apply to one response or request, and their scratch */
struct ngx_http_zt_mask_req_s {
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

    ngx_array_t                   *restore;    /* of ..._restore_t: answer */
    ngx_http_zt_mask_placeholder_pt  placeholder;  /* request */
    void                          *data;
};


typedef struct ngx_http_zt_mask_json_s  ngx_http_zt_mask_json_t;
typedef struct ngx_http_zt_mask_sse_s   ngx_http_zt_mask_sse_t;


/*
 * What the SSE parser follows of the JSON of an event (and the usage
 * reader of an answer): where each value starts (a member "name", raw, of
 * an object, an element "index" of an array, or the top, index -1), where
 * each container closes, and the raw text of each number, literal and
 * string (quotes included).  value() returns NGX_DECLINED for a value the
 * watcher does not take: it is not told its text, nor anything inside it,
 * nor its close.  For a string, scalar() returns NGX_OK when the watcher
 * rewrites it, NGX_DECLINED when the scanner masks it itself.  Values a
 * zt_mask path replaces are not told.  Names and texts are valid during
 * the call, and later too if the JSON text was fed in one buffer.
 */
typedef struct {
    ngx_int_t                    (*value)(void *data, u_char *p,
                                          u_char *name, size_t name_len,
                                          ngx_int_t index);
    ngx_int_t                    (*close)(void *data);
    ngx_int_t                    (*scalar)(void *data, u_char *raw,
                                           size_t len);
    void                          *data;
} ngx_http_zt_mask_watch_t;


/* ngx_http_zt_mask_request.c */
ngx_int_t ngx_http_zt_mask_request_handler(ngx_http_request_t *r);
ngx_array_t *ngx_http_zt_mask_request_restore(ngx_http_zt_ctx_t *ctx);

/* ngx_http_zt_mask_sse.c */
ngx_http_zt_mask_sse_t *ngx_http_zt_mask_sse_create(
    ngx_http_zt_mask_req_t *mr, ngx_http_zt_mask_emit_t *emit,
    ngx_uint_t lines);
ngx_int_t ngx_http_zt_mask_sse_feed(ngx_http_zt_mask_sse_t *sse, u_char *p,
    u_char *last, ngx_uint_t eof);
ngx_int_t ngx_http_zt_mask_sse_watch(ngx_http_zt_mask_sse_t *sse,
    ngx_http_zt_mask_watch_t *watch);

/* ngx_http_zt_mask_json.c */
ngx_http_zt_mask_json_t *ngx_http_zt_mask_json_create(
    ngx_http_zt_mask_req_t *mr, ngx_http_zt_mask_emit_t *emit);
void ngx_http_zt_mask_json_reset(ngx_http_zt_mask_json_t *js);
ngx_int_t ngx_http_zt_mask_json_feed(ngx_http_zt_mask_json_t *js,
    u_char *p, u_char *last, ngx_uint_t eof);
void ngx_http_zt_mask_json_watch(ngx_http_zt_mask_json_t *js,
    ngx_http_zt_mask_watch_t *watch);
ngx_uint_t ngx_http_zt_mask_json_changes(ngx_http_zt_mask_json_t *js);
size_t ngx_http_zt_mask_json_unescape(u_char *dst, u_char *src, size_t len);
ngx_int_t ngx_http_zt_mask_buf_add(ngx_http_zt_mask_req_t *mr,
    ngx_http_zt_mask_buf_t *b, u_char *p, size_t n, size_t max);
ngx_int_t ngx_http_zt_mask_buf_reserve(ngx_http_zt_mask_req_t *mr,
    ngx_http_zt_mask_buf_t *b, size_t n, size_t max);

/* ngx_http_zt_mask_detect.c */
char *ngx_http_zt_mask_detector(ngx_conf_t *cf, ngx_http_zt_mask_rule_t *rule,
    ngx_str_t *value, ngx_uint_t nvalues, ngx_uint_t *n);
ngx_int_t ngx_http_zt_mask_label(ngx_conf_t *cf, ngx_str_t *label,
    ngx_str_t *name);
ngx_int_t ngx_http_zt_mask_select(ngx_http_request_t *r,
    ngx_http_zt_mask_req_t *mr, ngx_array_t *rules, ngx_http_zt_ctx_t *zctx);
ngx_int_t ngx_http_zt_mask_detect(ngx_http_zt_mask_req_t *mr, u_char *s,
    size_t len, size_t from, ngx_uint_t partial, size_t *hold);
ngx_str_t *ngx_http_zt_mask_text(ngx_http_zt_mask_range_t *range,
    ngx_uint_t line);


#endif /* _NGX_HTTP_ZT_MASK_SCAN_H_INCLUDED_ */
