
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


/* the longest watched number or literal kept across chunks */
#define NGX_HTTP_ZT_MASK_SCALAR_MAX  64


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
    ngx_uint_t                *owner;      /* the path of each position */
    size_t                     max_name;   /* longest name a key can match */

    ngx_http_zt_mask_track_pt  hook;
    void                      *hook_data;

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
    ngx_http_zt_mask_rule_t   *selected;
    ngx_uint_t                 track;      /* id of a watched value */
    u_char                    *value;      /* where a scalar started */

    /* a watched scalar that began in an earlier chunk: its bytes so far */
    u_char                     scalar[NGX_HTTP_ZT_MASK_SCALAR_MAX];
    size_t                     scalar_len;

    u_char                    *start;      /* the chunk being scanned */
    u_char                    *last;
    u_char                    *copy;       /* unsent bytes start here */
    u_char                    *held;       /* held string starts here */
    u_char                    *key_start;

    ngx_http_zt_mask_buf_t     hold;       /* string across chunks */
    ngx_http_zt_mask_buf_t     key_raw;
    u_char                    *key;        /* unescaped */
    size_t                     key_len;
    size_t                     key_cap;

    ngx_uint_t                 changes;

    unsigned                   skipping:1;
    unsigned                   holding:1;
    unsigned                   in_key:1;
    unsigned                   key_over:1;
    unsigned                   escaped:1;  /* the string has a '\\' */
    unsigned                   scalar_split:1;
    unsigned                   scalar_over:1;
};


#define ngx_http_zt_bit_test(b, n)                                            \
    ((b)[(n) >> 6] & ((uint64_t) 1 << ((n) & 63)))
#define ngx_http_zt_bit_set(b, n)                                             \
    (b)[(n) >> 6] |= ((uint64_t) 1 << ((n) & 63))


static ngx_inline u_char *ngx_http_zt_mask_json_plain(u_char *p,
    u_char *last);
static ngx_int_t ngx_http_zt_mask_json_value(ngx_http_zt_mask_json_t *js,
    u_char *p);
static ngx_int_t ngx_http_zt_mask_json_end(ngx_http_zt_mask_json_t *js,
    u_char *end, ngx_uint_t scalar);
static ngx_int_t ngx_http_zt_mask_json_close(ngx_http_zt_mask_json_t *js,
    u_char *p, u_char ch);
static void ngx_http_zt_mask_json_step(ngx_http_zt_mask_json_t *js,
    ngx_http_zt_mask_frame_t *parent, uint64_t *child);
static ngx_uint_t ngx_http_zt_mask_json_key_is(ngx_http_zt_mask_json_t *js,
    ngx_str_t *name);
static ngx_int_t ngx_http_zt_mask_json_key_end(ngx_http_zt_mask_json_t *js,
    u_char *p);
static ngx_int_t ngx_http_zt_mask_json_string_end(ngx_http_zt_mask_json_t *js,
    u_char *p);
static ngx_int_t ngx_http_zt_mask_json_rewrite(ngx_http_zt_mask_json_t *js,
    u_char *raw, size_t len, ngx_uint_t in_chunk);
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
    ngx_http_zt_mask_emit_t *emit, ngx_http_zt_mask_jpath_t *track,
    ngx_uint_t ntrack)
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

    n = mr->npaths + ntrack;

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

        if (i < mr->npaths) {
            jp->path = &mr->paths[i]->path;
            jp->rule = mr->paths[i];
            jp->track = 0;

        } else {
            *jp = track[i - mr->npaths];
            jp->rule = NULL;
        }

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

    js->owner = ngx_palloc(mr->pool, (bit ? bit : 1) * sizeof(ngx_uint_t));
    if (js->owner == NULL) {
        return NULL;
    }

    for (i = 0; i < n; i++) {
        for (j = 0; j <= js->jpaths[i].path->nsteps; j++) {
            js->owner[js->jpaths[i].bit + j] = i;
        }
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


void
ngx_http_zt_mask_json_set_hook(ngx_http_zt_mask_json_t *js,
    ngx_http_zt_mask_track_pt hook, void *data)
{
    js->hook = hook;
    js->hook_data = data;
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
    js->track = 0;
    js->scalar_split = 0;
}


ngx_uint_t
ngx_http_zt_mask_json_changes(ngx_http_zt_mask_json_t *js)
{
    return js->changes;
}


/* the index of the current element of the array open at "level" */

ngx_int_t
ngx_http_zt_mask_json_index(ngx_http_zt_mask_json_t *js, ngx_uint_t level)
{
    if (level >= js->depth || js->frames[level].type != '['
        || js->frames[level].index == 0)
    {
        return NGX_ERROR;
    }

    return js->frames[level].index - 1;
}


ngx_int_t
ngx_http_zt_mask_json_feed(ngx_http_zt_mask_json_t *js, u_char *p,
    u_char *last, ngx_uint_t eof)
{
    u_char     ch, *from;
    ngx_int_t  rc;

    js->start = p;
    js->last = last;
    js->copy = (js->skipping || js->holding) ? NULL : p;

    if (js->holding) {
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

            if (!js->skipping && js->max_name) {
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

    /* a watched number or literal goes on in the next chunk: keep it */

    if (js->track && (js->state == sw_number || js->state == sw_literal)) {
        from = js->scalar_split ? js->start : js->value;

        if ((size_t) (last - from) > sizeof(js->scalar) - js->scalar_len) {
            js->scalar_over = 1;

        } else if (!js->scalar_over) {
            js->scalar_len = ngx_cpymem(js->scalar + js->scalar_len, from,
                                        last - from)
                             - js->scalar;
        }

        js->scalar_split = 1;
    }

    if (js->holding) {
        if (ngx_http_zt_mask_buf_add(js->mr, &js->hold, js->held,
                                     last - js->held, js->mr->max)
            != NGX_OK)
        {
            if (js->mr->err == NULL) {
                js->mr->err = "a string value is longer than zt_mask_buffer";
            }

            return NGX_ERROR;
        }
    }

    if (js->in_key && !js->key_over) {
        if ((size_t) (last - js->key_start)
            > js->key_raw.size - js->key_raw.len)
        {
            js->key_over = 1;

        } else {
            js->key_raw.len = ngx_cpymem(js->key_raw.data + js->key_raw.len,
                                         js->key_start, last - js->key_start)
                              - js->key_raw.data;
        }
    }

    if (js->copy) {
        rc = ngx_http_zt_mask_json_flush(js, last);
        if (rc != NGX_OK) {
            return rc;
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


/*
 * Skips the plain bytes of a string: the first '"', '\\' or control
 * character from p, or last.  Eight bytes at a time: a byte of w is zero
 * exactly when (w - 0x01...) & ~w has its high bit set.
 */

static ngx_inline u_char *
ngx_http_zt_mask_json_plain(u_char *p, u_char *last)
{
    uint64_t  w, q, b;

    static const uint64_t  ones = 0x0101010101010101ULL;
    static const uint64_t  high = 0x8080808080808080ULL;

    while (last - p >= 8) {
        ngx_memcpy(&w, p, 8);

        q = w ^ (ones * '"');
        b = w ^ (ones * '\\');

        if ((((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w))
            & high)
        {
            break;
        }

        p += 8;
    }

    while (p < last && *p != '"' && *p != '\\' && *p >= 0x20) {
        p++;
    }

    return p;
}


/* a value starts at p: is it selected, watched, held, or passed through? */

static ngx_int_t
ngx_http_zt_mask_json_value(ngx_http_zt_mask_json_t *js, u_char *p)
{
    size_t                     size;
    uint64_t                   w, *bits;
    ngx_uint_t                 i, b, n, need;
    ngx_http_zt_mask_jpath_t  *jp;
    ngx_http_zt_mask_frame_t  *frame, *frames;

    js->track = 0;
    js->selected = NULL;

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

        /* the paths that end here, in their order: set bits only */

        for (i = 0; i < js->words && js->selected == NULL; i++) {
            for (w = js->cur[i]; w; w &= w - 1) {
                b = i * 64 + (ngx_uint_t) __builtin_ctzll(w);
                jp = &js->jpaths[js->owner[b]];

                if (b != jp->bit + jp->path->nsteps) {
                    continue;
                }

                if (jp->rule) {
                    js->selected = jp->rule;
                    break;
                }

                if (js->track == 0) {
                    js->track = jp->track;
                }
            }
        }

        if (js->selected) {
            if (js->copy && ngx_http_zt_mask_json_flush(js, p) != NGX_OK) {
                return NGX_ERROR;
            }

            if (js->emit->ref(js->emit->data, js->selected->with_json.data,
                              js->selected->with_json.len)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            (*js->mr->masked)++;
            js->changes++;

            js->skipping = 1;
            js->skip_depth = js->depth;
            js->copy = NULL;
            js->track = 0;
        }

    } else if (js->depth && js->frames[js->depth - 1].type == '[') {
        js->frames[js->depth - 1].index++;
    }

    js->value = p;
    js->scalar_split = 0;
    js->scalar_over = 0;
    js->scalar_len = 0;

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
        js->track = 0;

        return NGX_OK;

    case '"':

        js->state = sw_string;
        js->esc = 0;
        js->escaped = 0;

        need = (js->mr->npatterns || js->track);

        if (!js->skipping && need) {
            if (js->copy && ngx_http_zt_mask_json_flush(js, p) != NGX_OK) {
                return NGX_ERROR;
            }

            js->copy = NULL;
            js->holding = 1;
            js->held = p;
            js->hold.len = 0;
        }

        return NGX_OK;

    case '-':
        js->state = sw_number;
        js->num = sw_num_minus;
        return NGX_OK;

    case 't':
        js->lit = "true";
        break;

    case 'f':
        js->lit = "false";
        break;

    case 'n':
        js->lit = "null";
        break;

    default:

        if (*p >= '0' && *p <= '9') {
            js->state = sw_number;
            js->num = (*p == '0') ? sw_num_zero : sw_num_int;
            return NGX_OK;
        }

        return ngx_http_zt_mask_json_error(js, p, "a value expected");
    }

    js->state = sw_literal;
    js->lit_pos = 1;

    return NGX_OK;
}


/* a value ended just before "end" */

static ngx_int_t
ngx_http_zt_mask_json_end(ngx_http_zt_mask_json_t *js, u_char *end,
    ngx_uint_t scalar)
{
    ngx_int_t  rc;

    if (js->skipping && js->depth == js->skip_depth) {
        js->skipping = 0;
        js->copy = end;
    }

    if (scalar && js->track && js->hook && !js->scalar_split) {
        rc = js->hook(js->hook_data, js->track, js->value, end - js->value);
        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

    } else if (scalar && js->track && js->hook && !js->scalar_over
               && (size_t) (end - js->start)
                  <= sizeof(js->scalar) - js->scalar_len)
    {
        /* begun in an earlier chunk: its bytes there, then these */

        js->scalar_len = ngx_cpymem(js->scalar + js->scalar_len, js->start,
                                    end - js->start)
                         - js->scalar;

        rc = js->hook(js->hook_data, js->track, js->scalar, js->scalar_len);
        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }
    }

    js->track = 0;
    js->scalar_split = 0;
    js->scalar_over = 0;
    js->scalar_len = 0;
    js->state = sw_after;

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

    js->depth--;

    return ngx_http_zt_mask_json_end(js, p + 1, 0);
}


/* the positions a child of "parent" reaches, given its key or index */

static void
ngx_http_zt_mask_json_step(ngx_http_zt_mask_json_t *js,
    ngx_http_zt_mask_frame_t *parent, uint64_t *child)
{
    uint64_t                   w;
    ngx_uint_t                 i, k, b;
    ngx_http_zt_jp_step_t     *st;
    ngx_http_zt_mask_jpath_t  *jp;

    for (i = 0; i < js->words; i++) {
        child[i] = 0;
    }

    /*
     * Only the positions the parent reached, bit by bit: most values (all
     * of them below a key no path names) are reached by none.
     */

    for (i = 0; i < js->words; i++) {
        for (w = parent->bits[i]; w; w &= w - 1) {
            b = i * 64 + (ngx_uint_t) __builtin_ctzll(w);
            jp = &js->jpaths[js->owner[b]];
            k = b - jp->bit;

            if (k == jp->path->nsteps) {
                /* the path ends at the parent: nothing below it */
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
    return !js->key_over && js->key_len == name->len
           && ngx_memcmp(js->key, name->data, name->len) == 0;
}


static ngx_int_t
ngx_http_zt_mask_json_key_end(ngx_http_zt_mask_json_t *js, u_char *p)
{
    if (!js->in_key) {
        return NGX_OK;
    }

    js->in_key = 0;

    if (!js->escaped && js->key_raw.len == 0 && !js->key_over) {

        /* the usual key: in one chunk, nothing to unescape */

        js->key_len = p - js->key_start;

        if (js->key_len > js->max_name) {
            js->key_over = 1;
            return NGX_OK;
        }

        ngx_memcpy(js->key, js->key_start, js->key_len);

        return NGX_OK;
    }

    if (js->key_over
        || (size_t) (p - js->key_start) > js->key_raw.size - js->key_raw.len)
    {
        js->key_over = 1;
        return NGX_OK;
    }

    js->key_raw.len = ngx_cpymem(js->key_raw.data + js->key_raw.len,
                                 js->key_start, p - js->key_start)
                      - js->key_raw.data;

    js->key_len = ngx_http_zt_mask_json_unescape(js->key, js->key_raw.data,
                                                 js->key_raw.len);

    if (js->key_len > js->max_name) {
        js->key_over = 1;
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
    js->copy = p + 1;

    if (js->track && js->hook) {
        rc = js->hook(js->hook_data, js->track, raw, len);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_OK) {
            /* the watcher rewrites it later */
            return ngx_http_zt_mask_json_raw(js, raw, len, in_chunk);
        }
    }

    return ngx_http_zt_mask_json_rewrite(js, raw, len, in_chunk);
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
    ngx_http_zt_mask_rule_t   *rule;
    ngx_http_zt_mask_range_t  *range;

    mr = js->mr;

    if (mr->npatterns == 0) {
        return ngx_http_zt_mask_json_raw(js, raw, len, in_chunk);
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
        return ngx_http_zt_mask_json_raw(js, raw, len, in_chunk);
    }

    range = mr->ranges.elts;

    if (!js->escaped) {

        /* a byte is a unit: each match is cut out and replaced as a whole */

        seg = raw;

        for (ri = 0; ri < mr->ranges.nelts; ri++) {
            if (ngx_http_zt_mask_json_raw(js, seg,
                                          raw + 1 + range[ri].start - seg,
                                          in_chunk)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            rule = range[ri].rule;

            if (js->emit->ref(js->emit->data, rule->with_esc.data,
                              rule->with_esc.len)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            (*mr->masked)++;
            js->changes++;

            seg = raw + 1 + range[ri].end;
        }

        return ngx_http_zt_mask_json_raw(js, seg, raw + len - seg, in_chunk);
    }
    ri = 0;
    emitted = 0;
    uo = 0;

    p = raw + 1;
    last = raw + len - 1;
    seg = raw;

    while (p < last && ri < mr->ranges.nelts) {
        n = ngx_http_zt_mask_json_unit(p, last, tmp, &ulen);

        if (uo + ulen > range[ri].start && uo < range[ri].end) {

            if (!emitted) {
                if (ngx_http_zt_mask_json_raw(js, seg, p - seg, in_chunk)
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }

                rule = range[ri].rule;

                if (js->emit->ref(js->emit->data, rule->with_esc.data,
                                  rule->with_esc.len)
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }

                emitted = 1;
                (*mr->masked)++;
                js->changes++;
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
