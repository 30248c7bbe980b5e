
/*
 * zt-inference: masking (zt_mask, zt_mask_pattern, zt_mask_types,
 * zt_mask_buffer; zt_mask_request, zt_mask_request_pattern) as the rest of
 * the module sees it: the configuration of a location, the directives, the
 * function that installs the filter, and the access phase's call that
 * masks the request body.  The interfaces between the masking files
 * themselves are in ngx_http_zt_mask_scan.h.
 */


#ifndef _NGX_HTTP_ZT_MASK_H_INCLUDED_
#define _NGX_HTTP_ZT_MASK_H_INCLUDED_


#define NGX_HTTP_ZT_MASK_PATH        1      /* zt_mask, zt_mask_request */
#define NGX_HTTP_ZT_MASK_PATTERN     2      /* zt_mask_pattern, ..._pattern */


typedef ngx_int_t (*ngx_http_zt_mask_validate_pt)(u_char *p, size_t len);

/* 0 when no match can lie in [p, last): saves a PCRE2 call */
typedef ngx_uint_t (*ngx_http_zt_mask_maybe_pt)(u_char *p, u_char *last);

/*
 * The first match in s[off, len), as PCRE2 would find it with the pattern
 * of the detector (bytes before off are context): 1 and [*ms, *me), or 0.
 */
typedef ngx_uint_t (*ngx_http_zt_mask_find_pt)(u_char *s, size_t len,
    size_t off, size_t *ms, size_t *me);

/* where a match could still start that more text might complete, or len */
typedef size_t (*ngx_http_zt_mask_tail_pt)(u_char *s, size_t len,
    size_t from);


typedef struct {
    ngx_uint_t                     type;
    ngx_str_t                      name;       /* as written, for logs */

    ngx_http_zt_jsonpath_t         path;       /* zt_mask */

    ngx_http_zt_regex_t            re;         /* zt_mask_pattern */
    ngx_http_zt_mask_validate_pt   validate;   /* Luhn, mod-97, ... */
    ngx_http_zt_mask_maybe_pt      maybe;      /* a cheap pre-filter */
    ngx_http_zt_mask_find_pt       find;       /* PCRE2 in C, not partial */
    ngx_http_zt_mask_tail_pt       tail;       /* partial matching in C */
    size_t                         min_len;    /* shortest match, bytes */

    ngx_str_t                      with;       /* replacement text */
    ngx_str_t                      with_esc;   /* JSON-escaped, no quotes */
    ngx_str_t                      with_json;  /* a JSON string: "..." */
    ngx_str_t                      with_line;  /* without CR and LF */

    ngx_http_zt_cond_t            *unless;

    ngx_str_t                      label;      /* of placeholders: EMAIL */
    ngx_uint_t                     restore;    /* a placeholder, restored */
} ngx_http_zt_mask_rule_t;


typedef struct {
    ngx_array_t                   *rules;      /* of ngx_http_zt_mask_rule_t */
    ngx_array_t                   *types_keys;
    ngx_hash_t                     types;
    size_t                         buffer;
    ngx_flag_t                     off;        /* zt_mask off */

    ngx_array_t                   *request;    /* zt_mask_request... rules */
    ngx_flag_t                     request_off;
    ngx_uint_t                     restore;    /* a request rule restores */
} ngx_http_zt_mask_conf_t;


void ngx_http_zt_mask_init_conf(ngx_http_zt_mask_conf_t *mcf);
char *ngx_http_zt_mask_merge_conf(ngx_conf_t *cf,
    ngx_http_zt_mask_conf_t *prev, ngx_http_zt_mask_conf_t *conf);
char *ngx_http_zt_mask_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_zt_mask_pattern_set(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_zt_mask_types_set(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_zt_mask_init(ngx_conf_t *cf);

/* ngx_http_zt_mask_request.c */
void ngx_http_zt_mask_request_original(ngx_http_zt_ctx_t *ctx);
ngx_int_t ngx_http_zt_mask_request(ngx_http_request_t *r,
    ngx_http_zt_loc_conf_t *lcf, ngx_http_zt_ctx_t *ctx);


#endif /* _NGX_HTTP_ZT_MASK_H_INCLUDED_ */
