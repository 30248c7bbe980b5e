
/*
 * zt-inference: JSON text: the strict reader, escaping any bytes into a
 * JSON string, UTF-8 checks, jansson values released with a pool, and the
 * two-pass writer.
 */


#ifndef _NGX_HTTP_ZT_JSON_H_INCLUDED_
#define _NGX_HTTP_ZT_JSON_H_INCLUDED_


#include <jansson.h>


/* why a text is not strict JSON */
typedef enum {
    NGX_HTTP_ZT_JSON_VALID = 0,
    NGX_HTTP_ZT_JSON_SYNTAX,        /* not RFC 8259 */
    NGX_HTTP_ZT_JSON_ENCODING,      /* not UTF-8, NUL, lone surrogate */
    NGX_HTTP_ZT_JSON_NUMBER,        /* beyond int64, or overflows a double */
    NGX_HTTP_ZT_JSON_DUPLICATE      /* an object has a name twice */
} ngx_http_zt_json_kind_e;


/* a member of the text's outermost object */
typedef struct {
    ngx_str_t                   name;       /* unescaped */
    ngx_str_t                   value;      /* a string's, unescaped; else
                                               the value's text */
    double                      number;     /* JSON_INTEGER, JSON_REAL */
    json_type                   type;
    ngx_uint_t                  strings;    /* its first in rd->strings */
    ngx_uint_t                  nstrings;   /* names and strings in it */
    unsigned                    nested:1;   /* an object or array in it */
} ngx_http_zt_json_member_t;


typedef struct {
    ngx_pool_t                 *pool;
    ngx_array_t                *strings;    /* of ngx_str_t, if wanted */
    ngx_array_t                *members;    /* of ngx_http_zt_json_member_t,
                                               if wanted */
    json_t                     *root;       /* if built */
    size_t                      bytes;      /* of every string value (not
                                               the names), unescaped */

    ngx_http_zt_json_kind_e     kind;
    char                       *why;
    size_t                      offset;     /* of what is wrong */

    unsigned                    build:1;
    unsigned                    object:1;   /* the text is an object */
    unsigned                    nul:1;      /* a string holds "\u0000" */
} ngx_http_zt_json_read_t;


ngx_int_t ngx_http_zt_json_read(ngx_http_zt_json_read_t *rd, u_char *data,
    size_t len);
json_t *ngx_http_zt_json_load(ngx_http_zt_json_read_t *rd, u_char *data,
    size_t len);
u_char *ngx_http_zt_utf8_text(u_char *p, u_char *last);
size_t ngx_http_zt_utf8_valid(u_char *p, u_char *last);
u_char *ngx_http_zt_json_escape(u_char *dst, u_char *src, size_t len);
size_t ngx_http_zt_json_escape_len(u_char *src, size_t len);
ngx_int_t ngx_http_zt_json_cleanup_add(ngx_pool_t *pool, json_t *json);


/* the JSON writer: see ngx_http_zt_json_build() */
typedef struct {
    u_char                     *pos;
    u_char                     *end;
    size_t                      size;       /* counting pass: bytes needed */
    uint32_t                    first;      /* bit n: level n is empty */
    ngx_uint_t                  depth;
    unsigned                    count:1;    /* the counting pass */
    unsigned                    key:1;      /* a key waits for its value */
    unsigned                    overflow:1;
} ngx_http_zt_json_out_t;

typedef void (*ngx_http_zt_json_write_pt)(ngx_http_zt_json_out_t *out,
    void *data);


ngx_int_t ngx_http_zt_json_build(ngx_pool_t *pool,
    ngx_http_zt_json_write_pt write, void *data, ngx_str_t *json);
ngx_int_t ngx_http_zt_json_build_guess(ngx_pool_t *pool,
    ngx_http_zt_json_write_pt write, void *data, size_t guess,
    ngx_str_t *json);
void ngx_http_zt_json_raw(ngx_http_zt_json_out_t *out, u_char *s,
    size_t len);
void ngx_http_zt_json_open(ngx_http_zt_json_out_t *out, u_char brace);
void ngx_http_zt_json_close(ngx_http_zt_json_out_t *out, u_char brace);
void ngx_http_zt_json_key(ngx_http_zt_json_out_t *out, char *key);
void ngx_http_zt_json_str(ngx_http_zt_json_out_t *out, u_char *s,
    size_t len);
void ngx_http_zt_json_text(ngx_http_zt_json_out_t *out, u_char *s,
    size_t len);
void ngx_http_zt_json_int(ngx_http_zt_json_out_t *out, int64_t n);
void ngx_http_zt_json_bool(ngx_http_zt_json_out_t *out, ngx_uint_t b);
void ngx_http_zt_json_member(ngx_http_zt_json_out_t *out, char *key,
    ngx_str_t *value);
void ngx_http_zt_json_strings(ngx_http_zt_json_out_t *out,
    ngx_array_t *list);


#endif /* _NGX_HTTP_ZT_JSON_H_INCLUDED_ */
