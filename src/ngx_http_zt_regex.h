
/*
 * zt-inference: PCRE2 regexes compiled at configuration time.
 */


#ifndef _NGX_HTTP_ZT_REGEX_H_INCLUDED_
#define _NGX_HTTP_ZT_REGEX_H_INCLUDED_


#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>


typedef struct {
    ngx_str_t                   text;
    pcre2_code                 *code;
    size_t                      min;    /* no shorter subject can match */
} ngx_http_zt_regex_t;


char *ngx_http_zt_regex_compile(ngx_conf_t *cf, ngx_http_zt_regex_t *re,
    ngx_str_t *text, ngx_uint_t caseless);
ngx_int_t ngx_http_zt_regex_match(ngx_http_zt_regex_t *re, u_char *s,
    size_t len);
pcre2_match_data *ngx_http_zt_regex_match_data(void);
void ngx_http_zt_regex_exit_process(ngx_cycle_t *cycle);


#endif /* _NGX_HTTP_ZT_REGEX_H_INCLUDED_ */
