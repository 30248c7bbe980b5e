
/*
 * zt-inference: sender-constrained tokens.  A token may name, in its cnf
 * claim (RFC 7800), a key its holder must prove to hold: jkt, the
 * thumbprint of a DPoP key (RFC 9449, proved by a DPoP proof, see
 * ngx_http_zt_dpop.c), or x5t#S256, the hash of a TLS client certificate
 * (RFC 8705, proved by the TLS handshake of this connection).  A bound
 * token is refused unless the request proves the binding, and a binding
 * this gateway cannot check (another cnf member) is refused too: a stolen
 * token is useless.  zt_dpop says whether unbound tokens still pass as
 * bearer tokens.
 */


#include "ngx_http_zt_inference.h"


static ngx_uint_t ngx_http_zt_cnf_absent(ngx_http_zt_identity_t *id);
static ngx_int_t ngx_http_zt_cnf_certificate(ngx_http_request_t *r,
    ngx_str_t *x5t, ngx_str_t *err);


/* sets err to a reason of the module's own (no quotes, no backslashes) */
#define ngx_http_zt_cnf_fail(e)                                              \
    do {                                                                     \
        err->len = sizeof(e) - 1;                                            \
        err->data = (u_char *) e;                                            \
        goto invalid;                                                        \
    } while (0)


/*
 * After the token is verified.  NGX_OK: the caller holds what the token
 * is bound to, or it is bound to nothing and may be a bearer token here.
 * NGX_DECLINED: 401, err says why (ctx->dpop_proof set when the proof
 * itself is bad: error="invalid_dpop_proof").  NGX_BUSY: the DPoP replay
 * cache is full.  NGX_ERROR: could not tell.
 */

ngx_int_t
ngx_http_zt_cnf_check(ngx_http_request_t *r, ngx_http_zt_loc_conf_t *lcf,
    ngx_http_zt_ctx_t *ctx, ngx_str_t *token, ngx_str_t *err)
{
    json_t      *claims, *cnf, *v;
    ngx_int_t    rc;
    ngx_str_t    jkt, x5t, *s;
    const char  *name;

    ngx_str_null(&jkt);
    ngx_str_null(&x5t);

    cnf = NULL;

    if (!ngx_http_zt_cnf_absent(&ctx->id)) {
        claims = ngx_http_zt_jwt_claims(r, &ctx->id);
        if (claims == NULL) {
            return NGX_ERROR;
        }

        cnf = json_object_get(claims, "cnf");
    }

    if (cnf != NULL) {
        if (!json_is_object(cnf)) {
            ngx_http_zt_cnf_fail("malformed token: cnf is not an object");
        }

        json_object_foreach(cnf, name, v) {

            if (ngx_strcmp(name, "jkt") == 0) {
                s = &jkt;

            } else if (ngx_strcmp(name, "x5t#S256") == 0) {
                s = &x5t;

            } else {
                ngx_http_zt_cnf_fail("unsupported cnf confirmation method");
            }

            /* a name with a NUL in it reads as its prefix: not twice */

            if (!json_is_string(v) || json_string_length(v) == 0
                || s->len != 0)
            {
                ngx_http_zt_cnf_fail("malformed token: bad cnf member");
            }

            s->data = (u_char *) json_string_value(v);
            s->len = json_string_length(v);
        }
    }

    if (ctx->dpop) {
        if (lcf->dpop.mode == NGX_HTTP_ZT_DPOP_OFF) {
            ngx_http_zt_cnf_fail("unsupported authorization scheme");
        }

        if (jkt.len == 0) {
            ngx_http_zt_cnf_fail("the token is not DPoP-bound");
        }

    } else {
        /* RFC 9449, 7.2: a bound token used as a bearer token is stolen */

        if (jkt.len) {
            if (lcf->dpop.mode == NGX_HTTP_ZT_DPOP_OFF) {
                ngx_http_zt_cnf_fail("DPoP-bound tokens are not accepted "
                                     "here");
            }

            ngx_http_zt_cnf_fail("a DPoP-bound token must be sent with the "
                                 "DPoP scheme");
        }

        if (lcf->dpop.mode == NGX_HTTP_ZT_DPOP_REQUIRED) {
            ngx_http_zt_cnf_fail("a DPoP-bound token is required");
        }
    }

    if (x5t.len) {
        rc = ngx_http_zt_cnf_certificate(r, &x5t, err);

        if (rc == NGX_DECLINED) {
            goto invalid;
        }

        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (!ctx->dpop) {
        return NGX_OK;
    }

    rc = ngx_http_zt_dpop_verify(r, lcf, token, &jkt, err);

    switch (rc) {

    case NGX_OK:
    case NGX_BUSY:
    case NGX_ERROR:
        return rc;

    case NGX_DONE:
        goto invalid;

    default: /* NGX_DECLINED */
        ctx->dpop_proof = 1;

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "zt: invalid DPoP proof: %V, fp=%*s",
                      err, (size_t) NGX_HTTP_ZT_FP_LEN, ctx->id.fp);

        return NGX_DECLINED;
    }

invalid:

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "zt: invalid token: %V, fp=%*s",
                  err, (size_t) NGX_HTTP_ZT_FP_LEN, ctx->id.fp);

    return NGX_DECLINED;
}


/*
 * After a token cache hit the claims are text: a payload without "cnf"
 * and without a backslash (an escape could spell the name) has no cnf
 * claim, and need not be parsed to tell.
 */

static ngx_uint_t
ngx_http_zt_cnf_absent(ngx_http_zt_identity_t *id)
{
    u_char  *p, *last;

    if (id->claims) {
        return json_object_get(id->claims, "cnf") == NULL;
    }

    p = id->payload.data;
    last = p + id->payload.len;

    if (memchr(p, '\\', last - p) != NULL) {
        return 0;
    }

    while (last - p >= 3 && (p = memchr(p, 'c', last - p - 2)) != NULL) {
        if (p[1] == 'n' && p[2] == 'f') {
            return 0;
        }

        p++;
    }

    return 1;
}


/*
 * RFC 8705, 3: x5t#S256 is the base64url SHA-256 of the DER certificate
 * the client presented in this connection's handshake.  Only the binding
 * is checked, not a chain: a self-signed certificate is enough (3.2),
 * since the handshake proved its key; ssl_verify_client decides the rest.
 */

static ngx_int_t
ngx_http_zt_cnf_certificate(ngx_http_request_t *r, ngx_str_t *x5t,
    ngx_str_t *err)
{
#if (NGX_HTTP_SSL)

    u_char        md[EVP_MAX_MD_SIZE], b64[ngx_base64_encoded_length(32)];
    X509         *cert;
    ngx_str_t     src, dst;
    unsigned int  len;

    if (r->connection->ssl == NULL) {
        ngx_str_set(err, "the token is bound to a client certificate, none "
                         "was presented");
        return NGX_DECLINED;
    }

    cert = SSL_get1_peer_certificate(r->connection->ssl->connection);

    if (cert == NULL) {
        ngx_str_set(err, "the token is bound to a client certificate, none "
                         "was presented");
        return NGX_DECLINED;
    }

    if (X509_digest(cert, EVP_sha256(), md, &len) != 1 || len != 32) {
        X509_free(cert);
        ERR_clear_error();
        return NGX_ERROR;
    }

    X509_free(cert);

    src.data = md;
    src.len = 32;
    dst.data = b64;

    ngx_encode_base64url(&dst, &src);

    if (x5t->len != dst.len
        || ngx_strncmp(x5t->data, dst.data, dst.len) != 0)
    {
        ngx_str_set(err, "the client certificate is not the one the token "
                         "is bound to");
        return NGX_DECLINED;
    }

    return NGX_OK;

#else

    ngx_str_set(err, "the token is bound to a client certificate, none was "
                     "presented");
    return NGX_DECLINED;

#endif
}
