
/*
 * zt-inference: sender-constrained tokens, the token's confirmation claim
 * (RFC 7800 cnf): a DPoP key (RFC 9449) or a TLS client certificate
 * (RFC 8705) the caller must prove it holds.
 */


#ifndef _NGX_HTTP_ZT_CNF_H_INCLUDED_
#define _NGX_HTTP_ZT_CNF_H_INCLUDED_


ngx_int_t ngx_http_zt_cnf_check(ngx_http_request_t *r,
    ngx_http_zt_loc_conf_t *lcf, ngx_http_zt_ctx_t *ctx, ngx_str_t *token,
    ngx_str_t *err);


#endif /* _NGX_HTTP_ZT_CNF_H_INCLUDED_ */
