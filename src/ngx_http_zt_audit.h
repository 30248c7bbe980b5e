
/*
 * zt-inference: $zt_audit and the other variables.
 */


#ifndef _NGX_HTTP_ZT_AUDIT_H_INCLUDED_
#define _NGX_HTTP_ZT_AUDIT_H_INCLUDED_


ngx_int_t ngx_http_zt_variables_add(ngx_conf_t *cf);


#endif /* _NGX_HTTP_ZT_AUDIT_H_INCLUDED_ */
