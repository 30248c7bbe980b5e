
/*
 * zt-inference: protected-resource metadata (RFC 9728), the document that
 * tells OAuth clients (MCP clients, agents) where to get a token, and the
 * resource_metadata parameter of the gateway's challenges.
 */


#ifndef _NGX_HTTP_ZT_METADATA_H_INCLUDED_
#define _NGX_HTTP_ZT_METADATA_H_INCLUDED_


typedef struct {
    ngx_str_t                   resource;   /* the resource identifier */
    ngx_str_t                   url;        /* where its document is */
    ngx_array_t                *servers;    /* of ngx_str_t */
    ngx_array_t                *scopes;     /* of ngx_str_t */
    ngx_str_t                   name;
} ngx_http_zt_metadata_t;


char *ngx_http_zt_metadata_set(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_zt_metadata_document_set(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_zt_metadata_merge(ngx_conf_t *cf,
    ngx_http_zt_loc_conf_t *prev, ngx_http_zt_loc_conf_t *conf);


#endif /* _NGX_HTTP_ZT_METADATA_H_INCLUDED_ */
