
/*
 * JSON paths ($.a.b, $['a'], $.a[0], $.a[*].b, $.*, $..name): compiled
 * once at configuration time into the steps of ngx_http_zt_jsonpath_t,
 * and walked over a parsed (jansson) document at request time.  The
 * masking filter walks the same steps over a stream with its own matcher.
 */


#include "ngx_http_zt_inference.h"


#define NGX_HTTP_ZT_JP_INDEX_MAX  0x7fffffff


static u_char *ngx_http_zt_jsonpath_name(u_char *p, u_char *last,
    ngx_str_t *name);
static u_char *ngx_http_zt_jsonpath_bracket(ngx_pool_t *pool,
    ngx_str_t *text, u_char *p, u_char *last, ngx_http_zt_jp_step_t *step,
    ngx_str_t *err);
static ngx_int_t ngx_http_zt_jsonpath_error(ngx_pool_t *pool, ngx_str_t *err,
    ngx_str_t *text, u_char *p, char *what);
static ngx_int_t ngx_http_zt_jsonpath_walk(ngx_http_zt_jp_step_t *step,
    ngx_http_zt_jp_step_t *last, json_t *value,
    ngx_int_t (*handler)(json_t *value, void *data), void *data);
static ngx_int_t ngx_http_zt_jsonpath_descend(ngx_http_zt_jp_step_t *step,
    ngx_http_zt_jp_step_t *last, json_t *value,
    ngx_int_t (*handler)(json_t *value, void *data), void *data);


ngx_int_t
ngx_http_zt_jsonpath_compile(ngx_pool_t *pool, ngx_http_zt_jsonpath_t *jp,
    ngx_str_t *text, ngx_str_t *err)
{
    u_char                 *p, *last, *next;
    ngx_array_t             steps;
    ngx_http_zt_jp_step_t  *step;

    jp->text = *text;
    jp->steps = NULL;
    jp->nsteps = 0;

    p = text->data;
    last = p + text->len;

    if (p == last || *p != '$') {
        return ngx_http_zt_jsonpath_error(pool, err, text, p,
                                          "must start with \"$\"");
    }

    p++;

    if (ngx_array_init(&steps, pool, 4, sizeof(ngx_http_zt_jp_step_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    while (p < last) {

        step = ngx_array_push(&steps);
        if (step == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(step, sizeof(ngx_http_zt_jp_step_t));

        if (*p == '[') {
            next = ngx_http_zt_jsonpath_bracket(pool, text, p, last, step,
                                                err);
            if (next == NULL) {
                return NGX_ERROR;
            }

            p = next;
            continue;
        }

        if (*p != '.') {
            return ngx_http_zt_jsonpath_error(pool, err, text, p,
                                              "expected \".\" or \"[\"");
        }

        p++;

        if (p < last && *p == '.') {

            /* descendant: ..name or ..['name'] */

            p++;

            if (p < last && *p == '[') {
                next = ngx_http_zt_jsonpath_bracket(pool, text, p, last,
                                                    step, err);
                if (next == NULL) {
                    return NGX_ERROR;
                }

                if (step->type != NGX_HTTP_ZT_JP_KEY) {
                    return ngx_http_zt_jsonpath_error(pool, err, text, p,
                                                      "\"..\" must be "
                                                      "followed by a name");
                }

                step->type = NGX_HTTP_ZT_JP_DESCEND;
                p = next;
                continue;
            }

            next = ngx_http_zt_jsonpath_name(p, last, &step->name);

            if (next == p) {
                return ngx_http_zt_jsonpath_error(pool, err, text, p,
                                                  "\"..\" must be "
                                                  "followed by a name");
            }

            step->type = NGX_HTTP_ZT_JP_DESCEND;
            p = next;
            continue;
        }

        if (p < last && *p == '*') {
            step->type = NGX_HTTP_ZT_JP_ANY;
            p++;
            continue;
        }

        next = ngx_http_zt_jsonpath_name(p, last, &step->name);

        if (next == p) {
            return ngx_http_zt_jsonpath_error(pool, err, text, p,
                                              "expected a member name "
                                              "after \".\"");
        }

        step->type = NGX_HTTP_ZT_JP_KEY;
        p = next;
    }

    jp->steps = steps.elts;
    jp->nsteps = steps.nelts;

    return NGX_OK;
}


/*
 * A bare member name runs up to the next "." or "[": letters, digits and
 * any other printable byte but the few that have a meaning in a path.
 */

static u_char *
ngx_http_zt_jsonpath_name(u_char *p, u_char *last, ngx_str_t *name)
{
    u_char  *start;

    start = p;

    while (p < last) {

        if (*p <= 0x20 || *p == 0x7f) {
            break;
        }

        switch (*p) {
        case '.':
        case '[':
        case ']':
        case '*':
        case '\'':
        case '"':
        case '\\':
        case '=':
        case '~':
            goto done;
        }

        p++;
    }

done:

    name->data = start;
    name->len = p - start;

    return p;
}


/* "[n]", "[*]", "['name']" or "[\"name\"]" at p */

static u_char *
ngx_http_zt_jsonpath_bracket(ngx_pool_t *pool, ngx_str_t *text, u_char *p,
    u_char *last, ngx_http_zt_jp_step_t *step, ngx_str_t *err)
{
    u_char      quote, *q, *dst;
    ngx_uint_t  n;

    p++;    /* "[" */

    if (p < last && *p == '*') {
        p++;

        if (p == last || *p != ']') {
            goto unterminated;
        }

        step->type = NGX_HTTP_ZT_JP_ANY;
        return p + 1;
    }

    if (p < last && *p >= '0' && *p <= '9') {

        n = 0;

        while (p < last && *p >= '0' && *p <= '9') {
            n = n * 10 + (*p - '0');

            if (n > NGX_HTTP_ZT_JP_INDEX_MAX) {
                (void) ngx_http_zt_jsonpath_error(pool, err, text, p,
                                                  "array index is too large");
                return NULL;
            }

            p++;
        }

        if (p == last || *p != ']') {
            goto unterminated;
        }

        step->type = NGX_HTTP_ZT_JP_INDEX;
        step->index = n;
        return p + 1;
    }

    if (p == last || (*p != '\'' && *p != '"')) {
        (void) ngx_http_zt_jsonpath_error(pool, err, text, p,
                                          "expected an index, \"*\" or "
                                          "a quoted name after \"[\"");
        return NULL;
    }

    quote = *p++;

    /* the unescaped name is never longer than the quoted one */

    dst = ngx_pnalloc(pool, last - p + 1);
    if (dst == NULL) {
        ngx_str_null(err);
        return NULL;
    }

    step->name.data = dst;

    for (q = p; q < last && *q != quote; q++) {

        if (*q == '\\') {
            q++;

            if (q == last) {
                break;
            }
        }

        *dst++ = *q;
    }

    if (q == last) {
        (void) ngx_http_zt_jsonpath_error(pool, err, text, p - 1,
                                          "unterminated quoted name");
        return NULL;
    }

    step->name.len = dst - step->name.data;

    p = q + 1;    /* past the closing quote */

    if (p == last || *p != ']') {
        goto unterminated;
    }

    step->type = NGX_HTTP_ZT_JP_KEY;

    return p + 1;

unterminated:

    (void) ngx_http_zt_jsonpath_error(pool, err, text, p, "expected \"]\"");

    return NULL;
}


static ngx_int_t
ngx_http_zt_jsonpath_error(ngx_pool_t *pool, ngx_str_t *err, ngx_str_t *text,
    u_char *p, char *what)
{
    size_t   len;
    u_char  *msg;

    len = ngx_strlen(what) + sizeof(" at offset ") - 1 + NGX_SIZE_T_LEN;

    msg = ngx_pnalloc(pool, len);
    if (msg == NULL) {
        ngx_str_null(err);
        return NGX_ERROR;
    }

    err->data = msg;
    err->len = ngx_sprintf(msg, "%s at offset %uz", what,
                           (size_t) (p - text->data))
               - msg;

    return NGX_ERROR;
}


ngx_int_t
ngx_http_zt_jsonpath_select(ngx_http_zt_jsonpath_t *jp, json_t *root,
    ngx_int_t (*handler)(json_t *value, void *data), void *data)
{
    if (root == NULL) {
        return NGX_OK;
    }

    return ngx_http_zt_jsonpath_walk(jp->steps, jp->steps + jp->nsteps, root,
                                     handler, data);
}


static ngx_int_t
ngx_http_zt_jsonpath_walk(ngx_http_zt_jp_step_t *step,
    ngx_http_zt_jp_step_t *last, json_t *value,
    ngx_int_t (*handler)(json_t *value, void *data), void *data)
{
    size_t       i;
    json_t      *child;
    ngx_int_t    rc;
    const char  *key;

    if (step == last) {
        return handler(value, data);
    }

    switch (step->type) {

    case NGX_HTTP_ZT_JP_KEY:

        if (!json_is_object(value)) {
            return NGX_OK;
        }

        child = json_object_getn(value, (const char *) step->name.data,
                                 step->name.len);
        if (child == NULL) {
            return NGX_OK;
        }

        return ngx_http_zt_jsonpath_walk(step + 1, last, child, handler,
                                         data);

    case NGX_HTTP_ZT_JP_INDEX:

        if (!json_is_array(value) || step->index >= json_array_size(value)) {
            return NGX_OK;
        }

        return ngx_http_zt_jsonpath_walk(step + 1, last,
                                         json_array_get(value, step->index),
                                         handler, data);

    case NGX_HTTP_ZT_JP_ANY:

        if (json_is_object(value)) {
            json_object_foreach(value, key, child) {
                rc = ngx_http_zt_jsonpath_walk(step + 1, last, child,
                                               handler, data);
                if (rc != NGX_OK) {
                    return rc;
                }
            }

        } else if (json_is_array(value)) {
            json_array_foreach(value, i, child) {
                rc = ngx_http_zt_jsonpath_walk(step + 1, last, child,
                                               handler, data);
                if (rc != NGX_OK) {
                    return rc;
                }
            }
        }

        return NGX_OK;

    case NGX_HTTP_ZT_JP_DESCEND:
        return ngx_http_zt_jsonpath_descend(step, last, value, handler, data);
    }

    return NGX_ERROR;
}


/*
 * The depth of the recursion is bounded by the depth of the document,
 * which jansson's parser limits.
 */

static ngx_int_t
ngx_http_zt_jsonpath_descend(ngx_http_zt_jp_step_t *step,
    ngx_http_zt_jp_step_t *last, json_t *value,
    ngx_int_t (*handler)(json_t *value, void *data), void *data)
{
    size_t       i;
    json_t      *child;
    ngx_int_t    rc;
    const char  *key;

    if (json_is_object(value)) {

        child = json_object_getn(value, (const char *) step->name.data,
                                 step->name.len);
        if (child) {
            rc = ngx_http_zt_jsonpath_walk(step + 1, last, child, handler,
                                           data);
            if (rc != NGX_OK) {
                return rc;
            }
        }

        json_object_foreach(value, key, child) {
            rc = ngx_http_zt_jsonpath_descend(step, last, child, handler,
                                              data);
            if (rc != NGX_OK) {
                return rc;
            }
        }

    } else if (json_is_array(value)) {

        json_array_foreach(value, i, child) {
            rc = ngx_http_zt_jsonpath_descend(step, last, child, handler,
                                              data);
            if (rc != NGX_OK) {
                return rc;
            }
        }
    }

    return NGX_OK;
}
