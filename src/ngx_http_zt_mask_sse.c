
/*
 * zt-inference: masking of server-sent events (text/event-stream), the
 * streaming form of LLM APIs.  Events are cut out of the stream as they
 * arrive, the JSON in their data lines is masked like a JSON body and each
 * event goes out at once; only the event being read is held.
 *
 * In OpenAI-style streams a secret can arrive in pieces, one per event
 * (choices[i].delta.content, or choices[i].text).  Detectors see those
 * pieces joined: the trailing characters of a piece that could still start
 * a match are held back and go out with the next piece of the same choice,
 * when its finish_reason comes, at "[DONE]" or at the end of the stream
 * (then in an event of their own).
 */


#include "ngx_http_zt_inference.h"
#include "ngx_http_zt_mask_scan.h"


#define NGX_HTTP_ZT_SSE_CONTENT      1
#define NGX_HTTP_ZT_SSE_TEXT         2
#define NGX_HTTP_ZT_SSE_INDEX        3
#define NGX_HTTP_ZT_SSE_FINISH       4

#define NGX_HTTP_ZT_SSE_CONTEXT      32     /* bytes kept for lookbehinds */
#define NGX_HTTP_ZT_SSE_MAX_CHOICES  256


/* what is held back for one choice */
typedef struct {
    ngx_int_t                  index;
    ngx_uint_t                 text;       /* choices[].text, not delta */
    ngx_http_zt_mask_buf_t     carry;
    u_char                     context[NGX_HTTP_ZT_SSE_CONTEXT];
    size_t                     context_len;
} ngx_http_zt_mask_choice_t;


/* one element of choices[] in the event being masked */
typedef struct {
    ngx_int_t                  index;      /* its "index", -1: none */
    u_char                    *raw;        /* the content string, quoted */
    size_t                     raw_len;
    size_t                     m_start;    /* where it is in the output */
    size_t                     repl;       /* its rewrite in sse->e */
    size_t                     repl_len;
    unsigned                   content:1;
    unsigned                   text:1;
    unsigned                   finish:1;
    unsigned                   changed:1;
} ngx_http_zt_mask_sse_rec_t;


struct ngx_http_zt_mask_sse_s {
    ngx_http_zt_mask_req_t    *mr;
    ngx_http_zt_mask_emit_t   *out;
    ngx_http_zt_mask_json_t   *js;
    ngx_http_zt_mask_emit_t    memit;      /* the scanner writes into m */

    ngx_http_zt_mask_buf_t     ev;         /* an event across chunks */
    ngx_http_zt_mask_buf_t     payload;    /* its data lines joined */
    ngx_http_zt_mask_buf_t     m;          /* the payload masked */
    ngx_http_zt_mask_buf_t     f;          /* m, contents rewritten */
    ngx_http_zt_mask_buf_t     s;          /* context, carry, content */
    ngx_http_zt_mask_buf_t     e;          /* rewritten contents */

    ngx_array_t                recs;       /* of ngx_http_zt_mask_sse_rec_t */
    ngx_array_t                choices;    /* of ngx_http_zt_mask_choice_t */

    ngx_http_zt_mask_sse_data_pt  data_hook;
    void                      *data_hook_data;

    u_char                    *ev_start;
    size_t                     line_len;
    unsigned                   cr:1;
    unsigned                   end_cr:1;
};


/* the event line as the parser saw it */
typedef struct {
    u_char                    *start;
    u_char                    *end;
    u_char                    *term;       /* its line terminator */
    u_char                    *next;
    u_char                    *value;      /* after "field:" */
    ngx_uint_t                 data;       /* a "data" field */
} ngx_http_zt_mask_sse_line_t;


static ngx_int_t ngx_http_zt_mask_sse_event(ngx_http_zt_mask_sse_t *sse,
    u_char *end);
static ngx_int_t ngx_http_zt_mask_sse_process(ngx_http_zt_mask_sse_t *sse,
    u_char *raw, size_t len, ngx_uint_t in_chunk);
static void ngx_http_zt_mask_sse_line(u_char *p, u_char *last,
    ngx_http_zt_mask_sse_line_t *ln);
static ngx_int_t ngx_http_zt_mask_sse_json(ngx_http_zt_mask_sse_t *sse,
    u_char *payload, size_t len, ngx_uint_t *changed);
static ngx_int_t ngx_http_zt_mask_sse_text(ngx_http_zt_mask_sse_t *sse,
    u_char *payload, size_t len, ngx_uint_t *changed);
static ngx_int_t ngx_http_zt_mask_sse_content(ngx_http_zt_mask_sse_t *sse,
    ngx_http_zt_mask_sse_rec_t *rec, ngx_uint_t k);
static ngx_int_t ngx_http_zt_mask_sse_release(ngx_http_zt_mask_sse_t *sse,
    ngx_http_zt_mask_choice_t *ch, ngx_uint_t partial, u_char *content,
    size_t len, ngx_str_t *result);
static ngx_int_t ngx_http_zt_mask_sse_flush(ngx_http_zt_mask_sse_t *sse,
    ngx_http_zt_mask_choice_t *ch);
static ngx_int_t ngx_http_zt_mask_sse_flush_all(ngx_http_zt_mask_sse_t *sse);
static ngx_int_t ngx_http_zt_mask_sse_reframe(ngx_http_zt_mask_sse_t *sse,
    u_char *raw, size_t len, ngx_uint_t in_chunk, u_char *f, size_t flen);
static ngx_int_t ngx_http_zt_mask_sse_hook(void *data, ngx_uint_t id,
    u_char *raw, size_t len);
static ngx_http_zt_mask_choice_t *ngx_http_zt_mask_sse_choice(
    ngx_http_zt_mask_sse_t *sse, ngx_int_t index, ngx_uint_t text,
    ngx_uint_t create);
static ngx_int_t ngx_http_zt_mask_sse_m(void *data, u_char *p, size_t len);
static ngx_int_t ngx_http_zt_mask_sse_out(ngx_http_zt_mask_sse_t *sse,
    u_char *p, size_t len, ngx_uint_t in_chunk);


static ngx_http_zt_jp_step_t  ngx_http_zt_mask_sse_content_steps[] = {
    { NGX_HTTP_ZT_JP_KEY, ngx_string("choices"), 0 },
    { NGX_HTTP_ZT_JP_ANY, ngx_null_string, 0 },
    { NGX_HTTP_ZT_JP_KEY, ngx_string("delta"), 0 },
    { NGX_HTTP_ZT_JP_KEY, ngx_string("content"), 0 }
};

static ngx_http_zt_jp_step_t  ngx_http_zt_mask_sse_text_steps[] = {
    { NGX_HTTP_ZT_JP_KEY, ngx_string("choices"), 0 },
    { NGX_HTTP_ZT_JP_ANY, ngx_null_string, 0 },
    { NGX_HTTP_ZT_JP_KEY, ngx_string("text"), 0 }
};

static ngx_http_zt_jp_step_t  ngx_http_zt_mask_sse_index_steps[] = {
    { NGX_HTTP_ZT_JP_KEY, ngx_string("choices"), 0 },
    { NGX_HTTP_ZT_JP_ANY, ngx_null_string, 0 },
    { NGX_HTTP_ZT_JP_KEY, ngx_string("index"), 0 }
};

static ngx_http_zt_jp_step_t  ngx_http_zt_mask_sse_finish_steps[] = {
    { NGX_HTTP_ZT_JP_KEY, ngx_string("choices"), 0 },
    { NGX_HTTP_ZT_JP_ANY, ngx_null_string, 0 },
    { NGX_HTTP_ZT_JP_KEY, ngx_string("finish_reason"), 0 }
};

static ngx_http_zt_jsonpath_t  ngx_http_zt_mask_sse_paths[] = {
    { ngx_string("$.choices[*].delta.content"),
      ngx_http_zt_mask_sse_content_steps, 4 },
    { ngx_string("$.choices[*].text"),
      ngx_http_zt_mask_sse_text_steps, 3 },
    { ngx_string("$.choices[*].index"),
      ngx_http_zt_mask_sse_index_steps, 3 },
    { ngx_string("$.choices[*].finish_reason"),
      ngx_http_zt_mask_sse_finish_steps, 3 }
};


ngx_http_zt_mask_sse_t *
ngx_http_zt_mask_sse_create(ngx_http_zt_mask_req_t *mr,
    ngx_http_zt_mask_emit_t *emit)
{
    ngx_uint_t                 i;
    ngx_http_zt_mask_sse_t    *sse;
    ngx_http_zt_mask_jpath_t   track[4];

    sse = ngx_pcalloc(mr->pool, sizeof(ngx_http_zt_mask_sse_t));
    if (sse == NULL) {
        return NULL;
    }

    sse->mr = mr;
    sse->out = emit;

    sse->memit.ref = ngx_http_zt_mask_sse_m;
    sse->memit.copy = ngx_http_zt_mask_sse_m;
    sse->memit.data = sse;

    /* the pieces of a streamed answer are followed only if detectors run */

    for (i = 0; i < 4; i++) {
        track[i].path = &ngx_http_zt_mask_sse_paths[i];
        track[i].rule = NULL;
        track[i].track = i + 1;
        track[i].bit = 0;
    }

    sse->js = ngx_http_zt_mask_json_create(mr, &sse->memit, track,
                                           mr->npatterns ? 4 : 0);
    if (sse->js == NULL) {
        return NULL;
    }

    ngx_http_zt_mask_json_set_hook(sse->js, ngx_http_zt_mask_sse_hook, sse);

    if (ngx_array_init(&sse->recs, mr->pool, 2,
                       sizeof(ngx_http_zt_mask_sse_rec_t))
        != NGX_OK)
    {
        return NULL;
    }

    if (ngx_array_init(&sse->choices, mr->pool, 1,
                       sizeof(ngx_http_zt_mask_choice_t))
        != NGX_OK)
    {
        return NULL;
    }

    return sse;
}


/* an event's data (its data lines joined), before it is masked */

void
ngx_http_zt_mask_sse_set_data_hook(ngx_http_zt_mask_sse_t *sse,
    ngx_http_zt_mask_sse_data_pt hook, void *data)
{
    sse->data_hook = hook;
    sse->data_hook_data = data;
}


ngx_int_t
ngx_http_zt_mask_sse_feed(ngx_http_zt_mask_sse_t *sse, u_char *p,
    u_char *last, ngx_uint_t eof)
{
    u_char  ch;

    sse->ev_start = p;

    for ( /* void */ ; p < last; p++) {
        ch = *p;

        if (sse->cr) {
            sse->cr = 0;

            if (ch == '\n') {
                /* CR LF is one line end */

                if (sse->end_cr) {
                    sse->end_cr = 0;

                    if (ngx_http_zt_mask_sse_event(sse, p + 1) != NGX_OK) {
                        return NGX_ERROR;
                    }
                }

                continue;
            }

            if (sse->end_cr) {
                sse->end_cr = 0;

                if (ngx_http_zt_mask_sse_event(sse, p) != NGX_OK) {
                    return NGX_ERROR;
                }
            }
        }

        if (ch == '\n') {
            if (sse->line_len == 0) {
                /* an empty line ends the event */

                if (ngx_http_zt_mask_sse_event(sse, p + 1) != NGX_OK) {
                    return NGX_ERROR;
                }
            }

            sse->line_len = 0;
            continue;
        }

        if (ch == '\r') {
            /* whether LF follows is known with the next byte */
            sse->cr = 1;
            sse->end_cr = (sse->line_len == 0);
            sse->line_len = 0;
            continue;
        }

        sse->line_len++;
    }

    if (sse->ev_start < last) {
        if (ngx_http_zt_mask_buf_add(sse->mr, &sse->ev, sse->ev_start,
                                     last - sse->ev_start, sse->mr->max)
            != NGX_OK)
        {
            if (sse->mr->err == NULL) {
                sse->mr->err = "an event is longer than zt_mask_buffer";
            }

            return NGX_ERROR;
        }

        sse->ev_start = last;
    }

    if (!eof) {
        return NGX_OK;
    }

    /* clients drop an unfinished last event; it is masked all the same */

    sse->end_cr = 0;
    sse->cr = 0;

    if (sse->ev.len) {
        if (ngx_http_zt_mask_sse_process(sse, sse->ev.data, sse->ev.len, 0)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        sse->ev.len = 0;
    }

    return ngx_http_zt_mask_sse_flush_all(sse);
}


/* an event ends just before "end" in the current chunk */

static ngx_int_t
ngx_http_zt_mask_sse_event(ngx_http_zt_mask_sse_t *sse, u_char *end)
{
    u_char     *start;
    ngx_int_t   rc;

    start = sse->ev_start;
    sse->ev_start = end;

    if (sse->ev.len == 0) {
        return ngx_http_zt_mask_sse_process(sse, start, end - start, 1);
    }

    if (ngx_http_zt_mask_buf_add(sse->mr, &sse->ev, start, end - start,
                                 sse->mr->max)
        != NGX_OK)
    {
        if (sse->mr->err == NULL) {
            sse->mr->err = "an event is longer than zt_mask_buffer";
        }

        return NGX_ERROR;
    }

    rc = ngx_http_zt_mask_sse_process(sse, sse->ev.data, sse->ev.len, 0);

    sse->ev.len = 0;

    return rc;
}


static ngx_int_t
ngx_http_zt_mask_sse_process(ngx_http_zt_mask_sse_t *sse, u_char *raw,
    size_t len, ngx_uint_t in_chunk)
{
    u_char                       *p, *last, *data, *d;
    size_t                        dlen, n;
    ngx_uint_t                    ndata, changed;
    ngx_http_zt_mask_req_t       *mr;
    ngx_http_zt_mask_sse_line_t   ln;

    mr = sse->mr;
    last = raw + len;
    ndata = 0;
    data = NULL;
    dlen = 0;

    /* the data lines, joined with LF */

    for (p = raw; p < last; p = ln.next) {
        ngx_http_zt_mask_sse_line(p, last, &ln);

        if (ln.start == ln.end) {
            break;
        }

        if (!ln.data) {
            continue;
        }

        n = ln.end - ln.value;

        if (ndata == 0) {
            data = ln.value;
            dlen = n;

        } else {
            if (ndata == 1) {
                sse->payload.len = 0;

                if (ngx_http_zt_mask_buf_add(mr, &sse->payload, data, dlen,
                                             (size_t) -1)
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }
            }

            if (ngx_http_zt_mask_buf_add(mr, &sse->payload, (u_char *) "\n",
                                         1, (size_t) -1)
                != NGX_OK
                || ngx_http_zt_mask_buf_add(mr, &sse->payload, ln.value, n,
                                            (size_t) -1)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }

            data = sse->payload.data;
            dlen = sse->payload.len;
        }

        ndata++;
    }

    if (ndata == 0) {
        /* comments, keep-alives, "retry:" */
        return ngx_http_zt_mask_sse_out(sse, raw, len, in_chunk);
    }

    if (sse->data_hook
        && sse->data_hook(sse->data_hook_data, data, dlen) != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (d = data; d < data + dlen; d++) {
        if (*d != ' ' && *d != '\t' && *d != '\n') {
            break;
        }
    }

    n = data + dlen - d;

    while (n && (d[n - 1] == ' ' || d[n - 1] == '\t' || d[n - 1] == '\n')) {
        n--;
    }

    if (n == sizeof("[DONE]") - 1 && ngx_strncmp(d, "[DONE]", n) == 0) {
        if (ngx_http_zt_mask_sse_flush_all(sse) != NGX_OK) {
            return NGX_ERROR;
        }

        return ngx_http_zt_mask_sse_out(sse, raw, len, in_chunk);
    }

    if (n && (*d == '{' || *d == '[')) {
        if (ngx_http_zt_mask_sse_json(sse, data, dlen, &changed) != NGX_OK) {
            return NGX_ERROR;
        }

    } else {
        if (ngx_http_zt_mask_sse_text(sse, data, dlen, &changed) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (!changed) {
        return ngx_http_zt_mask_sse_out(sse, raw, len, in_chunk);
    }

    return ngx_http_zt_mask_sse_reframe(sse, raw, len, in_chunk, sse->f.data,
                                        sse->f.len);
}


static void
ngx_http_zt_mask_sse_line(u_char *p, u_char *last,
    ngx_http_zt_mask_sse_line_t *ln)
{
    u_char  *colon;

    ln->start = p;

    while (p < last && *p != '\r' && *p != '\n') {
        p++;
    }

    ln->end = p;
    ln->term = p;

    if (p < last) {
        p += (*p == '\r' && p + 1 < last && p[1] == '\n') ? 2 : 1;
    }

    ln->next = p;
    ln->data = 0;
    ln->value = ln->end;

    if (ln->start == ln->end || *ln->start == ':') {
        return;
    }

    colon = ngx_strlchr(ln->start, ln->end, ':');

    if (colon == NULL) {
        ln->value = ln->end;

    } else {
        ln->value = colon + 1;

        if (ln->value < ln->end && *ln->value == ' ') {
            ln->value++;
        }
    }

    ln->data = ((colon ? colon : ln->end) - ln->start == 4
                && ngx_strncmp(ln->start, "data", 4) == 0);
}


/* masks a JSON payload into sse->f; *changed says whether it differs */

static ngx_int_t
ngx_http_zt_mask_sse_json(ngx_http_zt_mask_sse_t *sse, u_char *payload,
    size_t len, ngx_uint_t *changed)
{
    size_t                       pos;
    ngx_uint_t                   i, nchanged;
    ngx_http_zt_mask_req_t      *mr;
    ngx_http_zt_mask_choice_t   *ch;
    ngx_http_zt_mask_sse_rec_t  *rec;

    mr = sse->mr;

    ngx_http_zt_mask_json_reset(sse->js);
    sse->m.len = 0;
    sse->e.len = 0;
    sse->recs.nelts = 0;
    mr->base = 0;

    if (ngx_http_zt_mask_json_feed(sse->js, payload, payload + len, 1)
        != NGX_OK)
    {
        if (mr->err == NULL) {
            mr->err = "invalid JSON in an event";
        }

        return NGX_ERROR;
    }

    nchanged = ngx_http_zt_mask_json_changes(sse->js);

    rec = sse->recs.elts;

    for (i = 0; i < sse->recs.nelts; i++) {

        if (rec[i].content) {
            if (ngx_http_zt_mask_sse_content(sse, &rec[i], i) != NGX_OK) {
                return NGX_ERROR;
            }

            nchanged += rec[i].changed;
            continue;
        }

        if (!rec[i].finish) {
            continue;
        }

        /* the choice ends without a piece to carry what is held back */

        ch = ngx_http_zt_mask_sse_choice(sse, rec[i].index >= 0
                                              ? rec[i].index
                                              : (ngx_int_t) i, 0, 0);

        if (ch && ch->carry.len) {
            if (ngx_http_zt_mask_sse_flush(sse, ch) != NGX_OK) {
                return NGX_ERROR;
            }
        }
    }

    *changed = (nchanged != 0);

    if (nchanged == 0) {
        return NGX_OK;
    }

    /* m with each rewritten content in place of the original */

    sse->f.len = 0;
    pos = 0;

    for (i = 0; i < sse->recs.nelts; i++) {
        if (!rec[i].changed) {
            continue;
        }

        if (ngx_http_zt_mask_buf_add(mr, &sse->f, sse->m.data + pos,
                                     rec[i].m_start - pos, (size_t) -1)
            != NGX_OK
            || ngx_http_zt_mask_buf_add(mr, &sse->f, sse->e.data + rec[i].repl,
                                        rec[i].repl_len, (size_t) -1)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        pos = rec[i].m_start + rec[i].raw_len;
    }

    return ngx_http_zt_mask_buf_add(mr, &sse->f, sse->m.data + pos,
                                    sse->m.len - pos, (size_t) -1);
}


/* a payload that is not JSON: detectors see it as one string */

static ngx_int_t
ngx_http_zt_mask_sse_text(ngx_http_zt_mask_sse_t *sse, u_char *payload,
    size_t len, ngx_uint_t *changed)
{
    size_t                     hold, pos;
    ngx_uint_t                 i;
    ngx_http_zt_mask_req_t    *mr;
    ngx_http_zt_mask_range_t  *range;

    mr = sse->mr;
    *changed = 0;

    if (mr->npatterns == 0) {
        return NGX_OK;
    }

    if (ngx_http_zt_mask_detect(mr, payload, len, 0, 0, &hold) != NGX_OK) {
        return NGX_ERROR;
    }

    if (mr->ranges.nelts == 0) {
        return NGX_OK;
    }

    *changed = 1;
    sse->f.len = 0;
    pos = 0;
    range = mr->ranges.elts;

    for (i = 0; i < mr->ranges.nelts; i++) {
        if (ngx_http_zt_mask_buf_add(mr, &sse->f, payload + pos,
                                     range[i].start - pos, (size_t) -1)
            != NGX_OK
            || ngx_http_zt_mask_buf_add(mr, &sse->f,
                                        range[i].rule->with_line.data,
                                        range[i].rule->with_line.len,
                                        (size_t) -1)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        pos = range[i].end;
        (*mr->masked)++;
    }

    return ngx_http_zt_mask_buf_add(mr, &sse->f, payload + pos, len - pos,
                                    (size_t) -1);
}


/* the content piece of choices[k]: joined to what was held back for it */

static ngx_int_t
ngx_http_zt_mask_sse_content(ngx_http_zt_mask_sse_t *sse,
    ngx_http_zt_mask_sse_rec_t *rec, ngx_uint_t k)
{
    size_t                      n, start;
    u_char                     *p;
    ngx_str_t                   result;
    ngx_http_zt_mask_req_t     *mr;
    ngx_http_zt_mask_choice_t  *ch;

    mr = sse->mr;

    ch = ngx_http_zt_mask_sse_choice(sse, rec->index >= 0 ? rec->index
                                                          : (ngx_int_t) k,
                                     rec->text, 1);
    if (ch == NULL) {
        return NGX_ERROR;
    }

    /* the unescaped content goes into mr->scratch */

    mr->scratch.len = 0;

    if (ngx_http_zt_mask_buf_reserve(mr, &mr->scratch, rec->raw_len,
                                     (size_t) -1)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    n = ngx_http_zt_mask_json_unescape(mr->scratch.data, rec->raw + 1,
                                       rec->raw_len - 2);

    if (ngx_http_zt_mask_sse_release(sse, ch, !rec->finish, mr->scratch.data,
                                     n, &result)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (result.data == NULL) {
        /* nothing held, nothing matched: the original bytes stay */
        return NGX_OK;
    }

    /* a JSON string for the output */

    n = ngx_http_zt_json_escape_len(result.data, result.len) + 2;
    start = sse->e.len;

    if (ngx_http_zt_mask_buf_reserve(mr, &sse->e, n, (size_t) -1) != NGX_OK) {
        return NGX_ERROR;
    }

    p = sse->e.data + start;
    *p++ = '"';
    p = ngx_http_zt_json_escape(p, result.data, result.len);
    *p++ = '"';

    sse->e.len = p - sse->e.data;

    rec->repl = start;
    rec->repl_len = sse->e.len - start;
    rec->changed = 1;

    return NGX_OK;
}


/*
 * Runs the detectors over the choice's context, held-back text and new
 * content.  What can go out now, masked, is left in *result (data NULL when
 * that is the content unchanged); with "partial", what could still start a
 * match stays held back.
 */

static ngx_int_t
ngx_http_zt_mask_sse_release(ngx_http_zt_mask_sse_t *sse,
    ngx_http_zt_mask_choice_t *ch, ngx_uint_t partial, u_char *content,
    size_t len, ngx_str_t *result)
{
    u_char                    *s, *p;
    size_t                     from, slen, hold, pos, n, need;
    ngx_uint_t                 i;
    ngx_http_zt_mask_req_t    *mr;
    ngx_http_zt_mask_range_t  *range;

    mr = sse->mr;

    sse->s.len = 0;

    if (ngx_http_zt_mask_buf_add(mr, &sse->s, ch->context, ch->context_len,
                                 (size_t) -1)
        != NGX_OK
        || ngx_http_zt_mask_buf_add(mr, &sse->s, ch->carry.data,
                                    ch->carry.len, (size_t) -1)
           != NGX_OK
        || ngx_http_zt_mask_buf_add(mr, &sse->s, content, len, (size_t) -1)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    s = sse->s.data;
    slen = sse->s.len;
    from = ch->context_len;

    if (ngx_http_zt_mask_detect(mr, s, slen, from, partial, &hold)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    range = mr->ranges.elts;

    if (mr->ranges.nelts == 0 && hold == slen && ch->carry.len == 0) {
        result->data = NULL;
        result->len = 0;

    } else {

        /* what goes out: s[from, hold) with the matches replaced */

        need = 0;

        for (i = 0; i < mr->ranges.nelts; i++) {
            need += range[i].rule->with.len;
        }

        need += hold - from;

        /* sse->s stays as it is: the result goes after it */

        if (ngx_http_zt_mask_buf_reserve(mr, &sse->s, need, (size_t) -1)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        s = sse->s.data;
        p = s + slen;
        pos = from;

        for (i = 0; i < mr->ranges.nelts; i++) {
            p = ngx_cpymem(p, s + pos, range[i].start - pos);
            p = ngx_cpymem(p, range[i].rule->with.data,
                           range[i].rule->with.len);
            pos = range[i].end;
            (*mr->masked)++;
        }

        p = ngx_cpymem(p, s + pos, hold - pos);

        result->data = s + slen;
        result->len = p - result->data;
    }

    /* the rest waits for the next piece */

    ch->carry.len = 0;

    if (ngx_http_zt_mask_buf_add(mr, &ch->carry, s + hold, slen - hold,
                                 mr->max)
        != NGX_OK)
    {
        if (mr->err == NULL) {
            mr->err = "held-back content is longer than zt_mask_buffer";
        }

        return NGX_ERROR;
    }

    /* lookbehinds at the start of the next piece see what was before it */

    n = ngx_min(hold, NGX_HTTP_ZT_SSE_CONTEXT);
    p = s + hold - n;

    while (n && (*p & 0xc0) == 0x80) {
        p++;
        n--;
    }

    ngx_memcpy(ch->context, p, n);
    ch->context_len = n;

    return NGX_OK;
}


/* what is held back for a choice goes out in an event of its own */

static ngx_int_t
ngx_http_zt_mask_sse_flush(ngx_http_zt_mask_sse_t *sse,
    ngx_http_zt_mask_choice_t *ch)
{
    u_char                  *p, *q, num[NGX_INT_T_LEN];
    size_t                   n;
    ngx_str_t                result;
    ngx_http_zt_mask_req_t  *mr;

    static u_char  head[] = "data: {\"choices\":[{\"index\":";
    static u_char  delta[] = ",\"delta\":{\"content\":\"";
    static u_char  text[] = ",\"text\":\"";
    static u_char  delta_tail[] = "\"}}]}\n\n";
    static u_char  text_tail[] = "\"}]}\n\n";

    mr = sse->mr;

    if (ngx_http_zt_mask_sse_release(sse, ch, 0, NULL, 0, &result)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (result.data == NULL) {
        return NGX_OK;
    }

    n = ngx_http_zt_json_escape_len(result.data, result.len);

    /* sse->e may hold rewrites of the event being masked: use sse->f */

    sse->f.len = 0;

    if (ngx_http_zt_mask_buf_reserve(mr, &sse->f, n, (size_t) -1) != NGX_OK) {
        return NGX_ERROR;
    }

    p = ngx_http_zt_json_escape(sse->f.data, result.data, result.len);

    q = ngx_sprintf(num, "%i", ch->index);

    if (ngx_http_zt_mask_sse_out(sse, head, sizeof(head) - 1, 0) != NGX_OK
        || ngx_http_zt_mask_sse_out(sse, num, q - num, 0) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ch->text) {
        if (ngx_http_zt_mask_sse_out(sse, text, sizeof(text) - 1, 0)
            != NGX_OK
            || ngx_http_zt_mask_sse_out(sse, sse->f.data, p - sse->f.data, 0)
               != NGX_OK
            || ngx_http_zt_mask_sse_out(sse, text_tail, sizeof(text_tail) - 1,
                                        0)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    if (ngx_http_zt_mask_sse_out(sse, delta, sizeof(delta) - 1, 0) != NGX_OK
        || ngx_http_zt_mask_sse_out(sse, sse->f.data, p - sse->f.data, 0)
           != NGX_OK
        || ngx_http_zt_mask_sse_out(sse, delta_tail, sizeof(delta_tail) - 1,
                                    0)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_zt_mask_sse_flush_all(ngx_http_zt_mask_sse_t *sse)
{
    ngx_uint_t                  i;
    ngx_http_zt_mask_choice_t  *ch;

    ch = sse->choices.elts;

    for (i = 0; i < sse->choices.nelts; i++) {
        if (ch[i].carry.len) {
            if (ngx_http_zt_mask_sse_flush(sse, &ch[i]) != NGX_OK) {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


/*
 * The event again, its data lines now carrying f: the other fields keep
 * their place and bytes, f is written as data lines where the first data
 * line was (the masked payload has line feeds only where the original data
 * lines were joined, or fewer).
 */

static ngx_int_t
ngx_http_zt_mask_sse_reframe(ngx_http_zt_mask_sse_t *sse, u_char *raw,
    size_t len, ngx_uint_t in_chunk, u_char *f, size_t flen)
{
    u_char                       *p, *last, *fl, *fe, *nl, *term;
    size_t                        tlen;
    ngx_uint_t                    done, space;
    ngx_http_zt_mask_sse_line_t   ln;

    last = raw + len;
    done = 0;

    for (p = raw; p < last; p = ln.next) {
        ngx_http_zt_mask_sse_line(p, last, &ln);

        if (ln.start == ln.end) {
            /* the empty line that ends the event, and anything after it */
            return ngx_http_zt_mask_sse_out(sse, ln.start, last - ln.start,
                                            in_chunk);
        }

        if (!ln.data) {
            if (ngx_http_zt_mask_sse_out(sse, ln.start, ln.next - ln.start,
                                         in_chunk)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            continue;
        }

        if (done) {
            continue;
        }

        done = 1;

        space = (ln.value > ln.start + 5);
        term = ln.term;
        tlen = ln.next - ln.term;

        if (tlen == 0) {
            term = (u_char *) "\n";
            tlen = 1;
        }

        fl = f;
        fe = f + flen;

        for ( ;; ) {
            nl = ngx_strlchr(fl, fe, '\n');

            if (ngx_http_zt_mask_sse_out(sse, (u_char *) "data: ",
                                         space ? 6 : 5, 0)
                != NGX_OK
                || ngx_http_zt_mask_sse_out(sse, fl, (nl ? nl : fe) - fl, 0)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }

            if (nl == NULL) {
                break;
            }

            if (ngx_http_zt_mask_sse_out(sse, term, tlen, in_chunk)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            fl = nl + 1;
        }

        if (ln.next > ln.term
            && ngx_http_zt_mask_sse_out(sse, ln.term, ln.next - ln.term,
                                        in_chunk)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_zt_mask_sse_hook(void *data, ngx_uint_t id, u_char *raw, size_t len)
{
    ngx_http_zt_mask_sse_t *sse = data;

    u_char                      *p;
    ngx_int_t                    k, index;
    ngx_http_zt_mask_sse_rec_t  *rec;

    k = ngx_http_zt_mask_json_index(sse->js, 1);

    if (k == NGX_ERROR) {
        return NGX_DECLINED;
    }

    while ((ngx_int_t) sse->recs.nelts <= k) {
        rec = ngx_array_push(&sse->recs);
        if (rec == NULL) {
            sse->mr->err = "out of memory";
            return NGX_ERROR;
        }

        ngx_memzero(rec, sizeof(ngx_http_zt_mask_sse_rec_t));
        rec->index = -1;
    }

    rec = (ngx_http_zt_mask_sse_rec_t *) sse->recs.elts + k;

    switch (id) {

    case NGX_HTTP_ZT_SSE_CONTENT:
    case NGX_HTTP_ZT_SSE_TEXT:

        if (len < 2 || raw[0] != '"' || rec->content) {
            return NGX_DECLINED;
        }

        rec->content = 1;
        rec->text = (id == NGX_HTTP_ZT_SSE_TEXT);
        rec->raw = raw;
        rec->raw_len = len;
        rec->m_start = sse->m.len;

        /* it goes into m as it is, and is rewritten once "index" is known */
        return NGX_OK;

    case NGX_HTTP_ZT_SSE_INDEX:

        if (len == 0 || len > 6) {
            return NGX_DECLINED;
        }

        index = 0;

        for (p = raw; p < raw + len; p++) {
            if (*p < '0' || *p > '9') {
                return NGX_DECLINED;
            }

            index = index * 10 + (*p - '0');
        }

        rec->index = index;
        return NGX_DECLINED;

    default: /* NGX_HTTP_ZT_SSE_FINISH */

        rec->finish = !(len == 4 && ngx_strncmp(raw, "null", 4) == 0);
        return NGX_DECLINED;
    }
}


static ngx_http_zt_mask_choice_t *
ngx_http_zt_mask_sse_choice(ngx_http_zt_mask_sse_t *sse, ngx_int_t index,
    ngx_uint_t text, ngx_uint_t create)
{
    ngx_uint_t                  i;
    ngx_http_zt_mask_choice_t  *ch;

    ch = sse->choices.elts;

    for (i = 0; i < sse->choices.nelts; i++) {
        if (ch[i].index == index) {
            return &ch[i];
        }
    }

    if (!create) {
        return NULL;
    }

    if (sse->choices.nelts == NGX_HTTP_ZT_SSE_MAX_CHOICES) {
        sse->mr->err = "too many choices in a stream";
        return NULL;
    }

    ch = ngx_array_push(&sse->choices);
    if (ch == NULL) {
        sse->mr->err = "out of memory";
        return NULL;
    }

    ngx_memzero(ch, sizeof(ngx_http_zt_mask_choice_t));
    ch->index = index;
    ch->text = text;

    return ch;
}


static ngx_int_t
ngx_http_zt_mask_sse_m(void *data, u_char *p, size_t len)
{
    ngx_http_zt_mask_sse_t *sse = data;

    return ngx_http_zt_mask_buf_add(sse->mr, &sse->m, p, len, (size_t) -1);
}


static ngx_int_t
ngx_http_zt_mask_sse_out(ngx_http_zt_mask_sse_t *sse, u_char *p, size_t len,
    ngx_uint_t in_chunk)
{
    if (len == 0) {
        return NGX_OK;
    }

    if (in_chunk) {
        return sse->out->ref(sse->out->data, p, len);
    }

    return sse->out->copy(sse->out->data, p, len);
}
