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
 * and the first of them ("PID (name) S"). The meaning of every rule lives in Python.
 *
 * Reading less: the kernel formats a seq_file such as /proc/vmstat line by line, as far as the
 * read asks, and most of its cost is that formatting. Once every rule of a keyed file matched,
 * the reader remembers where the last wanted line ended and next time asks for only that much
 * (and MARGIN more). Only whole lines of a cut read are parsed; if a wanted line was not among
 * them (it moved), the file is read whole again at once. The values are the same either way.
 *
 * An OSError from a read names the file (as given) in its filename.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_KEY 64
#define MAX_TOKENS 64
#define MAX_HEAD 256
#define MARGIN 256
#define FIRST_BUFFER 4096

typedef struct {
    int fd;
    int key_token;
    Py_ssize_t first_rule;
    Py_ssize_t rule_count;
    size_t need;    /* bytes to ask for next time; 0 = the whole file */
    PyObject *name; /* the path as given, for errors */
} File;

typedef struct {
    char key[MAX_KEY];
    Py_ssize_t key_len;
    int token;
    Py_ssize_t slot;
    double coef;
    size_t hint;     /* where its line started last time: /proc layouts rarely move */
    size_t line_end; /* and where it ended */
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
    volatile sig_atomic_t cancelled; /* set by cancel(): read_schedule returns at once */
    int wake[2];                     /* a pipe: cancel(), or Python's C signal handler (through
                                        signal.set_wakeup_fd), writes to wake a sleeping batch */
    char head[MAX_HEAD];             /* of the last AFTER_PAREN file read: "PID (name) S" */
    Py_ssize_t head_len;
    PyObject *failed;                /* the name of the file whose read failed last */
} FieldReader;

static void close_files(FieldReader *self) {
    for (Py_ssize_t i = 0; i < self->file_count; i++) {
        if (self->files[i].fd >= 0) {
            close(self->files[i].fd);
            self->files[i].fd = -1;
        }
    }
}

static void FieldReader_dealloc(FieldReader *self) {
    if (self->files) {
        close_files(self);
        for (Py_ssize_t i = 0; i < self->file_count; i++) Py_XDECREF(self->files[i].name);
    }
    for (int i = 0; i < 2; i++)
        if (self->wake[i] >= 0) close(self->wake[i]);
    PyMem_Free(self->files);
    PyMem_Free(self->rules);
    PyMem_Free(self->matched);
    PyMem_RawFree(self->buf);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int is_sep(char c) { return c == ' ' || c == '\t' || c == ':' || c == '='; }

/* A decimal number at s (optionally signed, optionally with a fraction); NaN if none. */
static double parse_number(const char *s, const char *end) {
    int negative = 0;
    if (s < end && (*s == '-' || *s == '+')) negative = (*s++ == '-');
    if (s >= end || (*s < '0' || *s > '9')) return NAN;
    unsigned long long whole = 0;
    double value;
    int big = 0;
    const char *start = s;
    while (s < end && *s >= '0' && *s <= '9') {
        if (whole > 1844674407370955160ULL) big = 1;
        whole = whole * 10 + (unsigned long long)(*s++ - '0');
    }
    value = big ? strtod(start, NULL) : (double)whole;
    if (s < end && *s == '.') {
        double scale = 0.1;
        for (s++; s < end && *s >= '0' && *s <= '9'; s++, scale *= 0.1) value += (*s - '0') * scale;
    }
    return negative ? -value : value;
}

/* Split [line, end) into tokens; returns how many (at most `most`). */
static int tokenize(const char *line, const char *end, const char **starts, const char **ends,
                    int most) {
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

static void apply_rules(FieldReader *self, const File *f, const char **ts, const char **te, int n,
                        const char *key, Py_ssize_t key_len, double *row, size_t offset,
                        size_t line_end) {
    for (Py_ssize_t r = f->first_rule; r < f->first_rule + f->rule_count; r++) {
        Rule *rule = &self->rules[r];
        if (self->matched[r] || rule->key_len != key_len || memcmp(rule->key, key, key_len) != 0)
            continue;
        if (rule->token >= n) continue;
        double v = parse_number(ts[rule->token], te[rule->token]);
        if (isnan(v)) continue;
        row[rule->slot] += rule->coef * v;
        self->matched[r] = 1;
        rule->hint = offset;
        rule->line_end = line_end;
    }
}

/* Whether a rule of file f still waits for the line with this key. */
static int wanted(const FieldReader *self, const File *f, const char *key, Py_ssize_t key_len) {
    for (Py_ssize_t r = f->first_rule; r < f->first_rule + f->rule_count; r++) {
        const Rule *rule = &self->rules[r];
        if (!self->matched[r] && rule->key_len == key_len && memcmp(rule->key, key, key_len) == 0)
            return 1;
    }
    return 0;
}

/* Try each rule's line where it was last time; 1 when that served every rule of the file. */
static int try_hints(FieldReader *self, const File *f, const char *text, const char *end,
                     double *row) {
    const char *ts[MAX_TOKENS], *te[MAX_TOKENS];
    size_t len = (size_t)(end - text);
    for (Py_ssize_t r = f->first_rule; r < f->first_rule + f->rule_count; r++) {
        size_t at = self->rules[r].hint;
        if (self->matched[r] || at >= len || (at > 0 && text[at - 1] != '\n')) continue;
        const char *line = text + at, *nl = memchr(line, '\n', len - at);
        const char *stop = nl ? nl : end;
        int n = tokenize(line, stop, ts, te, MAX_TOKENS);
        if (n > f->key_token)
            apply_rules(self, f, ts, te, n, ts[f->key_token],
                        (Py_ssize_t)(te[f->key_token] - ts[f->key_token]), row, at,
                        (size_t)(stop - text));
    }
    for (Py_ssize_t r = f->first_rule; r < f->first_rule + f->rule_count; r++)
        if (!self->matched[r]) return 0;
    return 1;
}

static void parse_file(FieldReader *self, const File *f, const char *text, size_t len,
                       double *row) {
    const char *ts[MAX_TOKENS], *te[MAX_TOKENS];
    const char *end = text + len;
    if (f->key_token < 0) { /* tokens after the last ')' */
        const char *p = end;
        while (p > text && p[-1] != ')') p--;
        int n = tokenize(p, end, ts, te, MAX_TOKENS);
        const char *head_end = n > 0 ? te[0] : p;
        self->head_len = head_end - text < MAX_HEAD ? head_end - text : MAX_HEAD;
        memcpy(self->head, text, (size_t)self->head_len);
        apply_rules(self, f, ts, te, n, "", 0, row, 0, len);
        return;
    }
    if (try_hints(self, f, text, end, row)) return;
    const char *line = text;
    while (line < end) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        const char *stop = nl ? nl : end;
        /* Only the key first: most lines of vmstat or diskstats are not wanted. */
        int n = tokenize(line, stop, ts, te, f->key_token + 1);
        if (n > f->key_token) {
            const char *key = ts[f->key_token];
            Py_ssize_t key_len = (Py_ssize_t)(te[f->key_token] - key);
            if (wanted(self, f, key, key_len)) {
                n = tokenize(line, stop, ts, te, MAX_TOKENS);
                apply_rules(self, f, ts, te, n, key, key_len, row, (size_t)(line - text),
                            (size_t)(stop - text));
            }
        }
        line = stop + 1;
    }
}

/* The whole file behind fd, from offset 0; grows the buffer as needed. -1 with errno set. */
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
        char *bigger = PyMem_RawRealloc(self->buf, self->buf_size * 2);
        if (!bigger) {
            errno = ENOMEM;
            return -1;
        }
        self->buf = bigger;
        self->buf_size *= 2;
    }
}

/* The first `want` bytes of the file behind fd. -1 with errno set. */
static ssize_t read_start(FieldReader *self, int fd, size_t want) {
    for (;;) {
        ssize_t got = pread(fd, self->buf, want, 0);
        if (got >= 0 || errno != EINTR) return got;
    }
}

/* Whether every rule of file f matched in this read. */
static int file_done(const FieldReader *self, const File *f) {
    for (Py_ssize_t r = f->first_rule; r < f->first_rule + f->rule_count; r++)
        if (!self->matched[r]) return 0;
    return 1;
}

/* After a read that served every rule of a keyed file: how much to ask for next time
 * (0 = the whole file, when asking for less would not save anything). */
static size_t next_need(const FieldReader *self, const File *f, size_t len, int whole) {
    if (f->key_token < 0 || f->rule_count == 0 || !file_done(self, f)) return 0;
    size_t last = 0;
    for (Py_ssize_t r = f->first_rule; r < f->first_rule + f->rule_count; r++)
        if (self->rules[r].line_end > last) last = self->rules[r].line_end;
    size_t need = last + 1 + MARGIN;
    return whole && need >= len ? 0 : need;
}

/* Read file f into row, asking for only its first f->need bytes when that is known. */
static int fill_file(FieldReader *self, File *f, double *row) {
    ssize_t len;
    if (f->need > 0 && f->need <= self->buf_size) {
        len = read_start(self, f->fd, f->need);
        if (len < 0) return -1;
        if ((size_t)len == f->need) { /* cut: parse whole lines only, then see */
            size_t whole_lines = (size_t)len;
            while (whole_lines > 0 && self->buf[whole_lines - 1] != '\n') whole_lines--;
            parse_file(self, f, self->buf, whole_lines, row);
            if (file_done(self, f)) {
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
    parse_file(self, f, self->buf, (size_t)len, row);
    f->need = next_need(self, f, (size_t)len, 1);
    return 0;
}

/* Fill row from every file; needs no GIL. -1 with errno set (and self->failed naming the file)
 * when a read fails. */
static int fill_row(FieldReader *self, double *row) {
    memset(self->matched, 0, (size_t)self->rule_count);
    for (Py_ssize_t r = 0; r < self->rule_count; r++) row[self->rules[r].slot] = 0.0;
    for (Py_ssize_t i = 0; i < self->file_count; i++) {
        File *f = &self->files[i];
        if (f->fd < 0) continue;
        if (fill_file(self, f, row) < 0) {
            self->failed = f->name;
            return -1;
        }
    }
    for (Py_ssize_t r = 0; r < self->rule_count; r++)
        if (!self->matched[r]) row[self->rules[r].slot] = NAN;
    return 0;
}

/* A writable float64 buffer of at least `want` values, or -1 with ValueError naming method. */
static int get_rows(PyObject *obj, Py_buffer *view, Py_ssize_t want, const char *method) {
    if (PyObject_GetBuffer(obj, view, PyBUF_WRITABLE | PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0)
        return -1;
    if (view->format == NULL || strcmp(view->format, "d") != 0 || view->itemsize != 8 ||
        view->len < want * 8) {
        PyBuffer_Release(view);
        PyErr_Format(PyExc_ValueError, "FieldReader.%s: want a writable float64 buffer of %zd",
                     method, want);
        return -1;
    }
    return 0;
}

static PyObject *FieldReader_read(FieldReader *self, PyObject *arg) {
    Py_buffer view;
    if (get_rows(arg, &view, self->width, "read") < 0) return NULL;
    if (view.len != self->width * 8) {
        PyBuffer_Release(&view);
        return PyErr_Format(PyExc_ValueError, "FieldReader.read: want a writable float64 buffer "
                            "of %zd", self->width);
    }
    int failed = fill_row(self, (double *)view.buf);
    int saved = errno;
    PyBuffer_Release(&view);
    if (failed) {
        errno = saved;
        return PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, self->failed);
    }
    Py_RETURN_NONE;
}

static PyObject *FieldReader_head(FieldReader *self, PyObject *Py_UNUSED(ignored)) {
    return PyBytes_FromStringAndSize(self->head, self->head_len);
}

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

/* Sleep until monotonic time `due`, woken early by cancel() or a signal (a signal that lands
 * on another thread wakes us through the pipe, when it is Python's wakeup fd); a signal's Python
 * handler then runs. Returns like should_stop(). Called without the GIL. */
static int wait_for(FieldReader *self, double due) {
    for (;;) {
        if (self->cancelled) return 1;
        double left = due - seconds(CLOCK_MONOTONIC);
        if (left <= 0) return 0;
        struct timespec ts;
        ts.tv_sec = (time_t)left;
        ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
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

/*
 * read_schedule(rows, stamps, start, interval, tick, count) -> (done, next_tick, missed)
 * Up to `count` ticks on the drift-free schedule start + k * interval (k from `tick`), without
 * the GIL: sleep until due, read every file into the next row, note (monotonic, wall) in stamps.
 * Whole slots that went by while late are skipped and counted in `missed`. cancel() (from any
 * thread or a signal handler) and a signal that interrupts this thread end the batch at once.
 */
static PyObject *FieldReader_read_schedule(FieldReader *self, PyObject *args) {
    PyObject *rows_obj, *stamps_obj;
    double start, interval;
    long long tick;
    Py_ssize_t count;
    if (!PyArg_ParseTuple(args, "OOddLn", &rows_obj, &stamps_obj, &start, &interval, &tick,
                          &count))
        return NULL;
    if (!(interval > 0) || count < 0) {
        PyErr_SetString(PyExc_ValueError,
                        "FieldReader.read_schedule: interval must be > 0 and count >= 0");
        return NULL;
    }
    Py_buffer rows, stamps;
    if (get_rows(rows_obj, &rows, count * self->width, "read_schedule") < 0) return NULL;
    if (get_rows(stamps_obj, &stamps, count * 2, "read_schedule") < 0) {
        PyBuffer_Release(&rows);
        return NULL;
    }
    if (make_wake(self) < 0) {
        PyBuffer_Release(&rows);
        PyBuffer_Release(&stamps);
        return NULL;
    }
    double *row = (double *)rows.buf, *stamp = (double *)stamps.buf;
    Py_ssize_t done = 0;
    long long missed = 0;
    int error = 0, stop = 0;
    Py_BEGIN_ALLOW_THREADS
    while (done < count) {
        stop = wait_for(self, start + (double)tick * interval);
        if (stop) break;
        stamp[2 * done] = seconds(CLOCK_MONOTONIC);
        stamp[2 * done + 1] = seconds(CLOCK_REALTIME);
        if (fill_row(self, row + done * self->width) < 0) {
            error = errno;
            break;
        }
        done++;
        tick++;
        double late = seconds(CLOCK_MONOTONIC) - (start + (double)tick * interval);
        if (late >= interval) {
            long long skip = (long long)floor(late / interval);
            missed += skip;
            tick += skip;
        }
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&rows);
    PyBuffer_Release(&stamps);
    if (error) {
        errno = error;
        return PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, self->failed);
    }
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

static PyObject *FieldReader_close(FieldReader *self, PyObject *Py_UNUSED(ignored)) {
    close_files(self);
    Py_RETURN_NONE;
}

static int parse_rule(PyObject *item, Rule *rule, Py_ssize_t *file_index, Py_ssize_t width) {
    const char *key;
    Py_ssize_t key_len;
    if (!PyArg_ParseTuple(item, "ns#ind", file_index, &key, &key_len, &rule->token, &rule->slot,
                          &rule->coef))
        return -1;
    if (key_len >= MAX_KEY || rule->token < 0 || rule->token >= MAX_TOKENS || rule->slot < 0 ||
        rule->slot >= width) {
        PyErr_SetString(PyExc_ValueError,
                        "FieldReader: rule key too long, or token or slot out of range");
        return -1;
    }
    rule->hint = (size_t)-1;
    rule->line_end = 0;
    memcpy(rule->key, key, (size_t)key_len);
    rule->key[key_len] = 0;
    rule->key_len = key_len;
    return 0;
}

static int open_files(FieldReader *self, PyObject *files) {
    for (Py_ssize_t i = 0; i < self->file_count; i++) {
        PyObject *path_obj = NULL, *name;
        int key_token;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(files, i), "Oi", &name, &key_token))
            return -1;
        if (!PyUnicode_FSConverter(name, &path_obj)) return -1;
        Py_INCREF(name);
        self->files[i].name = name;
        const char *path = PyBytes_AS_STRING(path_obj);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, name);
            Py_DECREF(path_obj);
            return -1;
        }
        Py_DECREF(path_obj);
        self->files[i].fd = fd;
        self->files[i].key_token = key_token;
    }
    return 0;
}

/* Rules must come grouped by file, in file order (the Python side sorts them). */
static int load_rules(FieldReader *self, PyObject *rules) {
    Py_ssize_t previous = 0;
    for (Py_ssize_t r = 0; r < self->rule_count; r++) {
        Py_ssize_t fi;
        if (parse_rule(PySequence_Fast_GET_ITEM(rules, r), &self->rules[r], &fi, self->width) < 0)
            return -1;
        if (fi < 0 || fi >= self->file_count) {
            PyErr_SetString(PyExc_ValueError, "FieldReader: rule names a file out of range");
            return -1;
        }
        if (fi < previous) {
            PyErr_SetString(PyExc_ValueError, "FieldReader: rules must be grouped by file");
            return -1;
        }
        if (self->files[fi].rule_count == 0) self->files[fi].first_rule = r;
        self->files[fi].rule_count++;
        previous = fi;
    }
    return 0;
}

static int FieldReader_init(FieldReader *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"files", "rules", "width", NULL};
    PyObject *files_in, *rules_in;
    Py_ssize_t width;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOn", kwlist, &files_in, &rules_in, &width))
        return -1;
    if (width <= 0) {
        PyErr_SetString(PyExc_ValueError, "FieldReader: width must be positive");
        return -1;
    }
    PyObject *files = PySequence_Fast(files_in, "FieldReader: files must be a sequence");
    if (!files) return -1;
    PyObject *rules = PySequence_Fast(rules_in, "FieldReader: rules must be a sequence");
    if (!rules) {
        Py_DECREF(files);
        return -1;
    }
    int status = -1;
    self->width = width;
    self->file_count = PySequence_Fast_GET_SIZE(files);
    self->rule_count = PySequence_Fast_GET_SIZE(rules);
    self->files = PyMem_Calloc((size_t)self->file_count + 1, sizeof(File));
    self->rules = PyMem_Calloc((size_t)self->rule_count + 1, sizeof(Rule));
    self->matched = PyMem_Calloc((size_t)self->rule_count + 1, 1);
    self->buf_size = FIRST_BUFFER;
    self->buf = PyMem_RawMalloc(self->buf_size);
    if (!self->files || !self->rules || !self->matched || !self->buf) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < self->file_count; i++) self->files[i].fd = -1;
    if (open_files(self, files) < 0 || load_rules(self, rules) < 0) goto done;
    status = 0;
done:
    Py_DECREF(files);
    Py_DECREF(rules);
    return status;
}

static PyObject *FieldReader_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    FieldReader *self = (FieldReader *)PyType_GenericNew(type, args, kwds);
    if (self) self->wake[0] = self->wake[1] = -1; /* made when a batch first needs it */
    return (PyObject *)self;
}

static PyMethodDef FieldReader_methods[] = {
    {"read", (PyCFunction)FieldReader_read, METH_O,
     "read(row): re-read every file and fill the float64 buffer row (NaN where unmatched)."},
    {"read_schedule", (PyCFunction)FieldReader_read_schedule, METH_VARARGS,
     "read_schedule(rows, stamps, start, interval, tick, count) -> (done, next_tick, missed)"},
    {"cancel", (PyCFunction)FieldReader_cancel, METH_NOARGS,
     "cancel(): end the read_schedule in progress (or the next one) at its next look; any "
     "thread, or a signal handler."},
    {"close", (PyCFunction)FieldReader_close, METH_NOARGS, "close(): close every file."},
    {"wake_fd", (PyCFunction)FieldReader_wake_fd, METH_NOARGS,
     "wake_fd() -> int: a non-blocking descriptor whose writes wake read_schedule, to give "
     "signal.set_wakeup_fd so that a signal landing on any thread ends the wait."},
    {"head", (PyCFunction)FieldReader_head, METH_NOARGS,
     "head() -> bytes: of the last AFTER_PAREN file read, the text through the first token "
     "after the last ')' (\"PID (name) S\" of /proc/PID/stat)."},
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
enum { GAUGE_KIND, RATE_KIND, RATIO_KIND, MAX_RATIO_KIND };

/* Whether x is a whole number in [low, high). */
static int index_in(double x, double low, double high) {
    return x >= low && x < high && x == floor(x);
}

/* Each plan column (kind, raw, per, scale, count), as derive.py's docstring says:
 * kind 0, 1, 2: raw an index of the raw row, per -1 (an index for kind 2), count 1;
 * kind 3: count >= 1 pairs, raw .. raw + count - 1 and per .. per + count - 1 indices of it.
 * -1 with ValueError naming the column. */
static int check_plan(const double *p, Py_ssize_t columns, Py_ssize_t width) {
    for (Py_ssize_t c = 0; c < columns; c++) {
        const double *q = p + PLAN_WIDTH * c;
        double kind = q[0], raw = q[1], per = q[2], count = q[4];
        int ok;
        if (kind == MAX_RATIO_KIND)
            ok = index_in(count, 1, (double)width + 1) &&
                 index_in(raw, 0, (double)width - count + 1) &&
                 index_in(per, 0, (double)width - count + 1);
        else
            ok = (kind == GAUGE_KIND || kind == RATE_KIND || kind == RATIO_KIND) && count == 1 &&
                 index_in(raw, 0, (double)width) &&
                 index_in(per, kind == RATIO_KIND ? 0 : -1, (double)width);
        if (!ok) {
            PyErr_Format(PyExc_ValueError, "derive_rows: plan column %zd: want kind 0, 1, 2 or 3 "
                         "and whole indices below the raw width %zd (per -1 unless kind 2 or 3; "
                         "count 1, or for kind 3 the pairs' count, every pair inside the row)",
                         c, width);
            return -1;
        }
    }
    return 0;
}

/* scale * the largest d(top)/d(base) over `count` pairs whose top did not go backwards and whose
 * base grew; NaN when none did (derive._max_ratio). */
static double max_ratio(const double *now, const double *before, Py_ssize_t tops,
                        Py_ssize_t bases, double scale, Py_ssize_t count) {
    double best = NAN;
    for (Py_ssize_t k = 0; k < count; k++) {
        double top = now[tops + k] - before[tops + k];
        double base = now[bases + k] - before[bases + k];
        if (top >= 0.0 && base > 0.0) {
            double ratio = top / base * scale;
            if (!(best >= ratio)) best = ratio;
        }
    }
    return best;
}

static void derive_block(const double *p, Py_ssize_t columns, Py_ssize_t width,
                         const double *before, double before_time, const double *rows,
                         const double *s, Py_ssize_t count, double *out) {
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
            if (kind == MAX_RATIO_KIND) {
                o[c + 1] = max_ratio(now, before, at, per_at, scale, (Py_ssize_t)q[4]);
                continue;
            }
            double delta = now[at] - before[at];
            if (!(delta >= 0.0)) {
                o[c + 1] = NAN;
                continue;
            }
            double base = kind == RATE_KIND ? dt : now[per_at] - before[per_at];
            o[c + 1] = base > 0.0 ? delta / base * scale : NAN;
        }
        before = now;
        before_time = s[2 * i];
    }
}

/*
 * derive_rows(plan, previous, previous_time, rows, stamps, count, out)
 * plan: PLAN_WIDTH floats per column (kind 0 gauge / 1 rate / 2 ratio / 3 max of ratios, raw
 * index, per index, scale, count of pairs), as derive.plan_array makes it.
 * previous: the raw row before this batch (NaN-filled before the first), previous_time its
 * monotonic time (NaN before the first). rows: count raw rows; stamps: (monotonic, wall) pairs.
 * out: count rows of 1 + columns: the wall timestamp, then each column, as derive() gives them.
 * Every plan index is checked before anything is read.
 */
static PyObject *derive_rows(PyObject *Py_UNUSED(module), PyObject *args) {
    PyObject *plan_obj, *prev_obj, *rows_obj, *stamps_obj, *out_obj;
    double prev_time;
    Py_ssize_t count;
    if (!PyArg_ParseTuple(args, "OOdOOnO", &plan_obj, &prev_obj, &prev_time, &rows_obj,
                          &stamps_obj, &count, &out_obj))
        return NULL;
    Py_buffer plan, prev, rows, stamps, out;
    if (get_rows(plan_obj, &plan, 0, "derive_rows") < 0) return NULL;
    Py_ssize_t columns = plan.len / (8 * PLAN_WIDTH), width = 0;
    if (plan.len % (8 * PLAN_WIDTH) != 0) {
        PyErr_Format(PyExc_ValueError, "derive_rows: the plan must hold %d floats per column",
                     PLAN_WIDTH);
        goto fail_plan;
    }
    if (get_rows(prev_obj, &prev, 1, "derive_rows") < 0) goto fail_plan;
    width = prev.len / 8;
    if (get_rows(rows_obj, &rows, count * width, "derive_rows") < 0) goto fail_prev;
    if (get_rows(stamps_obj, &stamps, count * 2, "derive_rows") < 0) goto fail_rows;
    if (get_rows(out_obj, &out, count * (columns + 1), "derive_rows") < 0) goto fail_stamps;
    if (check_plan(plan.buf, columns, width) < 0) goto fail_out;
    derive_block(plan.buf, columns, width, prev.buf, prev_time, rows.buf, stamps.buf, count,
                 out.buf);
    PyBuffer_Release(&out);
    PyBuffer_Release(&stamps);
    PyBuffer_Release(&rows);
    PyBuffer_Release(&prev);
    PyBuffer_Release(&plan);
    Py_RETURN_NONE;
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

/* format_rows(out, count, width) -> str: CSV lines; the first value "%.6f", the rest "%.12g",
 * NaN as an empty cell (the same text csv.format_row makes). */
static PyObject *format_rows(PyObject *Py_UNUSED(module), PyObject *args) {
    PyObject *out_obj;
    Py_ssize_t count, width;
    if (!PyArg_ParseTuple(args, "Onn", &out_obj, &count, &width)) return NULL;
    if (count < 0 || width < 1) {
        PyErr_SetString(PyExc_ValueError, "format_rows: count must be >= 0 and width >= 1");
        return NULL;
    }
    Py_buffer out;
    if (get_rows(out_obj, &out, count * width, "format_rows") < 0) return NULL;
    size_t size = (size_t)(count * width) * 26 + 16, used = 0;
    char *text = PyMem_Malloc(size);
    if (!text) {
        PyBuffer_Release(&out);
        return PyErr_NoMemory();
    }
    const double *v = out.buf;
    for (Py_ssize_t i = 0; i < count; i++) {
        for (Py_ssize_t c = 0; c < width; c++) {
            double x = v[i * width + c];
            if (size - used < 40) { /* room for the longest cell: "%.12g" and a sane "%.6f" */
                char *bigger = PyMem_Realloc(text, size * 2);
                if (!bigger) {
                    PyMem_Free(text);
                    PyBuffer_Release(&out);
                    return PyErr_NoMemory();
                }
                text = bigger;
                size *= 2;
            }
            if (c > 0) text[used++] = ',';
            if (c == 0 && fabs(x) < 1e15) used += (size_t)snprintf(text + used, 32, "%.6f", x);
            else if (fabs(x) < 1e12 && x == (double)(long long)x)
                used += format_integer(text + used, (long long)x, signbit(x) != 0);
            else if (!isnan(x)) used += (size_t)snprintf(text + used, 32, "%.12g", x);
        }
        text[used++] = '\n';
    }
    PyBuffer_Release(&out);
    PyObject *result = PyUnicode_DecodeASCII(text, (Py_ssize_t)used, "strict");
    PyMem_Free(text);
    return result;
}

static PyMethodDef module_functions[] = {
    {"derive_rows", derive_rows, METH_VARARGS,
     "derive_rows(plan, previous, previous_time, rows, stamps, count, out): derive() for a batch."},
    {"format_rows", format_rows, METH_VARARGS,
     "format_rows(out, count, width) -> str: CSV lines for derived rows."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef fieldread_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_fieldread",
    .m_doc = "Numbers from /proc files into float64 rows.",
    .m_size = -1,
    .m_methods = module_functions,
};

PyMODINIT_FUNC PyInit__fieldread(void) {
    if (PyType_Ready(&FieldReaderType) < 0) return NULL;
    PyObject *m = PyModule_Create(&fieldread_module);
    if (!m) return NULL;
    Py_INCREF(&FieldReaderType);
    if (PyModule_AddObject(m, "FieldReader", (PyObject *)&FieldReaderType) < 0) {
        Py_DECREF(&FieldReaderType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
