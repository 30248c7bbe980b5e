
/*
 * zt-inference: the streaming JSON scanner of the masking filter.  It reads
 * a response piece by piece, checks it is JSON, follows the path of every
 * value and rewrites only what a rule selects: a value a zt_mask path
 * selects becomes the replacement string, a string value in which a
 * detector matches is re-escaped with the matches replaced.  All other
 * bytes go out as they came.  It holds back only the string value it is
 * looking at (and a key it compares), so its memory is bounded by the
 * longest such string, capped by zt_mask_buffer.
 *
 * Paths are followed as position sets: for each path, the set of steps
 * that the current value could have reached, one bit per step, kept per
 * open container.
 */


#include "ngx_http_zt_inference.h"
#include "ngx_http_zt_mask_scan.h"


typedef struct {
    uint64_t                  *bits;       /* positions of this container */
    ngx_uint_t                 index;      /* arrays: elements so far */
    u_char                     type;       /* '{' or '[' */
} ngx_http_zt_mask_frame_t;


typedef enum {
    sw_value = 0,           /* a value must come */
    sw_value_or_close,      /* after '[' */
    sw_key_or_close,        /* after '{' */
    sw_key,                 /* after ',' in an object */
    sw_key_string,
    sw_colon,
    sw_after,               /* after a value */
    sw_string,
    sw_number,
    sw_literal
} ngx_http_zt_mask_json_state_e;


typedef enum {
    sw_num_minus = 0,
    sw_num_zero,
    sw_num_int,
    sw_num_dot,
    sw_num_frac,
    sw_num_exp,
    sw_num_exp_sign,
    sw_num_exp_digits
} ngx_http_zt_mask_num_state_e;


struct ngx_http_zt_mask_json_s {
    ngx_http_zt_mask_req_t    *mr;
    ngx_http_zt_mask_emit_t   *emit;

    ngx_http_zt_mask_jpath_t  *jpaths;
    ngx_uint_t                 njpaths;
    ngx_uint_t                 words;      /* uint64_t per position set */
    size_t                     max_name;   /* longest name a key can match */

    ngx_http_zt_mask_watch_t  *watch;
    ngx_uint_t                 quiet;      /* a declined container's depth */

    ngx_http_zt_mask_frame_t  *frames;
    uint64_t                  *bits;       /* words per frame */
    ngx_uint_t                 nframes;    /* allocated */
    ngx_uint_t                 depth;
    uint64_t                  *root;
    uint64_t                  *cur;        /* the value being started */

    ngx_uint_t                 state;
    ngx_uint_t                 num;
    ngx_uint_t                 esc;        /* 1: after '\', 2-5: \u digit */
    const char                *lit;
    ngx_uint_t                 lit_pos;

    ngx_uint_t                 skip_depth;
    u_char                    *skip_start;  /* the value being replaced */
    ngx_http_zt_mask_rule_t   *skip_rule;
    ngx_http_zt_mask_rule_t   *selected;
    u_char                    *value;      /* where a scalar started */

    u_char                    *start;      /* the chunk being scanned */
    u_char                    *last;
    u_char                    *copy;       /* unsent bytes start here */
    u_char                    *held;       /* held value starts here */
    u_char                    *key_start;
    u_char                    *name;       /* the last key, for a watcher */
    size_t                     name_len;

    ngx_http_zt_mask_buf_t     hold;       /* a value across chunks */
    ngx_http_zt_mask_buf_t     key_raw;    /* a key across chunks */
    u_char                    *key;        /* unescaped */
    size_t                     key_len;
    size_t                     key_cap;

    ngx_uint_t                 changes;

    unsigned                   skipping:1;
    unsigned                   holding:1;
    unsigned                   in_key:1;
    unsigned                   key_over:1;
    unsigned                   escaped:1;  /* the string has a '\\' */
    unsigned                   told:1;     /* the watcher takes this value */
    unsigned                   keeping:1;  /* a told number or literal */
    unsigned                   keep_name:1;  /* a key the watcher is told */
};


#define ngx_http_zt_bit_test(b, n)                                            \
    ((b)[(n) >> 6] & ((uint64_t) 1 << ((n) & 63)))
#define ngx_http_zt_bit_set(b, n)                                             \
    (b)[(n) >> 6] |= ((uint64_t) 1 << ((n) & 63))


static ngx_inline u_char *ngx_http_zt_mask_json_plain(u_char *p,
    u_char *last);
static ngx_int_t ngx_http_zt_mask_json_value(ngx_http_zt_mask_json_t *js,
    u_char *p);
static ngx_int_t ngx_http_zt_mask_json_ended(ngx_http_zt_mask_json_t *js,
    u_char *end);
static ngx_inline ngx_int_t ngx_http_zt_mask_json_end(
    ngx_http_zt_mask_json_t *js, u_char *end, ngx_uint_t scalar);
static ngx_int_t ngx_http_zt_mask_json_close(ngx_http_zt_mask_json_t *js,
    u_char *p, u_char ch);
static void ngx_http_zt_mask_json_step(ngx_http_zt_mask_json_t *js,
    ngx_http_zt_mask_frame_t *parent, uint64_t *child);
static ngx_uint_t ngx_http_zt_mask_json_key_is(ngx_http_zt_mask_json_t *js,
    ngx_str_t *name);
static ngx_int_t ngx_http_zt_mask_json_key_add(ngx_http_zt_mask_json_t *js,
    u_char *p, u_char *end);
static ngx_int_t ngx_http_zt_mask_json_key_end(ngx_http_zt_mask_json_t *js,
    u_char *p);
static ngx_int_t ngx_http_zt_mask_json_string_end(ngx_http_zt_mask_json_t *js,
    u_char *p);
static ngx_int_t ngx_http_zt_mask_json_rewrite(ngx_http_zt_mask_json_t *js,
    u_char *raw, size_t len, ngx_uint_t in_chunk);
static ngx_int_t ngx_http_zt_mask_json_keep(ngx_http_zt_mask_json_t *js,
    u_char *raw, size_t len, ngx_uint_t in_chunk);
static ngx_int_t ngx_http_zt_mask_json_placeholder(
    ngx_http_zt_mask_json_t *js, u_char *end);
static ngx_int_t ngx_http_zt_mask_json_with(ngx_http_zt_mask_json_t *js,
    ngx_http_zt_mask_range_t *range, u_char *u);
static ngx_int_t ngx_http_zt_mask_json_raw(ngx_http_zt_mask_json_t *js,
    u_char *p, size_t len, ngx_uint_t in_chunk);
static ngx_int_t ngx_http_zt_mask_json_flush(ngx_http_zt_mask_json_t *js,
    u_char *p);
static size_t ngx_http_zt_mask_json_unit(u_char *p, u_char *last,
    u_char *out, size_t *n);
static ngx_int_t ngx_http_zt_mask_json_error(ngx_http_zt_mask_json_t *js,
    u_char *p, const char *err);


ngx_http_zt_mask_json_t *
ngx_http_zt_mask_json_create(ngx_http_zt_mask_req_t *mr,
    ngx_http_zt_mask_emit_t *emit)
{
    size_t                     len;
    ngx_uint_t                 i, j, n, bit;
    ngx_http_zt_jp_step_t     *st;
    ngx_http_zt_mask_jpath_t  *jp;
    ngx_http_zt_mask_json_t   *js;

    js = ngx_pcalloc(mr->pool, sizeof(ngx_http_zt_mask_json_t));
    if (js == NULL) {
        return NULL;
    }

    js->mr = mr;
    js->emit = emit;

    n = mr->npaths;

    if (n) {
        js->jpaths = ngx_palloc(mr->pool,
                                n * sizeof(ngx_http_zt_mask_jpath_t));
        if (js->jpaths == NULL) {
            return NULL;
        }
    }

    bit = 0;

    for (i = 0; i < n; i++) {
        jp = &js->jpaths[i];
        jp->path = &mr->paths[i]->path;
        jp->rule = mr->paths[i];
        jp->bit = bit;
        bit += jp->path->nsteps + 1;

        st = jp->path->steps;

        for (j = 0; j < jp->path->nsteps; j++) {
            if ((st[j].type == NGX_HTTP_ZT_JP_KEY
                 || st[j].type == NGX_HTTP_ZT_JP_DESCEND)
                && st[j].name.len > js->max_name)
            {
                js->max_name = st[j].name.len;
            }
        }
    }

    js->njpaths = n;
    js->words = bit / 64 + 1;

    js->root = ngx_pcalloc(mr->pool, 2 * js->words * sizeof(uint64_t));
    if (js->root == NULL) {
        return NULL;
    }

    js->cur = js->root + js->words;

    for (i = 0; i < n; i++) {
        ngx_http_zt_bit_set(js->root, js->jpaths[i].bit);
    }

    /* a key is compared unescaped: \uXXXX is 6 bytes for 1 */

    if (js->max_name) {
        js->key_cap = js->max_name * 6 + 16;

        js->key = ngx_pnalloc(mr->pool, js->key_cap);
        if (js->key == NULL) {
            return NULL;
        }

        len = js->key_cap;

        js->key_raw.data = ngx_pnalloc(mr->pool, len);
        if (js->key_raw.data == NULL) {
            return NULL;
        }

        js->key_raw.size = len;
    }

    return js;
}


/*
 * The watcher is told where each value starts, where each container ends
 * and the text of each scalar it takes; it rewrites the strings it takes
 * itself, and those only if it is fed each JSON text whole, in one buffer
 * (the SSE parser).  A name or scalar cut between two chunks is kept until
 * it is whole, so that a watcher that only reads (the usage reader) may be
 * fed a JSON body as it arrives.
 */

void
ngx_http_zt_mask_json_watch(ngx_http_zt_mask_json_t *js,
    ngx_http_zt_mask_watch_t *watch)
{
    js->watch = watch;
}


void
ngx_http_zt_mask_json_reset(ngx_http_zt_mask_json_t *js)
{
    js->depth = 0;
    js->state = sw_value;
    js->esc = 0;
    js->skipping = 0;
    js->holding = 0;
    js->in_key = 0;
    js->hold.len = 0;
    js->changes = 0;
    js->quiet = 0;
    js->told = 0;
    js->keeping = 0;
    js->keep_name = 0;
}


ngx_uint_t
ngx_http_zt_mask_json_changes(ngx_http_zt_mask_json_t *js)
{
    return js->changes;
}


ngx_int_t
ngx_http_zt_mask_json_feed(ngx_http_zt_mask_json_t *js, u_char *p,
    u_char *last, ngx_uint_t eof)
{
    u_char     ch;
    ngx_int_t  rc;

    js->start = p;
    js->last = last;
    js->copy = (js->skipping || js->holding) ? NULL : p;

    if (js->holding || js->keeping) {
        js->held = p;
    }

    if (js->in_key) {
        js->key_start = p;
    }

    for ( /* void */ ; p < last; p++) {
        ch = *p;

    again:

        switch (js->state) {

        case sw_string:
        case sw_key_string:

            if (js->esc == 0) {

                /* the tight loop: most bytes of a string are plain */

                if (ch != '"' && ch != '\\' && ch >= 0x20) {
                    p = ngx_http_zt_mask_json_plain(p + 1, last);

                    if (p == last) {
                        goto done;
                    }

                    ch = *p;
                }

                if (ch == '\\') {
                    js->esc = 1;
                    js->escaped = 1;
                    break;
                }

                if (ch != '"') {
                    return ngx_http_zt_mask_json_error(js, p,
                                          "control character in a string");
                }

                if (js->state == sw_key_string) {
                    if (ngx_http_zt_mask_json_key_end(js, p) != NGX_OK) {
                        return NGX_ERROR;
                    }

                    js->state = sw_colon;
                    break;
                }

                if (js->holding) {
                    if (ngx_http_zt_mask_json_string_end(js, p) != NGX_OK) {
                        return NGX_ERROR;
                    }
                }

                if (ngx_http_zt_mask_json_end(js, p + 1, 0) != NGX_OK) {
                    return NGX_ERROR;
                }

                break;
            }

            if (js->esc == 1) {
                switch (ch) {
                case '"': case '\\': case '/': case 'b':
                case 'f': case 'n': case 'r': case 't':
                    js->esc = 0;
                    break;

                case 'u':
                    js->esc = 2;
                    break;

                default:
                    return ngx_http_zt_mask_json_error(js, p,
                                                       "invalid escape");
                }

                break;
            }

            if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')
                  || (ch >= 'A' && ch <= 'F')))
            {
                return ngx_http_zt_mask_json_error(js, p,
                                                   "invalid \\u escape");
            }

            js->esc = (js->esc == 5) ? 0 : js->esc + 1;
            break;

        case sw_number:

            switch (js->num) {

            case sw_num_minus:
                if (ch == '0') {
                    js->num = sw_num_zero;
                    break;
                }

                if (ch >= '1' && ch <= '9') {
                    js->num = sw_num_int;
                    break;
                }

                return ngx_http_zt_mask_json_error(js, p, "invalid number");

            case sw_num_zero:
            case sw_num_int:
                if (ch >= '0' && ch <= '9') {
                    if (js->num == sw_num_zero) {
                        return ngx_http_zt_mask_json_error(js, p,
                                                 "leading zero in a number");
                    }

                    break;
                }

                if (ch == '.') {
                    js->num = sw_num_dot;
                    break;
                }

                if (ch == 'e' || ch == 'E') {
                    js->num = sw_num_exp;
                    break;
                }

                goto number_end;

            case sw_num_dot:
                if (ch >= '0' && ch <= '9') {
                    js->num = sw_num_frac;
                    break;
                }

                return ngx_http_zt_mask_json_error(js, p, "invalid number");

            case sw_num_frac:
                if (ch >= '0' && ch <= '9') {
                    break;
                }

                if (ch == 'e' || ch == 'E') {
                    js->num = sw_num_exp;
                    break;
                }

                goto number_end;

            case sw_num_exp:
                if (ch == '+' || ch == '-') {
                    js->num = sw_num_exp_sign;
                    break;
                }

                /* fall through */

            case sw_num_exp_sign:
                if (ch >= '0' && ch <= '9') {
                    js->num = sw_num_exp_digits;
                    break;
                }

                return ngx_http_zt_mask_json_error(js, p, "invalid number");

            default: /* sw_num_exp_digits */
                if (ch >= '0' && ch <= '9') {
                    break;
                }

                goto number_end;
            }

            break;

        number_end:

            if (ngx_http_zt_mask_json_end(js, p, 1) != NGX_OK) {
                return NGX_ERROR;
            }

            /* the byte after a number belongs to what follows */
            goto again;

        case sw_literal:

            if (ch != (u_char) js->lit[js->lit_pos]) {
                return ngx_http_zt_mask_json_error(js, p, "invalid literal");
            }

            if (js->lit[++js->lit_pos] == '\0') {
                if (ngx_http_zt_mask_json_end(js, p + 1, 1) != NGX_OK) {
                    return NGX_ERROR;
                }
            }

            break;

        case sw_value:
        case sw_value_or_close:

            if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t') {
                break;
            }

            if (ch == ']' && js->state == sw_value_or_close) {
                if (ngx_http_zt_mask_json_close(js, p, ch) != NGX_OK) {
                    return NGX_ERROR;
                }

                break;
            }

            if (ngx_http_zt_mask_json_value(js, p) != NGX_OK) {
                return NGX_ERROR;
            }

            break;

        case sw_key_or_close:
        case sw_key:

            if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t') {
                break;
            }

            if (ch == '}' && js->state == sw_key_or_close) {
                if (ngx_http_zt_mask_json_close(js, p, ch) != NGX_OK) {
                    return NGX_ERROR;
                }

                break;
            }

            if (ch != '"') {
                return ngx_http_zt_mask_json_error(js, p,
                                                   "a key must be a string");
            }

            js->state = sw_key_string;
            js->esc = 0;
            js->escaped = 0;

            js->keep_name = (js->watch && js->quiet == 0 && !js->skipping);

            if (js->keep_name || (!js->skipping && js->max_name)) {
                js->in_key = 1;
                js->key_over = 0;
                js->key_raw.len = 0;
                js->key_start = p + 1;
            }

            break;

        case sw_colon:

            if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t') {
                break;
            }

            if (ch != ':') {
                return ngx_http_zt_mask_json_error(js, p,
                                                   "\":\" expected");
            }

            js->state = sw_value;
            break;

        default: /* sw_after */

            if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t') {
                break;
            }

            if (js->depth == 0) {

                /* a sequence of JSON texts: each is masked the same way */

                if (ngx_http_zt_mask_json_value(js, p) != NGX_OK) {
                    return NGX_ERROR;
                }

                break;
            }

            if (ch == ',') {
                js->state = (js->frames[js->depth - 1].type == '{')
                            ? sw_key : sw_value;
                break;
            }

            if (ch == '}' || ch == ']') {
                if (ngx_http_zt_mask_json_close(js, p, ch) != NGX_OK) {
                    return NGX_ERROR;
                }

                break;
            }

            return ngx_http_zt_mask_json_error(js, p,
                                               "\",\" or a bracket expected");
        }
    }

done:

    /*
     * What goes on in the next chunk is kept: a held string, a told number
     * or literal (unless the body ends here, and with it the number), a
     * key, the name of a member whose value the watcher is yet to be told.
     */

    if (js->holding || (js->keeping && !eof)) {
        if (ngx_http_zt_mask_buf_add(js->mr, &js->hold, js->held,
                                     last - js->held, js->mr->max)
            != NGX_OK)
        {
            if (js->mr->err == NULL) {
                js->mr->err = js->holding
                              ? "a string value is longer than zt_mask_buffer"
                              : "a number is longer than zt_mask_buffer";
            }

            return NGX_ERROR;
        }
    }

    if (js->in_key) {
        if (!js->key_over
            && ngx_http_zt_mask_json_key_add(js, js->key_start, last)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

    } else if (js->keep_name && js->name != js->key_raw.data) {
        js->key_raw.len = 0;

        if (ngx_http_zt_mask_json_key_add(js, js->name,
                                          js->name + js->name_len)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        js->name = js->key_raw.data ? js->key_raw.data : (u_char *) "";
    }

    if (js->copy) {
        rc = ngx_http_zt_mask_json_flush(js, js->holding ? js->held : last);
        if (rc != NGX_OK) {
            return rc;
        }

        if (js->holding) {
            js->copy = NULL;
        }
    }

    if (!eof) {
        return NGX_OK;
    }

    /* a number at the top level ends with the body */

    if (js->state == sw_number && js->depth == 0
        && (js->num == sw_num_zero || js->num == sw_num_int
            || js->num == sw_num_frac || js->num == sw_num_exp_digits))
    {
        if (ngx_http_zt_mask_json_end(js, last, 1) != NGX_OK) {
            return NGX_ERROR;
        }

        if (js->copy) {
            rc = ngx_http_zt_mask_json_flush(js, last);
            if (rc != NGX_OK) {
                return rc;
            }
        }
    }

    if (js->depth == 0 && (js->state == sw_after || js->state == sw_value)) {
        /* an empty body has nothing to mask */
        return NGX_OK;
    }

    return ngx_http_zt_mask_json_error(js, last, "truncated JSON");
}


/* skips the plain bytes of a string: the first '"', '\\' or control byte */

static ngx_inline u_char *
ngx_http_zt_mask_json_plain(u_char *p, u_char *last)
{
    uint64_t  w, q, b, m;

    while (last - p >= 8) {
        ngx_memcpy(&w, p, 8);

        q = w ^ (NGX_HTTP_ZT_ONES * '"');
        b = w ^ (NGX_HTTP_ZT_ONES * '\\');

        m = ngx_http_zt_swar_zero(q) | ngx_http_zt_swar_zero(b)
            | ngx_http_zt_swar_below(w, 0x20);

        if (m) {
            p += ngx_http_zt_swar_skip(m);
            break;
        }

        p += 8;
    }

    while (p < last && *p != '"' && *p != '\\' && *p >= 0x20) {
        p++;
    }

    return p;
}


/* a value starts at p: is it selected, told, held, or passed through? */

static ngx_int_t
ngx_http_zt_mask_json_value(ngx_http_zt_mask_json_t *js, u_char *p)
{
    size_t                     size;
    ngx_int_t                  rc;
    ngx_uint_t                 i, n, need;
    uint64_t                  *bits;
    ngx_http_zt_mask_jpath_t  *jp;
    ngx_http_zt_mask_frame_t  *frame, *frames;

    js->selected = NULL;
    js->told = 0;
    js->keep_name = 0;
    frame = NULL;

    if (!js->skipping) {

        if (js->depth == 0) {
            ngx_memcpy(js->cur, js->root, js->words * sizeof(uint64_t));

        } else {
            frame = &js->frames[js->depth - 1];

            if (frame->type == '[') {
                frame->index++;
            }

            ngx_http_zt_mask_json_step(js, frame, js->cur);
        }

        for (i = 0; i < js->njpaths; i++) {
            jp = &js->jpaths[i];

            if (ngx_http_zt_bit_test(js->cur, jp->bit + jp->path->nsteps)) {
                js->selected = jp->rule;
                break;
            }
        }

        if (js->selected) {
            if (js->copy && ngx_http_zt_mask_json_flush(js, p) != NGX_OK) {
                return NGX_ERROR;
            }

            /* a placeholder is known once the value is read (a request
             * body is one buffer) */

            if (!js->selected->restore
                && js->emit->ref(js->emit->data,
                                 js->selected->with_json.data,
                                 js->selected->with_json.len)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }

            (*js->mr->masked)++;
            js->changes++;

            js->skip_start = p;
            js->skip_rule = js->selected;
            js->skipping = 1;
            js->skip_depth = js->depth;
            js->copy = NULL;

        } else if (js->watch && js->quiet == 0) {
            if (frame == NULL) {
                rc = js->watch->value(js->watch->data, p, NULL, 0, -1);

            } else if (frame->type == '{') {
                rc = js->watch->value(js->watch->data, p, js->name,
                                      js->name_len, -1);

            } else {
                rc = js->watch->value(js->watch->data, p, NULL, 0,
                                      frame->index - 1);
            }

            if (rc == NGX_ERROR) {
                return NGX_ERROR;
            }

            if (rc == NGX_OK) {
                js->told = 1;

            } else if (*p == '{' || *p == '[') {
                /* nothing in it is told, up to its end */
                js->quiet = js->depth + 1;
            }
        }

    } else if (js->depth && js->frames[js->depth - 1].type == '[') {
        js->frames[js->depth - 1].index++;
    }

    js->value = p;

    switch (*p) {

    case '{':
    case '[':

        if (js->depth == NGX_HTTP_ZT_MASK_MAX_DEPTH) {
            return ngx_http_zt_mask_json_error(js, p, "JSON nested too deep");
        }

        if (js->depth == js->nframes) {
            n = js->nframes ? js->nframes * 2 : 16;

            if (n > NGX_HTTP_ZT_MASK_MAX_DEPTH) {
                n = NGX_HTTP_ZT_MASK_MAX_DEPTH;
            }

            size = n * sizeof(ngx_http_zt_mask_frame_t)
                   + n * js->words * sizeof(uint64_t);

            frames = ngx_palloc(js->mr->pool, size);
            if (frames == NULL) {
                js->mr->err = "out of memory";
                return NGX_ERROR;
            }

            bits = (uint64_t *) &frames[n];

            if (js->nframes) {
                ngx_memcpy(frames, js->frames,
                           js->nframes * sizeof(ngx_http_zt_mask_frame_t));
                ngx_memcpy(bits, js->bits,
                           js->nframes * js->words * sizeof(uint64_t));

                ngx_pfree(js->mr->pool, js->frames);
            }

            for (i = 0; i < n; i++) {
                frames[i].bits = bits + i * js->words;
            }

            js->frames = frames;
            js->bits = bits;
            js->nframes = n;
        }

        frame = &js->frames[js->depth++];
        frame->type = *p;
        frame->index = 0;

        if (!js->skipping) {
            ngx_memcpy(frame->bits, js->cur, js->words * sizeof(uint64_t));
        }

        js->state = (*p == '{') ? sw_key_or_close : sw_value_or_close;

        return NGX_OK;

    case '"':

        js->state = sw_string;
        js->esc = 0;
        js->escaped = 0;

        need = (js->mr->npatterns || js->told || js->mr->restore);

        if (!js->skipping && need) {
            /* the bytes before it wait in js->copy: most strings are kept */
            js->holding = 1;
            js->held = p;
            js->hold.len = 0;
        }

        return NGX_OK;

    case '-':
        js->state = sw_number;
        js->num = sw_num_minus;
        break;

    case 't':
    case 'f':
    case 'n':
        js->state = sw_literal;
        js->lit = (*p == 't') ? "true" : (*p == 'f') ? "false" : "null";
        js->lit_pos = 1;
        break;

    default:

        if (*p < '0' || *p > '9') {
            return ngx_http_zt_mask_json_error(js, p, "a value expected");
        }

        js->state = sw_number;
        js->num = (*p == '0') ? sw_num_zero : sw_num_int;
        break;
    }

    /* a number or a literal the watcher takes: kept if cut */

    if (js->told) {
        js->keeping = 1;
        js->held = p;
        js->hold.len = 0;
    }

    return NGX_OK;
}


/* a value ended just before "end" */

static ngx_inline ngx_int_t
ngx_http_zt_mask_json_end(ngx_http_zt_mask_json_t *js, u_char *end,
    ngx_uint_t scalar)
{
    js->state = sw_after;

    if (js->skipping || (scalar && js->told)) {
        return ngx_http_zt_mask_json_ended(js, end);
    }

    return NGX_OK;
}


/* ... and it was replaced, or the watcher is told its text */

static ngx_int_t
ngx_http_zt_mask_json_ended(ngx_http_zt_mask_json_t *js, u_char *end)
{
    u_char  *raw;
    size_t   len;

    if (js->skipping) {
        if (js->depth == js->skip_depth) {
            js->skipping = 0;
            js->copy = end;

            if (js->skip_rule->restore
                && ngx_http_zt_mask_json_placeholder(js, end) != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        return NGX_OK;
    }

    js->keeping = 0;

    if (js->hold.len) {

        /* begun in an earlier chunk: its bytes there, then these */

        if (ngx_http_zt_mask_buf_add(js->mr, &js->hold, js->held,
                                     end - js->held, js->mr->max)
            != NGX_OK)
        {
            if (js->mr->err == NULL) {
                js->mr->err = "a number is longer than zt_mask_buffer";
            }

            return NGX_ERROR;
        }

        raw = js->hold.data;
        len = js->hold.len;
        js->hold.len = 0;

    } else {
        raw = js->value;
        len = end - js->value;
    }

    if (js->watch->scalar(js->watch->data, raw, len) == NGX_ERROR) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_zt_mask_json_close(ngx_http_zt_mask_json_t *js, u_char *p,
    u_char ch)
{
    ngx_http_zt_mask_frame_t  *frame;

    frame = &js->frames[js->depth - 1];

    if ((ch == '}') != (frame->type == '{')) {
        return ngx_http_zt_mask_json_error(js, p, "mismatched bracket");
    }

    if (js->quiet) {
        if (js->quiet == js->depth) {
            /* the container the watcher declined */
            js->quiet = 0;
        }

    } else if (js->watch && !js->skipping
               && js->watch->close(js->watch->data) != NGX_OK)
    {
        return NGX_ERROR;
    }

    js->depth--;

    return ngx_http_zt_mask_json_end(js, p + 1, 0);
}


/* the positions a child of "parent" reaches, given its key or index */

static void
ngx_http_zt_mask_json_step(ngx_http_zt_mask_json_t *js,
    ngx_http_zt_mask_frame_t *parent, uint64_t *child)
{
    ngx_uint_t                 i, k, b;
    ngx_http_zt_jp_step_t     *st;
    ngx_http_zt_mask_jpath_t  *jp;

    for (i = 0; i < js->words; i++) {
        child[i] = 0;
    }

    for (i = 0; i < js->njpaths; i++) {
        jp = &js->jpaths[i];

        for (k = 0; k < jp->path->nsteps; k++) {
            b = jp->bit + k;

            if (!ngx_http_zt_bit_test(parent->bits, b)) {
                continue;
            }

            st = &jp->path->steps[k];

            switch (st->type) {

            case NGX_HTTP_ZT_JP_KEY:
                if (parent->type == '{'
                    && ngx_http_zt_mask_json_key_is(js, &st->name))
                {
                    ngx_http_zt_bit_set(child, b + 1);
                }

                break;

            case NGX_HTTP_ZT_JP_INDEX:
                if (parent->type == '[' && parent->index - 1 == st->index) {
                    ngx_http_zt_bit_set(child, b + 1);
                }

                break;

            case NGX_HTTP_ZT_JP_ANY:
                ngx_http_zt_bit_set(child, b + 1);
                break;

            default: /* NGX_HTTP_ZT_JP_DESCEND */

                /* the search goes on below every child */
                ngx_http_zt_bit_set(child, b);

                if (st->name.len == 0
                    || (st->name.len == 1 && st->name.data[0] == '*'))
                {
                    ngx_http_zt_bit_set(child, b + 1);

                } else if (parent->type == '{'
                           && ngx_http_zt_mask_json_key_is(js, &st->name))
                {
                    ngx_http_zt_bit_set(child, b + 1);
                }

                break;
            }
        }
    }
}


static ngx_uint_t
ngx_http_zt_mask_json_key_is(ngx_http_zt_mask_json_t *js, ngx_str_t *name)
{
    /* the first byte spares most calls */

    return !js->key_over && js->key_len == name->len
           && (name->len == 0
               || (js->key[0] == name->data[0]
                   && ngx_memcmp(js->key, name->data, name->len) == 0));
}


/*
 * Keeps bytes of a key, or of the name of a member whose value is yet to
 * come: as many as zt_mask_buffer for the watcher, which is told names
 * whole, else only as many as a path can match.
 */

static ngx_int_t
ngx_http_zt_mask_json_key_add(ngx_http_zt_mask_json_t *js, u_char *p,
    u_char *end)
{
    ngx_int_t  rc;

    rc = ngx_http_zt_mask_buf_add(js->mr, &js->key_raw, p, end - p,
                                  js->keep_name ? js->mr->max : js->key_cap);

    if (rc == NGX_DECLINED) {
        if (js->keep_name) {
            js->mr->err = "a key is longer than zt_mask_buffer";
            return NGX_ERROR;
        }

        /* no path names it */
        js->key_over = 1;
        return NGX_OK;
    }

    return rc;
}


/* a key closed at p: its name for the watcher, unescaped for the paths */

static ngx_int_t
ngx_http_zt_mask_json_key_end(ngx_http_zt_mask_json_t *js, u_char *p)
{
    if (!js->in_key) {
        return NGX_OK;
    }

    js->in_key = 0;

    if (js->key_raw.len == 0) {
        /* the usual key: in one chunk */
        js->name = js->key_start;
        js->name_len = p - js->key_start;

    } else {
        if (!js->key_over
            && ngx_http_zt_mask_json_key_add(js, js->key_start, p) != NGX_OK)
        {
            return NGX_ERROR;
        }

        js->name = js->key_raw.data;
        js->name_len = js->key_raw.len;
    }

    if (js->max_name == 0) {
        return NGX_OK;
    }

    if (js->key_over || js->name_len > js->key_cap) {
        js->key_over = 1;
        return NGX_OK;
    }

    if (js->escaped) {
        js->key_len = ngx_http_zt_mask_json_unescape(js->key, js->name,
                                                     js->name_len);

    } else {
        js->key_len = js->name_len;
    }

    if (js->key_len > js->max_name) {
        js->key_over = 1;
        return NGX_OK;
    }

    if (!js->escaped) {
        ngx_memcpy(js->key, js->name, js->key_len);
    }

    return NGX_OK;
}


/* a held string value closed at p: run the detectors over it */

static ngx_int_t
ngx_http_zt_mask_json_string_end(ngx_http_zt_mask_json_t *js, u_char *p)
{
    u_char     *raw;
    size_t      len;
    ngx_int_t   rc;
    ngx_uint_t  in_chunk;

    js->holding = 0;

    if (js->hold.len) {
        if (ngx_http_zt_mask_buf_add(js->mr, &js->hold, js->held,
                                     p + 1 - js->held, js->mr->max)
            != NGX_OK)
        {
            if (js->mr->err == NULL) {
                js->mr->err = "a string value is longer than zt_mask_buffer";
            }

            return NGX_ERROR;
        }

        raw = js->hold.data;
        len = js->hold.len;
        in_chunk = 0;

    } else {
        raw = js->held;
        len = p + 1 - js->held;
        in_chunk = 1;

        if (len > js->mr->max) {
            js->mr->err = "a string value is longer than zt_mask_buffer";
            return NGX_ERROR;
        }
    }

    js->hold.len = 0;

    if (js->told) {
        /* what the watcher sends comes after the bytes before the string */

        if (js->copy && ngx_http_zt_mask_json_flush(js, raw) != NGX_OK) {
            return NGX_ERROR;
        }

        rc = js->watch->scalar(js->watch->data, raw, len);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_OK) {
            /* the watcher rewrites it later */
            rc = ngx_http_zt_mask_json_keep(js, raw, len, in_chunk);

        } else {
            rc = ngx_http_zt_mask_json_rewrite(js, raw, len, in_chunk);
        }

    } else {
        rc = ngx_http_zt_mask_json_rewrite(js, raw, len, in_chunk);
    }

    if (js->copy == NULL) {
        js->copy = p + 1;
    }

    return rc;
}


/*
 * An unchanged string: one in the chunk stays in the span js->copy starts,
 * to go out with the bytes around it; one held across chunks goes out now
 * (and the caller starts the next span after it).
 */

static ngx_int_t
ngx_http_zt_mask_json_keep(ngx_http_zt_mask_json_t *js, u_char *raw,
    size_t len, ngx_uint_t in_chunk)
{
    if (in_chunk && js->copy) {
        return NGX_OK;
    }

    js->copy = NULL;

    return ngx_http_zt_mask_json_raw(js, raw, len, in_chunk);
}


/*
 * Detectors see the string unescaped.  Where they match, the escape units
 * that make up the match are replaced; the rest of the string keeps its
 * original bytes, escapes included.
 */

static ngx_int_t
ngx_http_zt_mask_json_rewrite(ngx_http_zt_mask_json_t *js, u_char *raw,
    size_t len, ngx_uint_t in_chunk)
{
    u_char                    *p, *last, *seg, *u, tmp[4];
    size_t                     n, ulen, uo, hold;
    ngx_uint_t                 ri, emitted;
    ngx_http_zt_mask_req_t    *mr;
    ngx_http_zt_mask_range_t  *range;

    mr = js->mr;

    if (mr->npatterns == 0 && mr->restore == NULL) {
        return ngx_http_zt_mask_json_keep(js, raw, len, in_chunk);
    }

    if (js->escaped) {
        mr->scratch.len = 0;

        if (ngx_http_zt_mask_buf_reserve(mr, &mr->scratch, len, (size_t) -1)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        u = mr->scratch.data;
        ulen = ngx_http_zt_mask_json_unescape(u, raw + 1, len - 2);

    } else {
        /* without escapes the string is its own unescaped form */
        u = raw + 1;
        ulen = len - 2;
    }

    if (ngx_http_zt_mask_detect(mr, u, ulen, 0, 0, &hold) != NGX_OK) {
        return NGX_ERROR;
    }

    if (mr->ranges.nelts == 0) {
        return ngx_http_zt_mask_json_keep(js, raw, len, in_chunk);
    }

    range = mr->ranges.elts;

    /* the first piece out starts with the unsent bytes before the string */

    seg = (in_chunk && js->copy) ? js->copy : raw;
    js->copy = NULL;

    if (!js->escaped) {

        /* a byte is a unit: each match is cut out and replaced as a whole */

        for (ri = 0; ri < mr->ranges.nelts; ri++) {
            if (ngx_http_zt_mask_json_raw(js, seg,
                                          raw + 1 + range[ri].start - seg,
                                          in_chunk)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            if (ngx_http_zt_mask_json_with(js, &range[ri], u) != NGX_OK) {
                return NGX_ERROR;
            }

            seg = raw + 1 + range[ri].end;
        }

        return ngx_http_zt_mask_json_raw(js, seg, raw + len - seg, in_chunk);
    }
    ri = 0;
    emitted = 0;
    uo = 0;

    p = raw + 1;
    last = raw + len - 1;

    while (p < last && ri < mr->ranges.nelts) {
        n = ngx_http_zt_mask_json_unit(p, last, tmp, &ulen);

        if (uo + ulen > range[ri].start && uo < range[ri].end) {

            if (!emitted) {
                if (ngx_http_zt_mask_json_raw(js, seg, p - seg, in_chunk)
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }

                if (ngx_http_zt_mask_json_with(js, &range[ri], u) != NGX_OK) {
                    return NGX_ERROR;
                }

                emitted = 1;
            }

            seg = p + n;

            if (uo + ulen >= range[ri].end) {
                ri++;
                emitted = 0;
            }
        }

        uo += ulen;
        p += n;
    }

    return ngx_http_zt_mask_json_raw(js, seg, raw + len - seg, in_chunk);
}


/* the placeholder of a whole value a "restore" rule selects, as a string */

static ngx_int_t
ngx_http_zt_mask_json_placeholder(ngx_http_zt_mask_json_t *js, u_char *end)
{
    ngx_str_t                ph;
    ngx_http_zt_mask_req_t  *mr;

    mr = js->mr;

    if (js->skip_start < js->start) {
        mr->err = "a value to restore spans buffers";
        return NGX_ERROR;
    }

    if (mr->placeholder(mr, js->skip_rule, js->skip_start,
                        end - js->skip_start, 1, &ph)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (js->emit->copy(js->emit->data, (u_char *) "\"", 1) != NGX_OK
        || js->emit->ref(js->emit->data, ph.data, ph.len) != NGX_OK
        || js->emit->copy(js->emit->data, (u_char *) "\"", 1) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * What a match in the unescaped string u becomes: the rule's replacement,
 * a placeholder of request masking, or the value a placeholder stands for.
 */

static ngx_int_t
ngx_http_zt_mask_json_with(ngx_http_zt_mask_json_t *js,
    ngx_http_zt_mask_range_t *range, u_char *u)
{
    ngx_str_t                 text;
    ngx_http_zt_mask_req_t   *mr;
    ngx_http_zt_mask_rule_t  *rule;

    mr = js->mr;
    rule = range->rule;
    js->changes++;

    if (rule == NULL) {
        text = range->restore->value_esc;

    } else if (rule->restore) {
        if (mr->placeholder(mr, rule, u + range->start,
                            range->end - range->start, 0, &text)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        (*mr->masked)++;

    } else {
        text = rule->with_esc;
        (*mr->masked)++;
    }

    return js->emit->ref(js->emit->data, text.data, text.len);
}


static ngx_int_t
ngx_http_zt_mask_json_raw(ngx_http_zt_mask_json_t *js, u_char *p, size_t len,
    ngx_uint_t in_chunk)
{
    if (len == 0) {
        return NGX_OK;
    }

    if (in_chunk) {
        return js->emit->ref(js->emit->data, p, len);
    }

    return js->emit->copy(js->emit->data, p, len);
}


/* sends the bytes of the chunk from js->copy up to p as they are */

static ngx_int_t
ngx_http_zt_mask_json_flush(ngx_http_zt_mask_json_t *js, u_char *p)
{
    u_char  *copy;

    copy = js->copy;
    js->copy = p;

    if (p == copy) {
        return NGX_OK;
    }

    return js->emit->ref(js->emit->data, copy, p - copy);
}


/*
 * Unescapes the inside of a JSON string the scanner has checked.  The
 * result is never longer than the input.  A lone surrogate becomes U+FFFD.
 */

size_t
ngx_http_zt_mask_json_unescape(u_char *dst, u_char *src, size_t len)
{
    u_char  *p, *q, *last, *d;
    size_t   n, k;

    p = src;
    last = src + len;
    d = dst;

    while (p < last) {
        q = memchr(p, '\\', last - p);

        if (q == NULL) {
            d = ngx_cpymem(d, p, last - p);
            break;
        }

        d = ngx_cpymem(d, p, q - p);

        n = ngx_http_zt_mask_json_unit(q, last, d, &k);
        p = q + n;
        d += k;
    }

    return d - dst;
}


static ngx_uint_t
ngx_http_zt_mask_json_hex4(u_char *p)
{
    ngx_uint_t  i, c, v;

    v = 0;

    for (i = 0; i < 4; i++) {
        c = p[i];

        if (c >= '0' && c <= '9') {
            c -= '0';

        } else {
            c = (c | 0x20) - 'a' + 10;
        }

        v = (v << 4) | c;
    }

    return v;
}


/*
 * One unit of a string: a raw byte, an escape, or a surrogate pair of
 * escapes.  Writes its unescaped bytes (up to 4) to out, sets *n to their
 * count and returns the raw bytes it took.
 */

static size_t
ngx_http_zt_mask_json_unit(u_char *p, u_char *last, u_char *out, size_t *n)
{
    ngx_uint_t  c, lo;

    if (*p != '\\' || last - p < 2) {
        out[0] = *p;
        *n = 1;
        return 1;
    }

    switch (p[1]) {
    case 'b': out[0] = '\b'; break;
    case 'f': out[0] = '\f'; break;
    case 'n': out[0] = '\n'; break;
    case 'r': out[0] = '\r'; break;
    case 't': out[0] = '\t'; break;
    case 'u': goto unicode;
    default:  out[0] = p[1]; break;
    }

    *n = 1;
    return 2;

unicode:

    if (last - p < 6) {
        out[0] = '?';
        *n = 1;
        return last - p;
    }

    c = ngx_http_zt_mask_json_hex4(p + 2);

    if (c >= 0xd800 && c <= 0xdbff) {

        if (last - p >= 12 && p[6] == '\\' && p[7] == 'u') {
            lo = ngx_http_zt_mask_json_hex4(p + 8);

            if (lo >= 0xdc00 && lo <= 0xdfff) {
                c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);

                out[0] = (u_char) (0xf0 | (c >> 18));
                out[1] = (u_char) (0x80 | ((c >> 12) & 0x3f));
                out[2] = (u_char) (0x80 | ((c >> 6) & 0x3f));
                out[3] = (u_char) (0x80 | (c & 0x3f));
                *n = 4;
                return 12;
            }
        }

        c = 0xfffd;

    } else if (c >= 0xdc00 && c <= 0xdfff) {
        c = 0xfffd;
    }

    if (c < 0x80) {
        out[0] = (u_char) c;
        *n = 1;

    } else if (c < 0x800) {
        out[0] = (u_char) (0xc0 | (c >> 6));
        out[1] = (u_char) (0x80 | (c & 0x3f));
        *n = 2;

    } else {
        out[0] = (u_char) (0xe0 | (c >> 12));
        out[1] = (u_char) (0x80 | ((c >> 6) & 0x3f));
        out[2] = (u_char) (0x80 | (c & 0x3f));
        *n = 3;
    }

    return 6;
}


static ngx_int_t
ngx_http_zt_mask_json_error(ngx_http_zt_mask_json_t *js, u_char *p,
    const char *err)
{
    js->mr->err = err;
    js->mr->error_at = js->mr->base + (p - js->start);

    return NGX_ERROR;
}


/*
 * The growable buffers of masking: what the scanner holds of a string that
 * spans input buffers, and what the SSE parser holds of an event.
 */

ngx_int_t
ngx_http_zt_mask_buf_reserve(ngx_http_zt_mask_req_t *mr,
    ngx_http_zt_mask_buf_t *b, size_t n, size_t max)
{
    u_char  *p;
    size_t   size;

    /* the cap holds whatever room is already there */

    if (n > max - b->len) {
        return NGX_DECLINED;
    }

    if (b->size - b->len >= n) {
        return NGX_OK;
    }

    size = b->size ? b->size : 256;

    while (size - b->len < n) {
        size *= 2;
    }

    p = ngx_pnalloc(mr->pool, size);
    if (p == NULL) {
        mr->err = "out of memory";
        return NGX_ERROR;
    }

    if (b->len) {
        ngx_memcpy(p, b->data, b->len);
    }

    if (b->data) {
        /* frees what came from the pool's large allocations */
        (void) ngx_pfree(mr->pool, b->data);
    }

    b->data = p;
    b->size = size;

    return NGX_OK;
}


ngx_int_t
ngx_http_zt_mask_buf_add(ngx_http_zt_mask_req_t *mr,
    ngx_http_zt_mask_buf_t *b, u_char *p, size_t n, size_t max)
{
    ngx_int_t  rc;

    if (n == 0) {
        return NGX_OK;
    }

    rc = ngx_http_zt_mask_buf_reserve(mr, b, n, max);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_memcpy(b->data + b->len, p, n);
    b->len += n;

    return NGX_OK;
}
