
/*
 * zt-inference: the types every concern of the module shares (configuration,
 * per-request context, verified identity) and the functions each concern
 * offers the others. Each concern lives in src/ngx_http_zt_<concern>.c.
 */


#ifndef _NGX_HTTP_ZT_INFERENCE_H_INCLUDED_
#define _NGX_HTTP_ZT_INFERENCE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/evp.h>
#include <jansson.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>


#define NGX_HTTP_ZT_TOKEN_MAX        8192
#define NGX_HTTP_ZT_FP_LEN           16      /* hex chars of token SHA-256 */


/* zt_algorithms: a bit per supported JWS algorithm */
#define NGX_HTTP_ZT_RS256            0x0001
#define NGX_HTTP_ZT_RS384            0x0002
#define NGX_HTTP_ZT_RS512            0x0004
#define NGX_HTTP_ZT_PS256            0x0008
#define NGX_HTTP_ZT_PS384            0x0010
#define NGX_HTTP_ZT_PS512            0x0020
#define NGX_HTTP_ZT_ES256            0x0040
#define NGX_HTTP_ZT_ES384            0x0080
#define NGX_HTTP_ZT_ES512            0x0100
#define NGX_HTTP_ZT_HS256            0x0200
#define NGX_HTTP_ZT_HS384            0x0400
#define NGX_HTTP_ZT_HS512            0x0800


/* key families: an alg is only ever checked against a key of its family */
typedef enum {
    NGX_HTTP_ZT_KEY_RSA = 1,
    NGX_HTTP_ZT_KEY_EC,
    NGX_HTTP_ZT_KEY_OCT
} ngx_http_zt_key_type_e;


typedef struct {
    ngx_str_t                   kid;        /* empty: no kid (PEM file) */
    ngx_http_zt_key_type_e      type;
    ngx_uint_t                  alg;        /* JWK "alg" bit, 0: any */
    ngx_int_t                   curve_nid;  /* EC only */
    EVP_PKEY                   *pkey;       /* RSA and EC */
    ngx_str_t                   secret;     /* oct */
} ngx_http_zt_key_t;


/*
 * One compiled JSON path: "$" then steps applied left to right, each to
 * every value the previous step selected ("$" alone: nsteps 0, the root).
 *
 *   KEY      .name, ['name'], ["name"]: the member "name" of an object
 *   INDEX    [n]: element n (from 0) of an array
 *   ANY      .*, [*]: every member value of an object, element of an array
 *   DESCEND  ..name, ..['name']: the member "name" of the current value
 *            and of every object nested in it at any depth
 *
 * Names are raw bytes (quotes and backslash escapes removed) and may
 * contain any byte; they are not NUL-terminated.
 */
typedef enum {
    NGX_HTTP_ZT_JP_KEY = 1,     /* .name or ['name'] */
    NGX_HTTP_ZT_JP_INDEX,       /* [n] */
    NGX_HTTP_ZT_JP_ANY,         /* [*] or .* */
    NGX_HTTP_ZT_JP_DESCEND      /* ..name: name here or at any depth below */
} ngx_http_zt_jp_step_e;

typedef struct {
    ngx_http_zt_jp_step_e       type;
    ngx_str_t                   name;
    ngx_uint_t                  index;
} ngx_http_zt_jp_step_t;

typedef struct {
    ngx_str_t                   text;       /* as written, for messages */
    ngx_http_zt_jp_step_t      *steps;
    ngx_uint_t                  nsteps;
} ngx_http_zt_jsonpath_t;


/* a compiled PCRE2 regex */
typedef struct {
    ngx_str_t                   text;
    pcre2_code                 *code;
} ngx_http_zt_regex_t;


/* zt_policy conditions */
typedef enum {
    NGX_HTTP_ZT_COND_SCOPE = 1,
    NGX_HTTP_ZT_COND_GROUP,
    NGX_HTTP_ZT_COND_CLAIM,         /* sub=V and claim.NAME=V */
    NGX_HTTP_ZT_COND_METHOD,
    NGX_HTTP_ZT_COND_BODY_RE,       /* body~RE, body~*RE */
    NGX_HTTP_ZT_COND_JSON_EQ,       /* json:PATH=V */
    NGX_HTTP_ZT_COND_JSON_RE        /* json:PATH~RE */
} ngx_http_zt_cond_type_e;

typedef struct {
    ngx_http_zt_cond_type_e     type;
    ngx_str_t                   text;       /* as written, for messages */
    ngx_str_t                   name;       /* claim name, dotted */
    ngx_str_t                   value;      /* scope, group, claim, method */
    ngx_http_zt_regex_t         re;
    ngx_http_zt_jsonpath_t      path;
} ngx_http_zt_cond_t;


typedef enum {
    NGX_HTTP_ZT_ALLOW = 1,
    NGX_HTTP_ZT_DENY,
    NGX_HTTP_ZT_APPROVE
} ngx_http_zt_action_e;

typedef struct {
    ngx_http_zt_action_e        action;
    ngx_uint_t                  line;       /* config line, for audit */
    ngx_http_zt_cond_t         *conds;
    ngx_uint_t                  nconds;
} ngx_http_zt_rule_t;


typedef struct {
    ngx_array_t                *rules;      /* of ngx_http_zt_rule_t */
    ngx_flag_t                  enabled;    /* zt_policy off */
    unsigned                    body:1;     /* some rule looks at the body */
} ngx_http_zt_policy_conf_t;


/* verification settings of a location: keys and claims checks */
typedef struct {
    ngx_array_t                *keys;       /* of ngx_http_zt_key_t */
    ngx_array_t                *issuers;    /* of ngx_str_t */
    ngx_array_t                *audiences;  /* of ngx_str_t */
    ngx_uint_t                  algorithms;
    time_t                      leeway;
    ngx_str_t                   scope_claim;
    ngx_str_t                   groups_claim;
} ngx_http_zt_jwt_conf_t;


/* masking's types (by value in the location conf, so included here) */
#include "ngx_http_zt_mask.h"


typedef struct {
    ngx_http_zt_jwt_conf_t      jwt;
    ngx_http_zt_policy_conf_t   policy;

    size_t                      body_max;
    ngx_flag_t                  forward_token;

    ngx_flag_t                  audit_body;
    size_t                      audit_body_max;

    ngx_str_t                   credential;  /* the upstream's own */

    ngx_shm_zone_t             *token_cache;
    time_t                      token_cache_max_ttl;

    ngx_http_zt_mask_conf_t     mask;

    ngx_flag_t                  approval_api;   /* zt_approval_api */
    time_t                      approval_ttl;
} ngx_http_zt_loc_conf_t;


typedef struct {
    ngx_str_t                   host;           /* or unix:PATH */
    in_port_t                   port;
    ngx_uint_t                  db;
    ngx_str_t                   password;
    ngx_str_t                   prefix;
    ngx_msec_t                  timeout;
    unsigned                    unix_socket:1;
    unsigned                    configured:1;
} ngx_http_zt_redis_conf_t;


typedef struct {
    ngx_http_zt_redis_conf_t    redis;
    u_char                      cache_salt[16];  /* new for each config */
} ngx_http_zt_main_conf_t;


/* the caller, once the token is verified */
typedef struct {
    json_t                     *claims;     /* released by a pool cleanup */
    ngx_str_t                   payload;    /* claims as JSON text */
    ngx_str_t                   sub;
    ngx_str_t                   iss;
    ngx_array_t                *scopes;     /* of ngx_str_t */
    ngx_array_t                *groups;     /* of ngx_str_t */
    time_t                      exp;
    u_char                      fp[NGX_HTTP_ZT_FP_LEN];
} ngx_http_zt_identity_t;


typedef enum {
    NGX_HTTP_ZT_DECISION_NONE = 0,
    NGX_HTTP_ZT_DECISION_ALLOW,
    NGX_HTTP_ZT_DECISION_DENY,
    NGX_HTTP_ZT_DECISION_APPROVE,
    NGX_HTTP_ZT_DECISION_ERROR
} ngx_http_zt_decision_e;


typedef struct {
    ngx_http_zt_identity_t      id;
    ngx_uint_t                  verified;   /* id holds a verified caller */

    ngx_http_zt_decision_e      decision;
    ngx_http_zt_rule_t         *rule;
    ngx_str_t                   approval_id;
    ngx_str_t                   event;      /* audit: "approval.approve"... */
    ngx_str_t                   reviewer;   /* audit: approval decisions */

    ngx_array_t                *grants;     /* of ngx_str_t: JIT scopes */
    struct ngx_http_zt_approval_s   *approval;  /* approval/API state */
    struct ngx_http_zt_grant_wait_s *grant;     /* grant lookup state */

    ngx_str_t                   body;       /* whole request body, if read */
    u_char                      body_sha256[32];
    json_t                     *body_json;  /* parsed once, if JSON */

    ngx_uint_t                  masked;
    struct ngx_http_zt_mask_ctx_s  *mask;   /* response filter state */

    ngx_int_t                   rc;         /* access phase result */
    unsigned                    done:1;
    unsigned                    body_read:1;
    unsigned                    body_hashed:1;
    unsigned                    body_too_large:1;
    unsigned                    waiting_body:1;
    unsigned                    body_json_parsed:1;
    unsigned                    body_json_invalid:1;
    unsigned                    body_error:1;
    unsigned                    scope_missed:1;  /* a scope= did not hold */
    unsigned                    grants_loaded:1;
    unsigned                    token_cache:2;   /* 1: miss, 2: hit */
} ngx_http_zt_ctx_t;


extern ngx_module_t  ngx_http_zt_inference_module;


/* ngx_http_zt_util.c */
ngx_http_zt_ctx_t *ngx_http_zt_get_ctx(ngx_http_request_t *r);
void ngx_http_zt_hex(u_char *dst, u_char *src, size_t len);
ngx_int_t ngx_http_zt_sha256(u_char *out, u_char *data, size_t len);
ngx_int_t ngx_http_zt_sha256_parts(u_char *out, ngx_str_t *parts,
    ngx_uint_t n);
size_t ngx_http_zt_utf8_valid(u_char *p, u_char *last);
u_char *ngx_http_zt_json_escape(u_char *dst, u_char *src, size_t len);
size_t ngx_http_zt_json_escape_len(u_char *src, size_t len);
ngx_int_t ngx_http_zt_json_cleanup_add(ngx_pool_t *pool, json_t *json);
char *ngx_http_zt_regex_compile(ngx_conf_t *cf, ngx_http_zt_regex_t *re,
    ngx_str_t *text, ngx_uint_t caseless);
ngx_int_t ngx_http_zt_regex_match(ngx_http_zt_regex_t *re, u_char *s,
    size_t len);

/* ngx_http_zt_json.c */
json_t *ngx_http_zt_json_parse(ngx_pool_t *pool, u_char *data, size_t len);

/* ngx_http_zt_keys.c */
char *ngx_http_zt_keys_load(ngx_conf_t *cf, ngx_array_t *keys,
    ngx_str_t *path);

/* ngx_http_zt_jwt.c */
ngx_int_t ngx_http_zt_jwt_bearer(ngx_http_request_t *r, ngx_str_t *token,
    ngx_str_t *err);
ngx_int_t ngx_http_zt_jwt_verify(ngx_http_request_t *r,
    ngx_http_zt_jwt_conf_t *conf, ngx_str_t *token,
    ngx_http_zt_identity_t *id, ngx_str_t *err);
json_t *ngx_http_zt_jwt_claims(ngx_http_request_t *r,
    ngx_http_zt_identity_t *id);
char *ngx_http_zt_jwt_set_algorithms(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_zt_base64url_decode(ngx_pool_t *pool, ngx_str_t *src,
    ngx_str_t *dst);
ngx_uint_t ngx_http_zt_jwt_alg(u_char *name, size_t len);
ngx_http_zt_key_type_e ngx_http_zt_jwt_alg_family(ngx_uint_t alg);

/* ngx_http_zt_jsonpath.c */
ngx_int_t ngx_http_zt_jsonpath_compile(ngx_pool_t *pool,
    ngx_http_zt_jsonpath_t *jp, ngx_str_t *text, ngx_str_t *err);
/*
 * select calls handler for every value jp selects in root, in document
 * order; handler returns NGX_OK to go on, anything else to stop, and that
 * is what select returns (NGX_DONE: "found, stop"); NGX_OK: all seen.
 */
ngx_int_t ngx_http_zt_jsonpath_select(ngx_http_zt_jsonpath_t *jp,
    json_t *root, ngx_int_t (*handler)(json_t *value, void *data),
    void *data);

/* ngx_http_zt_policy.c */
char *ngx_http_zt_policy_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_zt_policy_cond_parse(ngx_conf_t *cf, ngx_http_zt_cond_t *cond,
    ngx_str_t *text);
ngx_int_t ngx_http_zt_policy_cond_holds(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx, ngx_http_zt_cond_t *cond);
ngx_http_zt_rule_t *ngx_http_zt_policy_decide(ngx_http_request_t *r,
    ngx_http_zt_policy_conf_t *pcf, ngx_http_zt_ctx_t *ctx);

/* ngx_http_zt_body.c */
ngx_int_t ngx_http_zt_body_read(ngx_http_request_t *r,
    ngx_http_zt_loc_conf_t *lcf, ngx_http_zt_ctx_t *ctx);
ngx_int_t ngx_http_zt_body_sha256(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx);
json_t *ngx_http_zt_body_json(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx);

/* ngx_http_zt_access.c */
ngx_int_t ngx_http_zt_access_handler(ngx_http_request_t *r);

/* ngx_http_zt_answer.c */
ngx_int_t ngx_http_zt_answer(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, ngx_str_t *code, ngx_str_t *message);
ngx_int_t ngx_http_zt_answer_error(ngx_http_request_t *r, ngx_uint_t status,
    char *type, char *code, char *message);
ngx_int_t ngx_http_zt_answer_json(ngx_http_request_t *r, ngx_uint_t status,
    u_char *json, size_t len);
ngx_int_t ngx_http_zt_answer_header(ngx_http_request_t *r, char *key,
    char *value);
ngx_int_t ngx_http_zt_answer_unauthorized(ngx_http_request_t *r,
    ngx_str_t *err);
ngx_int_t ngx_http_zt_answer_forbidden(ngx_http_request_t *r);

/* ngx_http_zt_audit.c */
ngx_int_t ngx_http_zt_variables_add(ngx_conf_t *cf);

/* ngx_http_zt_token_cache.c */
char *ngx_http_zt_token_cache_set(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_zt_token_cache_lookup(ngx_http_request_t *r,
    ngx_http_zt_loc_conf_t *lcf, ngx_str_t *token,
    ngx_http_zt_identity_t *id, u_char *digest);
void ngx_http_zt_token_cache_store(ngx_http_request_t *r,
    ngx_http_zt_loc_conf_t *lcf, u_char *digest,
    ngx_http_zt_identity_t *id);

/* ngx_http_zt_credential.c */
char *ngx_http_zt_credential_set(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* ngx_http_zt_redis.c, ngx_http_zt_approval.c, ngx_http_zt_grant.c */
#include "ngx_http_zt_redis.h"


#endif /* _NGX_HTTP_ZT_INFERENCE_H_INCLUDED_ */
