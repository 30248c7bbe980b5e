
/*
 * zt-inference: masking of streamed answers: server-sent events
 * (text/event-stream), the streaming form of LLM APIs, and newline-delimited
 * JSON (Ollama's), where each line is what an event's data is.  Events are
 * cut out of the stream as they arrive, the JSON in their data lines is
 * masked like a JSON body and each event goes out at once; only the event
 * being read is held.
 *
 * A secret can arrive in pieces, one per event, in any string the API
 * streams: content, reasoning, tool call arguments, Anthropic's text and
 * partial_json deltas, the Responses API's deltas, plain-text data lines.
 * So every string of an event is a piece of a channel, and the detectors
 * see each channel's pieces joined.  A channel is named by the string's
 * place: its path, where an array element or an object that carries an
 * "index", a "..._index" or an "item_id" member is named by those members
 * instead of its position, plus the event's top-level "type".  Strings of
 * members that name the protocol rather than carry text (id, type, model,
 * role, name, status, ..._id, ..._reason) are masked on their own.
 *
 * What could still start a match at the end of a piece is held back and
 * goes out with the channel's next piece, or, in an event of its own made
 * like the channel's last one, when the channel ends: at "[DONE]", at the
 * end of the stream, or when an event comes for the channel's object (the
 * innermost one with an index or id) without a piece of it, or for an
 * object around it without any text (a finish event).  A non-null
 * "..._reason" next to a piece ends the channel with that piece.
 *
 * Memory: each channel holds back at most zt_mask_buffer bytes and a
 * stream has at most NGX_HTTP_ZT_SSE_MAX_CHANNELS channels holding text
 * back; over either the response fails closed.
 */


#include "ngx_http_zt_inference.h"
#include "ngx_http_zt_mask_scan.h"


#define NGX_HTTP_ZT_SSE_CONTEXT        32    /* bytes kept for lookbehinds */
#define NGX_HTTP_ZT_SSE_MAX_CHANNELS   1024

/* what a member of an event's JSON is */
#define NGX_HTTP_ZT_SSE_TEXT           0     /* a string: a channel's piece */
#define NGX_HTTP_ZT_SSE_ID             1     /* names its object */
#define NGX_HTTP_ZT_SSE_TYPE           2     /* "type" at the top */
#define NGX_HTTP_ZT_SSE_PROTOCOL       3     /* names the protocol */
#define NGX_HTTP_ZT_SSE_REASON         4     /* ..._reason: ends channels */


/* a streamed channel: what is held back of it */
typedef struct {
    ngx_http_zt_mask_buf_t     key;
    ngx_uint_t                 hash;
    size_t                     scope;      /* key bytes that name its object */
    ngx_uint_t                 seen;       /* the event of its last piece */
    ngx_http_zt_mask_buf_t     carry;
    ngx_http_zt_mask_buf_t     tmpl;       /* an event to carry it alone */
    size_t                     tmpl_at;    /* where the text goes in it */
    u_char                     context[NGX_HTTP_ZT_SSE_CONTEXT];
    size_t                     context_len;
    unsigned                   text:1;     /* plain-text data lines */
} ngx_http_zt_mask_channel_t;


/* an object or array of the event's JSON */
typedef struct {
    ngx_int_t                  parent;     /* -1: the top */
    ngx_int_t                  member;     /* the member it is the value of */
    ngx_uint_t                 first;      /* its members: [first, last) */
    ngx_uint_t                 last;
    size_t                     prefix;     /* its name in sse->names */
    size_t                     prefix_len;
    u_char                     type;       /* '{' or '[' */
    unsigned                   ids:1;      /* has an index or id member */
    unsigned                   text:1;     /* a piece is inside */
    unsigned                   finished:1; /* a ..._reason that is not null */
    unsigned                   named:1;    /* prefix is computed */
} ngx_http_zt_mask_cont_t;


/* a value of the event's JSON */
typedef struct {
    ngx_int_t                  cont;       /* where it is, -1: the top */
    u_char                    *name;       /* in an object */
    size_t                     name_len;
    ngx_int_t                  index;      /* in an array, else -1 */
    ngx_int_t                  child;      /* a container: its number */
    u_char                    *raw;        /* a scalar: its text */
    size_t                     len;
    ngx_uint_t                 kind;
    ngx_int_t                  channel;    /* a piece: its channel */
    size_t                     m_start;    /* a piece: where it is in m */
    size_t                     repl;       /* a piece: its rewrite in e */
    size_t                     repl_len;
    unsigned                   piece:1;
    unsigned                   changed:1;
} ngx_http_zt_mask_member_t;


struct ngx_http_zt_mask_sse_s {
    ngx_http_zt_mask_req_t    *mr;
    ngx_http_zt_mask_emit_t   *out;
    ngx_http_zt_mask_json_t   *js;
    ngx_http_zt_mask_emit_t    memit;      /* the scanner writes into m */
    ngx_http_zt_mask_watch_t   watch;

    ngx_http_zt_mask_buf_t     ev;         /* an event across chunks */
    ngx_http_zt_mask_buf_t     payload;    /* its data lines joined */
    ngx_http_zt_mask_buf_t     m;          /* the payload masked */
    ngx_http_zt_mask_buf_t     f;          /* m, pieces rewritten */
    ngx_http_zt_mask_buf_t     s;          /* context, carry, piece */
    ngx_http_zt_mask_buf_t     e;          /* rewritten pieces */
    ngx_http_zt_mask_buf_t     names;      /* names of the containers */
    ngx_http_zt_mask_buf_t     key;

    ngx_array_t                conts;      /* of ngx_http_zt_mask_cont_t */
    ngx_array_t                members;    /* of ngx_http_zt_mask_member_t */
    ngx_int_t                  cur;        /* the open container */

    ngx_array_t                channels;   /* of ngx_http_zt_mask_channel_t */
    ngx_uint_t                 holding;    /* channels with a carry */
    ngx_uint_t                 events;

    ngx_str_t                  event;      /* its "event:" line, if any */

    u_char                    *ev_start;
    size_t                     line_len;
    ngx_uint_t                 bom;        /* BOM bytes seen at the start */
    unsigned                   lines:1;    /* newline-delimited JSON */
    unsigned                   open:1;     /* a line went out without LF */
    unsigned                   started:1;
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
    size_t                     name_len;   /* of the field */
    ngx_uint_t                 data;       /* a "data" field */
} ngx_http_zt_mask_sse_line_t;


static ngx_inline u_char *ngx_http_zt_mask_sse_eol(u_char *p, u_char *last);
static ngx_int_t ngx_http_zt_mask_sse_start(ngx_http_zt_mask_sse_t *sse,
    u_char **pp, u_char *last, ngx_uint_t eof);
static ngx_int_t ngx_http_zt_mask_sse_event(ngx_http_zt_mask_sse_t *sse,
    u_char *end);
static ngx_int_t ngx_http_zt_mask_sse_data(ngx_http_zt_mask_sse_t *sse,
    u_char *raw, size_t len, u_char **data, size_t *dlen);
static ngx_int_t ngx_http_zt_mask_sse_process(ngx_http_zt_mask_sse_t *sse,
    u_char *raw, size_t len, ngx_uint_t in_chunk);
static void ngx_http_zt_mask_sse_line(u_char *p, u_char *last,
    ngx_http_zt_mask_sse_line_t *ln);
static ngx_int_t ngx_http_zt_mask_sse_json(ngx_http_zt_mask_sse_t *sse,
    u_char *payload, size_t len, ngx_uint_t *changed);
static ngx_int_t ngx_http_zt_mask_sse_text(ngx_http_zt_mask_sse_t *sse,
    u_char *payload, size_t len, ngx_uint_t *changed);
static ngx_int_t ngx_http_zt_mask_sse_name(ngx_http_zt_mask_sse_t *sse,
    ngx_int_t c);
static ngx_int_t ngx_http_zt_mask_sse_step(ngx_http_zt_mask_sse_t *sse,
    ngx_http_zt_mask_buf_t *b, ngx_http_zt_mask_member_t *m,
    ngx_uint_t ids);
static ngx_int_t ngx_http_zt_mask_sse_piece(ngx_http_zt_mask_sse_t *sse,
    ngx_http_zt_mask_member_t *m, u_char *type, size_t type_len);
static void ngx_http_zt_mask_sse_ended(ngx_http_zt_mask_sse_t *sse,
    ngx_http_zt_mask_channel_t *ch, ngx_uint_t pieces);
static ngx_int_t ngx_http_zt_mask_sse_rewrite(ngx_http_zt_mask_sse_t *sse,
    ngx_http_zt_mask_member_t *m);
static ngx_int_t ngx_http_zt_mask_sse_template(ngx_http_zt_mask_sse_t *sse,
    ngx_http_zt_mask_channel_t *ch, ngx_http_zt_mask_member_t *m);
static ngx_int_t ngx_http_zt_mask_sse_clean(ngx_http_zt_mask_sse_t *sse,
    ngx_str_t *value);
static ngx_int_t ngx_http_zt_mask_sse_release(ngx_http_zt_mask_sse_t *sse,
    ngx_http_zt_mask_channel_t *ch, ngx_uint_t partial, u_char *piece,
    size_t len, ngx_str_t *result);
static ngx_int_t ngx_http_zt_mask_sse_flush(ngx_http_zt_mask_sse_t *sse,
    ngx_http_zt_mask_channel_t *ch);
static ngx_int_t ngx_http_zt_mask_sse_flush_all(ngx_http_zt_mask_sse_t *sse);
static ngx_int_t ngx_http_zt_mask_sse_reframe(ngx_http_zt_mask_sse_t *sse,
    u_char *raw, size_t len, ngx_uint_t in_chunk, u_char *f, size_t flen);
static ngx_http_zt_mask_channel_t *ngx_http_zt_mask_sse_channel(
    ngx_http_zt_mask_sse_t *sse, u_char *key, size_t len, size_t scope,
    ngx_uint_t text);
static ngx_int_t ngx_http_zt_mask_sse_value(void *data, u_char *p,
    u_char *name, size_t name_len, ngx_int_t index);
static ngx_int_t ngx_http_zt_mask_sse_close(void *data);
static ngx_int_t ngx_http_zt_mask_sse_scalar(void *data, u_char *raw,
    size_t len);
static ngx_uint_t ngx_http_zt_mask_sse_kind(ngx_int_t cont, u_char *name,
    size_t len);
static ngx_int_t ngx_http_zt_mask_sse_m(void *data, u_char *p, size_t len);
static ngx_int_t ngx_http_zt_mask_sse_out(ngx_http_zt_mask_sse_t *sse,
    u_char *p, size_t len, ngx_uint_t in_chunk);
static ngx_int_t ngx_http_zt_mask_sse_add(ngx_http_zt_mask_sse_t *sse,
    ngx_http_zt_mask_buf_t *b, u_char *p, size_t len);


static u_char  ngx_http_zt_mask_bom[] = "\xef\xbb\xbf";


ngx_http_zt_mask_sse_t *
ngx_http_zt_mask_sse_create(ngx_http_zt_mask_req_t *mr,
    ngx_http_zt_mask_emit_t *emit, ngx_uint_t lines)
{
    ngx_http_zt_mask_sse_t  *sse;

    sse = ngx_pcalloc(mr->pool, sizeof(ngx_http_zt_mask_sse_t));
    if (sse == NULL) {
        return NULL;
    }

    sse->mr = mr;
    sse->out = emit;
    sse->lines = lines;

    sse->memit.ref = ngx_http_zt_mask_sse_m;
    sse->memit.copy = ngx_http_zt_mask_sse_m;
    sse->memit.data = sse;

    sse->js = ngx_http_zt_mask_json_create(mr, &sse->memit);
    if (sse->js == NULL) {
        return NULL;
    }

    /*
     * The pieces of a streamed answer are followed only if detectors run
     * or placeholders are restored.
     */

    if (mr->npatterns || mr->restore) {
        sse->watch.value = ngx_http_zt_mask_sse_value;
        sse->watch.close = ngx_http_zt_mask_sse_close;
        sse->watch.scalar = ngx_http_zt_mask_sse_scalar;
        sse->watch.data = sse;

        ngx_http_zt_mask_json_watch(sse->js, &sse->watch);
    }

    if (ngx_array_init(&sse->conts, mr->pool, 8,
                       sizeof(ngx_http_zt_mask_cont_t))
        != NGX_OK
        || ngx_array_init(&sse->members, mr->pool, 16,
                          sizeof(ngx_http_zt_mask_member_t))
           != NGX_OK
        || ngx_array_init(&sse->channels, mr->pool, 4,
                          sizeof(ngx_http_zt_mask_channel_t))
           != NGX_OK)
    {
        return NULL;
    }

    return sse;
}


/*
 * A watcher of the JSON of each event, for a parser that masks nothing
 * (the usage reader's): its scanner tells it what it would tell the
 * parser.  A parser that masks follows the events itself.
 */

ngx_int_t
ngx_http_zt_mask_sse_watch(ngx_http_zt_mask_sse_t *sse,
    ngx_http_zt_mask_watch_t *watch)
{
    if (sse->watch.value) {
        return NGX_DECLINED;
    }

    ngx_http_zt_mask_json_watch(sse->js, watch);

    return NGX_OK;
}


ngx_int_t
ngx_http_zt_mask_sse_feed(ngx_http_zt_mask_sse_t *sse, u_char *p,
    u_char *last, ngx_uint_t eof)
{
    u_char     ch;
    ngx_int_t  rc;

    if (!sse->started) {
        rc = ngx_http_zt_mask_sse_start(sse, &p, last, eof);

        if (rc != NGX_OK) {
            return rc;
        }
    }

    sse->ev_start = p;

    /* a line of newline-delimited JSON ends at LF only: CR is blank there */

    while (sse->lines && p < last) {
        p = ngx_strlchr(p, last, '\n');

        if (p == NULL) {
            p = last;
            break;
        }

        if (ngx_http_zt_mask_sse_event(sse, ++p) != NGX_OK) {
            return NGX_ERROR;
        }
    }

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

        /* the rest of the line */

        sse->line_len = 1;
        p = ngx_http_zt_mask_sse_eol(p + 1, last) - 1;
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


/*
 * A UTF-8 byte order mark at the start of the stream is not part of the
 * first field's name: the EventSource parser drops it.  It goes out as it
 * came; bytes that only began to look like one are the first line's.
 */

static ngx_int_t
ngx_http_zt_mask_sse_start(ngx_http_zt_mask_sse_t *sse, u_char **pp,
    u_char *last, ngx_uint_t eof)
{
    u_char  *p;

    for (p = *pp; p < last && sse->bom < 3; p++) {
        if (*p != ngx_http_zt_mask_bom[sse->bom]) {
            break;
        }

        sse->bom++;
    }

    *pp = p;

    if (sse->bom == 3) {
        sse->started = 1;
        return ngx_http_zt_mask_sse_out(sse, ngx_http_zt_mask_bom, 3, 1);
    }

    if (p == last && !eof) {
        return NGX_OK;
    }

    sse->started = 1;

    if (sse->bom) {
        if (ngx_http_zt_mask_buf_add(sse->mr, &sse->ev, ngx_http_zt_mask_bom,
                                     sse->bom, sse->mr->max)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        sse->line_len = sse->bom;
    }

    return NGX_OK;
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
    u_char      *data, *d;
    size_t       dlen, n;
    ngx_int_t    ndata;
    ngx_uint_t   changed;

    ngx_str_null(&sse->event);

    if (sse->lines) {
        data = raw;
        dlen = len - (len && raw[len - 1] == '\n');
        ndata = 1;

        /* the last line may lack its LF: a line flushed after it needs one */
        sse->open = (dlen == len);

    } else {
        ndata = ngx_http_zt_mask_sse_data(sse, raw, len, &data, &dlen);

        if (ndata == NGX_ERROR) {
            return NGX_ERROR;
        }
    }

    if (ndata == 0) {
        /* comments, keep-alives, "retry:" */
        return ngx_http_zt_mask_sse_out(sse, raw, len, in_chunk);
    }

    for (d = data; d < data + dlen; d++) {
        if (*d != ' ' && *d != '\t' && *d != '\n' && *d != '\r') {
            break;
        }
    }

    n = data + dlen - d;

    while (n && (d[n - 1] == ' ' || d[n - 1] == '\t' || d[n - 1] == '\n'
                 || d[n - 1] == '\r'))
    {
        n--;
    }

    if (sse->lines && n == 0) {
        /* a blank line between JSON texts */
        return ngx_http_zt_mask_sse_out(sse, raw, len, in_chunk);
    }

    sse->events++;

    if (!sse->lines
        && n == sizeof("[DONE]") - 1 && ngx_strncmp(d, "[DONE]", n) == 0)
    {
        if (ngx_http_zt_mask_sse_flush_all(sse) != NGX_OK) {
            return NGX_ERROR;
        }

        return ngx_http_zt_mask_sse_out(sse, raw, len, in_chunk);
    }

    /* a line is one JSON text, whatever it starts with, or fails closed */

    if (sse->lines || (n && (*d == '{' || *d == '['))) {
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

    if (sse->lines) {
        if (ngx_http_zt_mask_sse_out(sse, sse->f.data, sse->f.len, 0)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        return ngx_http_zt_mask_sse_out(sse, raw + dlen, len - dlen,
                                        in_chunk);
    }

    return ngx_http_zt_mask_sse_reframe(sse, raw, len, in_chunk, sse->f.data,
                                        sse->f.len);
}


/* an event's data lines, joined with LF: how many there are */

static ngx_int_t
ngx_http_zt_mask_sse_data(ngx_http_zt_mask_sse_t *sse, u_char *raw,
    size_t len, u_char **data, size_t *dlen)
{
    u_char                       *p, *last;
    size_t                        n;
    ngx_int_t                     ndata;
    ngx_http_zt_mask_sse_line_t   ln;

    last = raw + len;
    ndata = 0;
    *data = NULL;
    *dlen = 0;

    for (p = raw; p < last; p = ln.next) {
        ngx_http_zt_mask_sse_line(p, last, &ln);

        if (ln.start == ln.end) {
            break;
        }

        if (!ln.data) {
            if (ln.name_len == 5 && ngx_strncmp(ln.start, "event", 5) == 0) {
                sse->event.data = ln.start;
                sse->event.len = ln.end - ln.start;
            }

            continue;
        }

        n = ln.end - ln.value;

        if (ndata == 0) {
            *data = ln.value;
            *dlen = n;

        } else {
            if (ndata == 1) {
                sse->payload.len = 0;

                if (ngx_http_zt_mask_sse_add(sse, &sse->payload, *data, *dlen)
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }
            }

            if (ngx_http_zt_mask_sse_add(sse, &sse->payload,
                                         (u_char *) "\n", 1)
                != NGX_OK
                || ngx_http_zt_mask_sse_add(sse, &sse->payload, ln.value, n)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }

            *data = sse->payload.data;
            *dlen = sse->payload.len;
        }

        ndata++;
    }

    return ndata;
}


/* the first CR or LF from p, or last */

static ngx_inline u_char *
ngx_http_zt_mask_sse_eol(u_char *p, u_char *last)
{
    uint64_t  w, a, b, m;

    while (last - p >= 8) {
        ngx_memcpy(&w, p, 8);

        a = w ^ (NGX_HTTP_ZT_ONES * '\n');
        b = w ^ (NGX_HTTP_ZT_ONES * '\r');

        m = ngx_http_zt_swar_zero(a) | ngx_http_zt_swar_zero(b);

        if (m) {
            p += ngx_http_zt_swar_skip(m);
            break;
        }

        p += 8;
    }

    while (p < last && *p != '\n' && *p != '\r') {
        p++;
    }

    return p;
}


static void
ngx_http_zt_mask_sse_line(u_char *p, u_char *last,
    ngx_http_zt_mask_sse_line_t *ln)
{
    u_char  *colon;

    ln->start = p;

    p = ngx_http_zt_mask_sse_eol(p, last);

    ln->end = p;
    ln->term = p;

    if (p < last) {
        p += (*p == '\r' && p + 1 < last && p[1] == '\n') ? 2 : 1;
    }

    ln->next = p;
    ln->data = 0;
    ln->name_len = 0;
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

    ln->name_len = (colon ? colon : ln->end) - ln->start;
    ln->data = (ln->name_len == 4 && ngx_strncmp(ln->start, "data", 4) == 0);
}


/*
 * Masks a JSON payload into sse->f; *changed says whether it differs.  The
 * scanner masks what it can alone (zt_mask paths, the protocol's strings)
 * and hands the pieces over; once the event is read, each piece gets its
 * channel and is joined to what the channel held back.
 */

static ngx_int_t
ngx_http_zt_mask_sse_json(ngx_http_zt_mask_sse_t *sse, u_char *payload,
    size_t len, ngx_uint_t *changed)
{
    u_char                      *type;
    size_t                       pos, type_len;
    ngx_uint_t                   i, nchanged, pieces;
    ngx_http_zt_mask_req_t      *mr;
    ngx_http_zt_mask_cont_t     *c;
    ngx_http_zt_mask_member_t   *m;
    ngx_http_zt_mask_channel_t  *ch;

    mr = sse->mr;

    ngx_http_zt_mask_json_reset(sse->js);
    sse->m.len = 0;
    sse->e.len = 0;
    sse->names.len = 0;
    sse->conts.nelts = 0;
    sse->members.nelts = 0;
    sse->cur = -1;
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

    m = sse->members.elts;

    /* the event's "type" is part of its channels' names */

    type = NULL;
    type_len = 0;

    for (i = 0; i < sse->members.nelts; i++) {
        if (m[i].kind == NGX_HTTP_ZT_SSE_TYPE && m[i].raw) {
            type = m[i].raw;
            type_len = m[i].len;
            break;
        }
    }

    pieces = 0;

    for (i = 0; i < sse->members.nelts; i++) {
        if (m[i].piece) {
            if (ngx_http_zt_mask_sse_piece(sse, &m[i], type, type_len)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            pieces++;
        }
    }

    /* channels this event ends without a piece of them */

    if (sse->holding) {
        c = sse->conts.elts;

        for (i = 0; i < sse->conts.nelts; i++) {
            if (c[i].ids && ngx_http_zt_mask_sse_name(sse, i) != NGX_OK) {
                return NGX_ERROR;
            }
        }

        ch = sse->channels.elts;

        for (i = 0; i < sse->channels.nelts; i++) {
            if (ch[i].carry.len && ch[i].seen != sse->events) {
                ngx_http_zt_mask_sse_ended(sse, &ch[i], pieces);

                if (ch[i].seen == 0
                    && ngx_http_zt_mask_sse_flush(sse, &ch[i]) != NGX_OK)
                {
                    return NGX_ERROR;
                }
            }
        }
    }

    for (i = 0; i < sse->members.nelts; i++) {
        if (m[i].channel >= 0) {
            if (ngx_http_zt_mask_sse_rewrite(sse, &m[i]) != NGX_OK) {
                return NGX_ERROR;
            }

            nchanged += m[i].changed;
        }
    }

    *changed = (nchanged != 0);

    if (nchanged == 0) {
        return NGX_OK;
    }

    /* m with each rewritten piece in place of the original */

    sse->f.len = 0;
    pos = 0;

    for (i = 0; i < sse->members.nelts; i++) {
        if (!m[i].changed) {
            continue;
        }

        if (ngx_http_zt_mask_sse_add(sse, &sse->f, sse->m.data + pos,
                                     m[i].m_start - pos)
            != NGX_OK
            || ngx_http_zt_mask_sse_add(sse, &sse->f,
                                        sse->e.data + m[i].repl,
                                        m[i].repl_len)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        pos = m[i].m_start + m[i].len;
    }

    return ngx_http_zt_mask_sse_add(sse, &sse->f, sse->m.data + pos,
                                    sse->m.len - pos);
}


/* a piece: the name of its channel, and the channel */

static ngx_int_t
ngx_http_zt_mask_sse_piece(ngx_http_zt_mask_sse_t *sse,
    ngx_http_zt_mask_member_t *m, u_char *type, size_t type_len)
{
    size_t                       prefix, scope;
    ngx_int_t                    c, i;
    ngx_http_zt_mask_cont_t     *conts;
    ngx_http_zt_mask_channel_t  *ch;

    conts = sse->conts.elts;
    prefix = 0;
    scope = 0;

    sse->key.len = 0;

    if (m->cont >= 0) {
        if (ngx_http_zt_mask_sse_name(sse, m->cont) != NGX_OK) {
            return NGX_ERROR;
        }

        prefix = conts[m->cont].prefix_len;

        if (ngx_http_zt_mask_sse_add(sse, &sse->key,
                                     sse->names.data + conts[m->cont].prefix,
                                     prefix)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        /* the innermost object around it that names itself */

        for (c = m->cont; c >= 0; c = conts[c].parent) {
            conts[c].text = 1;

            if (scope == 0 && conts[c].ids) {
                scope = conts[c].prefix_len;
            }
        }
    }

    if (ngx_http_zt_mask_sse_step(sse, &sse->key, m, 0) != NGX_OK
        || ngx_http_zt_mask_sse_add(sse, &sse->key, (u_char *) "\x02", 1)
           != NGX_OK
        || ngx_http_zt_mask_sse_add(sse, &sse->key, type, type_len)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    ch = ngx_http_zt_mask_sse_channel(sse, sse->key.data, sse->key.len,
                                      scope, 0);
    if (ch == NULL) {
        return NGX_ERROR;
    }

    ch->seen = sse->events;

    i = ch - (ngx_http_zt_mask_channel_t *) sse->channels.elts;
    m->channel = i;

    return NGX_OK;
}


/*
 * The name of a container, as the names of its channels begin: the names
 * of the containers around it, the step to it, and for an object the
 * members that name it.  A step into an array is the element's index, or
 * "#" when the element is an object that names itself.
 */

static ngx_int_t
ngx_http_zt_mask_sse_name(ngx_http_zt_mask_sse_t *sse, ngx_int_t c)
{
    size_t                      start, n;
    ngx_uint_t                  i;
    ngx_http_zt_mask_cont_t    *cont, *conts;
    ngx_http_zt_mask_member_t  *m;

    conts = sse->conts.elts;
    cont = &conts[c];

    if (cont->named) {
        return NGX_OK;
    }

    if (cont->parent >= 0
        && ngx_http_zt_mask_sse_name(sse, cont->parent) != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the parent's name may have moved the buffer, not the offsets */

    conts = sse->conts.elts;
    cont = &conts[c];
    m = sse->members.elts;

    start = sse->names.len;

    if (cont->parent >= 0) {
        n = conts[cont->parent].prefix_len;

        /* from the buffer into itself: room first */

        if (ngx_http_zt_mask_buf_reserve(sse->mr, &sse->names, n,
                                         (size_t) -1)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        ngx_memcpy(sse->names.data + start,
                   sse->names.data + conts[cont->parent].prefix, n);
        sse->names.len += n;
    }

    if (cont->member >= 0
        && ngx_http_zt_mask_sse_step(sse, &sse->names, &m[cont->member],
                                     cont->ids)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_zt_mask_sse_add(sse, &sse->names, &cont->type, 1)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (cont->ids) {
        for (i = cont->first; i < cont->last; i++) {
            if (m[i].cont != c || m[i].kind != NGX_HTTP_ZT_SSE_ID
                || m[i].raw == NULL)
            {
                continue;
            }

            if (ngx_http_zt_mask_sse_add(sse, &sse->names, m[i].name,
                                         m[i].name_len)
                != NGX_OK
                || ngx_http_zt_mask_sse_add(sse, &sse->names,
                                            (u_char *) "=", 1)
                   != NGX_OK
                || ngx_http_zt_mask_sse_add(sse, &sse->names, m[i].raw,
                                            m[i].len)
                   != NGX_OK
                || ngx_http_zt_mask_sse_add(sse, &sse->names,
                                            (u_char *) "\x01", 1)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        if (ngx_http_zt_mask_sse_add(sse, &sse->names, (u_char *) "}", 1)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    cont->prefix = start;
    cont->prefix_len = sse->names.len - start;
    cont->named = 1;

    return NGX_OK;
}


static ngx_int_t
ngx_http_zt_mask_sse_step(ngx_http_zt_mask_sse_t *sse,
    ngx_http_zt_mask_buf_t *b, ngx_http_zt_mask_member_t *m, ngx_uint_t ids)
{
    u_char  num[NGX_INT_T_LEN + 1];

    if (m->index >= 0) {
        if (ids) {
            return ngx_http_zt_mask_sse_add(sse, b, (u_char *) "[#", 2);
        }

        return ngx_http_zt_mask_sse_add(sse, b, num,
                                        ngx_sprintf(num, "[%i", m->index)
                                        - num);
    }

    if (m->name == NULL) {
        return NGX_OK;
    }

    if (ngx_http_zt_mask_sse_add(sse, b, (u_char *) ".", 1) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_zt_mask_sse_add(sse, b, m->name, m->name_len);
}


/*
 * Whether this event, which has no piece of the channel, ends it: it has
 * the object the channel's name says the channel belongs to, or an object
 * around that one without any piece in it.  A channel of an object that
 * names itself nowhere ends with an event without any piece.  Ended
 * channels get ch->seen set to 0.
 */

static void
ngx_http_zt_mask_sse_ended(ngx_http_zt_mask_sse_t *sse,
    ngx_http_zt_mask_channel_t *ch, ngx_uint_t pieces)
{
    u_char                   *name;
    ngx_uint_t                i;
    ngx_http_zt_mask_cont_t  *c;

    if (ch->text) {
        return;
    }

    c = sse->conts.elts;

    for (i = 0; i < sse->conts.nelts; i++) {

        if (!c[i].ids || c[i].prefix_len > ch->scope) {
            continue;
        }

        name = sse->names.data + c[i].prefix;

        if (ngx_memcmp(name, ch->key.data, c[i].prefix_len) != 0) {
            continue;
        }

        if (c[i].prefix_len == ch->scope || !c[i].text) {
            ch->seen = 0;
            return;
        }
    }

    if (ch->scope == 0 && pieces == 0) {
        ch->seen = 0;
    }
}


/* a piece joined to what its channel held back, and rewritten if needed */

static ngx_int_t
ngx_http_zt_mask_sse_rewrite(ngx_http_zt_mask_sse_t *sse,
    ngx_http_zt_mask_member_t *m)
{
    u_char                      *p;
    size_t                       n, start;
    ngx_int_t                    c;
    ngx_str_t                    result;
    ngx_uint_t                   partial;
    ngx_http_zt_mask_req_t      *mr;
    ngx_http_zt_mask_cont_t     *conts;
    ngx_http_zt_mask_channel_t  *ch;

    mr = sse->mr;
    conts = sse->conts.elts;
    ch = (ngx_http_zt_mask_channel_t *) sse->channels.elts + m->channel;

    /* a ..._reason around the piece that is not null ends the channel */

    partial = 1;

    for (c = m->cont; c >= 0; c = conts[c].parent) {
        if (conts[c].finished) {
            partial = 0;
            break;
        }
    }

    /* the unescaped piece goes into mr->scratch */

    mr->scratch.len = 0;

    if (ngx_http_zt_mask_buf_reserve(mr, &mr->scratch, m->len, (size_t) -1)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    n = ngx_http_zt_mask_json_unescape(mr->scratch.data, m->raw + 1,
                                       m->len - 2);

    if (ngx_http_zt_mask_sse_release(sse, ch, partial, mr->scratch.data, n,
                                     &result)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (result.data == NULL) {
        /* nothing held, nothing matched: the original bytes stay */
        goto done;
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

    m->repl = start;
    m->repl_len = sse->e.len - start;
    m->changed = 1;

done:

    if (ch->carry.len) {
        return ngx_http_zt_mask_sse_template(sse, ch, m);
    }

    return NGX_OK;
}


/*
 * The event that carries a channel's held-back text alone if it ends
 * without another piece: its "event:" line, and JSON made of the objects
 * and arrays on the way to the piece, with their members that name them
 * or the protocol, numbers and literals, but no other text and no
 * ..._reason.  An element named by its position comes after empty ones.
 */

static ngx_int_t
ngx_http_zt_mask_sse_template(ngx_http_zt_mask_sse_t *sse,
    ngx_http_zt_mask_channel_t *ch, ngx_http_zt_mask_member_t *m)
{
    u_char                      *filler;
    ngx_int_t                    c, path[NGX_HTTP_ZT_MASK_MAX_DEPTH];
    ngx_str_t                    value;
    ngx_uint_t                   depth, k, i, n;
    ngx_http_zt_mask_buf_t      *t;
    ngx_http_zt_mask_cont_t     *conts, *cont;
    ngx_http_zt_mask_member_t   *members, *next, *mb;

    conts = sse->conts.elts;
    members = sse->members.elts;
    t = &ch->tmpl;
    t->len = 0;

    depth = 0;

    for (c = m->cont; c >= 0; c = conts[c].parent) {
        path[depth++] = c;
    }

    if (sse->event.len
        && (ngx_http_zt_mask_sse_add(sse, t, sse->event.data, sse->event.len)
            != NGX_OK
            || ngx_http_zt_mask_sse_add(sse, t, (u_char *) "\n", 1)
               != NGX_OK))
    {
        return NGX_ERROR;
    }

    if (!sse->lines
        && ngx_http_zt_mask_sse_add(sse, t, (u_char *) "data: ", 6) != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (k = depth; k-- > 0; /* void */) {
        cont = &conts[path[k]];
        next = (k > 0) ? &members[conts[path[k - 1]].member] : m;

        if (ngx_http_zt_mask_sse_add(sse, t, &cont->type, 1) != NGX_OK) {
            return NGX_ERROR;
        }

        if (cont->type == '[') {

            /* elements named by their position: empty ones before */

            n = (next->child >= 0 && conts[next->child].ids) ? 0
                                                              : next->index;
            filler = (next->child < 0) ? (u_char *) "\"\","
                     : (conts[next->child].type == '{') ? (u_char *) "{},"
                                                        : (u_char *) "[],";

            for (i = 0; i < n; i++) {
                if (ngx_http_zt_mask_sse_add(sse, t, filler,
                                             ngx_strlen(filler))
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }
            }

            continue;
        }

        for (i = cont->first; i < cont->last; i++) {
            mb = &members[i];

            if (mb->cont != path[k] || mb == next || mb->raw == NULL
                || mb->kind == NGX_HTTP_ZT_SSE_REASON
                || (mb->kind == NGX_HTTP_ZT_SSE_TEXT && mb->raw[0] == '"'))
            {
                continue;
            }

            value.data = mb->raw;
            value.len = mb->len;

            if (mb->raw[0] == '"'
                && ngx_http_zt_mask_sse_clean(sse, &value) != NGX_OK)
            {
                return NGX_ERROR;
            }

            if (ngx_http_zt_mask_sse_add(sse, t, (u_char *) "\"", 1)
                != NGX_OK
                || ngx_http_zt_mask_sse_add(sse, t, mb->name, mb->name_len)
                   != NGX_OK
                || ngx_http_zt_mask_sse_add(sse, t, (u_char *) "\":", 2)
                   != NGX_OK
                || ngx_http_zt_mask_sse_add(sse, t, value.data, value.len)
                   != NGX_OK
                || ngx_http_zt_mask_sse_add(sse, t, (u_char *) ",", 1)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        if (ngx_http_zt_mask_sse_add(sse, t, (u_char *) "\"", 1) != NGX_OK
            || ngx_http_zt_mask_sse_add(sse, t, next->name, next->name_len)
               != NGX_OK
            || ngx_http_zt_mask_sse_add(sse, t, (u_char *) "\":", 2)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ngx_http_zt_mask_sse_add(sse, t, (u_char *) "\"", 1) != NGX_OK) {
        return NGX_ERROR;
    }

    ch->tmpl_at = t->len;

    if (ngx_http_zt_mask_sse_add(sse, t, (u_char *) "\"", 1) != NGX_OK) {
        return NGX_ERROR;
    }

    for (k = 0; k < depth; k++) {
        if (ngx_http_zt_mask_sse_add(sse, t,
                                     (conts[path[k]].type == '{')
                                     ? (u_char *) "}" : (u_char *) "]", 1)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return ngx_http_zt_mask_sse_add(sse, t, (u_char *) "\n\n",
                                    sse->lines ? 1 : 2);
}


/*
 * A string of the template as the event had it: the scanner masked it in
 * the event, so a string in which a detector matches is replaced whole.
 */

static ngx_int_t
ngx_http_zt_mask_sse_clean(ngx_http_zt_mask_sse_t *sse, ngx_str_t *value)
{
    size_t                     n, hold;
    ngx_uint_t                 i;
    ngx_http_zt_mask_req_t    *mr;
    ngx_http_zt_mask_range_t  *range;

    mr = sse->mr;
    mr->scratch.len = 0;

    if (ngx_http_zt_mask_buf_reserve(mr, &mr->scratch, value->len,
                                     (size_t) -1)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    n = ngx_http_zt_mask_json_unescape(mr->scratch.data, value->data + 1,
                                       value->len - 2);

    if (ngx_http_zt_mask_detect(mr, mr->scratch.data, n, 0, 0, &hold)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    range = mr->ranges.elts;

    for (i = 0; i < mr->ranges.nelts; i++) {
        if (range[i].rule) {
            *value = range[i].rule->with_json;
            break;
        }
    }

    return NGX_OK;
}


/* a payload that is not JSON: one piece of the stream's text */

static ngx_int_t
ngx_http_zt_mask_sse_text(ngx_http_zt_mask_sse_t *sse, u_char *payload,
    size_t len, ngx_uint_t *changed)
{
    ngx_str_t                    result;
    ngx_http_zt_mask_channel_t  *ch;

    *changed = 0;

    if (sse->mr->npatterns == 0 && sse->mr->restore == NULL) {
        return NGX_OK;
    }

    /* text of differently named events is not joined */

    sse->key.len = 0;

    if (ngx_http_zt_mask_sse_add(sse, &sse->key, (u_char *) "\x03", 1)
        != NGX_OK
        || ngx_http_zt_mask_sse_add(sse, &sse->key, sse->event.data,
                                    sse->event.len)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    ch = ngx_http_zt_mask_sse_channel(sse, sse->key.data, sse->key.len, 0, 1);
    if (ch == NULL) {
        return NGX_ERROR;
    }

    ch->seen = sse->events;

    if (ngx_http_zt_mask_sse_release(sse, ch, 1, payload, len, &result)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ch->carry.len) {
        ch->tmpl.len = 0;

        if (sse->event.len
            && (ngx_http_zt_mask_sse_add(sse, &ch->tmpl, sse->event.data,
                                         sse->event.len)
                != NGX_OK
                || ngx_http_zt_mask_sse_add(sse, &ch->tmpl,
                                            (u_char *) "\n", 1)
                   != NGX_OK))
        {
            return NGX_ERROR;
        }
    }

    if (result.data == NULL) {
        return NGX_OK;
    }

    *changed = 1;
    sse->f.len = 0;

    return ngx_http_zt_mask_sse_add(sse, &sse->f, result.data, result.len);
}


/*
 * Runs the detectors over the channel's context, held-back text and new
 * piece.  What can go out now, masked, is left in *result (data NULL when
 * that is the piece unchanged); with "partial", what could still start a
 * match stays held back.
 */

static ngx_int_t
ngx_http_zt_mask_sse_release(ngx_http_zt_mask_sse_t *sse,
    ngx_http_zt_mask_channel_t *ch, ngx_uint_t partial, u_char *piece,
    size_t len, ngx_str_t *result)
{
    u_char                    *s, *p;
    size_t                     from, slen, hold, pos, n, need;
    ngx_str_t                 *with;
    ngx_uint_t                 i, had;
    ngx_http_zt_mask_req_t    *mr;
    ngx_http_zt_mask_range_t  *range;

    mr = sse->mr;

    sse->s.len = 0;

    if (ngx_http_zt_mask_sse_add(sse, &sse->s, ch->context, ch->context_len)
        != NGX_OK
        || ngx_http_zt_mask_sse_add(sse, &sse->s, ch->carry.data,
                                    ch->carry.len)
           != NGX_OK
        || ngx_http_zt_mask_sse_add(sse, &sse->s, piece, len) != NGX_OK)
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

        need = hold - from;

        for (i = 0; i < mr->ranges.nelts; i++) {
            need += ngx_http_zt_mask_text(&range[i], ch->text)->len;
        }

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
            with = ngx_http_zt_mask_text(&range[i], ch->text);

            p = ngx_cpymem(p, s + pos, range[i].start - pos);
            p = ngx_cpymem(p, with->data, with->len);
            pos = range[i].end;

            if (range[i].rule) {
                (*mr->masked)++;
            }
        }

        p = ngx_cpymem(p, s + pos, hold - pos);

        result->data = s + slen;
        result->len = p - result->data;
    }

    /* the rest waits for the next piece */

    had = (ch->carry.len != 0);
    ch->carry.len = 0;

    if (ngx_http_zt_mask_buf_add(mr, &ch->carry, s + hold, slen - hold,
                                 mr->max)
        != NGX_OK)
    {
        if (mr->err == NULL) {
            mr->err = "held-back text of a streamed channel is longer than "
                      "zt_mask_buffer";
        }

        return NGX_ERROR;
    }

    sse->holding += (ch->carry.len != 0);
    sse->holding -= had;

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


/* what is held back for a channel goes out in an event of its own */

static ngx_int_t
ngx_http_zt_mask_sse_flush(ngx_http_zt_mask_sse_t *sse,
    ngx_http_zt_mask_channel_t *ch)
{
    u_char                  *p, *last, *nl;
    size_t                   n;
    ngx_str_t                result;
    ngx_http_zt_mask_req_t  *mr;

    mr = sse->mr;

    if (ngx_http_zt_mask_sse_release(sse, ch, 0, NULL, 0, &result)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (result.data == NULL || result.len == 0) {
        return NGX_OK;
    }

    if (sse->open) {
        sse->open = 0;

        if (ngx_http_zt_mask_sse_out(sse, (u_char *) "\n", 1, 0) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (ch->text) {

        /* data lines, a line feed starts the next one */

        if (ngx_http_zt_mask_sse_out(sse, ch->tmpl.data, ch->tmpl.len, 0)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        p = result.data;
        last = p + result.len;

        for ( ;; ) {
            nl = ngx_strlchr(p, last, '\n');

            if (ngx_http_zt_mask_sse_out(sse, (u_char *) "data: ", 6, 0)
                != NGX_OK
                || ngx_http_zt_mask_sse_out(sse, p, (nl ? nl : last) - p, 0)
                   != NGX_OK
                || ngx_http_zt_mask_sse_out(sse, (u_char *) "\n", 1, 0)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }

            if (nl == NULL) {
                break;
            }

            p = nl + 1;
        }

        return ngx_http_zt_mask_sse_out(sse, (u_char *) "\n", 1, 0);
    }

    n = ngx_http_zt_json_escape_len(result.data, result.len);

    sse->f.len = 0;

    if (ngx_http_zt_mask_buf_reserve(mr, &sse->f, n, (size_t) -1) != NGX_OK) {
        return NGX_ERROR;
    }

    p = ngx_http_zt_json_escape(sse->f.data, result.data, result.len);

    if (ngx_http_zt_mask_sse_out(sse, ch->tmpl.data, ch->tmpl_at, 0)
        != NGX_OK
        || ngx_http_zt_mask_sse_out(sse, sse->f.data, p - sse->f.data, 0)
           != NGX_OK
        || ngx_http_zt_mask_sse_out(sse, ch->tmpl.data + ch->tmpl_at,
                                    ch->tmpl.len - ch->tmpl_at, 0)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_zt_mask_sse_flush_all(ngx_http_zt_mask_sse_t *sse)
{
    ngx_uint_t                   i;
    ngx_http_zt_mask_channel_t  *ch;

    ch = sse->channels.elts;

    for (i = 0; i < sse->channels.nelts && sse->holding; i++) {
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


/*
 * The channel of that name, made if new.  When the stream has as many
 * channels as it may hold, the one least recently seen that holds nothing
 * back makes room; if every one holds text back, the stream fails closed.
 */

static ngx_http_zt_mask_channel_t *
ngx_http_zt_mask_sse_channel(ngx_http_zt_mask_sse_t *sse, u_char *key,
    size_t len, size_t scope, ngx_uint_t text)
{
    ngx_uint_t                   i, hash;
    ngx_http_zt_mask_channel_t  *ch, *free;

    hash = ngx_murmur_hash2(key, len);
    ch = sse->channels.elts;
    free = NULL;

    for (i = 0; i < sse->channels.nelts; i++) {
        if (ch[i].hash == hash && ch[i].key.len == len
            && ngx_memcmp(ch[i].key.data, key, len) == 0)
        {
            return &ch[i];
        }

        /* not one this event has a piece of */

        if (ch[i].carry.len == 0 && ch[i].seen != sse->events
            && (free == NULL || ch[i].seen < free->seen))
        {
            free = &ch[i];
        }
    }

    if (sse->channels.nelts < NGX_HTTP_ZT_SSE_MAX_CHANNELS) {
        free = ngx_array_push(&sse->channels);
        if (free == NULL) {
            sse->mr->err = "out of memory";
            return NULL;
        }

        ngx_memzero(free, sizeof(ngx_http_zt_mask_channel_t));

    } else if (free == NULL) {
        sse->mr->err = "too many streamed channels hold text back";
        return NULL;
    }

    free->key.len = 0;

    if (ngx_http_zt_mask_sse_add(sse, &free->key, key, len) != NGX_OK) {
        return NULL;
    }

    free->hash = hash;
    free->scope = scope;
    free->context_len = 0;
    free->text = text;
    free->tmpl.len = 0;

    return free;
}


/* ---- what the scanner tells of an event's JSON ---- */


static ngx_int_t
ngx_http_zt_mask_sse_value(void *data, u_char *p, u_char *name,
    size_t name_len, ngx_int_t index)
{
    ngx_http_zt_mask_sse_t *sse = data;

    ngx_http_zt_mask_cont_t    *cont;
    ngx_http_zt_mask_member_t  *m;

    m = ngx_array_push(&sse->members);
    if (m == NULL) {
        sse->mr->err = "out of memory";
        return NGX_ERROR;
    }

    m->cont = sse->cur;
    m->name = name;
    m->name_len = name_len;
    m->index = index;
    m->child = -1;
    m->raw = NULL;
    m->len = 0;
    m->channel = -1;
    m->piece = 0;
    m->changed = 0;
    m->kind = name ? ngx_http_zt_mask_sse_kind(sse->cur, name, name_len)
                   : NGX_HTTP_ZT_SSE_TEXT;

    if (*p != '{' && *p != '[') {
        return NGX_OK;
    }

    cont = ngx_array_push(&sse->conts);
    if (cont == NULL) {
        sse->mr->err = "out of memory";
        return NGX_ERROR;
    }

    ngx_memzero(cont, sizeof(ngx_http_zt_mask_cont_t));

    cont->parent = sse->cur;
    cont->member = sse->members.nelts - 1;
    cont->first = sse->members.nelts;
    cont->type = *p;

    m->child = sse->conts.nelts - 1;
    sse->cur = m->child;

    return NGX_OK;
}


static ngx_int_t
ngx_http_zt_mask_sse_close(void *data)
{
    ngx_http_zt_mask_sse_t *sse = data;

    ngx_http_zt_mask_cont_t  *cont;

    cont = (ngx_http_zt_mask_cont_t *) sse->conts.elts + sse->cur;
    cont->last = sse->members.nelts;
    sse->cur = cont->parent;

    return NGX_OK;
}


static ngx_int_t
ngx_http_zt_mask_sse_scalar(void *data, u_char *raw, size_t len)
{
    ngx_http_zt_mask_sse_t *sse = data;

    ngx_http_zt_mask_cont_t    *cont;
    ngx_http_zt_mask_member_t  *m;

    m = (ngx_http_zt_mask_member_t *) sse->members.elts
        + sse->members.nelts - 1;

    m->raw = raw;
    m->len = len;

    cont = (m->cont >= 0)
           ? (ngx_http_zt_mask_cont_t *) sse->conts.elts + m->cont : NULL;

    switch (m->kind) {

    case NGX_HTTP_ZT_SSE_TEXT:

        if (raw[0] != '"') {
            return NGX_DECLINED;
        }

        /* it goes into m as it is, and is rewritten once the event is read */
        m->m_start = sse->m.len;
        m->piece = 1;
        return NGX_OK;

    case NGX_HTTP_ZT_SSE_ID:

        if (cont && cont->type == '{') {
            cont->ids = 1;
        }

        return NGX_DECLINED;

    case NGX_HTTP_ZT_SSE_REASON:

        if (cont && !(len == 4 && ngx_strncmp(raw, "null", 4) == 0)) {
            cont->finished = 1;
        }

        return NGX_DECLINED;

    default:
        return NGX_DECLINED;
    }
}


/*
 * What a member is, by its name: "index", "..._index" and "item_id" name
 * their object; "type" at the top names the event; these and the others
 * below name the protocol, not text a model wrote.
 */

static ngx_uint_t
ngx_http_zt_mask_sse_kind(ngx_int_t cont, u_char *name, size_t len)
{
    ngx_str_t  *w;

    static ngx_str_t  protocol[] = {
        ngx_string("id"),
        ngx_string("type"),
        ngx_string("object"),
        ngx_string("model"),
        ngx_string("role"),
        ngx_string("name"),
        ngx_string("status"),
        ngx_string("system_fingerprint"),
        ngx_string("service_tier"),
        ngx_string("modelVersion"),
        ngx_null_string
    };

#define ngx_http_zt_is(s)                                                     \
    (len == sizeof(s) - 1 && ngx_memcmp(name, s, sizeof(s) - 1) == 0)
#define ngx_http_zt_ends_with(s)                                              \
    (len >= sizeof(s) - 1                                                     \
     && ngx_memcmp(name + len - (sizeof(s) - 1), s, sizeof(s) - 1) == 0)

    if (len == 0) {
        return NGX_HTTP_ZT_SSE_TEXT;
    }

    switch (name[len - 1]) {

    case 'x':
        if (ngx_http_zt_is("index") || ngx_http_zt_ends_with("_index")) {
            return NGX_HTTP_ZT_SSE_ID;
        }

        break;

    case 'd':
        if (ngx_http_zt_is("item_id")) {
            return NGX_HTTP_ZT_SSE_ID;
        }

        if (ngx_http_zt_ends_with("_id") || ngx_http_zt_ends_with("Id")
            || ngx_http_zt_is("id"))
        {
            return NGX_HTTP_ZT_SSE_PROTOCOL;
        }

        break;

    case 'n':
        if (ngx_http_zt_ends_with("_reason") || ngx_http_zt_ends_with("Reason"))
        {
            return NGX_HTTP_ZT_SSE_REASON;
        }

        break;

    case 'e':
        if (cont == 0 && ngx_http_zt_is("type")) {
            return NGX_HTTP_ZT_SSE_TYPE;
        }

        break;
    }

    for (w = protocol; w->len; w++) {
        if (len == w->len && ngx_memcmp(name, w->data, len) == 0) {
            return NGX_HTTP_ZT_SSE_PROTOCOL;
        }
    }

#undef ngx_http_zt_is
#undef ngx_http_zt_ends_with

    return NGX_HTTP_ZT_SSE_TEXT;
}


static ngx_int_t
ngx_http_zt_mask_sse_m(void *data, u_char *p, size_t len)
{
    ngx_http_zt_mask_sse_t *sse = data;

    return ngx_http_zt_mask_sse_add(sse, &sse->m, p, len);
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


/* the buffers of an event: bounded by the event, itself bounded */

static ngx_int_t
ngx_http_zt_mask_sse_add(ngx_http_zt_mask_sse_t *sse,
    ngx_http_zt_mask_buf_t *b, u_char *p, size_t len)
{
    if (b->size - b->len >= len) {
        if (len) {
            ngx_memcpy(b->data + b->len, p, len);
            b->len += len;
        }

        return NGX_OK;
    }

    return ngx_http_zt_mask_buf_add(sse->mr, b, p, len, (size_t) -1);
}
