/*
 * _ringbuf.c: the RingBuffer type behind memmap_tui.ring.
 *
 * A fixed-size ring of float64 rows held in one contiguous allocation, so that the history of a
 * monitor costs no Python object per sample. One writer pushes rows; readers copy windows out as
 * Python floats. Meaning (metric names, units) is added in Python: this file knows only numbers.
 *
 * Layout: (capacity + 1) * columns doubles. Rows 0..capacity-1 are the ring; the extra row is
 * scratch, where a row that needs Python-level conversion is built before it is copied into its
 * slot, so that a push that fails half-way leaves the oldest row intact.
 *
 * The pure-Python twin, PyRingBuffer in ring.py, raises the same errors with the same messages;
 * change both together.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

typedef struct {
    PyObject_HEAD
    double *data;                    /* (capacity + 1) * columns doubles; the last row is scratch */
    Py_ssize_t columns;
    Py_ssize_t capacity;
    Py_ssize_t head;                 /* the row slot the next push writes */
    Py_ssize_t count;                /* rows held, at most capacity */
    unsigned long long total_pushed; /* rows ever pushed; clear() leaves it alone */
    int converting;                  /* the scratch row is in use by a push */
} RingBuffer;

static PyTypeObject RingBufferType;

/* The name a Python user sees for the type of obj: the part of tp_name after the last dot. */
static const char *
short_type_name(PyObject *obj)
{
    const char *name = Py_TYPE(obj)->tp_name;
    const char *dot = strrchr(name, '.');
    return dot != NULL ? dot + 1 : name;
}

/*
 * An integer argument, clamped to the Py_ssize_t range as PyNumber_AsSsize_t(obj, NULL) does.
 * Returns 0 and sets *out, or -1 with an exception set.
 */
static int
index_arg(PyObject *obj, const char *where, const char *what, Py_ssize_t *out)
{
    if (!PyIndex_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s: %s must be an int, not %s", where, what,
                     short_type_name(obj));
        return -1;
    }
    *out = PyNumber_AsSsize_t(obj, NULL);
    if (*out == -1 && PyErr_Occurred()) {
        return -1;
    }
    return 0;
}

static int
size_arg(PyObject *obj, const char *what, Py_ssize_t *out)
{
    if (index_arg(obj, "RingBuffer()", what, out) < 0) {
        return -1;
    }
    if (*out <= 0) {
        PyErr_Format(PyExc_ValueError, "RingBuffer(): %s must be positive, got %R", what, obj);
        return -1;
    }
    return 0;
}

#define TOO_LARGE "RingBuffer(): cannot allocate capacity=%zd x columns=%zd float64 values"

static PyObject *
RingBuffer_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"columns", "capacity", NULL};
    PyObject *columns_obj, *capacity_obj;
    Py_ssize_t columns, capacity;
    RingBuffer *self;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO:RingBuffer", kwlist, &columns_obj,
                                     &capacity_obj)) {
        return NULL;
    }
    if (size_arg(columns_obj, "columns", &columns) < 0 ||
        size_arg(capacity_obj, "capacity", &capacity) < 0) {
        return NULL;
    }
    /* (capacity + 1) * columns * sizeof(double) must fit in a Py_ssize_t; written so that no
       intermediate product can overflow. */
    if (capacity > (PY_SSIZE_T_MAX / (Py_ssize_t)sizeof(double)) / columns - 1) {
        return PyErr_Format(PyExc_MemoryError, TOO_LARGE, capacity, columns);
    }
    self = (RingBuffer *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->data = PyMem_Malloc((size_t)(capacity + 1) * (size_t)columns * sizeof(double));
    if (self->data == NULL) {
        Py_DECREF(self);
        return PyErr_Format(PyExc_MemoryError, TOO_LARGE, capacity, columns);
    }
    self->columns = columns;
    self->capacity = capacity;
    self->head = 0;
    self->count = 0;
    self->total_pushed = 0;
    self->converting = 0;
    return (PyObject *)self;
}

static void
RingBuffer_dealloc(RingBuffer *self)
{
    PyMem_Free(self->data);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Makes the row just written in slot `head` part of the ring. */
static void
advance(RingBuffer *self)
{
    self->head = (self->head + 1 == self->capacity) ? 0 : self->head + 1;
    if (self->count < self->capacity) {
        self->count++;
    }
    self->total_pushed++;
}

/* Turns the conversion error of value i into one that names the method. */
static void
value_error(Py_ssize_t i, PyObject *item)
{
    if (PyErr_ExceptionMatches(PyExc_TypeError)) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "RingBuffer.push: value %zd is %s, not a number", i,
                     short_type_name(item));
    }
    else if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "RingBuffer.push: value %zd is out of float64 range", i);
    }
}

#define ROW_CHANGED "RingBuffer.push: row changed size while it was read"

/* Converts the values of seq, a list or tuple of `columns` items, into out. */
static int
convert_row(RingBuffer *self, PyObject *seq, double *out)
{
    Py_ssize_t i;

    for (i = 0; i < self->columns; i++) {
        PyObject *item;
        double value;

        /* A list can be changed by the __float__ of one of its own items. */
        if (PySequence_Fast_GET_SIZE(seq) != self->columns) {
            PyErr_SetString(PyExc_ValueError, ROW_CHANGED);
            return -1;
        }
        item = PySequence_Fast_GET_ITEM(seq, i);
        if (PyFloat_CheckExact(item)) {
            value = PyFloat_AS_DOUBLE(item);
        }
        else if (PyLong_CheckExact(item)) {
            /* What int.__float__ does, without making a float object to read. */
            value = PyLong_AsDouble(item);
            if (value == -1.0 && PyErr_Occurred()) {
                value_error(i, item);
                return -1;
            }
        }
        else {
            Py_INCREF(item);
            value = PyFloat_AsDouble(item);
            if (value == -1.0 && PyErr_Occurred()) {
                value_error(i, item);
                Py_DECREF(item);
                return -1;
            }
            Py_DECREF(item);
        }
        out[i] = value;
    }
    if (PySequence_Fast_GET_SIZE(seq) != self->columns) {
        PyErr_SetString(PyExc_ValueError, ROW_CHANGED);
        return -1;
    }
    return 0;
}

/*
 * The slow path: some value is not an exact float. Converts into the scratch row, since __float__
 * may fail (or run arbitrary code) half-way, and only then copies into the ring. When that code
 * pushes into this same ring, the scratch row is taken, so the inner push gets a buffer of its own.
 */
static int
push_converted(RingBuffer *self, PyObject *seq)
{
    double *row = self->data + self->capacity * self->columns;
    int result;

    if (self->converting) {
        row = PyMem_Malloc((size_t)self->columns * sizeof(double));
        if (row == NULL) {
            PyErr_SetString(PyExc_MemoryError, "RingBuffer.push: out of memory");
            return -1;
        }
    }
    else {
        self->converting = 1;
    }
    result = convert_row(self, seq, row);
    if (result == 0) {
        memcpy(self->data + self->head * self->columns, row,
               (size_t)self->columns * sizeof(double));
    }
    if (row == self->data + self->capacity * self->columns) {
        self->converting = 0;
    }
    else {
        PyMem_Free(row);
    }
    return result;
}

PyDoc_STRVAR(push_doc,
"push(row, /)\n--\n\n"
"Append one row: a sequence of exactly `columns` numbers (floats, ints, anything with\n"
"__float__ or __index__). When full, the oldest row is overwritten. A failed push changes\n"
"nothing. Raises ValueError for a wrong length, TypeError for a value that is not a number.");

static PyObject *
RingBuffer_push(RingBuffer *self, PyObject *row)
{
    PyObject *seq;
    PyObject **items;
    Py_ssize_t n, i;

    if (PyTuple_CheckExact(row) || PyList_CheckExact(row)) {
        Py_INCREF(row);
        seq = row;
    }
    else {
        PyObject *it = PyObject_GetIter(row);
        if (it == NULL) {
            if (PyErr_ExceptionMatches(PyExc_TypeError)) {
                PyErr_Clear();
                PyErr_Format(PyExc_TypeError,
                             "RingBuffer.push: row must be a sequence of numbers, not %s",
                             short_type_name(row));
            }
            return NULL;
        }
        seq = PySequence_List(it);
        Py_DECREF(it);
        if (seq == NULL) {
            return NULL;
        }
    }
    n = PySequence_Fast_GET_SIZE(seq);
    if (n != self->columns) {
        PyErr_Format(PyExc_ValueError, "RingBuffer.push: row has %zd values, want %zd", n,
                     self->columns);
        Py_DECREF(seq);
        return NULL;
    }
    /* The fast path: every value an exact float, so nothing can fail or run Python code. */
    items = PySequence_Fast_ITEMS(seq);
    for (i = 0; i < n; i++) {
        if (!PyFloat_CheckExact(items[i])) {
            break;
        }
    }
    if (i == n) {
        double *slot = self->data + self->head * self->columns;
        for (i = 0; i < n; i++) {
            slot[i] = PyFloat_AS_DOUBLE(items[i]);
        }
    }
    else if (push_converted(self, seq) < 0) {
        Py_DECREF(seq);
        return NULL;
    }
    Py_DECREF(seq);
    advance(self);
    Py_RETURN_NONE;
}

/* Whether a buffer format string describes one native-order float64. */
static int
is_float64_format(const char *format)
{
    if (format == NULL) {
        return 0; /* NULL means unsigned bytes */
    }
    if (format[0] == '@' || format[0] == '=' || (format[0] == '<' && PY_LITTLE_ENDIAN) ||
        ((format[0] == '>' || format[0] == '!') && PY_BIG_ENDIAN)) {
        format++;
    }
    return format[0] == 'd' && format[1] == '\0';
}

PyDoc_STRVAR(push_buffer_doc,
"push_buffer(buffer, /)\n--\n\n"
"Append one row from a C-contiguous buffer of exactly `columns` native float64 values\n"
"(array('d'), a numpy float64 array, a memoryview). Copies the bytes; no Python floats are made.\n"
"Raises TypeError for another format or layout, ValueError for a wrong number of values.");

static PyObject *
RingBuffer_push_buffer(RingBuffer *self, PyObject *obj)
{
    Py_buffer view;
    Py_ssize_t values;

    if (!PyObject_CheckBuffer(obj)) {
        return PyErr_Format(PyExc_TypeError,
                            "RingBuffer.push_buffer: want a float64 buffer, not %s",
                            short_type_name(obj));
    }
    if (PyObject_GetBuffer(obj, &view, PyBUF_FULL_RO) < 0) {
        return NULL;
    }
    if (!is_float64_format(view.format) || view.itemsize != (Py_ssize_t)sizeof(double)) {
        PyErr_Format(PyExc_TypeError,
                     "RingBuffer.push_buffer: want a float64 buffer, got format '%s'",
                     view.format != NULL ? view.format : "B");
        goto fail;
    }
    if (!PyBuffer_IsContiguous(&view, 'C')) {
        PyErr_SetString(PyExc_TypeError, "RingBuffer.push_buffer: buffer must be C-contiguous");
        goto fail;
    }
    values = view.len / (Py_ssize_t)sizeof(double);
    if (values != self->columns) {
        PyErr_Format(PyExc_ValueError, "RingBuffer.push_buffer: buffer has %zd values, want %zd",
                     values, self->columns);
        goto fail;
    }
    memcpy(self->data + self->head * self->columns, view.buf,
           (size_t)self->columns * sizeof(double));
    PyBuffer_Release(&view);
    advance(self);
    Py_RETURN_NONE;

fail:
    PyBuffer_Release(&view);
    return NULL;
}

/* The row slot of the oldest of the newest n rows (0 < n <= count). */
static Py_ssize_t
first_of_latest(RingBuffer *self, Py_ssize_t n)
{
    Py_ssize_t start = self->head - n;
    return start < 0 ? start + self->capacity : start;
}

PyDoc_STRVAR(latest_doc,
"latest(n, /)\n--\n\n"
"The newest n rows, newest last, as a list of tuples of floats. Fewer when fewer are held;\n"
"[] when n <= 0. Raises TypeError when n is not an int.");

static PyObject *
RingBuffer_latest(RingBuffer *self, PyObject *n_obj)
{
    Py_ssize_t n, row, k, j;
    PyObject *rows;

    if (index_arg(n_obj, "RingBuffer.latest", "n", &n) < 0) {
        return NULL;
    }
    if (n > self->count) {
        n = self->count;
    }
    if (n <= 0) {
        return PyList_New(0);
    }
    rows = PyList_New(n);
    if (rows == NULL) {
        return NULL;
    }
    /* The slots are fixed before any object is made: making objects can run the cyclic garbage
       collector, which can run Python code, which can push. The memory stays valid regardless. */
    row = first_of_latest(self, n);
    for (k = 0; k < n; k++) {
        const double *values = self->data + row * self->columns;
        PyObject *tuple = PyTuple_New(self->columns);
        if (tuple == NULL) {
            Py_DECREF(rows);
            return NULL;
        }
        PyList_SET_ITEM(rows, k, tuple);
        for (j = 0; j < self->columns; j++) {
            PyObject *value = PyFloat_FromDouble(values[j]);
            if (value == NULL) {
                Py_DECREF(rows);
                return NULL;
            }
            PyTuple_SET_ITEM(tuple, j, value);
        }
        row = (row + 1 == self->capacity) ? 0 : row + 1;
    }
    return rows;
}

PyDoc_STRVAR(column_doc,
"column(index, n, /)\n--\n\n"
"The newest n values of column `index` (0 <= index < columns), newest last, as a list of\n"
"floats. Fewer when fewer are held; [] when n <= 0. Raises IndexError for a bad index.");

static PyObject *
RingBuffer_column(RingBuffer *self, PyObject *args)
{
    PyObject *index_obj, *n_obj, *values;
    Py_ssize_t index, n, row, k;

    if (!PyArg_ParseTuple(args, "OO:column", &index_obj, &n_obj)) {
        return NULL;
    }
    if (index_arg(index_obj, "RingBuffer.column", "index", &index) < 0 ||
        index_arg(n_obj, "RingBuffer.column", "n", &n) < 0) {
        return NULL;
    }
    if (index < 0 || index >= self->columns) {
        return PyErr_Format(PyExc_IndexError,
                            "RingBuffer.column: index %R out of range for %zd columns", index_obj,
                            self->columns);
    }
    if (n > self->count) {
        n = self->count;
    }
    if (n <= 0) {
        return PyList_New(0);
    }
    values = PyList_New(n);
    if (values == NULL) {
        return NULL;
    }
    row = first_of_latest(self, n);
    for (k = 0; k < n; k++) {
        PyObject *value = PyFloat_FromDouble(self->data[row * self->columns + index]);
        if (value == NULL) {
            Py_DECREF(values);
            return NULL;
        }
        PyList_SET_ITEM(values, k, value);
        row = (row + 1 == self->capacity) ? 0 : row + 1;
    }
    return values;
}

PyDoc_STRVAR(clear_doc,
"clear()\n--\n\n"
"Forget every row. total_pushed keeps counting, so a reader never mistakes new rows for old.");

static PyObject *
RingBuffer_clear(RingBuffer *self, PyObject *Py_UNUSED(ignored))
{
    self->head = 0;
    self->count = 0;
    Py_RETURN_NONE;
}

static Py_ssize_t
RingBuffer_len(RingBuffer *self)
{
    return self->count;
}

static PyObject *
RingBuffer_repr(RingBuffer *self)
{
    return PyUnicode_FromFormat("<RingBuffer columns=%zd capacity=%zd len=%zd>", self->columns,
                                self->capacity, self->count);
}

static PyObject *
RingBuffer_get_columns(RingBuffer *self, void *Py_UNUSED(closure))
{
    return PyLong_FromSsize_t(self->columns);
}

static PyObject *
RingBuffer_get_capacity(RingBuffer *self, void *Py_UNUSED(closure))
{
    return PyLong_FromSsize_t(self->capacity);
}

static PyObject *
RingBuffer_get_total_pushed(RingBuffer *self, void *Py_UNUSED(closure))
{
    return PyLong_FromUnsignedLongLong(self->total_pushed);
}

static PyMethodDef RingBuffer_methods[] = {
    {"push", (PyCFunction)RingBuffer_push, METH_O, push_doc},
    {"push_buffer", (PyCFunction)RingBuffer_push_buffer, METH_O, push_buffer_doc},
    {"latest", (PyCFunction)RingBuffer_latest, METH_O, latest_doc},
    {"column", (PyCFunction)RingBuffer_column, METH_VARARGS, column_doc},
    {"clear", (PyCFunction)RingBuffer_clear, METH_NOARGS, clear_doc},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef RingBuffer_getset[] = {
    {"columns", (getter)RingBuffer_get_columns, NULL, "Values per row.", NULL},
    {"capacity", (getter)RingBuffer_get_capacity, NULL, "Rows held at most.", NULL},
    {"total_pushed", (getter)RingBuffer_get_total_pushed, NULL,
     "Rows ever pushed, including those overwritten or cleared.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PySequenceMethods RingBuffer_as_sequence = {
    .sq_length = (lenfunc)RingBuffer_len,
};

PyDoc_STRVAR(RingBuffer_doc,
"RingBuffer(columns, capacity)\n--\n\n"
"The newest `capacity` rows of `columns` float64 values each, in one C allocation.\n"
"Single writer; readers get copies. Non-positive sizes raise ValueError.");

static PyTypeObject RingBufferType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "memmap_tui._ringbuf.RingBuffer",
    .tp_basicsize = sizeof(RingBuffer),
    .tp_itemsize = 0,
    .tp_dealloc = (destructor)RingBuffer_dealloc,
    .tp_repr = (reprfunc)RingBuffer_repr,
    .tp_as_sequence = &RingBuffer_as_sequence,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = RingBuffer_doc,
    .tp_methods = RingBuffer_methods,
    .tp_getset = RingBuffer_getset,
    .tp_new = RingBuffer_new,
};

static struct PyModuleDef ringbuf_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "memmap_tui._ringbuf",
    .m_doc = "The C RingBuffer behind memmap_tui.ring; import it from there.",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__ringbuf(void)
{
    PyObject *module;

    if (PyType_Ready(&RingBufferType) < 0) {
        return NULL;
    }
    module = PyModule_Create(&ringbuf_module);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddType(module, &RingBufferType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
