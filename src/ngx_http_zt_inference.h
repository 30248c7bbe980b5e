
/*
 * zt-inference: the module-wide types (location and main configuration,
 * the per-request context) and, as ngx_http.h does for nginx, every
 * concern's header: each concern declares what it offers the others in
 * src/ngx_http_zt_<concern>.h, next to its ngx_http_zt_<concern>.c.
 */


#ifndef _NGX_HTTP_ZT_INFERENCE_H_INCLUDED_
#define _NGX_HTTP_ZT_INFERENCE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/evp.h>
#include <jansson.h>


typedef struct ngx_http_zt_loc_conf_s     ngx_http_zt_loc_conf_t;
typedef struct ngx_http_zt_ctx_s          ngx_http_zt_ctx_t;
typedef struct ngx_http_zt_approval_s     ngx_http_zt_approval_t;
typedef struct ngx_http_zt_api_s          ngx_http_zt_api_t;
typedef struct ngx_http_zt_grant_wait_s   ngx_http_zt_grant_wait_t;
typedef struct ngx_http_zt_mask_ctx_s     ngx_http_zt_mask_ctx_t;
typedef struct ngx_http_zt_usage_s        ngx_http_zt_usage_t;
typedef struct ngx_http_zt_mask_body_s    ngx_http_zt_mask_body_t;


#include "ngx_http_zt_util.h"
#include "ngx_http_zt_regex.h"
#include "ngx_http_zt_json.h"
#include "ngx_http_zt_jsonpath.h"
#include "ngx_http_zt_keys.h"
#include "ngx_http_zt_jwks.h"
#include "ngx_http_zt_jwt.h"
#include "ngx_http_zt_policy.h"
#include "ngx_http_zt_mask.h"
#include "ngx_http_zt_body.h"
#include "ngx_http_zt_access.h"
#include "ngx_http_zt_answer.h"
#include "ngx_http_zt_audit.h"
#include "ngx_http_zt_token_cache.h"
#include "ngx_http_zt_credential.h"
#include "ngx_http_zt_redis.h"
#include "ngx_http_zt_approval.h"
#include "ngx_http_zt_grant.h"
#include "ngx_http_zt_api.h"
#include "ngx_http_zt_dpop.h"
#include "ngx_http_zt_cnf.h"
#include "ngx_http_zt_metadata.h"
#include "ngx_http_zt_usage.h"


struct ngx_http_zt_loc_conf_s {
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

    ngx_http_zt_dpop_conf_t     dpop;
    ngx_http_zt_metadata_t     *metadata;       /* zt_resource_metadata */
    ngx_str_t                  *metadata_document;  /* served here */

    ngx_http_zt_usage_conf_t    usage;
};


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
    ngx_http_zt_api_main_t      api;
    u_char                      cache_salt[16];  /* new for each config */
    size_t                      dpop_replay_size;
    ngx_array_t                *usage_zones;     /* of ..._usage_zone_t * */
} ngx_http_zt_main_conf_t;


typedef enum {
    NGX_HTTP_ZT_DECISION_NONE = 0,
    NGX_HTTP_ZT_DECISION_ALLOW,
    NGX_HTTP_ZT_DECISION_DENY,
    NGX_HTTP_ZT_DECISION_APPROVE,
    NGX_HTTP_ZT_DECISION_ERROR
} ngx_http_zt_decision_e;


struct ngx_http_zt_ctx_s {
    ngx_http_zt_identity_t      id;
    ngx_uint_t                  verified;   /* id holds a verified caller */

    ngx_http_zt_decision_e      decision;
    ngx_http_zt_rule_t         *rule;
    ngx_str_t                   approval_id;
    ngx_str_t                   event;      /* audit: "approval.approve"... */
    ngx_str_t                   reviewer;   /* audit: approval decisions */

    ngx_array_t                *grants;     /* of ngx_str_t: JIT scopes */
    ngx_http_zt_approval_t     *approval;  /* approval flow state */
    ngx_http_zt_api_t          *api;       /* reviewer API operation */
    ngx_http_zt_grant_wait_t   *grant;     /* grant lookup state */
    ngx_http_zt_jwks_wait_t    *jwks;      /* waiting for a key set */

    ngx_str_t                   body;       /* whole request body, if read */
    u_char                      body_sha256[32];
    json_t                     *body_json;  /* parsed once, if JSON */
    ngx_array_t                *body_strings;  /* unescaped, for body~ */
    ngx_array_t                *body_members;  /* of an outermost object,
                                                  if judged as JSON */
    size_t                      body_string_bytes;  /* its string values'
                                                       bytes, unescaped */
    ngx_http_zt_body_refusal_t *body_refusal;  /* why it was refused */

    ngx_uint_t                  masked;
    ngx_http_zt_mask_ctx_t     *mask;   /* response filter state */
    ngx_uint_t                  masked_request;
    ngx_http_zt_mask_body_t    *mask_body;  /* request masking state */

    ngx_http_zt_usage_t        *usage;  /* the reservation, its settlement */

    ngx_int_t                   rc;         /* access phase result */
    unsigned                    done:1;
    unsigned                    body_read:1;
    unsigned                    body_hashed:1;
    unsigned                    body_too_large:1;
    unsigned                    waiting_body:1;
    unsigned                    body_json_parsed:1;
    unsigned                    body_json_invalid:1;
    unsigned                    body_json_read:1;  /* judged as JSON */
    unsigned                    body_json_members:1;  /* body_members is
                                                         the whole top */
    unsigned                    body_error:1;
    unsigned                    body_judged:1;
    unsigned                    body_json_type:1;  /* a JSON content type */
    unsigned                    scope_missed:1;  /* a scope= did not hold */
    unsigned                    grants_loaded:1;
    unsigned                    token_cache:2;   /* 1: miss, 2: hit */
    unsigned                    dpop:1;          /* Authorization: DPoP */
    unsigned                    dpop_proof:1;    /* the proof was refused */
};


extern ngx_module_t  ngx_http_zt_inference_module;


ngx_http_zt_ctx_t *ngx_http_zt_get_ctx(ngx_http_request_t *r);


#endif /* _NGX_HTTP_ZT_INFERENCE_H_INCLUDED_ */
