
/*
 * zt-inference: the upstream's own credential (zt_upstream_credential_file).
 */


#ifndef _NGX_HTTP_ZT_CREDENTIAL_H_INCLUDED_
#define _NGX_HTTP_ZT_CREDENTIAL_H_INCLUDED_


char *ngx_http_zt_credential_set(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


#endif /* _NGX_HTTP_ZT_CREDENTIAL_H_INCLUDED_ */
