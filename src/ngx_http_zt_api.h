
/*
 * zt-inference: the reviewer API of zt_approval_api locations: approvals
 * and just-in-time grants.
 */


#ifndef _NGX_HTTP_ZT_API_H_INCLUDED_
#define _NGX_HTTP_ZT_API_H_INCLUDED_


char *ngx_http_zt_api_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_zt_api_merge(ngx_conf_t *cf, ngx_http_zt_loc_conf_t *conf);


#endif /* _NGX_HTTP_ZT_API_H_INCLUDED_ */
