
/*
 * zt-inference: protected-resource metadata (RFC 9728).  `zt_resource_
 * metadata` names the resource a location protects and where clients get
 * tokens for it; every challenge the gateway sends there then carries
 * resource_metadata="<the document's URL>", so that an MCP client or an
 * agent that meets a 401 finds its authorization server on its own.  The
 * document itself is served, the nginx way, by a location the operator
 * declares at the well-known URL with `zt_resource_metadata_document`.
 * It is built once, at configuration time.
 */


#include "ngx_http_zt_inference.h"


#define NGX_HTTP_ZT_METADATA_WELL_KNOWN  "/.well-known/oauth-protected-resource"


static ngx_int_t ngx_http_zt_metadata_url(ngx_str_t *url, ngx_uint_t *https,
    u_char **path);
static ngx_int_t ngx_http_zt_metadata_json(ngx_conf_t *cf,
    ngx_http_zt_loc_conf_t *conf);
static ngx_int_t ngx_http_zt_metadata_strings(json_t *doc, const char *name,
    ngx_array_t *list);
static ngx_int_t ngx_http_zt_metadata_handler(ngx_http_request_t *r);


/*
 * zt_resource_metadata URL [authorization_server=URL ...] [scopes=S ...]
 *                      [name=TEXT];  or  zt_resource_metadata off;
 */

char *
ngx_http_zt_metadata_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_zt_loc_conf_t *lcf = conf;

    u_char                  *p, *path, *last, *start;
    ngx_str_t               *value, *s, v;
    ngx_uint_t               i, https;
    ngx_http_zt_metadata_t  *md;

    if (lcf->metadata != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        lcf->metadata = NULL;
        return NGX_CONF_OK;
    }

    md = ngx_pcalloc(cf->pool, sizeof(ngx_http_zt_metadata_t));
    if (md == NULL) {
        return NGX_CONF_ERROR;
    }

    md->servers = ngx_array_create(cf->pool, 1, sizeof(ngx_str_t));
    md->scopes = ngx_array_create(cf->pool, 4, sizeof(ngx_str_t));

    if (md->servers == NULL || md->scopes == NULL) {
        return NGX_CONF_ERROR;
    }

    /* RFC 9728, 1.2: an https URL, no query, no fragment */

    md->resource = value[1];

    if (ngx_http_zt_metadata_url(&md->resource, &https, &path) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\": \"%V\" is not a resource URL such as "
                           "https://api.example.com/mcp (no query, no "
                           "fragment, no user info)",
                           &cmd->name, &value[1]);
        return NGX_CONF_ERROR;
    }

    if (!https) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"%V\": \"%V\" is not https: RFC 9728 clients "
                           "may refuse it", &cmd->name, &value[1]);
    }

    /*
     * RFC 9728, 3.1: the well-known path goes between the host and the
     * path, a path of just "/" left out
     */

    last = md->resource.data + md->resource.len;

    if (last - path == 1) {
        last = path;
    }

    md->url.len = (path - md->resource.data)
                  + sizeof(NGX_HTTP_ZT_METADATA_WELL_KNOWN) - 1
                  + (last - path);
    md->url.data = ngx_pnalloc(cf->pool, md->url.len);
    if (md->url.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_cpymem(md->url.data, md->resource.data,
                   path - md->resource.data);
    p = ngx_cpymem(p, NGX_HTTP_ZT_METADATA_WELL_KNOWN,
                   sizeof(NGX_HTTP_ZT_METADATA_WELL_KNOWN) - 1);
    ngx_memcpy(p, path, last - path);

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "authorization_server=", 21) == 0) {

            v.data = value[i].data + 21;
            v.len = value[i].len - 21;

            if (ngx_http_zt_metadata_url(&v, &https, &path) != NGX_OK) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"%V\": \"%V\" is not an issuer URL",
                                   &cmd->name, &value[i]);
                return NGX_CONF_ERROR;
            }

            s = ngx_array_push(md->servers);
            if (s == NULL) {
                return NGX_CONF_ERROR;
            }

            *s = v;
            continue;
        }

        if (ngx_strncmp(value[i].data, "scopes=", 7) == 0) {

            p = value[i].data + 7;
            last = value[i].data + value[i].len;

            while (p < last) {

                while (p < last && *p == ' ') {
                    p++;
                }

                for (start = p; p < last && *p != ' '; p++) {
                    /* void */
                }

                if (p == start) {
                    break;
                }

                s = ngx_array_push(md->scopes);
                if (s == NULL) {
                    return NGX_CONF_ERROR;
                }

                s->data = start;
                s->len = p - start;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "name=", 5) == 0 && value[i].len > 5) {
            md->name.data = value[i].data + 5;
            md->name.len = value[i].len - 5;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\": invalid parameter \"%V\"",
                           &cmd->name, &value[i]);
        return NGX_CONF_ERROR;
    }

    lcf->metadata = md;

    return NGX_CONF_OK;
}


/* zt_resource_metadata_document; a content handler, as stub_status */

char *
ngx_http_zt_metadata_document_set(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_zt_loc_conf_t *lcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (lcf->metadata_document != NULL) {
        return "is duplicate";
    }

    lcf->metadata_document = ngx_pcalloc(cf->pool, sizeof(ngx_str_t));
    if (lcf->metadata_document == NULL) {
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_zt_metadata_handler;

    return NGX_CONF_OK;
}


/*
 * Called by the front door's merge once zt_dpop is merged: the document
 * says which DPoP algorithms the location takes.
 */

char *
ngx_http_zt_metadata_merge(ngx_conf_t *cf, ngx_http_zt_loc_conf_t *prev,
    ngx_http_zt_loc_conf_t *conf)
{
    u_char                    *path;
    size_t                     len;
    ngx_uint_t                 https;
    ngx_http_core_loc_conf_t  *clcf;

    ngx_conf_merge_ptr_value(conf->metadata, prev->metadata, NULL);

    /* a content handler: not inherited, like clcf->handler */

    if (conf->metadata_document == NULL) {
        return NGX_CONF_OK;
    }

    if (conf->metadata == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"zt_resource_metadata_document\" needs "
                           "\"zt_resource_metadata\"");
        return NGX_CONF_ERROR;
    }

    if (ngx_http_zt_metadata_json(cf, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* clients find the document by the URL the challenges give them */

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    (void) ngx_http_zt_metadata_url(&conf->metadata->url, &https, &path);

    len = conf->metadata->url.data + conf->metadata->url.len - path;

    if (!clcf->exact_match
        || clcf->name.len != len
        || ngx_strncmp(clcf->name.data, path, len) != 0)
    {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"zt_resource_metadata_document\" of \"%V\" is "
                           "expected in \"location = %*s\"",
                           &conf->metadata->resource, len, path);
    }

    return NGX_CONF_OK;
}


/*
 * An absolute http(s) URL without user info, query or fragment, that fits
 * a quoted-string as it is: *path is where its path starts (or its end).
 */

static ngx_int_t
ngx_http_zt_metadata_url(ngx_str_t *url, ngx_uint_t *https, u_char **path)
{
    u_char  *p, *last, *host;

    p = url->data;
    last = p + url->len;

    if (last - p > 8 && ngx_strncmp(p, "https://", 8) == 0) {
        *https = 1;
        host = p + 8;

    } else if (last - p > 7 && ngx_strncmp(p, "http://", 7) == 0) {
        *https = 0;
        host = p + 7;

    } else {
        return NGX_DECLINED;
    }

    for ( /* void */ ; p < last; p++) {
        if (*p <= 0x20 || *p >= 0x7f || *p == '"' || *p == '\\'
            || *p == '?' || *p == '#')
        {
            return NGX_DECLINED;
        }
    }

    for (p = host; p < last && *p != '/'; p++) {
        if (*p == '@') {
            return NGX_DECLINED;
        }
    }

    if (p == host) {
        return NGX_DECLINED;
    }

    *path = p;

    return NGX_OK;
}


/* the document (RFC 9728, 2), for the location that serves it */

static ngx_int_t
ngx_http_zt_metadata_json(ngx_conf_t *cf, ngx_http_zt_loc_conf_t *conf)
{
    char                    *text;
    u_char                  *p, *last, *start;
    json_t                  *doc, *list;
    ngx_int_t                rc;
    ngx_http_zt_metadata_t  *md;

    md = conf->metadata;
    rc = NGX_ERROR;

    doc = json_object();
    if (doc == NULL) {
        return NGX_ERROR;
    }

    if (json_object_set_new(doc, "resource",
                            json_stringn((char *) md->resource.data,
                                         md->resource.len))
        != 0
        || ngx_http_zt_metadata_strings(doc, "authorization_servers",
                                        md->servers)
           != NGX_OK
        || ngx_http_zt_metadata_strings(doc, "scopes_supported", md->scopes)
           != NGX_OK
        || json_object_set_new(doc, "bearer_methods_supported",
                               json_pack("[s]", "header"))
           != 0)
    {
        goto failed;
    }

    if (md->name.len
        && json_object_set_new(doc, "resource_name",
                               json_stringn((char *) md->name.data,
                                            md->name.len))
           != 0)
    {
        goto failed;
    }

    if (conf->dpop.mode != NGX_HTTP_ZT_DPOP_OFF) {

        list = json_array();
        if (list == NULL
            || json_object_set_new(doc, "dpop_signing_alg_values_supported",
                                   list)
               != 0)
        {
            goto failed;
        }

        p = conf->dpop.algs.data;
        last = p + conf->dpop.algs.len;

        while (p < last) {
            for (start = p; p < last && *p != ' '; p++) {
                /* void */
            }

            if (json_array_append_new(list,
                                      json_stringn((char *) start,
                                                   p - start))
                != 0)
            {
                goto failed;
            }

            p++;
        }

        if (json_object_set_new(doc, "dpop_bound_access_tokens_required",
                                json_boolean(conf->dpop.mode
                                             == NGX_HTTP_ZT_DPOP_REQUIRED))
            != 0)
        {
            goto failed;
        }
    }

    text = json_dumps(doc, JSON_COMPACT);
    if (text == NULL) {
        goto failed;
    }

    conf->metadata_document->len = ngx_strlen(text) + 1;
    conf->metadata_document->data = ngx_pnalloc(cf->pool,
                                                conf->metadata_document->len);

    if (conf->metadata_document->data != NULL) {
        p = ngx_cpymem(conf->metadata_document->data, text,
                       conf->metadata_document->len - 1);
        *p = '\n';
        rc = NGX_OK;
    }

    free(text);

failed:

    if (rc != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"zt_resource_metadata\": the document cannot "
                           "be built (not UTF-8?)");
    }

    json_decref(doc);

    return rc;
}


static ngx_int_t
ngx_http_zt_metadata_strings(json_t *doc, const char *name,
    ngx_array_t *list)
{
    json_t      *a;
    ngx_str_t   *s;
    ngx_uint_t   i;

    if (list->nelts == 0) {
        return NGX_OK;
    }

    a = json_array();
    if (a == NULL || json_object_set_new(doc, name, a) != 0) {
        return NGX_ERROR;
    }

    s = list->elts;

    for (i = 0; i < list->nelts; i++) {
        if (json_array_append_new(a, json_stringn((char *) s[i].data,
                                                  s[i].len))
            != 0)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* public: a client reads it before it has a token */

static ngx_int_t
ngx_http_zt_metadata_handler(ngx_http_request_t *r)
{
    ngx_http_zt_loc_conf_t  *lcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        if (ngx_http_zt_answer_header(r, "Allow", "GET, HEAD") != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_zt_answer_error(r, NGX_HTTP_NOT_ALLOWED,
                                        "invalid_request_error",
                                        "method_not_allowed",
                                        "the resource metadata is read "
                                        "with GET");
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_zt_inference_module);

    return ngx_http_zt_answer_json(r, NGX_HTTP_OK,
                                   lcf->metadata_document->data,
                                   lcf->metadata_document->len);
}
