
/*
 * zt-inference: the access phase handler.
 */


#ifndef _NGX_HTTP_ZT_ACCESS_H_INCLUDED_
#define _NGX_HTTP_ZT_ACCESS_H_INCLUDED_


ngx_int_t ngx_http_zt_access_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_ZT_ACCESS_H_INCLUDED_ */
