
/*
 * zt-inference: DPoP (RFC 9449), proofs of possession of the key a token
 * is bound to, and the shared-memory cache that refuses a proof twice.
 */


#ifndef _NGX_HTTP_ZT_DPOP_H_INCLUDED_
#define _NGX_HTTP_ZT_DPOP_H_INCLUDED_


#define NGX_HTTP_ZT_DPOP_OFF         0
#define NGX_HTTP_ZT_DPOP_OPTIONAL    1
#define NGX_HTTP_ZT_DPOP_REQUIRED    2


typedef struct {
    ngx_uint_t                  mode;       /* NGX_HTTP_ZT_DPOP_* */
    ngx_array_t                *origins;    /* of ngx_str_t, normalized */
    ngx_str_t                   algs;       /* "ES256 RS256": the algs= */
    ngx_shm_zone_t             *replay;
} ngx_http_zt_dpop_conf_t;


char *ngx_http_zt_dpop_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_zt_dpop_merge(ngx_conf_t *cf, ngx_http_zt_loc_conf_t *prev,
    ngx_http_zt_loc_conf_t *conf);
ngx_int_t ngx_http_zt_dpop_verify(ngx_http_request_t *r,
    ngx_http_zt_loc_conf_t *lcf, ngx_str_t *token, ngx_str_t *jkt,
    ngx_str_t *err);
ngx_int_t ngx_http_zt_dpop_unavailable(ngx_http_request_t *r);


#endif /* _NGX_HTTP_ZT_DPOP_H_INCLUDED_ */
