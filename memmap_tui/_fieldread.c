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
 * command name may hold spaces and parentheses). The meaning of every rule lives in Python.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_KEY 64
#define MAX_TOKENS 64

typedef struct {
    int fd;
    int key_token;
    Py_ssize_t first_rule;
    Py_ssize_t rule_count;
} File;

typedef struct {
    char key[MAX_KEY];
    Py_ssize_t key_len;
    int token;
    Py_ssize_t slot;
    double coef;
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
    if (self->files) close_files(self);
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
                        const char *key, Py_ssize_t key_len, double *row) {
    for (Py_ssize_t r = f->first_rule; r < f->first_rule + f->rule_count; r++) {
        Rule *rule = &self->rules[r];
        if (self->matched[r] || rule->key_len != key_len || memcmp(rule->key, key, key_len) != 0)
            continue;
        if (rule->token >= n) continue;
        double v = parse_number(ts[rule->token], te[rule->token]);
        if (isnan(v)) continue;
        row[rule->slot] += rule->coef * v;
        self->matched[r] = 1;
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

static void parse_file(FieldReader *self, const File *f, const char *text, size_t len,
                       double *row) {
    const char *ts[MAX_TOKENS], *te[MAX_TOKENS];
    const char *end = text + len;
    if (f->key_token < 0) { /* tokens after the last ')' */
        const char *p = end;
        while (p > text && p[-1] != ')') p--;
        int n = tokenize(p, end, ts, te, MAX_TOKENS);
        apply_rules(self, f, ts, te, n, "", 0, row);
        return;
    }
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
                apply_rules(self, f, ts, te, n, key, key_len, row);
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

/* Fill row from every file; needs no GIL. -1 with errno set when a read fails. */
static int fill_row(FieldReader *self, double *row) {
    memset(self->matched, 0, (size_t)self->rule_count);
    for (Py_ssize_t r = 0; r < self->rule_count; r++) row[self->rules[r].slot] = 0.0;
    for (Py_ssize_t i = 0; i < self->file_count; i++) {
        File *f = &self->files[i];
        if (f->fd < 0) continue;
        ssize_t len = read_whole(self, f->fd);
        if (len < 0) return -1;
        parse_file(self, f, self->buf, (size_t)len, row);
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
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

static double seconds(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Sleep until monotonic time `due`; returns EINTR when a signal came first. */
static int sleep_until(double due) {
    struct timespec ts;
    ts.tv_sec = (time_t)due;
    ts.tv_nsec = (long)((due - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L) ts.tv_nsec = 999999999L;
    if (ts.tv_nsec < 0) ts.tv_nsec = 0;
    return clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

/*
 * read_schedule(rows, stamps, start, interval, tick, count) -> (done, next_tick, missed)
 * Up to `count` ticks on the drift-free schedule start + k * interval (k from `tick`), without
 * the GIL: sleep until due, read every file into the next row, note (monotonic, wall) in stamps.
 * Whole slots that went by while late are skipped and counted in `missed`. A signal ends the
 * batch early (its Python handler runs first), so stop requests act within one tick.
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
    double *row = (double *)rows.buf, *stamp = (double *)stamps.buf;
    Py_ssize_t done = 0;
    long long missed = 0;
    int error = 0, interrupted = 0;
    Py_BEGIN_ALLOW_THREADS
    while (done < count) {
        if (sleep_until(start + (double)tick * interval) == EINTR) {
            interrupted = 1;
            break;
        }
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
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (interrupted && PyErr_CheckSignals() < 0) return NULL;
    return Py_BuildValue("nLL", done, tick, missed);
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
    memcpy(rule->key, key, (size_t)key_len);
    rule->key[key_len] = 0;
    rule->key_len = key_len;
    return 0;
}

static int open_files(FieldReader *self, PyObject *files) {
    for (Py_ssize_t i = 0; i < self->file_count; i++) {
        PyObject *path_obj = NULL;
        int key_token;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(files, i), "O&i", PyUnicode_FSConverter,
                              &path_obj, &key_token))
            return -1;
        const char *path = PyBytes_AS_STRING(path_obj);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            PyErr_SetFromErrnoWithFilename(PyExc_OSError, path);
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
    self->buf_size = 16384;
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

static PyMethodDef FieldReader_methods[] = {
    {"read", (PyCFunction)FieldReader_read, METH_O,
     "read(row): re-read every file and fill the float64 buffer row (NaN where unmatched)."},
    {"read_schedule", (PyCFunction)FieldReader_read_schedule, METH_VARARGS,
     "read_schedule(rows, stamps, start, interval, tick, count) -> (done, next_tick, missed)"},
    {"close", (PyCFunction)FieldReader_close, METH_NOARGS, "close(): close every file."},
    {NULL, NULL, 0, NULL}};

static PyTypeObject FieldReaderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "memmap_tui._fieldread.FieldReader",
    .tp_basicsize = sizeof(FieldReader),
    .tp_dealloc = (destructor)FieldReader_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "FieldReader(files, rules, width): numbers from /proc files into a float64 row.",
    .tp_methods = FieldReader_methods,
    .tp_init = (initproc)FieldReader_init,
    .tp_new = PyType_GenericNew,
};

static struct PyModuleDef fieldread_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_fieldread",
    .m_doc = "Numbers from /proc files into float64 rows.",
    .m_size = -1,
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
