
/*
 * The request body, for the rules (and the audit) that look at it: read
 * whole in the access phase without blocking the worker, left where nginx
 * keeps it so that proxy_pass sends it unchanged, seen as one contiguous
 * buffer (nginx's own when it has one, else a copy), judged once before
 * any rule runs (read as the model server will read it, or refused), then
 * hashed and parsed as JSON at most once.
 */


#include "ngx_http_zt_inference.h"


static ngx_int_t ngx_http_zt_body_encoding(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx);
static ngx_int_t ngx_http_zt_body_type(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx);
static ngx_int_t ngx_http_zt_body_content_type(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx, ngx_str_t *value);
static u_char *ngx_http_zt_body_param_value(u_char *p, u_char *last,
    ngx_str_t *value, u_char *buf, size_t size);
static void ngx_http_zt_body_post(ngx_http_request_t *r);
static ngx_int_t ngx_http_zt_body_collect(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx);
static ngx_int_t ngx_http_zt_body_result(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx);
static ngx_int_t ngx_http_zt_body_judge(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx, ngx_uint_t needs);
static ngx_uint_t ngx_http_zt_body_bom(u_char *p, u_char *last);
static ngx_uint_t ngx_http_zt_body_json_like(u_char *p, u_char *last);
static ngx_int_t ngx_http_zt_body_refuse(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx, ngx_uint_t status, char *code, char *what,
    char *why, size_t offset);


/*
 * What a location needs of the request body: whoever reads or judges the
 * body for a new purpose says so here, and only here.
 */

ngx_uint_t
ngx_http_zt_body_needs(ngx_http_zt_loc_conf_t *lcf)
{
    ngx_uint_t  needs;

    needs = 0;

    if (lcf->audit_body) {
        needs |= NGX_HTTP_ZT_BODY_READ;
    }

    if (lcf->policy.body_re) {
        needs |= NGX_HTTP_ZT_BODY_READ|NGX_HTTP_ZT_BODY_JUDGE
                 |NGX_HTTP_ZT_BODY_STRINGS;
    }

    /* json: paths to top-level members need no values built */

    if (lcf->policy.body_json) {
        needs |= NGX_HTTP_ZT_BODY_READ|NGX_HTTP_ZT_BODY_JUDGE
                 |NGX_HTTP_ZT_BODY_JSON
                 |(lcf->policy.body_json_deep ? NGX_HTTP_ZT_BODY_VALUES
                                              : NGX_HTTP_ZT_BODY_MEMBERS);
    }

    /*
     * the usage estimate: what the model reads, and if it is JSON the
     * bytes of its strings and its top-level counts, read as it is judged
     */

    if (lcf->usage.limits) {
        needs |= NGX_HTTP_ZT_BODY_READ|NGX_HTTP_ZT_BODY_JUDGE
                 |NGX_HTTP_ZT_BODY_MEMBERS;
    }

    /* request masking rewrites it: compressed or undecodable, it cannot */

    if (lcf->mask.request) {
        needs |= NGX_HTTP_ZT_BODY_READ|NGX_HTTP_ZT_BODY_JUDGE;
    }

    return needs;
}


/*
 * NGX_OK: the body is in ctx->body (and, if the location judges it, it was
 *     judged good).
 * NGX_AGAIN: the rest of the body is on its way; the access handler
 *     returns NGX_DONE, and once the body is in, the phases run again,
 *     where this returns the outcome.
 * 400, 413, 415: refused, ctx->body_refusal says why.
 * Other NGX_HTTP_* codes and NGX_ERROR: reading failed.
 *
 * Called again, it returns the same outcome.
 */

ngx_int_t
ngx_http_zt_body_read(ngx_http_request_t *r, ngx_http_zt_loc_conf_t *lcf,
    ngx_http_zt_ctx_t *ctx)
{
    ngx_int_t  rc;

    if (ctx->body_refusal) {
        return ctx->body_refusal->status;
    }

    if (ctx->body_read || ctx->body_too_large || ctx->body_error) {
        return ngx_http_zt_body_result(r, ctx);
    }

    if (ctx->waiting_body) {
        return NGX_AGAIN;
    }

    /* a compressed body is refused before any byte of it is read */

    if (ngx_http_zt_body_needs(lcf) & NGX_HTTP_ZT_BODY_JUDGE) {
        rc = ngx_http_zt_body_encoding(r, ctx);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    /* a chunked body has no length yet: it is measured once read */

    if (r->headers_in.content_length_n > (off_t) lcf->body_max) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "zt: request body of %O bytes is larger than "
                      "zt_body_max %uz", r->headers_in.content_length_n,
                      lcf->body_max);

        ctx->body_too_large = 1;
        return ngx_http_zt_body_result(r, ctx);
    }

    rc = ngx_http_read_client_request_body(r, ngx_http_zt_body_post);

    if (rc == NGX_ERROR || rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    if (ctx->body_read || ctx->body_too_large || ctx->body_error) {

        /*
         * the body was all there and the post handler has run: take back
         * the reference ngx_http_read_client_request_body() took, the
         * phases go on from here
         */

        r->main->count--;

        return ngx_http_zt_body_result(r, ctx);
    }

    ctx->waiting_body = 1;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "zt: waiting for the request body");

    /*
     * Give the reference back now, as content handlers do with NGX_DONE:
     * a client that goes away or times out while sending then ends the
     * request the usual way.
     */

    ngx_http_finalize_request(r, NGX_DONE);

    return NGX_AGAIN;
}


/*
 * A Content-Encoding the model server would inflate: the body is not
 * inflated here, the request is refused, before a byte of it is read.
 */

static ngx_int_t
ngx_http_zt_body_encoding(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx)
{
    u_char           *p, *last;
    ngx_uint_t        n;
    ngx_table_elt_t  *h;

    static ngx_str_t  name = ngx_string("Content-Encoding");

    for (n = 0; (h = ngx_http_zt_header_in(r, &name, n)); n++) {

        /* "identity" alone, in any case, is no encoding at all */

        p = h->value.data;
        last = p + h->value.len;

        while (p < last && (*p == ' ' || *p == '\t')) {
            p++;
        }

        while (last > p && (last[-1] == ' ' || last[-1] == '\t')) {
            last--;
        }

        if (last - p == sizeof("identity") - 1
            && ngx_strncasecmp(p, (u_char *) "identity",
                               sizeof("identity") - 1) == 0)
        {
            continue;
        }

        return ngx_http_zt_body_refuse(r, ctx,
                               NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                               "unsupported_content_encoding",
                               "request body has a Content-Encoding "
                               "(only identity is accepted where rules "
                               "read the body)", NULL, 0);
    }

    return NGX_OK;
}


/*
 * A Content-Type with a decoding of its own (the percent-escapes of a
 * form, the entities of XML, the transfer encodings of multipart parts),
 * a charset other than UTF-8, or two types to choose from: refused.
 */

static ngx_int_t
ngx_http_zt_body_type(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx)
{
    static ngx_str_t  name = ngx_string("Content-Type");

    if (r->headers_in.content_type == NULL) {
        return NGX_OK;
    }

    if (ngx_http_zt_header_in(r, &name, 1) != NULL) {
        return ngx_http_zt_body_refuse(r, ctx, NGX_HTTP_BAD_REQUEST,
                                       "invalid_content_type",
                                       "request has more than one "
                                       "Content-Type header", NULL, 0);
    }

    return ngx_http_zt_body_content_type(r, ctx,
                                         &r->headers_in.content_type->value);
}


/*
 * type "/" subtype *( OWS ";" OWS [ name "=" ( token / quoted-string ) ] ),
 * case-insensitive: JSON (ctx->body_json_type), plain text, or refused.
 */

static ngx_int_t
ngx_http_zt_body_content_type(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx,
    ngx_str_t *value)
{
    u_char      *p, *last, *start;
    u_char       buf[16];
    size_t       len;
    ngx_str_t    name, v;
    ngx_uint_t   charset;

    p = value->data;
    last = p + value->len;

    while (p < last && (*p == ' ' || *p == '\t')) {
        p++;
    }

    start = p;

    while (p < last && *p != ';' && *p != ' ' && *p != '\t') {
        p++;
    }

    len = p - start;

    if (len == sizeof("text/plain") - 1
        && ngx_strncasecmp(start, (u_char *) "text/plain", len) == 0)
    {
        ctx->body_json_type = 0;

    } else if ((len == sizeof("application/json") - 1
                && ngx_strncasecmp(start, (u_char *) "application/json", len)
                   == 0)
               || (len > sizeof("/+json") - 1
                   && ngx_strlchr(start, p, '/') != NULL
                   && ngx_strncasecmp(p - (sizeof("+json") - 1),
                                      (u_char *) "+json",
                                      sizeof("+json") - 1) == 0))
    {
        ctx->body_json_type = 1;

    } else {
        goto unsupported;
    }

    charset = 0;

    for ( ;; ) {

        while (p < last && (*p == ' ' || *p == '\t')) {
            p++;
        }

        if (p == last) {
            break;
        }

        if (*p++ != ';') {
            goto unsupported;
        }

        while (p < last && (*p == ' ' || *p == '\t')) {
            p++;
        }

        if (p == last || *p == ';') {
            continue;
        }

        name.data = p;

        while (p < last && *p != '=' && *p != ';' && *p != ' '
               && *p != '\t')
        {
            p++;
        }

        name.len = p - name.data;

        if (p == last || *p != '=' || name.len == 0) {
            goto unsupported;
        }

        p = ngx_http_zt_body_param_value(p + 1, last, &v, buf, sizeof(buf));
        if (p == NULL) {
            goto unsupported;
        }

        /* charset*= (RFC 2231) names a charset too */

        if (name.len < sizeof("charset") - 1
            || ngx_strncasecmp(name.data, (u_char *) "charset",
                               sizeof("charset") - 1) != 0
            || (name.len > sizeof("charset") - 1
                && name.data[sizeof("charset") - 1] != '*'))
        {
            continue;
        }

        if (charset++
            || name.len != sizeof("charset") - 1
            || v.data == NULL
            || !((v.len == sizeof("utf-8") - 1
                  && ngx_strncasecmp(v.data, (u_char *) "utf-8",
                                     sizeof("utf-8") - 1) == 0)
                 || (v.len == sizeof("utf8") - 1
                     && ngx_strncasecmp(v.data, (u_char *) "utf8",
                                        sizeof("utf8") - 1) == 0)))
        {
            return ngx_http_zt_body_refuse(r, ctx, NGX_HTTP_BAD_REQUEST,
                                           "unsupported_charset",
                                           "request body charset is not "
                                           "UTF-8 (Content-Type charset)",
                                           NULL, 0);
        }
    }

    return NGX_OK;

unsupported:

    return ngx_http_zt_body_refuse(r, ctx, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                   "unsupported_media_type",
                                   "request body type is refused where "
                                   "rules read the body: send JSON "
                                   "(application/json) or plain text "
                                   "(text/plain, or no Content-Type)",
                                   NULL, 0);
}


/*
 * A parameter's value, a token or a quoted-string (unquoted into buf; a
 * value too long for buf is given as NULL: no charset name is that long).
 * Returns where the value ends, NULL if it is malformed.
 */

static u_char *
ngx_http_zt_body_param_value(u_char *p, u_char *last, ngx_str_t *value,
    u_char *buf, size_t size)
{
    size_t  n;

    if (p < last && *p == '"') {
        n = 0;

        for (p++; p < last && *p != '"'; p++) {
            if (*p == '\\' && ++p == last) {
                return NULL;
            }

            if (n < size) {
                buf[n] = *p;
            }

            n++;
        }

        if (p == last) {
            return NULL;
        }

        value->data = (n <= size) ? buf : NULL;
        value->len = n;

        return p + 1;
    }

    value->data = p;

    while (p < last && *p != ';' && *p != ' ' && *p != '\t') {
        p++;
    }

    value->len = p - value->data;

    return p;
}


static void
ngx_http_zt_body_post(ngx_http_request_t *r)
{
    ngx_http_zt_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_zt_inference_module);

    if (ctx == NULL) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "zt: request body read without a context");
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (ngx_http_zt_body_collect(r, ctx) != NGX_OK) {
        ctx->body_error = 1;
    }

    /* reading the body has set the write handler aside */

    r->write_event_handler = ngx_http_core_run_phases;

    if (ctx->waiting_body) {
        ctx->waiting_body = 0;
        ngx_http_core_run_phases(r);
    }
}


/*
 * Copies the body, wherever nginx keeps it (memory buffers, a temporary
 * file, or both), into one buffer of the request pool; a body that is
 * already one buffer in memory is used where it is.  The buffers
 * themselves are left as they are: the upstream sends them, and nothing
 * writes to them while the request lives.
 */

static ngx_int_t
ngx_http_zt_body_collect(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx)
{
    off_t                    size, offset, saved;
    u_char                  *p;
    ssize_t                  n;
    ngx_buf_t               *b;
    ngx_chain_t             *cl, *bufs;
    ngx_http_zt_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_zt_inference_module);

    bufs = r->request_body ? r->request_body->bufs : NULL;

    size = 0;

    for (cl = bufs; cl; cl = cl->next) {
        size += ngx_buf_size(cl->buf);
    }

    if (size > (off_t) lcf->body_max) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "zt: request body of %O bytes is larger than "
                      "zt_body_max %uz", size, lcf->body_max);

        ctx->body_too_large = 1;
        return NGX_OK;
    }

    if (size && bufs->next == NULL && ngx_buf_in_memory(bufs->buf)) {
        ctx->body.data = bufs->buf->pos;
        ctx->body.len = (size_t) size;
        ctx->body_read = 1;

        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, (size_t) size + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ctx->body.data = p;

    for (cl = bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_in_memory(b)) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
            continue;
        }

        if (!b->in_file || b->file == NULL) {
            continue;
        }

        /* ngx_read_file() moves the file's offset: nginx's, not ours */

        saved = b->file->offset;

        for (offset = b->file_pos; offset < b->file_last; offset += n) {

            n = ngx_read_file(b->file, p, (size_t) (b->file_last - offset),
                              offset);

            if (n == NGX_ERROR) {
                b->file->offset = saved;
                return NGX_ERROR;
            }

            if (n == 0) {
                ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                              "zt: request body file \"%V\" is shorter "
                              "than its buffers say", &b->file->name);
                b->file->offset = saved;
                return NGX_ERROR;
            }

            p += n;
        }

        b->file->offset = saved;
    }

    *p = '\0';

    ctx->body.len = p - ctx->body.data;
    ctx->body_read = 1;

    return NGX_OK;
}


static ngx_int_t
ngx_http_zt_body_result(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx)
{
    ngx_int_t                rc;
    ngx_uint_t               needs;
    ngx_http_zt_loc_conf_t  *lcf;

    if (ctx->body_refusal) {
        return ctx->body_refusal->status;
    }

    if (ctx->body_too_large) {
        return ngx_http_zt_body_refuse(r, ctx,
                                       NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                       "request_too_large",
                                       "the request body exceeds "
                                       "zt_body_max", NULL, 0);
    }

    if (ctx->body_error) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_zt_inference_module);

    needs = ngx_http_zt_body_needs(lcf);

    /* a body read for the audit alone is not judged */

    if (!(needs & NGX_HTTP_ZT_BODY_JUDGE) || ctx->body_judged) {
        return NGX_OK;
    }

    ctx->body_judged = 1;

    rc = ngx_http_zt_body_judge(r, ctx, needs);

    if (rc == NGX_ERROR) {
        ctx->body_error = 1;
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return rc;
}


/*
 * Reads the body as the model server will, or refuses it, before any rule
 * looks at it.  A body that a JSON reader would take for JSON (a JSON
 * content type, a location with json: rules, or text that starts as JSON
 * does) must be one strict JSON document: then the rules see its values
 * and every string unescaped.  Any other body is UTF-8 text, seen as it
 * is.  No byte order mark, no NUL (UTF-16 and UTF-32 hide in those), no
 * invalid UTF-8: a reader might decode such bytes as another text.
 */

static ngx_int_t
ngx_http_zt_body_judge(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx,
    ngx_uint_t needs)
{
    u_char                   *p, *last, *bad;
    ngx_int_t                 rc;
    ngx_http_zt_json_read_t   rd;

    p = ctx->body.data;
    last = p + ctx->body.len;

    /*
     * No body, no document: json: finds nothing, body~ sees "", and a
     * stray Content-Type (on a GET, say) decodes nothing.
     */

    if (p == last) {
        ctx->body_json_parsed = 1;
        return NGX_OK;
    }

    rc = ngx_http_zt_body_type(r, ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_zt_body_bom(p, last)) {
        return ngx_http_zt_body_refuse(r, ctx, NGX_HTTP_BAD_REQUEST,
                                       "invalid_encoding",
                                       "request body is not UTF-8 text",
                                       "byte order mark", 0);
    }

    if (!(needs & NGX_HTTP_ZT_BODY_JSON)
        && !ctx->body_json_type
        && !ngx_http_zt_body_json_like(p, last))
    {
        bad = ngx_http_zt_utf8_text(p, last);

        if (bad != last) {
            return ngx_http_zt_body_refuse(r, ctx, NGX_HTTP_BAD_REQUEST,
                                           "invalid_encoding",
                                           "request body is not UTF-8 text",
                                           *bad ? "invalid UTF-8"
                                                : "NUL byte",
                                           bad - p);
        }

        ctx->body_json_parsed = 1;

        return NGX_OK;
    }

    ngx_memzero(&rd, sizeof(ngx_http_zt_json_read_t));

    rd.pool = r->pool;
    rd.build = (needs & NGX_HTTP_ZT_BODY_VALUES) ? 1 : 0;

    if (needs & NGX_HTTP_ZT_BODY_MEMBERS) {
        rd.members = ngx_array_create(r->pool, 8,
                                      sizeof(ngx_http_zt_json_member_t));
        if (rd.members == NULL) {
            return NGX_ERROR;
        }
    }

    if (needs & NGX_HTTP_ZT_BODY_STRINGS) {
        rd.strings = ngx_array_create(r->pool, 8, sizeof(ngx_str_t));
        if (rd.strings == NULL) {
            return NGX_ERROR;
        }
    }

    rc = ngx_http_zt_json_read(&rd, p, last - p);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        switch (rd.kind) {

        case NGX_HTTP_ZT_JSON_DUPLICATE:
            return ngx_http_zt_body_refuse(r, ctx, NGX_HTTP_BAD_REQUEST,
                                           "duplicate_member",
                                           "request body is not valid JSON",
                                           rd.why, rd.offset);

        case NGX_HTTP_ZT_JSON_ENCODING:
            return ngx_http_zt_body_refuse(r, ctx, NGX_HTTP_BAD_REQUEST,
                                           "invalid_encoding",
                                           "request body is not valid JSON",
                                           rd.why, rd.offset);

        default:
            return ngx_http_zt_body_refuse(r, ctx, NGX_HTTP_BAD_REQUEST,
                                           "invalid_json",
                                           "request body is not valid JSON",
                                           rd.why, rd.offset);
        }
    }

    ctx->body_strings = rd.strings;
    ctx->body_json_read = 1;
    ctx->body_string_bytes = rd.bytes;

    if (rd.members) {
        ctx->body_json_members = 1;

        if (rd.object) {
            ctx->body_members = rd.members;
        }
    }

    if (rd.build) {
        if (ngx_http_zt_json_cleanup_add(r->pool, rd.root) != NGX_OK) {
            return NGX_ERROR;
        }

        ctx->body_json = rd.root;
        ctx->body_json_parsed = 1;
    }

    return NGX_OK;
}


/* UTF-8, UTF-16 and UTF-32 byte order marks */

static ngx_uint_t
ngx_http_zt_body_bom(u_char *p, u_char *last)
{
    size_t  n;

    n = last - p;

    return (n >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf)
           || (n >= 2 && p[0] == 0xfe && p[1] == 0xff)
           || (n >= 2 && p[0] == 0xff && p[1] == 0xfe)
           || (n >= 4 && p[0] == 0 && p[1] == 0 && p[2] == 0xfe
               && p[3] == 0xff);
}


/*
 * Text whose first character, past any white space (Unicode's too, as a
 * lenient reader skips it), opens an object, an array or a string: a JSON
 * reader would read it, so it is judged as JSON.
 */

static ngx_uint_t
ngx_http_zt_body_json_like(u_char *p, u_char *last)
{
    size_t  n;

    while (p < last) {

        switch (*p) {

        case '{':
        case '[':
        case '"':
            return 1;

        case ' ': case '\t': case '\n': case '\v': case '\f': case '\r':
            p++;
            continue;
        }

        n = last - p;

        /* U+0085, U+00A0 */

        if (n >= 2 && p[0] == 0xc2 && (p[1] == 0x85 || p[1] == 0xa0)) {
            p += 2;
            continue;
        }

        if (n < 3) {
            return 0;
        }

        /* U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000 */

        if ((p[0] == 0xe1 && p[1] == 0x9a && p[2] == 0x80)
            || (p[0] == 0xe2 && p[1] == 0x80
                && (p[2] <= 0x8a || p[2] == 0xa8 || p[2] == 0xa9
                    || p[2] == 0xaf))
            || (p[0] == 0xe2 && p[1] == 0x81 && p[2] == 0x9f)
            || (p[0] == 0xe3 && p[1] == 0x80 && p[2] == 0x80)
            || (p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf))
        {
            p += 3;
            continue;
        }

        return 0;
    }

    return 0;
}


/*
 * Refuses the request: ctx->body_refusal holds what the client is told,
 * said once in the error log at the info level.
 */

static ngx_int_t
ngx_http_zt_body_refuse(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx,
    ngx_uint_t status, char *code, char *what, char *why, size_t offset)
{
    u_char                      *p;
    size_t                       len;
    ngx_http_zt_body_refusal_t  *refusal;

    refusal = ngx_palloc(r->pool, sizeof(ngx_http_zt_body_refusal_t));
    if (refusal == NULL) {
        return NGX_ERROR;
    }

    len = ngx_strlen(what);

    if (why) {
        len += sizeof(": ") - 1 + ngx_strlen(why)
               + sizeof(" at offset ") - 1 + NGX_SIZE_T_LEN;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    refusal->status = status;
    refusal->code.data = (u_char *) code;
    refusal->code.len = ngx_strlen(code);
    refusal->message.data = p;

    if (why) {
        p = ngx_sprintf(p, "%s: %s at offset %uz", what, why, offset);

    } else {
        p = ngx_cpymem(p, what, ngx_strlen(what));
    }

    refusal->message.len = p - refusal->message.data;

    ctx->body_refusal = refusal;

    if (status != NGX_HTTP_REQUEST_ENTITY_TOO_LARGE) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "zt: %V, refused with %ui %V", &refusal->message,
                      status, &refusal->code);
    }

    return status;
}


ngx_int_t
ngx_http_zt_body_sha256(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx)
{
    if (ctx->body_hashed) {
        return NGX_OK;
    }

    if (!ctx->body_read) {
        return NGX_DECLINED;
    }

    if (ngx_http_zt_sha256(ctx->body_sha256, ctx->body.data, ctx->body.len)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ctx->body_hashed = 1;

    return NGX_OK;
}


/*
 * body~RE and body~*RE: the raw bytes match, or, for a JSON body, one of
 * its strings (member names too) does, unescaped: "\u0064rop" is what the
 * model reads as "drop".  1, 0, or NGX_ERROR when it cannot be told.
 */

ngx_int_t
ngx_http_zt_body_match(ngx_http_zt_ctx_t *ctx, ngx_http_zt_regex_t *re)
{
    ngx_int_t    rc;
    ngx_str_t   *s;
    ngx_uint_t   i;

    if (!ctx->body_read) {
        return NGX_ERROR;
    }

    rc = ngx_http_zt_regex_match(re, ctx->body.data, ctx->body.len);

    if (rc != 0 || ctx->body_strings == NULL) {
        return rc;
    }

    s = ctx->body_strings->elts;

    for (i = 0; i < ctx->body_strings->nelts; i++) {

        if (s[i].len < re->min) {
            continue;
        }

        rc = ngx_http_zt_regex_match(re, s[i].data, s[i].len);

        if (rc != 0) {
            return rc;
        }
    }

    return 0;
}


/*
 * The body's JSON values, built once: NULL when the body was not read, is
 * empty or is not JSON (ctx->body_json_invalid), or on an error
 * (ctx->body_error).  A judged body has them already when the location
 * has json: rules; a masking condition may ask for them elsewhere.
 */

json_t *
ngx_http_zt_body_json(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx)
{
    ngx_int_t                 rc;
    ngx_http_zt_json_read_t   rd;

    if (ctx->body_json_parsed || !ctx->body_read) {
        return ctx->body_json;
    }

    ctx->body_json_parsed = 1;

    if (ctx->body.len == 0) {
        return NULL;
    }

    ngx_memzero(&rd, sizeof(ngx_http_zt_json_read_t));
    rd.pool = r->pool;
    rd.build = 1;

    rc = ngx_http_zt_json_read(&rd, ctx->body.data, ctx->body.len);

    if (rc == NGX_ERROR) {
        ctx->body_error = 1;
        return NULL;
    }

    if (rc == NGX_DECLINED) {
        ctx->body_json_invalid = 1;

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "zt: request body is not valid JSON: %s at offset %uz",
                       rd.why, rd.offset);
        return NULL;
    }

    if (ngx_http_zt_json_cleanup_add(r->pool, rd.root) != NGX_OK) {
        ctx->body_error = 1;
        return NULL;
    }

    ctx->body_json = rd.root;

    return rd.root;
}
