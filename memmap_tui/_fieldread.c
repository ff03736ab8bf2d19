/*
 * _fieldread: read numbers out of /proc-style text files straight into a float64 row.
 *
 * One type, FieldReader(files, rules, width). Each file is opened once and re-read with
 * pread(2) on every read(); each rule takes one number from one line and adds coef * number
 * into one slot of the caller's row (so totals, differences and unit changes are linear rules,
 * and no Python object is made per field). A slot whose rules did not all match is NaN.
 *
 * Lines are split into tokens on spaces, tabs, ':' and '='. A line is picked by its key: the
 * token at the file's key_token index (0 for "MemTotal:", 2 for a diskstats device name), or,
 * with key_token -1, the tokens after the last ')' of the file (for /proc/PID/stat, whose
 * command name may hold spaces and parentheses); head() then gives the text before those tokens
 * and the first of them ("PID (name) S"), and heads() gives each such file's, as of its last read
 * (one read covering many processes). The first line with a rule's key decides that rule
 * (NaN when its token is missing or not a number). The meaning of every rule lives in Python.
 *
 * Limits, checked when the reader is made (ValueError), the same in the Python twin: a rule's
 * token and a file's key_token address the first MAX_TOKENS (64) tokens of a line (a line may
 * hold any number; those after the 64th are never looked at); a key is ASCII, shorter than
 * MAX_KEY (64) characters, and holds no separator or newline; width is at most MAX_WIDTH (a
 * row of it fits in memory). A file longer than 64 MiB is an OSError (EFBIG), not a read that
 * never ends.
 *
 * Reading less: the kernel formats a seq_file such as /proc/vmstat line by line, as far as the
 * read asks, and most of its cost is that formatting. Once every rule of a keyed file matched,
 * the reader remembers where the last wanted line ended and next time asks for only that much
 * (and MARGIN more). Only whole lines of a cut read are parsed; if a wanted line was not among
 * them (it moved), the file is read whole again at once. The values are the same either way.
 *
 * A file may have a period, (path, key_token, period): read_schedule() then reads it at most
 * that often and its rules keep the values of its last read on the ticks between, for a file
 * whose numbers cannot change faster or mean little over less (the CPU times of /proc/stat,
 * counted a kernel tick at a time: the host reads it every 0.1 s at most). read() always reads
 * every file, and the first tick of a schedule after a read() does too.
 *
 * read_schedule() runs without the GIL. While it runs, the reader is busy: read, head, close,
 * __init__, guard and another read_schedule raise RuntimeError instead of sharing its buffers
 * and files; cancel() and wake_fd() stay usable (they are how a batch is ended). After close(),
 * read() and read_schedule() raise ValueError. An OSError from a read names the file (as given)
 * in its filename.
 *
 * A guard (guard(hold, names)) ends a batch before the first tick at which something the caller
 * must see at once happened, rather than reading on: a held slot no longer holds its value (the
 * last PID the kernel handed out moved: a process may have been born), an AFTER_PAREN file's head
 * no longer starts with its expected "PID (name) " (an exec, a recycled PID) or its state is Z or
 * X (the process exited), or a read failed (the process is gone). That tick is read but not
 * counted (`done` stops before it, `next_tick` is its own) and stopped() says why; a guarded
 * batch never raises for a failed read. read_schedule's optional seventh argument takes each
 * tick's state letters: one byte per file (0 for a file without a head), file_count per tick.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_KEY 64                          /* keys are shorter than this */
#define MAX_TOKENS 64                       /* tokens 0 .. MAX_TOKENS - 1 of a line */
#define MAX_WIDTH (PY_SSIZE_T_MAX / 8)      /* slots of a row, so that width * 8 fits */
#define MAX_FILE ((size_t)64 << 20)         /* bytes of one file */
#define MAX_TICK ((long long)1 << 53)       /* tick numbers stay exact as doubles */
#define MAX_SLEEP 3600.0                    /* seconds of one wait; the loop waits again */
#define MAX_HEAD 256
#define MARGIN 256
#define FIRST_BUFFER 4096
#define BUSY "%s: busy: the reader is in read_schedule (cancel() ends it) or being made"
#define CLOSED "%s: the reader is closed"

typedef struct {
    int fd;
    int key_token;
    int tokens;     /* tokens of a line its rules can use (their largest token + 1, at least 1) */
    Py_ssize_t first_rule;
    Py_ssize_t rule_count;
    size_t need;    /* bytes to ask for next time; 0 = the whole file */
    double period;  /* read_schedule reads it at most this often (seconds); 0 = every tick */
    double last_due; /* read_schedule: the due time of its last read; -inf = read it next */
    PyObject *name; /* the path as given, for errors */
    unsigned char first[32]; /* a bit for the first byte of each rule's key */
    Py_ssize_t head_len;     /* AFTER_PAREN: this file's head, as of its last read */
    char head[MAX_HEAD];
    int guarded;             /* guard(): the head must be `expect`, then one state byte */
    Py_ssize_t expect_len;
    char expect[MAX_HEAD];
} File;

typedef struct {
    char key[MAX_KEY];
    Py_ssize_t key_len;
    int token;
    Py_ssize_t slot;
    double coef;
    double value;    /* coef * number, of this read, once matched */
    size_t line_end; /* where its line ended, last time it matched */
    Py_ssize_t same_end; /* one past the last rule of its file with the same key */
    Py_ssize_t next;     /* in a read: a rule at or before the first one from here still
                            waiting (itself while it waits); see waiting_from() */
} Rule;

typedef struct {
    PyObject_HEAD
    File *files;
    Py_ssize_t file_count;
    Rule *rules;
    Py_ssize_t rule_count;
    Py_ssize_t width;
    unsigned char *matched;
    char *buf;
    size_t buf_size;
    int open;                        /* made by __init__, not closed since */
    int busy;                        /* a read_schedule runs (without the GIL), or another call
                                        that Python code may interrupt (a buffer's, a path's) */
    volatile sig_atomic_t cancelled; /* set by cancel(): read_schedule returns at once */
    int wake[2];                     /* a pipe: cancel(), or Python's C signal handler (through
                                        signal.set_wakeup_fd), writes to wake a sleeping batch */
    char head[MAX_HEAD];             /* of the last AFTER_PAREN file read: "PID (name) S" */
    Py_ssize_t head_len;
    PyObject *failed;                /* the name of the file whose read failed last */
    int armed;                       /* guard() set: a batch stops at a change (STOP_*) */
    int stopped;                     /* why the last read_schedule stopped early, 0 if not */
    Py_ssize_t hold_count;           /* guard(): slots that must keep their values */
    Py_ssize_t *hold_slots;
    double *hold_values;
} FieldReader;

enum { STOP_NONE = 0, STOP_HOLD = 1, STOP_HEAD = 2, STOP_FAILED = 3 };

static locale_t c_locale; /* strtod_l's: a '.' whatever LC_NUMERIC says, as float() reads */

/* ---- arguments ------------------------------------------------------------------------- */

static const char *type_name(PyObject *obj) {
    const char *name = Py_TYPE(obj)->tp_name, *dot = strrchr(name, '.');
    return dot ? dot + 1 : name;
}

/* An int argument clamped to the Py_ssize_t range (so that a huge one fails the range check
 * that follows with ValueError, not OverflowError). -1 with TypeError naming `where`. */
static int index_arg(PyObject *obj, const char *where, const char *what, Py_ssize_t *out) {
    if (!PyIndex_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s: %s must be an int, not %s", where, what,
                     type_name(obj));
        return -1;
    }
    *out = PyNumber_AsSsize_t(obj, NULL);
    return *out == -1 && PyErr_Occurred() ? -1 : 0;
}

/* A float argument as float() takes a number (not a string). -1 with an error naming where. */
static int float_arg(PyObject *obj, const char *where, const char *what, double *out) {
    if (!PyFloat_Check(obj) && !PyIndex_Check(obj) &&
        (Py_TYPE(obj)->tp_as_number == NULL || Py_TYPE(obj)->tp_as_number->nb_float == NULL)) {
        PyErr_Format(PyExc_TypeError, "%s: %s must be a number, not %s", where, what,
                     type_name(obj));
        return -1;
    }
    *out = PyFloat_AsDouble(obj);
    if (*out == -1.0 && PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_ValueError, "%s: %s is out of float64 range", where, what);
        }
        return -1;
    }
    return 0;
}

/* a * b values, or -1 when a * b * 8 bytes would not fit in a Py_ssize_t (a, b >= 0). */
static Py_ssize_t values_of(Py_ssize_t a, Py_ssize_t b) {
    if (a == 0 || b == 0) return 0;
    return a > PY_SSIZE_T_MAX / 8 / b ? -1 : a * b;
}

/*
 * A C-contiguous float64 buffer of at least `want` values (exactly, and one-dimensional, with
 * `exact`), writable when asked. TypeError for what is no such buffer, ValueError for a wrong
 * format or size; each names `where`. 0, or -1 with the buffer released.
 */
static int get_doubles(PyObject *obj, Py_buffer *view, Py_ssize_t want, int writable, int exact,
                       const char *where) {
    const char *kind = writable ? "a writable" : "a";
    if (PyObject_GetBuffer(obj, view, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS |
                                          (writable ? PyBUF_WRITABLE : 0)) < 0) {
        if (!PyErr_ExceptionMatches(PyExc_TypeError) && !PyErr_ExceptionMatches(PyExc_BufferError))
            return -1;
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "%s: want %s float64 buffer of %zd values, not %s", where,
                     kind, want, type_name(obj));
        return -1;
    }
    if (view->format == NULL || strcmp(view->format, "d") != 0 || view->itemsize != 8 ||
        view->len / 8 < want || (exact && (view->len / 8 != want || view->ndim != 1))) {
        PyBuffer_Release(view);
        PyErr_Format(PyExc_ValueError, "%s: want %s float64 buffer of %zd values", where, kind,
                     want);
        return -1;
    }
    return 0;
}

/* ---- parsing --------------------------------------------------------------------------- */

/* The separators, as a table: the tokenizer's inner loop is most of the cost of a read. */
static const unsigned char separator[256] = {[' '] = 1, ['\t'] = 1, [':'] = 1, ['='] = 1};

static inline int is_sep(char c) { return separator[(unsigned char)c]; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }

static const double powers_of_ten[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                         1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                         1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* The digits [s, end) ("123" or "123.45"), correctly rounded: strtod_l on a terminated copy
 * (the file's buffer is not terminated). Called without the GIL; NaN if no memory. */
static double slow_number(const char *s, const char *end) {
    char local[128], *copy = local;
    size_t len = (size_t)(end - s);
    if (len >= sizeof local && !(copy = PyMem_RawMalloc(len + 1))) return NAN;
    memcpy(copy, s, len);
    copy[len] = 0;
    double value = strtod_l(copy, NULL, c_locale);
    if (copy != local) PyMem_RawFree(copy);
    return value;
}

/* The number at the start of [s, end): [-+]?digits(.digits*)?, rounded as Python's float()
 * rounds that text; NaN if there is none. The common case is exact: at most 2^53 in all its
 * digits and at most 22 of them after the point, so one division rounds it correctly. */
static double parse_number(const char *s, const char *end) {
    int negative = 0;
    if (s < end && (*s == '-' || *s == '+')) negative = (*s++ == '-');
    if (s >= end || !is_digit(*s)) return NAN;
    const char *digits = s;
    uint64_t mantissa = 0;
    int exact = 1, fraction = 0;
    for (; s < end && is_digit(*s); s++) {
        if (mantissa > (UINT64_MAX - 9) / 10) exact = 0;
        else mantissa = mantissa * 10 + (uint64_t)(*s - '0');
    }
    if (s < end && *s == '.') {
        for (s++; s < end && is_digit(*s); s++, fraction++) {
            if (mantissa > (UINT64_MAX - 9) / 10) exact = 0;
            else mantissa = mantissa * 10 + (uint64_t)(*s - '0');
        }
    }
    double value = exact && mantissa <= (UINT64_C(1) << 53) && fraction <= 22
                       ? (double)mantissa / powers_of_ten[fraction]
                       : slow_number(digits, s);
    return negative ? -value : value;
}

/* The first '\n' in [p, end), or NULL. Eight bytes at a time in a register: /proc lines are
 * short, and a call to memchr per line costs more than the search. */
static inline const char *find_newline(const char *p, const char *end) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t ones = UINT64_C(0x0101010101010101), highs = UINT64_C(0x8080808080808080);
    for (; end - p >= 8; p += 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        word ^= ones * '\n'; /* a zero byte where a newline was */
        uint64_t zeros = (word - ones) & ~word & highs; /* exact up to the first zero byte */
        if (zeros) return p + (__builtin_ctzll(zeros) >> 3);
    }
    for (; p < end; p++)
        if (*p == '\n') return p;
    return NULL;
#else
    return memchr(p, '\n', (size_t)(end - p));
#endif
}

/* Split [line, end) into tokens; returns how many (at most `most` <= MAX_TOKENS). */
static inline int tokenize(const char *line, const char *end, const char **starts,
                           const char **ends, int most) {
    int n = 0;
    const char *p = line;
    while (p < end && n < most) {
        while (p < end && is_sep(*p)) p++;
        if (p >= end) break;
        starts[n] = p;
        while (p < end && !is_sep(*p)) p++;
        ends[n++] = p;
    }
    return n;
}

/*
 * Finding a line's rules. A file with a rule set per CPU (/proc/stat) has thousands of rules
 * and as many lines; comparing every line with every rule would cost O(lines x rules). So the
 * loops below visit only the rules still waiting in this read, through each rule's `next` link
 * (decided rules point past themselves; path halving keeps the walk short), and stop a key's
 * rules at their `same_end`. A file read in the order of its rules costs O(lines + rules).
 */

/* The first rule at or after r, before end, still waiting in this read; end if none. */
static Py_ssize_t waiting_from(FieldReader *self, Py_ssize_t r, Py_ssize_t end) {
    Rule *rules = self->rules;
    while (r < end && rules[r].next != r) {
        rules[r].next = rules[rules[r].next].next;
        r = rules[r].next;
    }
    return r < end ? r : end;
}

/* Rule r has decided: later walks step over it. */
static void decide(FieldReader *self, Py_ssize_t r) {
    self->matched[r] = 1;
    self->rules[r].next = r + 1;
}

/* The rules of file f that wait for a line with this key take their number from it (NaN when
 * the line has no such token or it is not a number). Returns how many it decided. */
static Py_ssize_t apply_rules(FieldReader *self, const File *f, const char **ts,
                              const char **te, int n, const char *key, Py_ssize_t key_len,
                              size_t line_end) {
    Py_ssize_t decided = 0, end = f->first_rule + f->rule_count;
    for (Py_ssize_t r = waiting_from(self, f->first_rule, end); r < end;
         r = waiting_from(self, r + 1, end)) {
        Rule *rule = &self->rules[r];
        if (rule->key_len != key_len || memcmp(rule->key, key, key_len) != 0) continue;
        end = rule->same_end; /* this key has no rule past it */
        double v = rule->token < n ? parse_number(ts[rule->token], te[rule->token]) : NAN;
        rule->value = rule->coef * v;
        rule->line_end = line_end;
        decide(self, r);
        decided++;
    }
    return decided;
}

/* Whether a rule of file f still waits for the line with this key. */
static int wanted(FieldReader *self, const File *f, const char *key, Py_ssize_t key_len) {
    Py_ssize_t end = f->first_rule + f->rule_count;
    for (Py_ssize_t r = waiting_from(self, f->first_rule, end); r < end;
         r = waiting_from(self, r + 1, end)) {
        const Rule *rule = &self->rules[r];
        if (rule->key_len == key_len && memcmp(rule->key, key, key_len) == 0) return 1;
    }
    return 0;
}

/* With key_token 0, where the key is the line's first token: the length of the key at p (the
 * line's first token, which ends at `stop` or a separator) when a rule of f still waits for it,
 * else 0. Compares the line with the keys rather than tokenizing it, after a look at its first
 * byte: most lines of vmstat or meminfo are not wanted, and this is most of the cost of a read. */
static Py_ssize_t wanted_at_start(FieldReader *self, const File *f, const char *p,
                                  const char *stop) {
    unsigned char c = (unsigned char)*p;
    if (!(f->first[c >> 3] & (1u << (c & 7)))) return 0;
    Py_ssize_t end = f->first_rule + f->rule_count;
    for (Py_ssize_t r = waiting_from(self, f->first_rule, end); r < end;
         r = waiting_from(self, r + 1, end)) {
        const Rule *rule = &self->rules[r];
        Py_ssize_t n = rule->key_len;
        if (n > 0 && n <= stop - p && (n == stop - p || is_sep(p[n])) &&
            rule->key[n - 1] == p[n - 1] && memcmp(rule->key, p, (size_t)n) == 0)
            return n;
    }
    return 0;
}

/* How many rules of file f wait for their line. */
static Py_ssize_t waiting(FieldReader *self, const File *f) {
    Py_ssize_t n = 0, end = f->first_rule + f->rule_count;
    for (Py_ssize_t r = waiting_from(self, f->first_rule, end); r < end;
         r = waiting_from(self, r + 1, end))
        n++;
    return n;
}

static void parse_file(FieldReader *self, File *f, const char *text, size_t len) {
    const char *ts[MAX_TOKENS], *te[MAX_TOKENS];
    const char *end = text + len;
    if (f->key_token < 0) { /* tokens after the last ')' */
        const char *close = len > 0 ? memrchr(text, ')', len) : NULL;
        const char *p = close ? close + 1 : text;
        int n = tokenize(p, end, ts, te, f->tokens);
        const char *head_end = n > 0 ? te[0] : p;
        self->head_len = head_end - text < MAX_HEAD ? head_end - text : MAX_HEAD;
        memcpy(self->head, text, (size_t)self->head_len);
        f->head_len = self->head_len;
        memcpy(f->head, text, (size_t)f->head_len);
        apply_rules(self, f, ts, te, n, "", 0, len);
        return;
    }
    Py_ssize_t left = waiting(self, f);
    const char *line = text;
    while (line < end && left > 0) { /* the first line with a key decides: stop when all did */
        const char *nl = find_newline(line, end);
        const char *stop = nl ? nl : end;
        const char *key = line;
        Py_ssize_t key_len = 0;
        if (f->key_token == 0) {
            while (key < stop && is_sep(*key)) key++;
            if (key < stop) key_len = wanted_at_start(self, f, key, stop);
        } else if (tokenize(line, stop, ts, te, f->key_token + 1) > f->key_token) {
            key = ts[f->key_token]; /* only the key first: most lines are not wanted */
            key_len = (Py_ssize_t)(te[f->key_token] - key);
            if (!wanted(self, f, key, key_len)) key_len = 0;
        }
        if (key_len > 0) {
            int n = tokenize(line, stop, ts, te, f->tokens);
            left -= apply_rules(self, f, ts, te, n, key, key_len, (size_t)(stop - text));
        }
        if (!nl) break;
        line = nl + 1;
    }
}

/* ---- reading --------------------------------------------------------------------------- */

/* The whole file behind fd, from offset 0; grows the buffer as needed, up to MAX_FILE bytes.
 * -1 with errno set (EFBIG for a longer file). */
static ssize_t read_whole(FieldReader *self, int fd) {
    size_t have = 0;
    for (;;) {
        ssize_t got = pread(fd, self->buf + have, self->buf_size - have, (off_t)have);
        if (got < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        have += (size_t)got;
        if (got == 0 || have < self->buf_size) return (ssize_t)have;
        if (self->buf_size >= MAX_FILE) {
            char more;
            do got = pread(fd, &more, 1, (off_t)have);
            while (got < 0 && errno == EINTR);
            if (got < 0) return -1;
            if (got == 0) return (ssize_t)have;
            errno = EFBIG;
            return -1;
        }
        char *bigger = PyMem_RawRealloc(self->buf, self->buf_size * 2);
        if (!bigger) {
            errno = ENOMEM;
            return -1;
        }
        self->buf = bigger;
        self->buf_size *= 2;
    }
}

/* The first `want` bytes (at most the buffer) of the file behind fd. -1 with errno set. */
static ssize_t read_start(FieldReader *self, int fd, size_t want) {
    for (;;) {
        ssize_t got = pread(fd, self->buf, want, 0);
        if (got >= 0 || errno != EINTR) return got;
    }
}

/* After a read that served every rule of a keyed file: how much to ask for next time
 * (0 = the whole file, when asking for less would not save anything). */
static size_t next_need(FieldReader *self, const File *f, size_t len, int whole) {
    if (f->key_token < 0 || f->rule_count == 0 || waiting(self, f)) return 0;
    size_t last = 0;
    for (Py_ssize_t r = f->first_rule; r < f->first_rule + f->rule_count; r++)
        if (self->rules[r].line_end > last) last = self->rules[r].line_end;
    size_t need = last + 1 + MARGIN;
    return whole && need >= len ? 0 : need;
}

/* Read file f, asking for only its first f->need bytes when that is known. */
static int fill_file(FieldReader *self, File *f) {
    ssize_t len;
    if (f->need > 0 && f->need <= self->buf_size) {
        len = read_start(self, f->fd, f->need);
        if (len < 0) return -1;
        if ((size_t)len == f->need) { /* cut: parse whole lines only, then see */
            size_t whole_lines = (size_t)len;
            while (whole_lines > 0 && self->buf[whole_lines - 1] != '\n') whole_lines--;
            parse_file(self, f, self->buf, whole_lines);
            if (!waiting(self, f)) {
                f->need = next_need(self, f, (size_t)len, 0);
                return 0;
            }
            len = read_whole(self, f->fd); /* a wanted line moved on: the whole file, now */
            if (len < 0) return -1;
        }
    } else {
        len = read_whole(self, f->fd);
        if (len < 0) return -1;
    }
    parse_file(self, f, self->buf, (size_t)len);
    f->need = next_need(self, f, (size_t)len, 1);
    return 0;
}

/* Whether file f is read at a tick due at `due` (NaN: outside a schedule, every file is): one
 * with a period is held, its rules keeping the values of its last read, until that period has
 * gone by since the due time of that read (less half a tick, so that a period of ten ticks
 * reads every tenth tick however the sums round). */
static int due_now(const File *f, double due, double interval) {
    if (!(f->period > 0) || isnan(due)) return 1;
    return !(due - f->last_due < f->period - 0.5 * interval);
}

/* Fill row (width values) from every file due at `due` (see due_now); needs no GIL. Each slot
 * is the sum, in rule order, of its rules' values, as the Python twin adds them. -1 with errno
 * set (and self->failed naming the file) when a read fails. */
static int fill_row(FieldReader *self, double *row, double due, double interval) {
    /* every link afresh (a walk may step past its file's end), matched only where read */
    for (Py_ssize_t r = 0; r <= self->rule_count; r++) self->rules[r].next = r;
    for (Py_ssize_t i = 0; i < self->file_count; i++) {
        File *f = &self->files[i];
        if (!due_now(f, due, interval)) continue;
        f->last_due = isnan(due) ? -INFINITY : due;
        if (f->rule_count > 0) memset(self->matched + f->first_rule, 0, (size_t)f->rule_count);
        if (f->fd >= 0 && fill_file(self, f) < 0) {
            self->failed = f->name;
            return -1;
        }
    }
    for (Py_ssize_t r = 0; r < self->rule_count; r++) row[self->rules[r].slot] = 0.0;
    for (Py_ssize_t r = 0; r < self->rule_count; r++)
        if (self->matched[r]) row[self->rules[r].slot] += self->rules[r].value;
    for (Py_ssize_t r = 0; r < self->rule_count; r++)
        if (!self->matched[r]) row[self->rules[r].slot] = NAN;
    return 0;
}

/* OSError for `error` naming `name` (a reference this call takes over; may be NULL). */
static PyObject *raise_errno(int error, PyObject *name) {
    errno = error;
    PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, name);
    Py_XDECREF(name);
    return NULL;
}

/* A new tuple of the sequence's items (a copy of a list), or NULL with TypeError `message`. */
static PyObject *own_tuple(PyObject *sequence, const char *message) {
    PyObject *fast = PySequence_Fast(sequence, message);
    if (!fast) return NULL;
    PyObject *copy = PySequence_Tuple(fast);
    Py_DECREF(fast);
    return copy;
}

/* 0 when the reader may be used by `method` now; else -1 with RuntimeError (a batch runs) or
 * ValueError (closed, when `needs_open`). */
static int usable(const FieldReader *self, const char *method, int needs_open) {
    if (self->busy) {
        PyErr_Format(PyExc_RuntimeError, BUSY, method);
        return -1;
    }
    if (needs_open && !self->open) {
        PyErr_Format(PyExc_ValueError, CLOSED, method);
        return -1;
    }
    return 0;
}

static PyObject *FieldReader_read(FieldReader *self, PyObject *arg) {
    Py_buffer view;
    if (usable(self, "FieldReader.read", 1) < 0) return NULL;
    self->busy = 1; /* Python code of the buffer's cannot close or remake the reader meanwhile */
    if (get_doubles(arg, &view, self->width, 1, 1, "FieldReader.read") < 0) {
        self->busy = 0;
        return NULL;
    }
    int failed = fill_row(self, (double *)view.buf, NAN, 0.0);
    int saved = errno;
    /* its own reference: raising may run Python code (the GC) that remakes the reader */
    PyObject *name = failed ? self->failed : NULL;
    Py_XINCREF(name);
    PyBuffer_Release(&view);
    self->busy = 0;
    if (failed) return raise_errno(saved, name);
    Py_RETURN_NONE;
}

static PyObject *FieldReader_head(FieldReader *self, PyObject *Py_UNUSED(ignored)) {
    if (usable(self, "FieldReader.head", 0) < 0) return NULL;
    return PyBytes_FromStringAndSize(self->head, self->head_len);
}

/* One head per file, in file order: an AFTER_PAREN file's as of its last read, b"" else. */
static PyObject *FieldReader_heads(FieldReader *self, PyObject *Py_UNUSED(ignored)) {
    if (usable(self, "FieldReader.heads", 0) < 0) return NULL;
    self->busy = 1; /* allocating may run the GC, whose Python code cannot remake the reader */
    PyObject *heads = PyList_New(self->file_count);
    for (Py_ssize_t i = 0; heads && i < self->file_count; i++) {
        const File *f = &self->files[i];
        PyObject *head = PyBytes_FromStringAndSize(f->head, f->head_len);
        if (!head) {
            Py_CLEAR(heads);
            break;
        }
        PyList_SET_ITEM(heads, i, head);
    }
    self->busy = 0;
    return heads;
}

/* ---- batches --------------------------------------------------------------------------- */

static double seconds(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* With the GIL: run pending signal handlers (main thread) and look at cancel().
 * Returns -1 when a handler raised, 1 to end the batch, 0 to go on. */
static int should_stop(FieldReader *self) {
    int status = 0;
    PyGILState_STATE gil = PyGILState_Ensure();
    if (PyErr_CheckSignals() < 0) status = -1;
    PyGILState_Release(gil);
    if (status == 0 && self->cancelled) status = 1;
    return status;
}

/* Sleep until monotonic time `due` (which may be far off, or infinite), woken early by cancel()
 * or a signal (a signal that lands on another thread wakes us through the pipe, when it is
 * Python's wakeup fd); a signal's Python handler then runs. Returns like should_stop(). Called
 * without the GIL. */
static int wait_for(FieldReader *self, double due) {
    for (;;) {
        if (self->cancelled) return 1;
        double left = due - seconds(CLOCK_MONOTONIC);
        if (!(left > 0)) return 0;
        if (left > MAX_SLEEP) left = MAX_SLEEP;
        struct timespec ts;
        ts.tv_sec = (time_t)left;
        ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
        if (ts.tv_nsec > 999999999L) ts.tv_nsec = 999999999L;
        struct pollfd wake = {self->wake[0], POLLIN, 0};
        int ready = ppoll(&wake, self->wake[0] >= 0 ? 1 : 0, &ts, NULL);
        if (ready > 0) {
            char drained[64];
            while (read(self->wake[0], drained, sizeof drained) > 0) {
            }
        }
        if (ready > 0 || (ready < 0 && errno == EINTR)) {
            int status = should_stop(self);
            if (status) return status;
        }
    }
}

/* The wake pipe, made when first needed; -1 with a Python error set when it cannot be. */
static int make_wake(FieldReader *self) {
    if (self->wake[0] >= 0) return 0;
    if (pipe2(self->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
        self->wake[0] = self->wake[1] = -1;
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    return 0;
}

typedef struct {
    double start, interval;
    long long tick;
    Py_ssize_t count;
} Schedule;

/* read_schedule's arguments after the two buffers, checked. -1 with an error naming the method. */
static int schedule_args(PyObject *args, Schedule *s) {
    const char *where = "FieldReader.read_schedule";
    Py_ssize_t tick;
    if (float_arg(PyTuple_GET_ITEM(args, 2), where, "start", &s->start) < 0 ||
        float_arg(PyTuple_GET_ITEM(args, 3), where, "interval", &s->interval) < 0 ||
        index_arg(PyTuple_GET_ITEM(args, 4), where, "tick", &tick) < 0 ||
        index_arg(PyTuple_GET_ITEM(args, 5), where, "count", &s->count) < 0)
        return -1;
    if (!isfinite(s->start) || !isfinite(s->interval) || !(s->interval > 0)) {
        PyErr_Format(PyExc_ValueError, "%s: start must be finite and interval finite and > 0",
                     where);
        return -1;
    }
    if (tick < 0 || tick > MAX_TICK || s->count < 0) {
        PyErr_Format(PyExc_ValueError, "%s: tick must be in 0..2**53 and count >= 0", where);
        return -1;
    }
    s->tick = tick;
    return 0;
}

/* Whether the row just read breaks the guard (STOP_HOLD, STOP_HEAD) or not (0); writes each
 * file's state letter into states (file_count bytes) when given. */
static int guard_breaks(const FieldReader *self, const double *row, unsigned char *states) {
    for (Py_ssize_t h = 0; h < self->hold_count; h++)
        if (!(row[self->hold_slots[h]] == self->hold_values[h])) return STOP_HOLD;
    int why = STOP_NONE;
    for (Py_ssize_t i = 0; i < self->file_count; i++) {
        const File *f = &self->files[i];
        unsigned char state =
            f->key_token < 0 && f->head_len > 0 ? (unsigned char)f->head[f->head_len - 1] : 0;
        if (states) states[i] = state;
        if (f->guarded && why == STOP_NONE &&
            (f->head_len != f->expect_len + 1 ||
             memcmp(f->head, f->expect, (size_t)f->expect_len) != 0 ||
             state == 'Z' || state == 'X'))
            why = STOP_HEAD;
    }
    return why;
}

/* a * b bytes, or -1 when that would not fit in a Py_ssize_t (a, b >= 0). */
static Py_ssize_t bytes_of(Py_ssize_t a, Py_ssize_t b) {
    if (a == 0 || b == 0) return 0;
    return a > PY_SSIZE_T_MAX / b ? -1 : a * b;
}

/* read_schedule's optional states buffer: None (0: no view held), or a writable C-contiguous
 * buffer of single bytes, at least `want` of them (1: the view is held). -1 with an error. */
static int get_states(PyObject *obj, Py_buffer *view, Py_ssize_t want, const char *where) {
    if (obj == Py_None) return 0;
    if (PyObject_GetBuffer(obj, view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) {
        if (!PyErr_ExceptionMatches(PyExc_TypeError) && !PyErr_ExceptionMatches(PyExc_BufferError))
            return -1;
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "%s: states must be None or a writable bytes buffer of "
                     "%zd bytes, not %s", where, want, type_name(obj));
        return -1;
    }
    if (view->itemsize != 1 || view->len < want) {
        PyBuffer_Release(view);
        PyErr_Format(PyExc_ValueError, "%s: states must be a writable bytes buffer of %zd bytes",
                     where, want);
        return -1;
    }
    return 1;
}

/* A RowWriter (below, with the derive and CSV twins it uses): read_schedule's optional writer. */
typedef struct RowWriter RowWriter;
static PyTypeObject RowWriterType;
static int writer_put(RowWriter *w, const double *rows, const double *stamps, Py_ssize_t n);
static RowWriter *writer_take(PyObject *obj, Py_ssize_t width, const char *where);
static void writer_give_back(RowWriter *w);
static PyObject *writer_name(const RowWriter *w);
static Py_ssize_t writer_every(const RowWriter *w);

/*
 * read_schedule(rows, stamps, start, interval, tick, count[, states[, writer[, end]]]) ->
 * (done, next_tick, missed)
 * Up to `count` ticks on the drift-free schedule start + k * interval (k from `tick`), without
 * the GIL: sleep until due, read every file into the next row, note (monotonic, wall) in stamps.
 * Whole slots that went by while late are skipped and counted in `missed`. With `end` (a slot
 * number, None for none) the batch reads no slot from `end` on, however many it skipped: a
 * recording of a set duration ends on time after a stall. cancel() (from any thread or a
 * signal handler) and a signal that interrupts this thread end the batch at once.
 * With a guard, a tick that breaks it ends the batch too (see the top of this file).
 * With a writer (a RowWriter of this reader's width), every `every` rows read are derived and
 * written to its file as they come (sooner when slots were missed, so that no row waits longer
 * than `every` rows on schedule would), and the rest when the batch ends, however it ends (a
 * cancel, a signal, a failed read): a long batch then costs no Python wake-up. A failed write
 * ends the batch with an OSError naming the writer's file (its failure wins over a failed
 * read's).
 */
static PyObject *FieldReader_read_schedule(FieldReader *self, PyObject *args) {
    const char *where = "FieldReader.read_schedule";
    if (!PyTuple_Check(args) || PyTuple_GET_SIZE(args) < 6 || PyTuple_GET_SIZE(args) > 9) {
        return PyErr_Format(PyExc_TypeError, "%s: takes (rows, stamps, start, interval, tick, "
                            "count[, states[, writer[, end]]])", where);
    }
    Schedule s;
    if (schedule_args(args, &s) < 0) return NULL;
    long long end = MAX_TICK; /* the first slot the batch must not read */
    if (PyTuple_GET_SIZE(args) == 9 && PyTuple_GET_ITEM(args, 8) != Py_None) {
        Py_ssize_t given; /* before usable(): its __index__ may be Python code */
        if (index_arg(PyTuple_GET_ITEM(args, 8), where, "end", &given) < 0) return NULL;
        if (given < s.tick || given > MAX_TICK)
            return PyErr_Format(PyExc_ValueError, "%s: end must be in tick..2**53", where);
        end = given;
    }
    if (usable(self, where, 1) < 0) return NULL;
    Py_ssize_t row_values = values_of(s.count, self->width), stamp_values = values_of(s.count, 2);
    Py_ssize_t state_bytes = bytes_of(s.count, self->file_count);
    if (row_values < 0 || stamp_values < 0 || state_bytes < 0) {
        return PyErr_Format(PyExc_ValueError, "%s: count %zd is too large for rows of %zd",
                            where, s.count, self->width);
    }
    Py_buffer rows, stamps, states;
    self->busy = 1; /* from here: a buffer's Python code cannot use the reader either */
    if (get_doubles(PyTuple_GET_ITEM(args, 0), &rows, row_values, 1, 0, where) < 0) {
        self->busy = 0;
        return NULL;
    }
    if (get_doubles(PyTuple_GET_ITEM(args, 1), &stamps, stamp_values, 1, 0, where) < 0) {
        PyBuffer_Release(&rows);
        self->busy = 0;
        return NULL;
    }
    int held = get_states(PyTuple_GET_SIZE(args) >= 7 ? PyTuple_GET_ITEM(args, 6) : Py_None,
                          &states, state_bytes, where);
    /* the writer: taken (busy) until the batch ends; the args tuple keeps it alive */
    PyObject *writer_obj = PyTuple_GET_SIZE(args) >= 8 ? PyTuple_GET_ITEM(args, 7) : Py_None;
    RowWriter *writer = NULL;
    int failed = held < 0;
    if (!failed && writer_obj != Py_None) {
        writer = writer_take(writer_obj, self->width, where);
        failed = writer == NULL;
    }
    if (failed || make_wake(self) < 0) {
        if (held > 0) PyBuffer_Release(&states);
        if (writer) writer_give_back(writer);
        PyBuffer_Release(&rows);
        PyBuffer_Release(&stamps);
        self->busy = 0;
        return NULL;
    }
    double *row = (double *)rows.buf, *stamp = (double *)stamps.buf;
    unsigned char *state = held > 0 ? states.buf : NULL;
    long long tick = s.tick, missed = 0;
    Py_ssize_t done = 0, written = 0, every = writer ? writer_every(writer) : 0;
    int error = 0, write_error = 0, stop = 0, why = STOP_NONE;
    self->stopped = STOP_NONE;
    Py_BEGIN_ALLOW_THREADS
    while (done < s.count && tick < end) {
        stop = wait_for(self, s.start + (double)tick * s.interval);
        if (stop) break;
        stamp[2 * done] = seconds(CLOCK_MONOTONIC);
        stamp[2 * done + 1] = seconds(CLOCK_REALTIME);
        if (fill_row(self, row + done * self->width, s.start + (double)tick * s.interval,
                     s.interval) < 0) {
            if (self->armed) why = STOP_FAILED; /* guarded: the caller looks, tick uncounted */
            else error = errno;
            break;
        }
        if (self->armed) {
            why = guard_breaks(self, row + done * self->width,
                               state ? state + done * self->file_count : NULL);
            if (why) break;
        }
        done++;
        tick++;
        /* every `every` rows, or sooner when slots were missed: no row waits longer for its
         * file than `every` rows on schedule would take */
        if (writer && (done - written >= every ||
                       stamp[2 * (done - 1)] - stamp[2 * written] >=
                           (double)(every - 1) * s.interval)) {
            write_error = writer_put(writer, row + written * self->width, stamp + 2 * written,
                                     done - written);
            if (write_error) break;
            written = done;
        }
        double late = seconds(CLOCK_MONOTONIC) - (s.start + (double)tick * s.interval);
        if (late >= s.interval) { /* whole slots gone by: skip them (never past `end`) */
            double skip = floor(late / s.interval), room = (double)(end - tick);
            if (skip > room) skip = room > 0 ? room : 0;
            missed += (long long)skip;
            tick += (long long)skip;
        }
    }
    if (writer && !write_error && done > written) /* however it ended: nothing read is lost */
        write_error = writer_put(writer, row + written * self->width, stamp + 2 * written,
                                 done - written);
    Py_END_ALLOW_THREADS
    if (held > 0) PyBuffer_Release(&states);
    PyBuffer_Release(&rows);
    PyBuffer_Release(&stamps);
    self->stopped = why;
    /* their own references: raising may run Python code (the GC) that remakes either */
    PyObject *name = write_error ? writer_name(writer) : error ? self->failed : NULL;
    Py_XINCREF(name);
    self->busy = 0;
    if (writer) writer_give_back(writer);
    if (write_error) return raise_errno(write_error, name);
    if (error) return raise_errno(error, name);
    if (stop < 0) return NULL; /* a signal handler raised */
    if (stop > 0) self->cancelled = 0;
    return Py_BuildValue("nLL", done, tick, missed);
}

static PyObject *FieldReader_cancel(FieldReader *self, PyObject *Py_UNUSED(ignored)) {
    self->cancelled = 1;
    if (self->wake[1] >= 0 && write(self->wake[1], "c", 1) < 0) { /* pipe full: awake anyway */
    }
    Py_RETURN_NONE;
}

static PyObject *FieldReader_wake_fd(FieldReader *self, PyObject *Py_UNUSED(ignored)) {
    if (make_wake(self) < 0) return NULL;
    return PyLong_FromLong(self->wake[1]);
}

/* Forget the guard (its names live in the files). */
static void disarm(FieldReader *self) {
    PyMem_Free(self->hold_slots);
    PyMem_Free(self->hold_values);
    self->hold_slots = NULL;
    self->hold_values = NULL;
    self->hold_count = 0;
    self->armed = 0;
    for (Py_ssize_t i = 0; i < self->file_count; i++) self->files[i].guarded = 0;
}

/* guard's arguments, checked, then set; -1 with an error (the old guard kept). hold and names
 * are tuples (copies: Python code run by __index__ cannot change them meanwhile). */
static int set_guard(FieldReader *self, PyObject *hold, PyObject *names) {
    const char *where = "FieldReader.guard";
    Py_ssize_t count = hold ? PyTuple_GET_SIZE(hold) : 0;
    if (names && PyTuple_GET_SIZE(names) != self->file_count) {
        PyErr_Format(PyExc_ValueError, "%s: names must hold one item per file (%zd), not %zd",
                     where, self->file_count, PyTuple_GET_SIZE(names));
        return -1;
    }
    for (Py_ssize_t i = 0; names && i < self->file_count; i++) {
        PyObject *name = PyTuple_GET_ITEM(names, i);
        if (name == Py_None) continue;
        if (!PyBytes_Check(name)) {
            PyErr_Format(PyExc_TypeError, "%s: names[%zd] must be bytes or None, not %s", where,
                         i, type_name(name));
            return -1;
        }
        if (self->files[i].key_token >= 0 || PyBytes_GET_SIZE(name) >= MAX_HEAD) {
            PyErr_Format(PyExc_ValueError, "%s: names[%zd]: a name is given only for an "
                         "AFTER_PAREN file, shorter than %d bytes", where, i, MAX_HEAD);
            return -1;
        }
    }
    Py_ssize_t *slots = PyMem_Malloc(((size_t)count + 1) * sizeof(Py_ssize_t));
    double *values = PyMem_Malloc(((size_t)count + 1) * sizeof(double));
    if (!slots || !values) {
        PyMem_Free(slots);
        PyMem_Free(values);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t h = 0; h < count; h++) {
        PyObject *item = PyTuple_GET_ITEM(hold, h);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) {
            PyErr_Format(PyExc_TypeError, "%s: hold[%zd] must be a (slot, value) tuple", where, h);
            goto fail;
        }
        if (index_arg(PyTuple_GET_ITEM(item, 0), where, "a held slot", &slots[h]) < 0 ||
            float_arg(PyTuple_GET_ITEM(item, 1), where, "a held value", &values[h]) < 0)
            goto fail;
        if (slots[h] < 0 || slots[h] >= self->width || isnan(values[h])) {
            PyErr_Format(PyExc_ValueError, "%s: hold[%zd]: slot must be in 0..%zd and the value "
                         "a number", where, h, self->width - 1);
            goto fail;
        }
    }
    disarm(self);
    self->hold_slots = slots;
    self->hold_values = values;
    self->hold_count = count;
    for (Py_ssize_t i = 0; names && i < self->file_count; i++) {
        PyObject *name = PyTuple_GET_ITEM(names, i);
        if (name == Py_None) continue;
        File *f = &self->files[i];
        f->guarded = 1;
        f->expect_len = PyBytes_GET_SIZE(name);
        memcpy(f->expect, PyBytes_AS_STRING(name), (size_t)f->expect_len);
    }
    self->armed = 1;
    return 0;
fail:
    PyMem_Free(slots);
    PyMem_Free(values);
    return -1;
}

static PyObject *FieldReader_guard(FieldReader *self, PyObject *args) {
    const char *where = "FieldReader.guard";
    PyObject *hold_in, *names_in;
    if (!PyArg_ParseTuple(args, "OO:guard", &hold_in, &names_in) || usable(self, where, 1) < 0)
        return NULL;
    if (hold_in == Py_None && names_in == Py_None) {
        disarm(self);
        Py_RETURN_NONE;
    }
    self->busy = 1; /* Python code run meanwhile (__index__, __float__) cannot use the reader */
    PyObject *hold = hold_in == Py_None ? NULL : PySequence_Tuple(hold_in);
    PyObject *names = names_in == Py_None ? NULL : PySequence_Tuple(names_in);
    int status = -1;
    if ((hold_in == Py_None || hold) && (names_in == Py_None || names))
        status = set_guard(self, hold, names);
    Py_XDECREF(hold);
    Py_XDECREF(names);
    self->busy = 0;
    if (status < 0) return NULL;
    Py_RETURN_NONE;
}

static PyObject *FieldReader_stopped(FieldReader *self, PyObject *Py_UNUSED(ignored)) {
    return PyLong_FromLong(self->stopped);
}

static void close_files(FieldReader *self) {
    for (Py_ssize_t i = 0; i < self->file_count; i++) {
        if (self->files[i].fd >= 0) {
            close(self->files[i].fd);
            self->files[i].fd = -1;
        }
    }
    self->open = 0;
}

static PyObject *FieldReader_close(FieldReader *self, PyObject *Py_UNUSED(ignored)) {
    if (usable(self, "FieldReader.close", 0) < 0) return NULL;
    close_files(self);
    Py_RETURN_NONE;
}

/* ---- making a reader ------------------------------------------------------------------- */

/* Closes the files and forgets the state of an earlier __init__ (the pipe stays). The fields
 * are cleared before any name is released, since releasing one can run Python code. */
static void release_state(FieldReader *self) {
    File *files = self->files;
    Py_ssize_t file_count = self->file_count;
    close_files(self);
    disarm(self);
    self->stopped = STOP_NONE;
    PyMem_Free(self->rules);
    PyMem_Free(self->matched);
    PyMem_RawFree(self->buf);
    self->files = NULL;
    self->rules = NULL;
    self->matched = NULL;
    self->buf = NULL;
    self->file_count = self->rule_count = self->width = 0;
    self->buf_size = 0;
    self->head_len = 0;
    self->failed = NULL;
    if (files) {
        for (Py_ssize_t i = 0; i < file_count; i++) Py_XDECREF(files[i].name);
        PyMem_Free(files);
    }
}

static void FieldReader_dealloc(FieldReader *self) {
    release_state(self);
    for (int i = 0; i < 2; i++)
        if (self->wake[i] >= 0) close(self->wake[i]);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Whether key may name a line: ASCII, and no separator or newline (a token never holds one). */
static int key_is_valid(const char *key, Py_ssize_t len) {
    for (Py_ssize_t i = 0; i < len; i++)
        if ((unsigned char)key[i] > 127 || is_sep(key[i]) || key[i] == '\n') return 0;
    return 1;
}

/* rules[r]: (file index, key, token, slot, coef), each checked. */
static int parse_rule(PyObject *item, Py_ssize_t r, Rule *rule, Py_ssize_t *file_index,
                      Py_ssize_t file_count, Py_ssize_t width) {
    const char *where = "FieldReader()";
    if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 5) {
        PyErr_Format(PyExc_TypeError, "%s: rules[%zd] must be a (file, key, token, slot, coef) "
                     "tuple", where, r);
        return -1;
    }
    PyObject *key = PyTuple_GET_ITEM(item, 1);
    Py_ssize_t token;
    if (index_arg(PyTuple_GET_ITEM(item, 0), where, "a rule's file", file_index) < 0) return -1;
    if (!PyUnicode_Check(key)) {
        PyErr_Format(PyExc_TypeError, "%s: a rule's key must be a str, not %s", where,
                     type_name(key));
        return -1;
    }
    if (index_arg(PyTuple_GET_ITEM(item, 2), where, "a rule's token", &token) < 0 ||
        index_arg(PyTuple_GET_ITEM(item, 3), where, "a rule's slot", &rule->slot) < 0 ||
        float_arg(PyTuple_GET_ITEM(item, 4), where, "a rule's coef", &rule->coef) < 0)
        return -1;
    Py_ssize_t key_len;
    const char *text = PyUnicode_IS_ASCII(key) ? PyUnicode_AsUTF8AndSize(key, &key_len) : NULL;
    if (text == NULL && PyErr_Occurred()) return -1;
    if (*file_index < 0 || *file_index >= file_count) {
        PyErr_Format(PyExc_ValueError, "%s: rules[%zd] names file %zd of %zd", where, r,
                     *file_index, file_count);
        return -1;
    }
    if (text == NULL || key_len >= MAX_KEY || !key_is_valid(text, key_len)) {
        PyErr_Format(PyExc_ValueError, "%s: rules[%zd]: a key is ASCII, shorter than %d "
                     "characters, without separators", where, r, MAX_KEY);
        return -1;
    }
    if (token < 0 || token >= MAX_TOKENS || rule->slot < 0 || rule->slot >= width) {
        PyErr_Format(PyExc_ValueError, "%s: rules[%zd]: token must be in 0..%d and slot in "
                     "0..%zd", where, r, MAX_TOKENS - 1, width - 1);
        return -1;
    }
    memcpy(rule->key, text, (size_t)key_len);
    rule->key[key_len] = 0;
    rule->key_len = key_len;
    rule->token = (int)token;
    rule->line_end = 0;
    return 0;
}

/* files[i]: (path, key_token) or (path, key_token, period), checked; *path gets the path as
 * bytes (a new reference). */
static int parse_file_spec(PyObject *item, Py_ssize_t i, File *file, PyObject **path) {
    const char *where = "FieldReader()";
    Py_ssize_t key_token;
    double period = 0.0;
    if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) < 2 || PyTuple_GET_SIZE(item) > 3) {
        PyErr_Format(PyExc_TypeError,
                     "%s: files[%zd] must be a (path, key_token[, period]) tuple", where, i);
        return -1;
    }
    if (PyTuple_GET_SIZE(item) == 3) {
        if (float_arg(PyTuple_GET_ITEM(item, 2), where, "a file's period", &period) < 0)
            return -1;
        if (!(period >= 0.0 && period <= MAX_SLEEP)) { /* NaN fails too */
            PyErr_Format(PyExc_ValueError, "%s: files[%zd]: period must be in 0..%g seconds",
                         where, i, MAX_SLEEP);
            return -1;
        }
    }
    if (!PyUnicode_FSConverter(PyTuple_GET_ITEM(item, 0), path)) return -1;
    if (index_arg(PyTuple_GET_ITEM(item, 1), where, "key_token", &key_token) < 0) return -1;
    if (key_token < -1 || key_token >= MAX_TOKENS) {
        PyErr_Format(PyExc_ValueError, "%s: files[%zd]: key_token must be in -1..%d", where, i,
                     MAX_TOKENS - 1);
        return -1;
    }
    file->key_token = (int)key_token;
    file->tokens = 1; /* the head's state token, even without rules */
    file->period = period;
    file->last_due = -INFINITY;
    file->name = PyTuple_GET_ITEM(item, 0);
    Py_INCREF(file->name);
    return 0;
}

/* Checks every file and rule, then opens the files. Rules must come grouped by file, in file
 * order (the Python side sorts them). */
typedef struct {
    const char *key;
    Py_ssize_t len, index;
} KeyAt;

static int key_order(const void *a, const void *b) {
    const KeyAt *x = a, *y = b;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    int c = memcmp(x->key, y->key, (size_t)x->len);
    if (c != 0) return c;
    return (x->index > y->index) - (x->index < y->index);
}

/* Each rule's same_end: one past the last rule of its file with the same key (apply_rules stops
 * there). -1 with MemoryError. */
static int link_same_keys(FieldReader *self) {
    KeyAt *keys = PyMem_Malloc(((size_t)self->rule_count + 1) * sizeof(KeyAt));
    if (!keys) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < self->file_count; i++) {
        Py_ssize_t n = self->files[i].rule_count, first = self->files[i].first_rule;
        for (Py_ssize_t k = 0; k < n; k++) {
            const Rule *rule = &self->rules[first + k];
            keys[k] = (KeyAt){rule->key, rule->key_len, first + k};
        }
        qsort(keys, (size_t)n, sizeof(KeyAt), key_order);
        for (Py_ssize_t k = 0, j; k < n; k = j + 1) { /* keys[k..j]: one key, in rule order */
            for (j = k; j + 1 < n && keys[j + 1].len == keys[k].len &&
                        memcmp(keys[j + 1].key, keys[k].key, (size_t)keys[k].len) == 0;
                 j++) {
            }
            for (Py_ssize_t m = k; m <= j; m++)
                self->rules[keys[m].index].same_end = keys[j].index + 1;
        }
    }
    PyMem_Free(keys);
    return 0;
}

static int load(FieldReader *self, PyObject *files, PyObject *rules, PyObject **paths) {
    for (Py_ssize_t i = 0; i < self->file_count; i++) {
        if (parse_file_spec(PySequence_Fast_GET_ITEM(files, i), i, &self->files[i], &paths[i]) < 0)
            return -1;
    }
    Py_ssize_t previous = 0;
    for (Py_ssize_t r = 0; r < self->rule_count; r++) {
        Py_ssize_t fi;
        if (parse_rule(PySequence_Fast_GET_ITEM(rules, r), r, &self->rules[r], &fi,
                       self->file_count, self->width) < 0)
            return -1;
        if (fi < previous) {
            PyErr_SetString(PyExc_ValueError, "FieldReader(): rules must be grouped by file");
            return -1;
        }
        File *file = &self->files[fi];
        if (file->rule_count == 0) file->first_rule = r;
        if (self->rules[r].token >= file->tokens) file->tokens = self->rules[r].token + 1;
        file->rule_count++;
        if (self->rules[r].key_len > 0) {
            unsigned char c = (unsigned char)self->rules[r].key[0];
            file->first[c >> 3] |= (unsigned char)(1u << (c & 7));
        }
        previous = fi;
    }
    if (link_same_keys(self) < 0) return -1;
    for (Py_ssize_t i = 0; i < self->file_count; i++) {
        int fd = open(PyBytes_AS_STRING(paths[i]), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, self->files[i].name);
            return -1;
        }
        self->files[i].fd = fd;
    }
    return 0;
}

/* Allocates the state for file_count files and rule_count rules; -1 with MemoryError. */
static int allocate(FieldReader *self, Py_ssize_t file_count, Py_ssize_t rule_count) {
    self->files = PyMem_Calloc((size_t)file_count + 1, sizeof(File));
    if (!self->files) return -1;
    self->file_count = file_count; /* every fd -1 before the first can be closed */
    for (Py_ssize_t i = 0; i < file_count; i++) self->files[i].fd = -1;
    self->rules = PyMem_Calloc((size_t)rule_count + 1, sizeof(Rule));
    self->matched = PyMem_Calloc((size_t)rule_count + 1, 1);
    self->buf = PyMem_RawMalloc(FIRST_BUFFER);
    if (!self->rules || !self->matched || !self->buf) return -1;
    self->rule_count = rule_count;
    self->buf_size = FIRST_BUFFER;
    return 0;
}

static int init_state(FieldReader *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"files", "rules", "width", NULL};
    const char *where = "FieldReader()";
    PyObject *files_in, *rules_in, *width_in;
    Py_ssize_t width;
    release_state(self); /* a second __init__ starts afresh; a failed one leaves it closed */
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOO:FieldReader", kwlist, &files_in,
                                     &rules_in, &width_in) ||
        index_arg(width_in, where, "width", &width) < 0)
        return -1;
    if (width <= 0 || width > MAX_WIDTH) {
        PyErr_Format(PyExc_ValueError, "%s: width must be in 1..%zd", where, (Py_ssize_t)MAX_WIDTH);
        return -1;
    }
    /* tuples of their own: Python code run while they are read (__index__, __fspath__)
     * cannot shrink them under the loop or free their items */
    PyObject *files = own_tuple(files_in, "FieldReader(): files must be a sequence");
    if (!files) return -1;
    PyObject *rules = own_tuple(rules_in, "FieldReader(): rules must be a sequence");
    if (!rules) {
        Py_DECREF(files);
        return -1;
    }
    int status = -1;
    Py_ssize_t file_count = PySequence_Fast_GET_SIZE(files);
    PyObject **paths = PyMem_Calloc((size_t)file_count + 1, sizeof(PyObject *));
    if (!paths || allocate(self, file_count, PySequence_Fast_GET_SIZE(rules)) < 0) {
        PyErr_NoMemory();
        goto done;
    }
    self->width = width;
    if (load(self, files, rules, paths) < 0) goto done;
    self->open = 1;
    status = 0;
done:
    if (paths)
        for (Py_ssize_t i = 0; i < file_count; i++) Py_XDECREF(paths[i]);
    PyMem_Free(paths);
    Py_DECREF(files);
    Py_DECREF(rules);
    if (status < 0) close_files(self);
    return status;
}

static int FieldReader_init(FieldReader *self, PyObject *args, PyObject *kwds) {
    if (usable(self, "FieldReader.__init__", 0) < 0) return -1;
    self->busy = 1; /* Python code run meanwhile (__index__, __fspath__) cannot use the reader */
    int status = init_state(self, args, kwds);
    self->busy = 0;
    return status;
}

static PyObject *FieldReader_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    FieldReader *self = (FieldReader *)PyType_GenericNew(type, args, kwds);
    if (self) self->wake[0] = self->wake[1] = -1; /* made when a batch first needs it */
    return (PyObject *)self;
}

static PyMethodDef FieldReader_methods[] = {
    {"read", (PyCFunction)FieldReader_read, METH_O,
     "read(row): re-read every file and fill the float64 buffer row (NaN where unmatched). "
     "ValueError after close(), RuntimeError while a read_schedule runs."},
    {"read_schedule", (PyCFunction)FieldReader_read_schedule, METH_VARARGS,
     "read_schedule(rows, stamps, start, interval, tick, count[, states[, writer[, end]]]) -> "
     "(done, next_tick, missed)\n"
     "Without the GIL; meanwhile every other method but cancel() and wake_fd() raises "
     "RuntimeError."},
    {"guard", (PyCFunction)FieldReader_guard, METH_VARARGS,
     "guard(hold, names): from now on read_schedule stops before a tick at which a slot of hold "
     "((slot, value) pairs) no longer holds its value, a file of names (one bytes or None per "
     "file) no longer heads with that name and one state byte, or its state is Z or X, or a read "
     "fails; stopped() says which (1, 2, 3). guard(None, None) removes it."},
    {"stopped", (PyCFunction)FieldReader_stopped, METH_NOARGS,
     "stopped() -> int: why the last read_schedule ended early by its guard: 0 it did not, 1 a "
     "held slot changed, 2 a head changed or a process exited, 3 a read failed."},
    {"cancel", (PyCFunction)FieldReader_cancel, METH_NOARGS,
     "cancel(): end the read_schedule in progress (or the next one) at its next look; any "
     "thread, or a signal handler."},
    {"close", (PyCFunction)FieldReader_close, METH_NOARGS,
     "close(): close every file; read() raises ValueError from then on."},
    {"wake_fd", (PyCFunction)FieldReader_wake_fd, METH_NOARGS,
     "wake_fd() -> int: a non-blocking descriptor whose writes wake read_schedule, to give "
     "signal.set_wakeup_fd so that a signal landing on any thread ends the wait."},
    {"head", (PyCFunction)FieldReader_head, METH_NOARGS,
     "head() -> bytes: of the last AFTER_PAREN file read, the text through the first token "
     "after the last ')' (\"PID (name) S\" of /proc/PID/stat), at most 256 bytes."},
    {"heads", (PyCFunction)FieldReader_heads, METH_NOARGS,
     "heads() -> list of bytes: one per file, in file order: an AFTER_PAREN file's head as of "
     "its last read (b\"\" before one), b\"\" for other files. RuntimeError while a "
     "read_schedule runs."},
    {NULL, NULL, 0, NULL}};

static PyTypeObject FieldReaderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "memmap_tui._fieldread.FieldReader",
    .tp_basicsize = sizeof(FieldReader),
    .tp_dealloc = (destructor)FieldReader_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "FieldReader(files, rules, width): numbers from /proc files into a float64 row.",
    .tp_methods = FieldReader_methods,
    .tp_init = (initproc)FieldReader_init,
    .tp_new = FieldReader_new,
};

/* ---- batch derive and CSV formatting: the C twins of derive.derive and csv.format_row ---- */

#define PLAN_WIDTH 5 /* numbers per plan column: kind, raw, per, scale, count (derive.py) */
enum { GAUGE_KIND, RATE_KIND, RATIO_KIND, MAX_RATIO_KIND, SHARE_KIND, MAX_SHARE_KIND,
       TIME_SHARE_KIND };
#define CARRY_LIMIT 1.0 /* derive.CARRY_LIMIT: a share of time's excess carried, at most */

/* A carried excess as derive() takes it from its carry: a positive number up to CARRY_LIMIT,
 * else 0 (NaN too: the buffer is the caller's). */
static double carried(double k) { return k > 0.0 ? (k < CARRY_LIMIT ? k : CARRY_LIMIT) : 0.0; }

/* Whether x is a whole number in [low, high). */
static int index_in(double x, double low, double high) {
    return x >= low && x < high && x == floor(x);
}

/* Each plan column (kind, raw, per, scale, count), as derive.py's docstring says:
 * kind 0, 1, 2, 4, 6: raw an index of the raw row, per -1 (an index for kinds 2 and 4), count 1;
 * kind 3, 5: count >= 1 pairs, raw .. raw + count - 1 and per .. per + count - 1 indices of it.
 * -1 with ValueError naming the column. */
static int check_plan(const double *p, Py_ssize_t columns, Py_ssize_t width) {
    for (Py_ssize_t c = 0; c < columns; c++) {
        const double *q = p + PLAN_WIDTH * c;
        double kind = q[0], raw = q[1], per = q[2], count = q[4];
        int ok, ratio = kind == RATIO_KIND || kind == SHARE_KIND;
        if (kind == MAX_RATIO_KIND || kind == MAX_SHARE_KIND)
            ok = index_in(count, 1, (double)width + 1) &&
                 index_in(raw, 0, (double)width - count + 1) &&
                 index_in(per, 0, (double)width - count + 1);
        else
            ok = (kind == GAUGE_KIND || kind == RATE_KIND || kind == TIME_SHARE_KIND || ratio) &&
                 count == 1 &&
                 index_in(raw, 0, (double)width) && index_in(per, ratio ? 0 : -1, (double)width);
        if (!ok) {
            PyErr_Format(PyExc_ValueError, "derive_rows: plan column %zd: want kind 0 to 6 and "
                         "whole indices below the raw width %zd (per -1 unless kind 2 to 5; "
                         "count 1, or for kinds 3 and 5 how many pairs, all inside the row)", c,
                         width);
            return -1;
        }
    }
    return 0;
}

/* scale * the largest d(top)/d(base) over `count` pairs whose top did not go backwards and
 * whose base grew, each at most 1 for a share; NaN when none did (derive._max_ratio). */
static double max_ratio(const double *now, const double *before, Py_ssize_t tops,
                        Py_ssize_t bases, double scale, Py_ssize_t count, int share) {
    double best = NAN;
    for (Py_ssize_t k = 0; k < count; k++) {
        double top = now[tops + k] - before[tops + k];
        double base = now[bases + k] - before[bases + k];
        if (top >= 0.0 && base > 0.0) {
            double ratio = top / base;
            if (share && ratio > 1.0) ratio = 1.0;
            ratio *= scale;
            if (!(best >= ratio)) best = ratio;
        }
    }
    return best;
}

/* derive() over `count` rows after `before`; carry (NULL for none) is derive()'s: one number a
 * column, a share of time's excess over its interval, taken into the next (derive.py). */
static void derive_block(const double *p, Py_ssize_t columns, Py_ssize_t width,
                         const double *before, double before_time, const double *rows,
                         const double *s, Py_ssize_t count, double *out, double *carry) {
    for (Py_ssize_t i = 0; i < count; i++) {
        const double *now = rows + i * width;
        double *o = out + i * (columns + 1);
        double dt = s[2 * i] - before_time;
        o[0] = s[2 * i + 1];
        for (Py_ssize_t c = 0; c < columns; c++) {
            const double *q = p + PLAN_WIDTH * c;
            int kind = (int)q[0];
            Py_ssize_t at = (Py_ssize_t)q[1], per_at = (Py_ssize_t)q[2];
            double scale = q[3];
            if (kind == GAUGE_KIND) {
                o[c + 1] = scale != 1.0 ? now[at] * scale : now[at];
                continue;
            }
            if (kind == MAX_RATIO_KIND || kind == MAX_SHARE_KIND) {
                o[c + 1] = max_ratio(now, before, at, per_at, scale, (Py_ssize_t)q[4],
                                     kind == MAX_SHARE_KIND);
                continue;
            }
            double delta = now[at] - before[at];
            double base = kind == RATE_KIND || kind == TIME_SHARE_KIND
                              ? dt : now[per_at] - before[per_at];
            int carries = carry && kind == TIME_SHARE_KIND;
            if (!(delta >= 0.0) || !(base > 0.0)) { /* backwards or NaN; nothing elapsed */
                o[c + 1] = NAN;
                if (carries) carry[c] = 0.0; /* a gap forgets the excess */
                continue;
            }
            if (carries) delta += carried(carry[c]);
            double ratio = delta / base;
            if ((kind == SHARE_KIND || kind == TIME_SHARE_KIND) && ratio > 1.0) {
                if (carries) carry[c] = carried(delta - base);
                ratio = 1.0;
            } else if (carries) {
                carry[c] = 0.0;
            }
            o[c + 1] = ratio * scale;
        }
        before = now;
        before_time = s[2 * i];
    }
}

/*
 * derive_rows(plan, previous, previous_time, rows, stamps, count, out)
 * plan: PLAN_WIDTH floats per column (kind 0 gauge / 1 rate / 2 ratio / 3 max of ratios /
 * 4 share / 5 max of shares / 6 share of time, raw index, per index, scale, count of pairs), as
 * derive.plan_array makes it.
 * previous: the raw row before this batch (NaN-filled before the first); its length is the raw
 * width. previous_time its monotonic time (NaN before the first). rows: count raw rows; stamps:
 * (monotonic, wall) pairs. out: count rows of 1 + columns: the wall timestamp, then each
 * column, as derive() gives them. carry (None for none): derive()'s, a writable float64 buffer
 * of exactly one number a column, updated. Every index and size is checked before anything is
 * read.
 */
static PyObject *derive_rows(PyObject *Py_UNUSED(module), PyObject *args) {
    const char *where = "derive_rows";
    PyObject *plan_obj, *prev_obj, *time_obj, *rows_obj, *stamps_obj, *count_obj, *out_obj;
    PyObject *carry_obj = Py_None;
    double prev_time;
    Py_ssize_t count;
    if (!PyArg_ParseTuple(args, "OOOOOOO|O:derive_rows", &plan_obj, &prev_obj, &time_obj,
                          &rows_obj, &stamps_obj, &count_obj, &out_obj, &carry_obj) ||
        float_arg(time_obj, where, "previous_time", &prev_time) < 0 ||
        index_arg(count_obj, where, "count", &count) < 0)
        return NULL;
    if (count < 0) return PyErr_Format(PyExc_ValueError, "%s: count must be >= 0", where);
    Py_buffer plan, prev, rows, stamps, out, carry = {0};
    if (get_doubles(plan_obj, &plan, 0, 0, 0, where) < 0) return NULL;
    Py_ssize_t columns = plan.len / (8 * PLAN_WIDTH), width = 0, row_values, out_values;
    if (plan.len % (8 * PLAN_WIDTH) != 0) {
        PyErr_Format(PyExc_ValueError, "%s: the plan must hold %d floats per column", where,
                     PLAN_WIDTH);
        goto fail_plan;
    }
    if (get_doubles(prev_obj, &prev, 1, 0, 0, where) < 0) goto fail_plan;
    width = prev.len / 8;
    row_values = values_of(count, width);
    out_values = values_of(count, columns + 1);
    if (row_values < 0 || out_values < 0 || values_of(count, 2) < 0) {
        PyErr_Format(PyExc_ValueError, "%s: count %zd is too large", where, count);
        goto fail_prev;
    }
    if (get_doubles(rows_obj, &rows, row_values, 0, 0, where) < 0) goto fail_prev;
    if (get_doubles(stamps_obj, &stamps, count * 2, 0, 0, where) < 0) goto fail_rows;
    if (get_doubles(out_obj, &out, out_values, 1, 0, where) < 0) goto fail_stamps;
    if (carry_obj != Py_None && get_doubles(carry_obj, &carry, columns, 1, 1, where) < 0)
        goto fail_out;
    /* the plan's own copy, checked: `out` may share its memory and would change it under
     * derive_block (indices past the row) */
    double *own_plan = PyMem_Malloc(plan.len > 0 ? (size_t)plan.len : 1);
    if (!own_plan) {
        PyErr_NoMemory();
        goto fail_carry;
    }
    memcpy(own_plan, plan.buf, (size_t)plan.len);
    if (check_plan(own_plan, columns, width) < 0) {
        PyMem_Free(own_plan);
        goto fail_carry;
    }
    derive_block(own_plan, columns, width, prev.buf, prev_time, rows.buf, stamps.buf, count,
                 out.buf, carry.obj ? carry.buf : NULL);
    PyMem_Free(own_plan);
    if (carry.obj) PyBuffer_Release(&carry);
    PyBuffer_Release(&out);
    PyBuffer_Release(&stamps);
    PyBuffer_Release(&rows);
    PyBuffer_Release(&prev);
    PyBuffer_Release(&plan);
    Py_RETURN_NONE;
fail_carry:
    if (carry.obj) PyBuffer_Release(&carry);
fail_out:
    PyBuffer_Release(&out);
fail_stamps:
    PyBuffer_Release(&stamps);
fail_rows:
    PyBuffer_Release(&rows);
fail_prev:
    PyBuffer_Release(&prev);
fail_plan:
    PyBuffer_Release(&plan);
    return NULL;
}

/* What "%.12g" prints for a whole number below 1e12 (and "-0" for negative zero). */
static size_t format_integer(char *at, long long v, int negative) {
    char digits[24];
    size_t n = 0, used = 0;
    unsigned long long u = v < 0 ? (unsigned long long)(-v) : (unsigned long long)v;
    do {
        digits[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (negative) at[used++] = '-';
    while (n) at[used++] = digits[--n];
    return used;
}

/* One cell at `at` (room for 32 bytes): the first value "%.6f", the rest "%.12g", NaN empty. */
static size_t format_cell(char *at, double x, int first) {
    int n = 0;
    if (first && fabs(x) < 1e15) n = snprintf(at, 32, "%.6f", x);
    else if (fabs(x) < 1e12 && x == (double)(long long)x)
        return format_integer(at, (long long)x, signbit(x) != 0);
    else if (!isnan(x)) n = snprintf(at, 32, "%.12g", x);
    return n < 0 ? 0 : n > 31 ? 31 : (size_t)n;
}

#define CELL_BYTES 32 /* a comma and format_cell's at most 31 characters */

/* One CSV line at `at` (room for cells * CELL_BYTES + 1 bytes): the cells, then a newline;
 * returns its length. format_rows and a RowWriter's writes. */
static size_t format_line(char *at, const double *v, Py_ssize_t cells) {
    size_t used = 0;
    for (Py_ssize_t c = 0; c < cells; c++) {
        if (c > 0) at[used++] = ',';
        used += format_cell(at + used, v[c], c == 0);
    }
    at[used++] = '\n';
    return used;
}

/* format_rows(out, count, width) -> str: CSV lines; the first value "%.6f", the rest "%.12g",
 * NaN as an empty cell (the same text csv.format_row makes). */
static PyObject *format_rows(PyObject *Py_UNUSED(module), PyObject *args) {
    const char *where = "format_rows";
    PyObject *out_obj, *count_obj, *width_obj;
    Py_ssize_t count, width;
    if (!PyArg_ParseTuple(args, "OOO:format_rows", &out_obj, &count_obj, &width_obj) ||
        index_arg(count_obj, where, "count", &count) < 0 ||
        index_arg(width_obj, where, "width", &width) < 0)
        return NULL;
    if (count < 0 || width < 1) {
        return PyErr_Format(PyExc_ValueError, "%s: count must be >= 0 and width >= 1", where);
    }
    Py_ssize_t values = values_of(count, width);
    if (values < 0) return PyErr_Format(PyExc_ValueError, "%s: count x width is too large", where);
    Py_buffer out;
    if (get_doubles(out_obj, &out, values, 0, 0, where) < 0) return NULL;
    if (count > 0 && (size_t)width > ((size_t)PY_SSIZE_T_MAX - 1) / CELL_BYTES) {
        PyBuffer_Release(&out); /* a row of that many values in memory: never in practice */
        return PyErr_NoMemory();
    }
    size_t line = (size_t)width * CELL_BYTES + 1; /* the most one line can take */
    /* A first guess; the loop grows it. Capped, so that the guess itself cannot overflow. */
    size_t size = (size_t)(values < (1 << 20) ? values : (1 << 20)) * 26 + 64, used = 0;
    char *text = PyMem_Malloc(size);
    if (!text) {
        PyBuffer_Release(&out);
        return PyErr_NoMemory();
    }
    const double *v = out.buf;
    for (Py_ssize_t i = 0; i < count; i++) {
        while (size - used < line) { /* room for this line's longest text */
            char *bigger =
                size <= (size_t)PY_SSIZE_T_MAX / 2 ? PyMem_Realloc(text, size * 2) : NULL;
            if (!bigger) {
                PyMem_Free(text);
                PyBuffer_Release(&out);
                return PyErr_NoMemory();
            }
            text = bigger;
            size *= 2;
        }
        used += format_line(text + used, v + i * width, width);
    }
    PyBuffer_Release(&out);
    PyObject *result = PyUnicode_DecodeASCII(text, (Py_ssize_t)used, "strict");
    PyMem_Free(text);
    return result;
}

/* ---- RowWriter: a batch's rows derived, formatted and written as they are read ---------- */

#define MAX_EVERY 65536               /* rows of one write */
#define MAX_WRITER_WIDTH ((Py_ssize_t)1 << 24) /* raw values a row: far more than any
                                                  recording has; its last row is 128 MiB */
#define MAX_TEXT ((size_t)256 << 20) /* bytes of one write's text */

struct RowWriter {
    PyObject_HEAD
    int fd;                 /* not owned: the sink that made the writer closes it */
    PyObject *name;         /* the file's name, for errors */
    double *plan;           /* PLAN_WIDTH numbers per column, checked against width */
    Py_ssize_t columns;     /* derived columns; a row is the timestamp, then these */
    Py_ssize_t width;       /* raw values a row (the reader's width) */
    Py_ssize_t every;       /* rows a write, at most */
    double *before;         /* the raw row before the next one to write (NaN before any) */
    double before_time;     /* its monotonic time */
    double *carry;          /* derive()'s carry: one number a column (0 before any) */
    double *carry_kept;     /* the carry before a write, put back when the write fails */
    double *out;            /* every * (columns + 1) derived values */
    char *text;             /* every * row_bytes */
    size_t row_bytes;
    long long rows;         /* written, in all */
    char *header;           /* written first whenever the file is found empty (may be NULL) */
    size_t header_bytes;
    int busy;               /* a read_schedule has it, or its __init__ runs */
};

static void writer_release(RowWriter *w) {
    PyObject *name = w->name;
    PyMem_Free(w->plan);
    PyMem_Free(w->before);
    PyMem_Free(w->carry);
    PyMem_Free(w->carry_kept);
    PyMem_RawFree(w->out);
    PyMem_RawFree(w->text);
    PyMem_RawFree(w->header);
    w->plan = w->before = w->carry = w->carry_kept = w->out = NULL;
    w->text = w->header = NULL;
    w->header_bytes = 0;
    w->name = NULL;
    w->fd = -1;
    w->columns = w->width = w->every = 0;
    w->rows = 0;
    Py_XDECREF(name); /* last: releasing it may run Python code */
}

/* [at, at + len) written whole or not at all: when a write fails (ENOSPC, EDQUOT, EIO) after
 * part of it went out, a regular file is cut back to where it began (O_APPEND: its end then),
 * so the file ends in a whole row. 0 or an errno. */
static int write_block(int fd, const char *at, size_t len) {
    size_t done = 0;
    while (done < len) {
        ssize_t wrote = write(fd, at + done, len - done);
        if (wrote < 0 && errno == EINTR) continue;
        if (wrote <= 0) {
            int error = wrote < 0 ? errno : EIO;
            struct stat st;
            if (done > 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
                (uintmax_t)st.st_size >= (uintmax_t)done &&
                ftruncate(fd, st.st_size - (off_t)done) < 0) {
            } /* a failed cut leaves the part: nothing better to do */
            return error;
        }
        done += (size_t)wrote;
    }
    return 0;
}

/* The header again when the regular file was emptied meanwhile (logrotate's copytruncate):
 * rows are appended (O_APPEND), so they would start a headerless file. 0 or an errno. */
static int writer_header_again(const RowWriter *w) {
    struct stat st;
    if (w->header_bytes == 0) return 0;
    if (fstat(w->fd, &st) < 0) return errno;
    if (!S_ISREG(st.st_mode) || st.st_size != 0) return 0;
    return write_block(w->fd, w->header, w->header_bytes);
}

/* One batch's rows (n of them, raw; their (monotonic, wall) stamps) derived from the row
 * before, formatted and written whole, `every` rows a write. Without the GIL. 0, or the errno
 * of a failed write (EIO for a write that wrote nothing). */
static int writer_put(RowWriter *w, const double *rows, const double *stamps, Py_ssize_t n) {
    Py_ssize_t cells = w->columns + 1;
    while (n > 0) {
        Py_ssize_t k = n < w->every ? n : w->every;
        memcpy(w->carry_kept, w->carry, (size_t)w->columns * sizeof(double));
        derive_block(w->plan, w->columns, w->width, w->before, w->before_time, rows, stamps, k,
                     w->out, w->carry);
        size_t used = 0;
        for (Py_ssize_t i = 0; i < k; i++)
            used += format_line(w->text + used, w->out + i * cells, cells);
        int error = writer_header_again(w);
        if (!error) error = write_block(w->fd, w->text, used);
        if (error) { /* none of these rows is in the file: nor is their carry */
            memcpy(w->carry, w->carry_kept, (size_t)w->columns * sizeof(double));
            return error;
        }
        memcpy(w->before, rows + (k - 1) * w->width, (size_t)w->width * sizeof(double));
        w->before_time = stamps[2 * (k - 1)];
        w->rows += k;
        rows += k * w->width;
        stamps += 2 * k;
        n -= k;
    }
    return 0;
}

static int writer_usable(const RowWriter *w, const char *method) {
    if (w->busy) {
        PyErr_Format(PyExc_RuntimeError, "%s: busy: a read_schedule or another of its calls is "
                     "using it", method);
        return -1;
    }
    if (w->plan == NULL) {
        PyErr_Format(PyExc_ValueError, "%s: the writer was not made (RowWriter(...) failed)",
                     method);
        return -1;
    }
    return 0;
}

/* read_schedule's writer: a made RowWriter of rows `width` wide, not in use; marked busy.
 * NULL with an error naming `where`. */
static RowWriter *writer_take(PyObject *obj, Py_ssize_t width, const char *where) {
    if (!PyObject_TypeCheck(obj, &RowWriterType)) {
        PyErr_Format(PyExc_TypeError, "%s: writer must be None or a RowWriter, not %s", where,
                     type_name(obj));
        return NULL;
    }
    RowWriter *w = (RowWriter *)obj;
    if (writer_usable(w, where) < 0) return NULL;
    if (w->width != width) {
        PyErr_Format(PyExc_ValueError, "%s: the writer's rows are %zd wide, the reader's %zd",
                     where, w->width, width);
        return NULL;
    }
    w->busy = 1;
    return w;
}

static void writer_give_back(RowWriter *w) { w->busy = 0; }
static PyObject *writer_name(const RowWriter *w) { return w->name; }
static Py_ssize_t writer_every(const RowWriter *w) { return w->every; }

/* The header's bytes, copied (bytes only, at most MAX_TEXT). 0, or -1 with an error set. */
static int writer_set_header(RowWriter *w, PyObject *header) {
    if (!PyBytes_Check(header)) {
        PyErr_Format(PyExc_TypeError, "RowWriter: header must be bytes or None, not %s",
                     type_name(header));
        return -1;
    }
    Py_ssize_t len = PyBytes_GET_SIZE(header);
    if ((size_t)len > MAX_TEXT) {
        PyErr_Format(PyExc_ValueError, "RowWriter: a header of %zd bytes is too long", len);
        return -1;
    }
    if (len == 0) return 0;
    w->header = PyMem_RawMalloc((size_t)len);
    if (w->header == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(w->header, PyBytes_AS_STRING(header), (size_t)len);
    w->header_bytes = (size_t)len;
    return 0;
}

/* RowWriter(fd, plan, width, every, name[, header]) */
static int writer_init_state(RowWriter *w, PyObject *args) {
    const char *where = "RowWriter";
    PyObject *fd_obj, *plan_obj, *width_obj, *every_obj, *name, *header_obj = NULL;
    Py_ssize_t fd, width, every;
    if (!PyArg_ParseTuple(args, "OOOOO|O:RowWriter", &fd_obj, &plan_obj, &width_obj, &every_obj,
                          &name, &header_obj) ||
        index_arg(fd_obj, where, "fd", &fd) < 0 ||
        index_arg(width_obj, where, "width", &width) < 0 ||
        index_arg(every_obj, where, "every", &every) < 0)
        return -1;
    if (fd < 0 || fd > INT_MAX || width < 1 || width > MAX_WRITER_WIDTH || every < 1 ||
        every > MAX_EVERY) {
        PyErr_Format(PyExc_ValueError, "%s: want fd >= 0, width 1..%zd and every 1..%d", where,
                     MAX_WRITER_WIDTH, MAX_EVERY);
        return -1;
    }
    int flags = fcntl((int)fd, F_GETFL);
    if (flags < 0 || (flags & O_ACCMODE) == O_RDONLY) {
        errno = flags < 0 ? errno : EBADF;
        PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, name);
        return -1;
    }
    Py_buffer plan;
    if (get_doubles(plan_obj, &plan, 0, 0, 0, where) < 0) return -1;
    Py_ssize_t columns = plan.len / (8 * PLAN_WIDTH);
    if (plan.len % (8 * PLAN_WIDTH) != 0 || columns < 1) {
        PyBuffer_Release(&plan);
        PyErr_Format(PyExc_ValueError, "%s: the plan must hold %d floats per column, for at "
                     "least one column", where, PLAN_WIDTH);
        return -1;
    }
    if (check_plan(plan.buf, columns, width) < 0) {
        PyBuffer_Release(&plan);
        return -1;
    }
    Py_ssize_t out_values = values_of(every, columns + 1);
    size_t row_bytes = (size_t)columns < (MAX_TEXT - 1) / CELL_BYTES - 1
                           ? ((size_t)columns + 1) * CELL_BYTES + 1 : 0;
    if (out_values < 0 || row_bytes == 0 || (size_t)every > MAX_TEXT / row_bytes) {
        PyBuffer_Release(&plan);
        PyErr_Format(PyExc_ValueError, "%s: %zd rows of %zd columns are too many for one write",
                     where, every, columns);
        return -1;
    }
    w->plan = PyMem_Malloc((size_t)plan.len);
    w->before = PyMem_Malloc((size_t)width * sizeof(double));
    w->carry = PyMem_Calloc((size_t)columns, sizeof(double));
    w->carry_kept = PyMem_Calloc((size_t)columns, sizeof(double));
    w->out = PyMem_RawMalloc((size_t)out_values * sizeof(double));
    w->text = PyMem_RawMalloc((size_t)every * row_bytes);
    if (!w->plan || !w->before || !w->carry || !w->carry_kept || !w->out || !w->text) {
        PyBuffer_Release(&plan);
        PyErr_NoMemory();
        return -1;
    }
    memcpy(w->plan, plan.buf, (size_t)plan.len);
    PyBuffer_Release(&plan);
    if (header_obj != NULL && header_obj != Py_None && writer_set_header(w, header_obj) < 0)
        return -1;
    for (Py_ssize_t i = 0; i < width; i++) w->before[i] = NAN;
    w->before_time = NAN;
    w->fd = (int)fd;
    w->columns = columns;
    w->width = width;
    w->every = every;
    w->row_bytes = row_bytes;
    Py_INCREF(name);
    w->name = name;
    return 0;
}

static int RowWriter_init(RowWriter *w, PyObject *args, PyObject *kwds) {
    if (kwds && PyDict_GET_SIZE(kwds)) {
        PyErr_SetString(PyExc_TypeError, "RowWriter takes no keyword arguments");
        return -1;
    }
    if (w->busy) {
        PyErr_SetString(PyExc_RuntimeError, "RowWriter.__init__: busy: a read_schedule or "
                        "another of its calls is using it");
        return -1;
    }
    w->busy = 1; /* Python code run meanwhile (__index__, a buffer's) cannot use the writer */
    writer_release(w);
    int status = writer_init_state(w, args);
    if (status < 0) writer_release(w);
    w->busy = 0;
    return status;
}

static PyObject *RowWriter_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    RowWriter *w = (RowWriter *)PyType_GenericNew(type, args, kwds);
    if (w) w->fd = -1;
    return (PyObject *)w;
}

static void RowWriter_dealloc(RowWriter *w) {
    writer_release(w);
    Py_TYPE(w)->tp_free((PyObject *)w);
}

/* follow(previous, previous_time[, carry]): the next row written is derived from this raw
 * row, with this carry (none: zeros). */
static PyObject *RowWriter_follow(RowWriter *w, PyObject *args) {
    const char *where = "RowWriter.follow";
    PyObject *prev_obj, *time_obj, *carry_obj = Py_None;
    double prev_time;
    if (!PyArg_ParseTuple(args, "OO|O:follow", &prev_obj, &time_obj, &carry_obj) ||
        writer_usable(w, where) < 0)
        return NULL;
    Py_buffer prev, carry = {0};
    w->busy = 1; /* from here Python code (__float__, a buffer's) cannot remake the writer */
    if (float_arg(time_obj, where, "previous_time", &prev_time) < 0 ||
        get_doubles(prev_obj, &prev, w->width, 0, 1, where) < 0) {
        w->busy = 0;
        return NULL;
    }
    if (carry_obj != Py_None && get_doubles(carry_obj, &carry, w->columns, 0, 1, where) < 0) {
        PyBuffer_Release(&prev);
        w->busy = 0;
        return NULL;
    }
    memcpy(w->before, prev.buf, (size_t)w->width * sizeof(double));
    w->before_time = prev_time;
    if (carry.obj) {
        memcpy(w->carry, carry.buf, (size_t)w->columns * sizeof(double));
        PyBuffer_Release(&carry);
    } else {
        memset(w->carry, 0, (size_t)w->columns * sizeof(double));
    }
    PyBuffer_Release(&prev);
    w->busy = 0;
    Py_RETURN_NONE;
}

/* carried(out): the writer's carry as of its last row, copied into out. */
static PyObject *RowWriter_carried(RowWriter *w, PyObject *out_obj) {
    const char *where = "RowWriter.carried";
    if (writer_usable(w, where) < 0) return NULL;
    Py_buffer out;
    w->busy = 1;
    if (get_doubles(out_obj, &out, w->columns, 1, 1, where) < 0) {
        w->busy = 0;
        return NULL;
    }
    memcpy(out.buf, w->carry, (size_t)w->columns * sizeof(double));
    PyBuffer_Release(&out);
    w->busy = 0;
    Py_RETURN_NONE;
}

/* write(rows, stamps, count): as a read_schedule's writer would, for rows already read. */
static PyObject *RowWriter_write(RowWriter *w, PyObject *args) {
    const char *where = "RowWriter.write";
    PyObject *rows_obj, *stamps_obj, *count_obj;
    Py_ssize_t count;
    if (!PyArg_ParseTuple(args, "OOO:write", &rows_obj, &stamps_obj, &count_obj) ||
        writer_usable(w, where) < 0)
        return NULL;
    w->busy = 1; /* from here Python code (__index__, a buffer's) cannot remake the writer */
    if (index_arg(count_obj, where, "count", &count) < 0) {
        w->busy = 0;
        return NULL;
    }
    Py_ssize_t row_values = count < 0 ? -1 : values_of(count, w->width);
    if (row_values < 0 || values_of(count, 2) < 0) {
        w->busy = 0;
        return PyErr_Format(PyExc_ValueError, "%s: count must be >= 0 and fit in memory", where);
    }
    Py_buffer rows, stamps;
    if (get_doubles(rows_obj, &rows, row_values, 0, 0, where) < 0) {
        w->busy = 0;
        return NULL;
    }
    if (get_doubles(stamps_obj, &stamps, count * 2, 0, 0, where) < 0) {
        PyBuffer_Release(&rows);
        w->busy = 0;
        return NULL;
    }
    int error;
    Py_BEGIN_ALLOW_THREADS
    error = writer_put(w, rows.buf, stamps.buf, count);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&stamps);
    PyBuffer_Release(&rows);
    PyObject *name = error ? w->name : NULL; /* its own: raising may remake the writer */
    Py_XINCREF(name);
    w->busy = 0;
    if (error) return raise_errno(error, name);
    Py_RETURN_NONE;
}

static PyObject *RowWriter_rows(RowWriter *w, void *Py_UNUSED(closure)) {
    return PyLong_FromLongLong(w->rows);
}

static PyObject *RowWriter_every(RowWriter *w, void *Py_UNUSED(closure)) {
    return PyLong_FromSsize_t(w->every);
}

static PyMethodDef RowWriter_methods[] = {
    {"follow", (PyCFunction)RowWriter_follow, METH_VARARGS,
     "follow(previous, previous_time[, carry]): the raw row (float64, the writer's width) and "
     "monotonic time that the next row written is derived from (rates start there), and "
     "derive()'s carry (float64, one a column; none: zeros)."},
    {"carried", (PyCFunction)RowWriter_carried, METH_O,
     "carried(out): derive()'s carry after the last row written, into out (a writable float64 "
     "buffer of one number a column)."},
    {"write", (PyCFunction)RowWriter_write, METH_VARARGS,
     "write(rows, stamps, count): derive, format and write count raw rows (with their "
     "(monotonic, wall) stamps) as read_schedule's writer does; OSError names the file."},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef RowWriter_getset[] = {
    {"rows", (getter)RowWriter_rows, NULL, "rows written, in all", NULL},
    {"every", (getter)RowWriter_every, NULL, "rows a write, at most", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject RowWriterType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "memmap_tui._fieldread.RowWriter",
    .tp_basicsize = sizeof(RowWriter),
    .tp_dealloc = (destructor)RowWriter_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "RowWriter(fd, plan, width, every, name[, header]): derive_rows then format_rows "
              "of raw rows `width` wide, written to the open descriptor fd `every` rows at a "
              "time (at most); read_schedule's optional writer. fd stays open; name is for "
              "errors; header (bytes) is written before rows whenever the regular file is found "
              "empty (emptied by another program).",
    .tp_methods = RowWriter_methods,
    .tp_getset = RowWriter_getset,
    .tp_init = (initproc)RowWriter_init,
    .tp_new = RowWriter_new,
};

/* ---- a process tree's row (collectors/treeread.py) --------------------------------------- */

/*
 * column_sums(row, n, out): out[f] = the sum of row[f * n] .. row[f * n + n - 1], added in that
 * order to 0.0 (as sum() adds floats), for each f below len(out); row holds at least
 * len(out) * n values (a field-major row: n members per field). n >= 1.
 */
static PyObject *column_sums(PyObject *Py_UNUSED(module), PyObject *args) {
    const char *where = "column_sums";
    PyObject *row_obj, *n_obj, *out_obj;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "OOO:column_sums", &row_obj, &n_obj, &out_obj) ||
        index_arg(n_obj, where, "n", &n) < 0)
        return NULL;
    if (n < 1) return PyErr_Format(PyExc_ValueError, "%s: n must be >= 1", where);
    Py_buffer out, row;
    if (get_doubles(out_obj, &out, 0, 1, 0, where) < 0) return NULL;
    Py_ssize_t fields = out.len / 8, values = values_of(fields, n);
    if (values < 0) {
        PyBuffer_Release(&out);
        return PyErr_Format(PyExc_ValueError, "%s: len(out) x n is too large", where);
    }
    if (get_doubles(row_obj, &row, values, 0, 0, where) < 0) {
        PyBuffer_Release(&out);
        return NULL;
    }
    const double *v = row.buf;
    double *o = out.buf;
    for (Py_ssize_t f = 0; f < fields; f++) {
        double total = 0.0;
        for (Py_ssize_t i = 0; i < n; i++) total += v[f * n + i];
        o[f] = total;
    }
    PyBuffer_Release(&row);
    PyBuffer_Release(&out);
    Py_RETURN_NONE;
}

/*
 * steady_rows(now, before, same, grow_from) -> bool: whether now[k] == before[k] for every
 * k < same (NaN equals nothing) and no now[k] < before[k] for k >= grow_from. now and before
 * hold the same number of values; 0 <= same, grow_from <= that number.
 */
static PyObject *steady_rows(PyObject *Py_UNUSED(module), PyObject *args) {
    const char *where = "steady_rows";
    PyObject *now_obj, *before_obj, *same_obj, *from_obj;
    Py_ssize_t same, grow_from;
    if (!PyArg_ParseTuple(args, "OOOO:steady_rows", &now_obj, &before_obj, &same_obj,
                          &from_obj) ||
        index_arg(same_obj, where, "same", &same) < 0 ||
        index_arg(from_obj, where, "grow_from", &grow_from) < 0)
        return NULL;
    Py_buffer now, before;
    if (get_doubles(now_obj, &now, 0, 0, 0, where) < 0) return NULL;
    Py_ssize_t width = now.len / 8;
    if (get_doubles(before_obj, &before, width, 0, 1, where) < 0) {
        PyBuffer_Release(&now);
        return NULL;
    }
    if (same < 0 || same > width || grow_from < 0 || grow_from > width) {
        PyBuffer_Release(&before);
        PyBuffer_Release(&now);
        return PyErr_Format(PyExc_ValueError, "%s: same and grow_from must be in 0..%zd", where,
                            width);
    }
    const double *a = now.buf, *b = before.buf;
    int steady = 1;
    for (Py_ssize_t k = 0; k < same && steady; k++) steady = a[k] == b[k];
    for (Py_ssize_t k = grow_from; k < width && steady; k++) steady = !(a[k] < b[k]);
    PyBuffer_Release(&before);
    PyBuffer_Release(&now);
    return PyBool_FromLong(steady);
}

static PyMethodDef module_functions[] = {
    {"derive_rows", derive_rows, METH_VARARGS,
     "derive_rows(plan, previous, previous_time, rows, stamps, count, out[, carry]): derive() "
     "for a batch; carry (one float64 a column, updated) is derive()'s."},
    {"format_rows", format_rows, METH_VARARGS,
     "format_rows(out, count, width) -> str: CSV lines for derived rows."},
    {"column_sums", column_sums, METH_VARARGS,
     "column_sums(row, n, out): each field's sum over n members of a field-major row."},
    {"steady_rows", steady_rows, METH_VARARGS,
     "steady_rows(now, before, same, grow_from) -> bool: leading values equal, the rest grew."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef fieldread_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_fieldread",
    .m_doc = "Numbers from /proc files into float64 rows.",
    .m_size = -1,
    .m_methods = module_functions,
};

PyMODINIT_FUNC PyInit__fieldread(void) {
    if (!c_locale && !(c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0)))
        return PyErr_SetFromErrno(PyExc_OSError);
    if (PyType_Ready(&FieldReaderType) < 0 || PyType_Ready(&RowWriterType) < 0) return NULL;
    PyObject *m = PyModule_Create(&fieldread_module);
    if (!m) return NULL;
    Py_INCREF(&FieldReaderType);
    if (PyModule_AddObject(m, "FieldReader", (PyObject *)&FieldReaderType) < 0) {
        Py_DECREF(&FieldReaderType);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&RowWriterType);
    if (PyModule_AddObject(m, "RowWriter", (PyObject *)&RowWriterType) < 0) {
        Py_DECREF(&RowWriterType);
        Py_DECREF(m);
        return NULL;
    }
    PyObject *max_width = PyLong_FromSsize_t(MAX_WIDTH);
    if (!max_width || PyModule_AddIntConstant(m, "MAX_TOKENS", MAX_TOKENS) < 0 ||
        PyModule_AddIntConstant(m, "MAX_KEY", MAX_KEY) < 0 ||
        PyModule_AddObject(m, "MAX_WIDTH", max_width) < 0) {
        Py_XDECREF(max_width);
        Py_DECREF(m);
        return NULL;
    }
    PyObject *carry_limit = PyFloat_FromDouble(CARRY_LIMIT);
    if (!carry_limit || PyModule_AddObject(m, "CARRY_LIMIT", carry_limit) < 0) {
        Py_XDECREF(carry_limit);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
