
/*
 * zt-inference: the reviewer API of zt_approval_api locations: approvals,
 * just-in-time grants and usage budgets.
 */


#ifndef _NGX_HTTP_ZT_API_H_INCLUDED_
#define _NGX_HTTP_ZT_API_H_INCLUDED_


/*
 * The issuer the reviewer API takes for a grant that names none: the one
 * every location that verifies tokens accepts ("zt_issuer"), if they
 * accept one and the same.
 */
typedef struct {
    ngx_str_t                   issuer;
    unsigned                    seen:1;     /* a location verifies tokens */
    unsigned                    many:1;     /* of several issuers, or any */
} ngx_http_zt_api_main_t;


char *ngx_http_zt_api_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_zt_api_merge(ngx_conf_t *cf, ngx_http_zt_loc_conf_t *conf);


#endif /* _NGX_HTTP_ZT_API_H_INCLUDED_ */
